"""Lower pass: a checked program → the IR emit renders.

Conditions become rule bodies: a query is a conjunction (one body); `$or`
becomes a helper rule with one body per clause; `$nor` and `$not` the negation
of such a helper.  Actions become data, keyed for direct lookup by action name
and NRN (see templates/decision.rego.j2).
"""

from __future__ import annotations

import json
import posixpath
from collections import defaultdict
from collections.abc import Callable, Mapping
from datetime import UTC, datetime, timedelta

from compiler.ast import (
    Comparison,
    Exists,
    FieldCondition,
    FieldOperator,
    Logical,
    NotOp,
    Policy,
    Program,
    Query,
    Span,
)
from compiler.ir import (
    Always,
    Body,
    BundleIR,
    Expr,
    HelperRule,
    PolicyModule,
    PolicyRule,
    RuleRef,
    Test,
)
from compiler.rego import slug

EPOCH = datetime(1970, 1, 1, tzinfo=UTC)

# The mongo library function for each comparison operator.
FUNCTIONS = {
    "$eq": "equals",
    "$ne": "not_equals",
    "$gt": "greater",
    "$gte": "greater_or_equal",
    "$lt": "less",
    "$lte": "less_or_equal",
    "$in": "is_in",
    "$nin": "not_in",
}


class _PolicyLowering:
    def __init__(self, rule: str, where: Mapping[str, str]) -> None:
        self.rule = rule
        self.where = where
        self.helpers: list[HelperRule] = []

    def location(self, span: Span) -> str:
        return _location(span, self.where)

    def helper(self, comment: str, lower_bodies: Callable[[], tuple[Body, ...]]) -> str:
        """A new helper rule; its name is taken before its bodies are lowered, so
        helpers are numbered in source order, outer before inner."""
        index = len(self.helpers)
        name = f"_{self.rule}_{index + 1}"
        self.helpers.append(HelperRule(name, comment, ()))
        self.helpers[index] = HelperRule(name, comment, lower_bodies())
        return name

    def comment(self, path: str, op: str, value: object, span: Span, negated: bool) -> str:
        """`path $op value (file:line)`, as the condition reads in the source."""
        condition = f"{op} {json.dumps(value)}"
        if negated:
            condition = f"$not {{{op}: {json.dumps(value)}}}"
        return f"{path} {condition} ({self.location(span)})"

    def query(self, query: Query) -> Body:
        body: list[Expr] = []
        for condition in query.conditions:
            if isinstance(condition, Logical):
                body.extend(self.logical(condition))
            else:
                body.extend(self.field(condition))
        return tuple(body) or (Always(),)

    def logical(self, logical: Logical) -> Body:
        if logical.op == "$and":
            return tuple(e for clause in logical.clauses for e in self.query(clause))
        name = self.helper(
            f"{logical.op} at {self.location(logical.span)}",
            lambda: tuple(self.query(clause) for clause in logical.clauses),
        )
        return (RuleRef(name, negated=logical.op == "$nor"),)

    def field(self, condition: FieldCondition) -> Body:
        return tuple(
            self.operator(condition, operator, negated=False) for operator in condition.operators
        )

    def operator(self, condition: FieldCondition, operator: FieldOperator, negated: bool) -> Expr:
        path = condition.path
        match operator:
            case Comparison(op=op, value=value, span=span):
                comment = self.comment(path.text, op, value, span, negated)
                return Test(FUNCTIONS[op], path.segments, value, True, negated, comment)
            case Exists(present=present, span=span):
                comment = self.comment(path.text, "$exists", present, span, negated)
                function = "exists" if present else "not_exists"
                return Test(function, path.segments, None, False, negated, comment)
            case NotOp(operators=operators, span=span):
                if len(operators) == 1 and not isinstance(operators[0], NotOp):
                    return self.operator(condition, operators[0], negated=not negated)
                name = self.helper(
                    f"$not on {path.text} at {self.location(span)}",
                    lambda: (tuple(self.operator(condition, o, False) for o in operators),),
                )
                return RuleRef(name, negated=not negated)


def rule_names(policies: tuple[Policy, ...]) -> dict[str, str]:
    """Policy name → rule name, unique: `Code Coverage` → `code_coverage`."""
    names: dict[str, str] = {}
    taken: set[str] = set()
    for policy in policies:
        base = slug(policy.name)
        rule, n = base, 1
        while rule in taken:
            n += 1
            rule = f"{base}_{n}"
        taken.add(rule)
        names[policy.name] = rule
    return names


def _module_path(source: str) -> str:
    stem = posixpath.splitext(source)[0]
    return f"regate/policies/{stem}.rego"


def lower(program: Program, where: Mapping[str, str]) -> BundleIR:
    """`where` maps each source path to its name relative to the source root."""
    rules = rule_names(program.policies)
    modules: list[PolicyModule] = []
    for file in program.files:
        if not file.policies:
            continue
        source = where.get(file.path, file.path)
        lowered: list[PolicyRule] = []
        for policy in file.policies:
            rule = rules[policy.name]
            lowering = _PolicyLowering(rule, where)
            body = lowering.query(policy.conditions)
            lowered.append(
                PolicyRule(
                    rule=rule,
                    name=policy.name,
                    source=lowering.location(policy.span),
                    nrn=policy.nrn.text,
                    conditions=policy.conditions_value,
                    body=body,
                    helpers=tuple(lowering.helpers),
                )
            )
        modules.append(PolicyModule(_module_path(source), source, tuple(lowered)))
    return BundleIR(tuple(modules), _catalog(program, rules, where))


def _location(span: Span, where: Mapping[str, str]) -> str:
    return f"{where.get(span.file, span.file)}:{span.line}"


def _epoch_ns(moment: datetime) -> int:
    return (moment - EPOCH) // timedelta(microseconds=1) * 1000


def _catalog(program: Program, rules: Mapping[str, str], where: Mapping[str, str]) -> object:
    """data.regate.catalog: actions keyed by action name and NRN, waivers by policy rule."""
    sources = {p.name: _location(p.span, where) for p in program.policies}
    actions: dict[str, dict[str, list[object]]] = defaultdict(lambda: defaultdict(list))
    for action in sorted(program.actions, key=lambda a: a.id):
        actions[action.action][action.nrn.text].append(
            {
                "id": action.id,
                "action": action.action,
                "nrn": action.nrn.text,
                "dimensions": dict(action.dimensions),
                "on_policy_success": action.on_policy_success,
                "on_policy_fail": action.on_policy_fail,
                "enforcement": action.enforcement,
                "policies": [
                    {"name": p.name, "rule": rules[p.name], "source": sources[p.name]}
                    for p in action.policies
                ],
                "source": _location(action.span, where),
            }
        )
    waivers: dict[str, list[object]] = defaultdict(list)
    for waiver in sorted(program.waivers, key=lambda w: w.name):
        waivers[rules[waiver.policy.name]].append(
            {
                "name": waiver.name,
                "policy": waiver.policy.name,
                "nrn": waiver.nrn.text,
                "dimensions": dict(waiver.dimensions),
                "owner": waiver.owner,
                "reason": waiver.reason,
                "compensating_controls": list(waiver.compensating_controls),
                "expires": waiver.expires.isoformat().replace("+00:00", "Z"),
                "expires_ns": _epoch_ns(waiver.expires),
                "review": waiver.review,
                "source": _location(waiver.span, where),
            }
        )
    return {
        "actions": {name: dict(by_nrn) for name, by_nrn in actions.items()},
        "waivers": dict(waivers),
    }
