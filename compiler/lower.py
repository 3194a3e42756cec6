"""Lower pass: a checked program → the IR emit renders.

Conditions become rule bodies: a query is a conjunction (one body); `$or`
becomes a helper rule with one body per clause; `$nor` and `$not` the negation
of such a helper; `$elemMatch` a helper that binds each array element and tests
it (helpers inside it are functions of that element).  Actions become data,
keyed for direct lookup by action name and NRN (see templates/decision.rego.j2),
and what a request must be is data too (compiler/request.py).
"""

from __future__ import annotations

import json
import posixpath
from collections import defaultdict
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta
from typing import Any

from compiler import request
from compiler.aggregation import ARITY
from compiler.ast import (
    Action,
    All,
    Checklist,
    Comparison,
    Constant,
    DynamicPattern,
    ElemMatch,
    Exists,
    Expr,
    Expression,
    FieldOperator,
    FieldRef,
    JsonValue,
    Logical,
    Mod,
    NotOp,
    Operation,
    Path,
    Policy,
    Program,
    Query,
    Regex,
    Size,
    Span,
    TypeOp,
)
from compiler.bindings import Bindings, bind
from compiler.entities import program_model
from compiler.ir import (
    Always,
    Body,
    BundleIR,
    Condition,
    Conditions,
    Conjunction,
    Each,
    ExprTest,
    ExprValue,
    HelperRule,
    Never,
    PolicyModule,
    PolicyRule,
    RuleRef,
    Test,
    flatten,
)
from compiler.ir import Expr as IRExpr
from compiler.rego import id_order, slug

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

# Where a condition's paths start: None for input.entities, else the variable
# holding the element an enclosing $elemMatch is testing.
Root = str | None


class _PolicyLowering:
    def __init__(self, rule: str, where: Mapping[str, str]) -> None:
        self.rule = rule
        self.where = where
        self.helpers: list[HelperRule] = []

    def location(self, span: Span) -> str:
        return _location(span, self.where)

    def helper(
        self,
        comment: str,
        condition: Condition,
        root: Root,
        lower_bodies: Callable[[], tuple[Body, ...]],
    ) -> RuleRef:
        """A new helper rule (a function of `root` inside an $elemMatch), and a
        reference to it.  Its name is taken before its bodies are lowered, so
        helpers are numbered in source order, outer before inner."""
        index = len(self.helpers)
        name = f"_{self.rule}_{index + 1}"
        self.helpers.append(HelperRule(name, comment, (), root))
        bodies = lower_bodies()
        self.helpers[index] = HelperRule(name, comment, tuple(map(flatten, bodies)), root)
        each = bodies[0][0] if isinstance(bodies[0][0], Each) else None
        # An $elemMatch's one clause explains one element: the binding stays out.
        clauses = tuple(body[1:] if each else body for body in bodies)
        return RuleRef(name, False, root, condition, clauses, each)

    def comment(self, path: str, op: str, value: object, span: Span) -> str:
        """`path $op value (file:line)`, as the condition reads in the source."""
        return f"{path or 'element'} {op} {json.dumps(value)} ({self.location(span)})"

    def query(self, query: Query, root: Root) -> Body:
        body: list[IRExpr] = []
        for condition in query.conditions:
            if isinstance(condition, Logical):
                body.extend(self.logical(condition, root))
            elif isinstance(condition, Expr):
                body.append(self.expr(condition))
            else:
                body.extend(self.field(condition.path, condition.operators, root))
        return tuple(body) or (Always(),)

    def expr(self, expr: Expr) -> ExprTest:
        """`$expr` (never inside an $elemMatch: its references start at the entities)."""
        location = self.location(expr.span)
        path = expr.key.text if expr.key is not None else None
        condition = Condition("$expr", path, location, expr.written, has_expected=True)
        references = dict.fromkeys(_references(expr.expression))
        return ExprTest(
            _expr_value(expr.expression),
            json.dumps(expr.written, sort_keys=True, ensure_ascii=False),
            tuple((f"${ref.text}", ref.segments) for ref in references),
            f"$expr {json.dumps(expr.written, ensure_ascii=False)} ({location})",
            condition,
        )

    def logical(self, logical: Logical, root: Root) -> Body:
        location = self.location(logical.span)
        if logical.op == "$and":
            bodies = tuple(self.query(clause, root) for clause in logical.clauses)
            return (Conjunction(Condition("$and", None, location), bodies),)
        ref = self.helper(
            f"{logical.op} at {location}",
            Condition(logical.op, None, location),
            root,
            lambda: tuple(self.query(clause, root) for clause in logical.clauses),
        )
        return (replace(ref, negated=logical.op == "$nor"),)

    def field(self, path: Path, operators: tuple[FieldOperator, ...], root: Root) -> Body:
        return tuple(e for operator in operators for e in self.operator(path, operator, root))

    def test(
        self, path: Path, root: Root, function: str, op: str, operand: object, span: Span
    ) -> Test:
        comment = self.comment(path.text, op, operand, span)
        condition = Condition(op, path.text, self.location(span), operand, has_expected=True)
        return Test(function, root, path.segments, operand, True, False, comment, condition)

    def operator(self, path: Path, operator: FieldOperator, root: Root) -> Body:
        match operator:
            case Comparison(op=op, value=value, span=span):
                return (self.test(path, root, FUNCTIONS[op], op, value, span),)
            case Exists(present=present, span=span):
                comment = self.comment(path.text, "$exists", present, span)
                function = "exists" if present else "not_exists"
                condition = Condition("$exists", path.text, self.location(span), present, True)
                test = Test(function, root, path.segments, None, False, False, comment, condition)
                return (test,)
            case TypeOp(aliases=aliases, span=span):
                return (self.test(path, root, "has_type", "$type", list(aliases), span),)
            case Regex(pattern=pattern, options=options, re2=re2, span=span):
                test = self.test(path, root, "matches", "$regex", pattern, span)
                if not options:
                    return (replace(test, operand=re2),)
                written = {"$regex": pattern, "$options": options}
                return (
                    replace(
                        test,
                        operand=re2,
                        comment=test.comment.replace(" (", f" $options {json.dumps(options)} (", 1),
                        condition=replace(test.condition, expected=written),
                    ),
                )
            case Mod(divisor=divisor, remainder=remainder, span=span):
                return (self.test(path, root, "mod", "$mod", [divisor, remainder], span),)
            case DynamicPattern(template=template, span=span):
                test = self.test(path, root, "dynamic_pattern", "$dynamicPattern", template, span)
                condition = replace(
                    test.condition, has_expected=False, details=(("template", template),)
                )
                return (replace(test, operand=_pattern(operator), condition=condition),)
            case Size(length=length, span=span):
                return (self.test(path, root, "size", "$size", length, span),)
            case All(values=values, elem_matches=elem_matches, span=span):
                if not values and not elem_matches:
                    condition = Condition("$all", path.text, self.location(span), [], True)
                    return (Never(self.comment(path.text, "$all", [], span), condition),)
                equalities = (self.test(path, root, "equals", "$all", v, span) for v in values)
                elem_refs = (self.elem_match(path, m, root) for m in elem_matches)
                return (*equalities, *elem_refs)
            case ElemMatch():
                return (self.elem_match(path, operator, root),)
            case NotOp(operators=operators, span=span):
                inner = self.field(path, operators, root)
                location = self.location(span)
                if len(inner) == 1 and isinstance(inner[0], Test):
                    test = inner[0]
                    written = _written(test.condition)
                    negation = Condition("$not", path.text, location, written, True)
                    return (
                        replace(
                            test,
                            negated=not test.negated,
                            comment=f"$not {test.comment}",
                            condition=negation,
                        ),
                    )
                ref = self.helper(
                    f"$not on {path.text or 'the element'} at {location}",
                    Condition("$not", path.text, location),
                    root,
                    lambda: (inner,),
                )
                return (replace(ref, negated=True),)

    def elem_match(self, path: Path, elem_match: ElemMatch, root: Root) -> RuleRef:
        """A helper that binds each element of the arrays at `path` and tests it:
        as a document (query form) or as a value (operator form)."""
        element = f"element_{int(root.rsplit('_', 1)[1]) + 1 if root else 1}"
        form = "documents" if elem_match.query is not None else "elements"
        location = self.location(elem_match.span)
        comment = f"{path.text} $elemMatch ({location})"

        def body() -> tuple[Body, ...]:
            each = Each(element, form, root, path.segments, f"each {form[:-1]} of {path.text}")
            if elem_match.query is not None:
                return ((each, *self.query(elem_match.query, element)),)
            itself = Path("", (), elem_match.span, None)
            return ((each, *self.field(itself, elem_match.operators, element)),)

        return self.helper(comment, Condition("$elemMatch", path.text, location), root, body)


def _pattern(pattern: DynamicPattern) -> JsonValue:
    """A $dynamicPattern as mongo.dynamic_pattern reads it: the template cut at its
    placeholders (RE2 `pieces`, and as `written`, for explanations), each
    placeholder's field by index (`gaps`) and the fields."""
    return {
        "pieces": list(pattern.pieces),
        "written": list(pattern.written),
        "gaps": list(pattern.gaps),
        "fields": [
            {"name": f.name, "path": f.path.text, "segments": list(f.path.segments)}
            for f in pattern.fields
        ],
    }


def _expr_value(expression: Expression) -> ExprValue:
    match expression:
        case FieldRef(path=path):
            return ExprValue("field", path=path.segments)
        case Constant(value=value):
            return ExprValue("literal", value=value)
        case Operation(op=op, args=args):
            return ExprValue(
                "call", f"expr_{op[1:]}", tuple(map(_expr_value, args)), variadic=ARITY[op] is None
            )


def _references(expression: Expression) -> list[Path]:
    """The paths of an expression's field references, in source order."""
    match expression:
        case FieldRef(path=path):
            return [path]
        case Operation(args=args):
            return [path for argument in args for path in _references(argument)]
    return []


def _written(condition: Condition) -> JsonValue:
    """The operator document a `$not` holds, as written: `{"$gt": 0}`."""
    if condition.operator == "$regex" and isinstance(condition.expected, dict):
        return condition.expected  # already {"$regex": ..., "$options": ...}
    return {condition.operator: condition.expected}


def _explanation(body: Body) -> list[JsonValue]:
    """A body as data for the explanation interpreter (templates/explanations.rego.j2):
    in source order, a node per expression that can fail, nested as written, each
    with the fields of its failure entry (docs/decisions.md)."""
    nodes: list[JsonValue] = []
    for e in body:
        match e:
            case Test(condition=condition):
                nodes.append(
                    {
                        "kind": "test",
                        "entry": condition.entry(),
                        "function": e.function,
                        "segments": list(e.path),
                        # Always present (null for $exists): an undefined argument would
                        # make the interpreter's `not _holds(...)` undefined, hiding the failure.
                        "operand": e.operand if e.has_operand else None,
                        "negated": e.negated,
                        # A $dynamicPattern's entry shows the pattern as filled.
                        **({"pattern": e.operand} if e.function == "dynamic_pattern" else {}),
                    }
                )
            case ExprTest(condition=condition):
                nodes.append(
                    {
                        "kind": "expr",
                        "entry": condition.entry(),
                        "expression": e.text,
                        "references": [[text, list(path)] for text, path in e.references],
                    }
                )
            case Never(condition=condition):
                nodes.append({"kind": "never", "entry": condition.entry()})
            case Conjunction(condition=condition, bodies=clauses):
                nodes.append(_clauses("and", condition, clauses))
            case RuleRef(condition=condition, clauses=clauses, each=None, negated=negated):
                # $or; negated, $nor or $not of several operators.
                nodes.append(_clauses("nor" if negated else "or", condition, clauses))
            case RuleRef(condition=condition, clauses=clauses, each=Each() as each):
                nodes.append(
                    {
                        "kind": "elemMatch",
                        "entry": condition.entry(),
                        "segments": list(each.path),
                        "form": each.function,
                        "clause": _explanation(clauses[0]),
                    }
                )
    return nodes


def _clauses(kind: str, condition: Condition, clauses: tuple[Body, ...]) -> JsonValue:
    return {
        "kind": kind,
        "entry": condition.entry(),
        "clauses": [_explanation(clause) for clause in clauses],
    }


def rule_names(policies: tuple[Policy, ...]) -> dict[Span, str]:
    """Policy (by its span: names repeat at different NRNs) → its name in the bundle,
    unique: `Code Coverage` → `code_coverage`, a second one `code_coverage_2`.  The
    rule of its selector has this name, and so does the rule of its conditions
    unless an earlier policy has the same ones (`shared_rules`)."""
    names: dict[Span, str] = {}
    taken: set[str] = set()
    for policy in policies:
        base = slug(policy.name)
        rule, n = base, 1
        while rule in taken:
            n += 1
            rule = f"{base}_{n}"
        taken.add(rule)
        names[policy.span] = rule
    return names


def shared_rules(policies: tuple[Policy, ...], names: Mapping[Span, str]) -> dict[Span, str]:
    """Policy → the rule of its conditions: policies whose conditions are the same
    document, as written (the order of its keys included: it orders the failures
    reported), share the rule of the first of them, named after it.  Thousands of
    policies hold a few dozen documents, and OPA compiles, holds and evaluates
    one rule per document."""
    first: dict[str, str] = {}
    return {
        p.span: first.setdefault(json.dumps(p.conditions_value), names[p.span]) for p in policies
    }


def _numbered(rule: PolicyRule) -> tuple[PolicyRule, list[str]]:
    """The rule with each explanation node's `source` taken out of its entry and
    replaced by `n`, its position in the list of sources returned (nodes in order,
    nested ones after the node that holds them): policies that share a rule share
    its explanation, and each reports its own conditions' sources."""
    if rule.explanation is None:
        return rule, []
    sources: list[str] = []

    def numbered(node: Any) -> Any:
        entry = {k: v for k, v in node["entry"].items() if k != "source"}
        found = {**node, "entry": entry, "n": len(sources)}
        sources.append(node["entry"]["source"])
        if "clauses" in node:
            found["clauses"] = [[numbered(n) for n in clause] for clause in node["clauses"]]
        if "clause" in node:
            found["clause"] = [numbered(n) for n in node["clause"]]
        return found

    assert isinstance(rule.explanation, list)
    return replace(rule, explanation=[numbered(node) for node in rule.explanation]), sources


def _described(policy: Policy, where: Mapping[str, str]) -> str:
    """A policy as a rule's comment names it: `"Name" (file:line), at nrn`."""
    name = json.dumps(policy.name, ensure_ascii=False)
    return f"{name} ({_location(policy.span, where)}), at {policy.nrn.text}"


# A shared rule's comment names this many of the other policies it decides; the
# catalog names each.
NAMED_IN_COMMENT = 5


def _module_path(package: str, source: str) -> str:
    return f"regate/{package}/{module_stem(source)}.rego"


def module_stem(source: str) -> str:
    """A module's file name, without extension, for a source (relative to the source
    root): its path with `.` for `/`, as a module's directory names its package
    (Regal's directory-package-mismatch): `teams/a.rg` → `teams.a`."""
    return posixpath.splitext(source)[0].replace("/", ".")


def _query_rule(
    rule: str,
    name: str,
    span: Span,
    nrn: str,
    query: Query,
    written: JsonValue,
    where: Mapping[str, str],
    explained: bool = True,
) -> PolicyRule:
    """A rule true when `query` holds, with its helpers and, when a failure of it is
    reported (`explained`), its conditions as data for explanations."""
    lowering = _PolicyLowering(rule, where)
    body = lowering.query(query, None)
    return PolicyRule(
        rule=rule,
        name=name,
        source=lowering.location(span),
        nrn=nrn,
        conditions=written,
        body=flatten(body),
        helpers=tuple(lowering.helpers),
        explanation=_explanation(body) if explained else None,
    )


def checklist_rules(
    checklists: tuple[Checklist, ...], taken: Iterable[str]
) -> dict[tuple[Span, str], str]:
    """(checklist span, item id) → the rule of the item's query, and (span, item id +
    "?") → the rule of its `applies_when`: `release_readiness_coverage`, unique
    beside the policies' rules (`taken`), whose explanations share one namespace."""
    used = set(taken)
    names: dict[tuple[Span, str], str] = {}
    for checklist in checklists:
        for item in checklist.items:
            for key, query, suffix in (
                (item.id, item.query, ""),
                (item.id + "?", item.applies_when, "_applies"),
            ):
                if query is None:
                    continue
                base = slug(f"{checklist.name} {item.id}{suffix}")
                rule, n = base, 1
                while rule in used:
                    n += 1
                    rule = f"{base}_{n}"
                used.add(rule)
                names[checklist.span, key] = rule
    return names


def lower(program: Program, where: Mapping[str, str]) -> BundleIR:
    """`where` maps each source path to its name relative to the source root."""
    names = rule_names(program.policies)
    rules = shared_rules(program.policies, names)
    items = checklist_rules(program.checklists, names.values())
    bindings, _ = bind(program)
    deciding: dict[str, list[Policy]] = defaultdict(list)  # rule → the policies it decides
    for p in program.policies:
        deciding[rules[p.span]].append(p)
    # The sources of each explained query's conditions (a policy's, or a checklist
    # item's by (checklist, item id)), in its explanation's order.
    sources: dict[Span | tuple[Span, str], list[str]] = {}
    modules: list[PolicyModule] = []
    for file in program.files:
        source = where.get(file.path, file.path)
        policies: list[PolicyRule] = []
        for p in file.policies:
            rule = rules[p.span]
            conditions = p.conditions, p.conditions_value
            lowered, sources[p.span] = _numbered(
                _query_rule(rule, p.name, p.span, p.nrn.text, *conditions, where)
            )
            if rule == names[p.span]:  # the first policy of its conditions: its rule's module
                others = deciding[rule][1:]
                also = tuple(_described(q, where) for q in others[:NAMED_IN_COMMENT])
                more = len(others) - len(also)
                policies.append(replace(lowered, also=also, more=more))
        selectors = tuple(
            _query_rule(
                names[p.span],
                p.name,
                p.span,
                p.nrn.text,
                p.selector,
                p.selector_value,
                where,
                False,
            )
            for p in file.policies
            if p.selector is not None
        )
        items_rules: list[PolicyRule] = []
        for checklist in file.checklists:
            for item in checklist.items:
                for key, query, written in (
                    (item.id, item.query, item.query_value),
                    (item.id + "?", item.applies_when, item.applies_when_value),
                ):
                    if query is None:
                        continue
                    applies = key.endswith("?")
                    item_rule, sources[checklist.span, key] = _numbered(
                        _query_rule(
                            items[checklist.span, key],
                            f"{checklist.name} {item.id}" + (" applies when" if applies else ""),
                            item.span,
                            checklist.nrn.text,
                            query,
                            written,
                            where,
                            explained=not applies,
                        )
                    )
                    items_rules.append(item_rule)
        for package, found in (
            ("policies", tuple(policies)),
            ("selectors", selectors),
            ("checklists", tuple(items_rules)),
        ):
            if found:
                path = _module_path(package, source)
                modules.append(PolicyModule(path, source, found, package))
    catalog = _catalog(program, bindings, Names(names, rules, items, sources), where)
    model = program_model(program)
    request_rules = request.rules(program, model)
    checks = request.checks(request_rules, model)
    return BundleIR(tuple(modules), Conditions((), ()), catalog, request_rules, checks)


def _location(span: Span, where: Mapping[str, str]) -> str:
    return f"{where.get(span.file, span.file)}:{span.line}"


def epoch_ns(moment: datetime) -> int:
    return (moment - EPOCH) // timedelta(microseconds=1) * 1000


def _enforced(enforcement: str, outcome: str) -> dict[str, str]:
    """An action's result: an audit action reports what it would decide, under
    would_be, but never gates."""
    if enforcement == "enforce":
        return {"result": outcome}
    return {"result": "approve", "enforcement": "audit", "would_be": outcome}


def _policy_entry(policy: Policy, where: Mapping[str, str]) -> dict[str, object]:
    """How a decision names a policy: its name, its id when it has one, its source."""
    named: dict[str, object] = {"name": policy.name, "source": _location(policy.span, where)}
    if policy.id is not None:
        named["id"] = policy.id
    return named


# nullplatform's documented defaults for reading secrets: the request expires after
# 3 days, the approved access lasts 24 hours (docs/language.md, "Time settings").
TIME_DEFAULTS = {
    "parameter:read-secrets": {"time_to_reply": 259_200_000, "allowed_time_to_execute": 86_400_000}
}


def _reported(action: Action) -> dict[str, object]:
    """What every decision entry of an action says of it, whatever its result."""
    times = {
        **TIME_DEFAULTS.get(action.action, {}),
        **{
            key: value
            for key, value in (
                ("time_to_reply", action.time_to_reply),
                ("allowed_time_to_execute", action.allowed_time_to_execute),
            )
            if value is not None
        },
    }
    return {
        "id": action.id,
        **({"name": action.name} if action.name is not None else {}),
        "action": action.action,
        "nrn": action.nrn.text,
        "dimensions": dict(action.dimensions),
        **times,
    }


@dataclass(frozen=True)
class Names:
    """What the catalog names each policy and checklist item by."""

    keys: Mapping[Span, str]  # a policy's own name in the bundle (its selector's rule)
    rules: Mapping[Span, str]  # the rule of a policy's conditions (shared_rules)
    items: Mapping[tuple[Span, str], str]  # a checklist item's query (or applies_when) rule
    sources: Mapping[Span | tuple[Span, str], list[str]]  # an explained query's conditions'


def _checklist_entry(
    action: Action,
    checklist: Checklist,
    names: Names,
    where: Mapping[str, str],
) -> dict[str, object]:
    """A checklist action: its items, which the decision gives states per request
    (templates/decision.rego.j2), and what a failed gate makes of the request."""
    # Unset, nullplatform sets it when the checklist is linked: deny if the
    # action's on_policy_fail is deny, pending otherwise.
    on_fail = action.on_checklist_fail or ("deny" if action.on_policy_fail == "deny" else "pending")
    named: dict[str, object] = {
        "name": checklist.name,
        "source": _location(checklist.span, where),
        "execution_trigger": checklist.execution_trigger,
        **({"id": checklist.id} if checklist.id is not None else {}),
    }
    return {
        "checklist": {
            "reported": named,
            "items": [
                {
                    "reported": {
                        "id": item.id,
                        "type": item.type,
                        "behavior": item.behavior,
                        **({"severity": item.severity} if item.severity else {}),
                        **({"title": item.title} if item.title else {}),
                        "source": _location(item.span, where),
                    },
                    **(
                        {
                            "rule": names.items[checklist.span, item.id],
                            "sources": names.sources[checklist.span, item.id],
                        }
                        if item.query is not None
                        else {}
                    ),
                    **(
                        {"applies": names.items[checklist.span, item.id + "?"]}
                        if item.applies_when is not None
                        else {}
                    ),
                }
                for item in checklist.items
            ],
            # What each outcome reads in the action's entry (audit: would_be).
            "outcomes": {
                outcome: _enforced(action.enforcement, outcome)
                for outcome in ("approve", "pending", "manual", on_fail)
            },
            "on_fail": on_fail,
        },
    }


def _catalog(
    program: Program,
    bindings: Bindings,
    names: Names,
    where: Mapping[str, str],
) -> object:
    """The catalog (compiler/catalog.py): actions keyed by action name and NRN, each
    policy with its rule, its conditions' sources and the waivers that name it."""
    waivers = _waivers(program, bindings, where)
    actions: dict[str, dict[str, list[object]]] = defaultdict(lambda: defaultdict(list))
    for action in sorted(program.actions, key=lambda a: id_order(a.id)):
        policies = bindings.policies_of(action)
        checklist = bindings.checklist_of(action)
        reported = _reported(action)
        common = {"id": action.id, "dimensions": dict(action.dimensions)}
        if checklist is not None:
            entry: dict[str, object] = {**common, "reported": reported}
            entry.update(_checklist_entry(action, checklist, names, where))
            actions[action.action][action.nrn.text].append(entry)
            continue
        # nullplatform sends a request for an action with no policies (and no
        # checklist) to human review, whatever its on_policy_success says.
        on_success = action.on_policy_success if policies else "manual"
        selective = any(p.selector is not None for p in policies)
        actions[action.action][action.nrn.text].append(
            {
                **common,
                "policies": [
                    {
                        **_policy_entry(p, where),
                        "rule": names.rules[p.span],
                        "sources": names.sources[p.span],
                        # Only a policy that has waivers looks for those in force.
                        **({"waivers": waivers[p.span]} if p.span in waivers else {}),
                        **(
                            {"selector": p.selector_value, "selects": names.keys[p.span]}
                            if p.selector is not None
                            else {}
                        ),
                    }
                    for p in policies
                ],
                # Some policy takes part only in the requests its selector matches.
                **({"selective": True} if selective else {}),
                # The action's entry in a decision when all its policies pass,
                # written here so that OPA need not build it for every request,
                # and what changes in it when one fails.
                "approved": {
                    **reported,
                    **_enforced(action.enforcement, on_success),
                    "policies": [{**_policy_entry(p, where), "passed": True} for p in policies],
                },
                "failed": _enforced(action.enforcement, action.on_policy_fail),
            }
        )
    return {
        "actions": {name: dict(by_nrn) for name, by_nrn in actions.items()},
        **({"exceptions": _exceptions(program, where)} if program.exceptions else {}),
    }


def _waivers(
    program: Program, bindings: Bindings, where: Mapping[str, str]
) -> dict[Span, list[object]]:
    """The waivers of each policy (by its span) that has some, by name."""
    waivers: dict[Span, list[object]] = defaultdict(list)
    for waiver in sorted(program.waivers, key=lambda w: w.name):
        policy = bindings.waivers[waiver.span]
        waivers[policy.span].append(
            {
                "name": waiver.name,
                "policy": policy.name,
                "nrn": waiver.nrn.text,
                "dimensions": dict(waiver.dimensions),
                "owner": waiver.owner,
                "reason": waiver.reason,
                "compensating_controls": list(waiver.compensating_controls),
                "expires": waiver.expires.isoformat().replace("+00:00", "Z"),
                "expires_ns": epoch_ns(waiver.expires),
                "review": waiver.review,
                "source": _location(waiver.span, where),
            }
        )
    return dict(waivers)


def _exceptions(program: Program, where: Mapping[str, str]) -> dict[str, list[object]]:
    """data.regate.catalog.exceptions: the finding exceptions by NRN, each as a decision
    lists it (package and target only when given), with its expiry in ns for OPA's
    clock (templates/exceptions.rego.j2)."""
    by_nrn: dict[str, list[object]] = defaultdict(list)
    for exception in sorted(program.exceptions, key=lambda e: (e.nrn.text, e.name)):
        by_nrn[exception.nrn.text].append(
            {
                "name": exception.name,
                "nrn": exception.nrn.text,
                "rule": exception.rule,
                **({"package": exception.package} if exception.package is not None else {}),
                **({"target": exception.target} if exception.target is not None else {}),
                "owner": exception.owner,
                "reason": exception.reason,
                "compensating_controls": list(exception.compensating_controls),
                "expires": exception.expires.isoformat().replace("+00:00", "Z"),
                "expires_ns": epoch_ns(exception.expires),
                "review_trigger": exception.review_trigger,
                "source": _location(exception.span, where),
            }
        )
    return dict(by_nrn)
