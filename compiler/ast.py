"""The source AST: what parse produces and check, lower and later passes read.

Every node is a frozen dataclass carrying the `Span` it came from, so any pass
can point a diagnostic at the exact source text.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Literal

JsonValue = Any  # a decoded JSON value: None, bool, int, float, str, list, dict
ObjectId = int | str  # a nullplatform id as the API writes it: 1001, "spec_4b1f..."


@dataclass(frozen=True, order=True)
class Span:
    """A region of a source file; lines and columns start at 1, `end_col` is exclusive."""

    file: str
    line: int
    col: int
    end_line: int
    end_col: int

    def at(self, offset: int, length: int) -> Span:
        """A sub-span on the same line, `offset` characters to the right."""
        return Span(self.file, self.line, self.col + offset, self.line, self.col + offset + length)

    def __str__(self) -> str:
        return f"{self.file}:{self.line}:{self.col}"


# --- JSON-like values, as written (both in regate sources and JSON payloads) ---


@dataclass(frozen=True)
class Scalar:
    value: JsonValue  # None, bool, int, float or str
    span: Span


@dataclass(frozen=True)
class Identifier:
    """A bare word such as `build` or `approve`."""

    name: str
    span: Span


@dataclass(frozen=True)
class Call:
    """`file("schemas/coverage.json")`: the only call is `file`."""

    function: str
    argument: str
    span: Span


@dataclass(frozen=True)
class Member:
    key: str
    key_span: Span
    value: Node
    # Where the key's characters start inside `key_span` (1 for a quoted key),
    # or None when escapes make source offsets differ from the decoded key.
    key_text_offset: int | None


@dataclass(frozen=True)
class Object:
    members: tuple[Member, ...]
    span: Span

    def get(self, key: str) -> Member | None:
        return next((m for m in self.members if m.key == key), None)


@dataclass(frozen=True)
class Array:
    items: tuple[Node, ...]
    span: Span


Node = Scalar | Identifier | Call | Object | Array


def to_json(node: Node) -> JsonValue:
    """The plain JSON value a node denotes (identifiers become strings)."""
    match node:
        case Scalar(value=value):
            return value
        case Identifier(name=name):
            return name
        case Call():
            raise ValueError("a call has no JSON value")
        case Object(members=members):
            return {m.key: to_json(m.value) for m in members}
        case Array(items=items):
            return [to_json(item) for item in items]


# --- Conditions: a MongoDB query document, read into typed nodes ---

LogicalOp = Literal["$and", "$or", "$nor"]
ComparisonOp = Literal["$eq", "$ne", "$gt", "$gte", "$lt", "$lte", "$in", "$nin"]


@dataclass(frozen=True)
class Path:
    """A dotted field path such as `build.metadata.coverage.code.coverage`."""

    text: str
    segments: tuple[str, ...]
    span: Span
    # Where the path's characters start inside `span` (see Member.key_text_offset).
    text_offset: int | None

    def segment_span(self, index: int) -> Span:
        """The span of segments[index] alone, when it can be located in the source."""
        if self.text_offset is None:
            return self.span
        offset = self.text_offset + sum(len(s) + 1 for s in self.segments[:index])
        return self.span.at(offset, len(self.segments[index]))

    def prefix_span(self, count: int) -> Span:
        """The span of the first `count` segments."""
        if self.text_offset is None:
            return self.span
        length = sum(len(s) for s in self.segments[:count]) + count - 1
        return self.span.at(self.text_offset, length)


@dataclass(frozen=True)
class Comparison:
    """`{path: {op: value}}`; implicit equality `{path: value}` is `$eq`."""

    op: ComparisonOp
    value: JsonValue
    span: Span  # the operator (or, for implicit equality, the value)
    value_span: Span


@dataclass(frozen=True)
class Exists:
    present: bool
    span: Span


@dataclass(frozen=True)
class NotOp:
    """`{path: {$not: {...}}}`: the conjunction of the inner operators does not hold."""

    operators: tuple[FieldOperator, ...]
    span: Span


@dataclass(frozen=True)
class TypeOp:
    """`{$type: "int"}` or `{$type: [2, "bool"]}`: some value has one of these BSON types.

    `aliases` are canonical alias names (`double string object array bool null int
    long decimal`); `number` and numeric codes are expanded to them when read."""

    aliases: tuple[str, ...]
    span: Span


@dataclass(frozen=True)
class Regex:
    """`{$regex: "^a", $options: "i"}`: `pattern` as written, `re2` the translated
    RE2 pattern (options folded in as flags) that the Rego matches with."""

    pattern: str
    options: str
    re2: str
    span: Span


@dataclass(frozen=True)
class Mod:
    """`{$mod: [divisor, remainder]}`, both truncated to integers as MongoDB does."""

    divisor: int
    remainder: int
    span: Span


@dataclass(frozen=True)
class Size:
    """`{$size: n}`: the field is an array of exactly `length` elements."""

    length: int
    span: Span


@dataclass(frozen=True)
class ElemMatch:
    """`{$elemMatch: ...}`: one element of the array satisfies everything inside.

    Query form (`{$elemMatch: {"b": 1}}`): `query` is matched against each element
    that is a document (paths are relative to the element).  Operator form
    (`{$elemMatch: {"$gt": 1}}`): every one of `operators` holds for the element
    itself, with no further array traversal."""

    query: Query | None
    operators: tuple[FieldOperator, ...]
    span: Span


@dataclass(frozen=True)
class All:
    """`{$all: [v1, v2]}`: `$eq` holds for every value (no values: never matches);
    or `{$all: [{$elemMatch: ...}, ...]}`: every `$elemMatch` holds."""

    values: tuple[JsonValue, ...]
    elem_matches: tuple[ElemMatch, ...]
    span: Span


@dataclass(frozen=True)
class Placeholder:
    """`{name}` in a `$dynamicPattern` template and the path its value is read from:
    `path` is whole (its first segment an entity) even where it was written relative
    to the condition's entity, which `relative` records."""

    name: str
    path: Path
    relative: bool


@dataclass(frozen=True)
class DynamicPattern:
    """nullplatform's `{$dynamicPattern: {template, fields}}`: a `$regex` whose
    `{name}` placeholders are filled, at decision time, with the values at the
    fields' paths, regex-escaped (docs/language.md).

    The template, as written and translated to RE2, is cut at its placeholders:
    `written[i]` and `pieces[i]` come before the i-th placeholder, which names
    `fields[gaps[i]]`; the last of each follows the last placeholder."""

    template: str
    fields: tuple[Placeholder, ...]
    written: tuple[str, ...]
    pieces: tuple[str, ...]
    gaps: tuple[int, ...]
    span: Span


FieldOperator = (
    Comparison | Exists | NotOp | TypeOp | Regex | Mod | Size | ElemMatch | All | DynamicPattern
)


@dataclass(frozen=True)
class FieldCondition:
    path: Path
    operators: tuple[FieldOperator, ...]  # all must hold
    span: Span


@dataclass(frozen=True)
class Logical:
    """`$and`, `$or`, `$nor` over sub-queries."""

    op: LogicalOp
    clauses: tuple[Query, ...]
    span: Span


# --- Aggregation expressions, as `$expr` holds them (docs/semantics.md) ---


@dataclass(frozen=True)
class FieldRef:
    """`"$application.metadata.finops.budget"`: the value at a path of the request's
    entities, read as aggregation reads it; `path` is the path without its `$`."""

    path: Path


@dataclass(frozen=True)
class Constant:
    """A literal value: a JSON scalar, an array of literals, `{$literal: ...}`, or a
    sub-expression regate evaluated while compiling, as MongoDB's optimizer does."""

    value: JsonValue
    span: Span


@dataclass(frozen=True)
class Operation:
    """`{"$lte": [a, b]}`: an aggregation operator applied to its arguments."""

    op: str
    args: tuple[Expression, ...]
    span: Span  # the operator


Expression = FieldRef | Constant | Operation


@dataclass(frozen=True)
class Expr:
    """`{$expr: <expression>}`: holds when the expression's value is truthy.  At the
    top of a query document (MongoDB's form), or as the one operator under a field
    key (nullplatform's form, `key`, which is not read: references start from the
    request's entities)."""

    expression: Expression
    written: JsonValue  # the expression as written
    key: Path | None
    span: Span  # `$expr`


@dataclass(frozen=True)
class Query:
    """A query document: every condition in it must hold (an implicit `$and`)."""

    conditions: tuple[FieldCondition | Logical | Expr, ...]
    span: Span


# --- Declarations ---


@dataclass(frozen=True)
class Nrn:
    text: str
    span: Span

    @property
    def segments(self) -> tuple[str, ...]:
        return tuple(self.text.split(":"))

    def contains(self, other: Nrn) -> bool:
        """True when `other` is this NRN or below it (whole `key=value` segments)."""
        mine = self.segments
        return other.segments[: len(mine)] == mine


@dataclass(frozen=True)
class Specification:
    """A metadata specification: the JSON Schema of `entity.metadata.<metadata>`."""

    name: str
    entity: str
    entity_span: Span
    metadata: str
    metadata_span: Span
    nrn: Nrn
    schema: JsonValue
    schema_span: Span
    span: Span
    description: str = ""
    id: ObjectId | None = None


@dataclass(frozen=True)
class Policy:
    name: str
    nrn: Nrn
    conditions: Query
    conditions_value: JsonValue  # the query document as written
    span: Span  # the policy's name
    description: str = ""
    id: ObjectId | None = None
    # Whether the policy takes part in a request at all; None (or `{}`) always.
    selector: Query | None = None
    selector_value: JsonValue = None  # the selector as written

    @property
    def title(self) -> str:
        """How messages name it: `policy "Code Coverage"`, with its id when it has one."""
        return f'policy "{self.name}"' + (f" (id {self.id})" if self.id is not None else "")


@dataclass(frozen=True)
class PolicyRef:
    """A policy named by an action, a waiver or a test: by name (resolved at the
    referrer's NRN and above) or by id."""

    name: str | None
    span: Span
    id: ObjectId | None = None

    def __str__(self) -> str:
        return f'"{self.name}"' if self.name is not None else f"id {self.id}"


@dataclass(frozen=True)
class ChecklistRef:
    """The checklist an action uses: by name (at its NRN and above) or by id (`spec_...`)."""

    name: str | None
    span: Span
    id: ObjectId | None = None

    def __str__(self) -> str:
        return f'"{self.name}"' if self.name is not None else f"id {self.id}"


Outcome = Literal["approve", "manual", "deny"]
Result = Literal["approve", "manual", "pending", "deny"]  # what a decision says
# What a failed checklist makes of a request: `pending` leaves it to its
# requester (nobody is asked), `manual` asks a person, `deny` refuses it.
ChecklistOutcome = Literal["deny", "pending", "manual"]
Enforcement = Literal["enforce", "audit"]


@dataclass(frozen=True)
class Action:
    """An approval action: when it applies to a request and what its policies decide."""

    id: ObjectId  # its `id`, else its block label, else derived (derived_action_id)
    entity: str
    entity_span: Span
    action: str
    action_span: Span
    nrn: Nrn
    dimensions: tuple[tuple[str, str], ...]  # sorted by key
    on_policy_success: Outcome
    on_policy_fail: Outcome
    policies: tuple[PolicyRef, ...]
    span: Span
    id_is_derived: bool = False
    # audit: report what the action would decide (`would_be`) without gating.
    enforcement: Enforcement = "enforce"
    name: str | None = None  # the block label, when the action also has an `id`
    checklist: ChecklistRef | None = None
    on_checklist_fail: ChecklistOutcome | None = None  # None: as nullplatform sets it
    # Milliseconds nullplatform gives approvers to answer, and the approved action
    # to run; carried into the decision for the caller to enforce.
    time_to_reply: int | None = None
    allowed_time_to_execute: int | None = None

    @property
    def title(self) -> str:
        """How messages name it: `action "deploy-production"`, or `action 1001`."""
        return f'action "{self.id}"' if isinstance(self.id, str) else f"action {self.id}"


ItemType = Literal["condition", "manual", "external"]
ItemBehavior = Literal["gate", "informational", "override"]
ExecutionTrigger = Literal["explicit", "automatic_approval", "any_approval"]


@dataclass(frozen=True)
class ChecklistItem:
    """One item of a checklist specification's definition: a `condition` the
    request's data decides, or a `manual` or `external` item whose state the
    request reports."""

    id: str
    type: ItemType
    behavior: ItemBehavior
    span: Span
    severity: str | None = None
    title: str = ""
    query: Query | None = None  # condition items
    query_value: JsonValue = None
    applies_when: Query | None = None  # None: always
    applies_when_value: JsonValue = None


@dataclass(frozen=True)
class Checklist:
    """A checklist specification (nullplatform's approval checklist): items an
    action's requests must pass instead of policies."""

    name: str
    nrn: Nrn
    items: tuple[ChecklistItem, ...]
    execution_trigger: ExecutionTrigger
    definition: JsonValue  # as written, for export and explanations
    span: Span  # the checklist's name
    description: str = ""
    id: ObjectId | None = None


@dataclass(frozen=True)
class Association:
    """An association payload or resource: an action (by id) uses a policy or a checklist."""

    action: ObjectId
    action_span: Span
    policy: PolicyRef | None
    checklist: ChecklistRef | None
    span: Span


@dataclass(frozen=True)
class Waiver:
    """A time-bounded, owned exception: a policy's failure does not count where it applies."""

    name: str
    policy: PolicyRef
    nrn: Nrn
    dimensions: tuple[tuple[str, str], ...]  # sorted by key
    owner: str
    reason: str
    compensating_controls: tuple[str, ...]
    expires: datetime  # timezone-aware, UTC
    expires_span: Span
    review: str
    span: Span


@dataclass(frozen=True)
class Named:
    """A name as written, with its span: an entity's action, an entity it sees."""

    text: str
    span: Span


@dataclass(frozen=True)
class EntityDeclaration:
    """An `entity` block: an entity beyond nullplatform's, the approval actions that
    gate it and the entities those actions' policies can read (docs/language.md)."""

    name: str
    actions: tuple[Named, ...]
    sees: tuple[Named, ...]
    attributes: JsonValue  # attribute → JSON Schema, as written
    attribute_spans: tuple[tuple[str, Span], ...]  # each attribute's schema
    span: Span  # the entity's name
    description: str = ""


@dataclass(frozen=True)
class FindingException:
    """An `exception` block: an owned, time-bounded exception to one finding (a
    vulnerability or rule id, optionally in one package or target), applied at
    decision time to the findings lists of metadata documents (docs/decisions.md)."""

    name: str
    nrn: Nrn
    rule: str
    package: str | None
    target: str | None
    owner: str
    reason: str
    compensating_controls: tuple[str, ...]
    expires: datetime  # timezone-aware, UTC
    expires_span: Span
    review_trigger: str
    span: Span  # the exception's name


@dataclass(frozen=True)
class PolicyTest:
    """A `test` block: a request and the decision its author expects (docs/testing.md)."""

    name: str
    request: JsonValue  # the OPA input, as the test block builds it
    expect: Result
    failing: tuple[PolicyRef, ...] | None  # the policies expected to fail; None: not checked
    applying: tuple[Scalar, ...] | None  # the action ids expected to apply; None: not checked
    span: Span  # the test's name
    # The request's `entities` as written, for checking its paths against the model:
    # with `dotted` keys (the `entities` attribute) or as the whole request gives them.
    entities: Object | None = None
    dotted: bool = False
    action_span: Span | None = None  # the `action` attribute, when the test builds the request
    now: datetime | None = None  # the time OPA's clock reads for this test (waivers, exceptions)


@dataclass(frozen=True)
class SourceFile:
    """Everything one source file declares."""

    path: str
    specifications: tuple[Specification, ...] = ()
    policies: tuple[Policy, ...] = ()
    actions: tuple[Action, ...] = ()
    waivers: tuple[Waiver, ...] = ()
    tests: tuple[PolicyTest, ...] = ()
    checklists: tuple[Checklist, ...] = ()
    associations: tuple[Association, ...] = ()
    entities: tuple[EntityDeclaration, ...] = ()
    exceptions: tuple[FindingException, ...] = ()


@dataclass(frozen=True)
class Program:
    """All source files of one compilation, in a deterministic order."""

    files: tuple[SourceFile, ...] = field(default_factory=tuple)

    @property
    def specifications(self) -> tuple[Specification, ...]:
        return tuple(s for f in self.files for s in f.specifications)

    @property
    def policies(self) -> tuple[Policy, ...]:
        return tuple(p for f in self.files for p in f.policies)

    @property
    def actions(self) -> tuple[Action, ...]:
        return tuple(a for f in self.files for a in f.actions)

    @property
    def waivers(self) -> tuple[Waiver, ...]:
        return tuple(w for f in self.files for w in f.waivers)

    @property
    def tests(self) -> tuple[PolicyTest, ...]:
        return tuple(t for f in self.files for t in f.tests)

    @property
    def checklists(self) -> tuple[Checklist, ...]:
        return tuple(c for f in self.files for c in f.checklists)

    @property
    def associations(self) -> tuple[Association, ...]:
        return tuple(a for f in self.files for a in f.associations)

    @property
    def entities(self) -> tuple[EntityDeclaration, ...]:
        return tuple(e for f in self.files for e in f.entities)

    @property
    def exceptions(self) -> tuple[FindingException, ...]:
        return tuple(e for f in self.files for e in f.exceptions)
