"""The IR: what lower produces and emit renders.  Rego-shaped, but holding raw
values; emit escapes every one of them on the way into the templates."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from compiler.ast import JsonValue
from compiler.request import RequestChecks


@dataclass(frozen=True)
class Condition:
    """A condition as written, for its explanation when it fails: the MongoDB
    operator, the path (None for `$or`/`$nor`, "" for the element an
    `$elemMatch` tests), the source location `file:line`, and the operand
    (`expected`; a logical operator or `$elemMatch` has none)."""

    operator: str
    path: str | None
    source: str
    expected: JsonValue = None
    has_expected: bool = False
    # More fields of its entry, as written: a $dynamicPattern's template.
    details: tuple[tuple[str, JsonValue], ...] = ()

    def entry(self) -> dict[str, JsonValue]:
        """The fields of its explanation entry, before the actual values."""
        fields: dict[str, JsonValue] = {"operator": self.operator, "source": self.source}
        if self.path is not None:
            fields["path"] = self.path
        if self.has_expected:
            fields["expected"] = self.expected
        fields.update(self.details)
        return fields


@dataclass(frozen=True)
class Test:
    """`mongo.<function>(mongo.values_at(<root>, path)[, operand])`, perhaps negated.

    `root` is None for the request's entities (`input.entities`), or the name of
    the variable holding the array element an `$elemMatch` is testing."""

    function: str
    root: str | None
    path: tuple[str, ...]
    operand: JsonValue
    has_operand: bool
    negated: bool
    comment: str
    condition: Condition
    kind: Literal["test"] = "test"


InlineShape = Literal["compare", "equals", "member", "exists"]
OperandType = Literal["number", "string", "boolean"]


@dataclass(frozen=True)
class ExprValue:
    """A node of an `$expr` expression as the Rego computes it: `kind` "call" is
    `mongo.expr_<function>(args...)` (or of one array of them, when `variadic`),
    "field" the value at `path` of the request's entities, "literal" `value`."""

    kind: Literal["call", "field", "literal"]
    function: str = ""
    args: tuple[ExprValue, ...] = ()
    variadic: bool = False
    path: tuple[str, ...] = ()
    value: JsonValue = None


@dataclass(frozen=True)
class ExprTest:
    """`$expr`: holds when its expression's value is truthy.  `text` is the
    expression as written (canonical JSON), `references` each field reference as
    written (`$a.b`) with its path, for explanations."""

    expression: ExprValue
    text: str
    references: tuple[tuple[str, tuple[str, ...]], ...]
    comment: str
    condition: Condition
    kind: Literal["expr"] = "expr"


@dataclass(frozen=True)
class SharedTestRef:
    """`conditions.<rule>`, perhaps negated: a test of the request's entities,
    held once in package regate.conditions for every policy that makes it."""

    rule: str
    negated: bool
    comment: str
    kind: Literal["shared"] = "shared"


@dataclass(frozen=True)
class Each:
    """`some <variable> in mongo.<function>(mongo.values_at(<root>, path))`: binds
    each array element an `$elemMatch` considers."""

    variable: str
    function: str
    root: str | None
    path: tuple[str, ...]
    comment: str
    kind: Literal["each"] = "each"


@dataclass(frozen=True)
class RuleRef:
    """A reference to a helper rule, perhaps negated; `argument` is the element
    variable passed to a helper function inside an `$elemMatch`.

    For explanations: `clauses` are the helper's bodies as lowered, `$and` kept
    apart (an `$elemMatch`'s without its `Each`), and `each` is the element
    binding of an `$elemMatch` helper, whose one clause tests one element."""

    rule: str
    negated: bool
    argument: str | None
    condition: Condition
    clauses: tuple[Body, ...]
    each: Each | None
    kind: Literal["ref"] = "ref"


@dataclass(frozen=True)
class Always:
    """The body of an empty query, which every request matches."""

    kind: Literal["always"] = "always"


@dataclass(frozen=True)
class Never:
    """`{$all: []}`, which MongoDB never matches."""

    comment: str
    condition: Condition
    kind: Literal["never"] = "never"


@dataclass(frozen=True)
class Conjunction:
    """`$and`: a rule body holds its clauses in place (`flatten`); an explanation
    keeps them apart."""

    condition: Condition
    bodies: tuple[Body, ...]
    kind: Literal["and"] = "and"


Expr = Test | SharedTestRef | Each | RuleRef | Always | Never | Conjunction | ExprTest
Body = tuple[Expr, ...]


def flatten(body: Body) -> Body:
    """The body with each `$and` replaced by its clauses' expressions, as a rule holds it."""
    return tuple(
        flat
        for e in body
        for flat in (
            (f for clause in e.bodies for f in flatten(clause))
            if isinstance(e, Conjunction)
            else (e,)
        )
    )


@dataclass(frozen=True)
class HelperRule:
    """A private rule: true when any of its bodies holds ($or, $nor, $not,
    $elemMatch).  Inside an `$elemMatch` it is a function of the element,
    named `parameter`."""

    name: str
    comment: str
    bodies: tuple[Body, ...]
    parameter: str | None = None


@dataclass(frozen=True)
class PolicyRule:
    """A rule true when a query holds: a policy's conditions (package
    regate.policies), its selector (regate.selectors), or a checklist item's query
    or `applies_when` (regate.checklists)."""

    rule: str  # the rule's name in its package
    name: str  # what the sources call it, for its comment: a policy's name, an item's
    source: str  # file:line, relative to the source root
    nrn: str
    conditions: JsonValue  # the query as written, for the rule's comment
    body: Body
    helpers: tuple[HelperRule, ...]
    # The conditions as data for explanations (templates/explanations.rego.j2): emit
    # writes them to data.regate.explanations.plain or .conditions, see docs/decisions.md.
    # None for what a failure never reports (a selector, an `applies_when`).  Each
    # node's `n` is the position of its source in the list the catalog holds for
    # each policy the rule decides (lower._numbered).
    explanation: JsonValue
    # The other policies whose conditions are the same document, which this rule
    # decides too (lower.shared_rules): those its comment names, and how many more.
    also: tuple[str, ...] = ()
    more: int = 0

    @property
    def bodies(self) -> tuple[Body, ...]:
        """The rule's body, then each body of its helpers: every body of Rego it emits."""
        return (self.body, *(b for h in self.helpers for b in h.bodies))


@dataclass(frozen=True)
class PolicyModule:
    path: str  # inside the bundle, e.g. regate/policies/policies.rego
    source: str  # the source file, relative to the source root
    policies: tuple[PolicyRule, ...]
    package: str = "policies"  # below regate: policies, selectors or checklists


@dataclass(frozen=True)
class SharedPath:
    """A rule of package regate.conditions: what a path of the request's
    entities reaches (mongo.values_at), walked once per decision."""

    rule: str
    path: tuple[str, ...]
    text: str  # the path as written, dotted
    plain: bool  # every segment a plain field name, so a Rego ref can read it


@dataclass(frozen=True)
class SharedTest:
    """A rule of package regate.conditions: one test of a shared path, true
    when it holds; `text` is the test as written, without its source."""

    rule: str
    path_rule: str
    function: str
    operand: JsonValue
    has_operand: bool
    text: str
    # The library function's body written out in the rule, when the operand
    # makes it one body: "compare" (an ordering operator and a scalar operand,
    # of `operand_type`), "equals", "member" ($in) or "exists"; None calls it.
    inline: InlineShape | None = None
    operand_type: OperandType | None = None
    # The path, where a Rego ref can read it (plain field names) and the test is
    # written out: the rule then tests the field's ref first, which holds only
    # where the test holds and decides a value that is no array; its `else` body,
    # over what the path rule reached, decides any other (templates/conditions.rego.j2).
    plain_path: tuple[str, ...] | None = None


@dataclass(frozen=True)
class SharedExpr:
    """Rules of package regate.conditions for one `$expr` of the request's entities:
    `value_rule`, the expression's value (kept for explanations), and `rule`, true
    when it is truthy."""

    rule: str
    value_rule: str
    expression: ExprValue
    text: str


@dataclass(frozen=True)
class Conditions:
    paths: tuple[SharedPath, ...]
    tests: tuple[SharedTest, ...]
    exprs: tuple[SharedExpr, ...] = ()


@dataclass(frozen=True)
class BundleIR:
    modules: tuple[PolicyModule, ...]
    conditions: Conditions  # the tests of the request's entities, shared by policy rules
    catalog: JsonValue  # data.regate.catalog without its revision
    request_rules: JsonValue = None  # data.regate.request.rules: what a request must be
    request_checks: RequestChecks | None = None  # the rules' checks written out as Rego
