"""Generated test data: boundary requests for every policy, with expected results.

For each path a policy reads, candidate values are built around each operand
(the operand itself, just below and just above it, a different value), plus the
field missing, a value of the wrong type and, where the schema allows an array
there, the array cases.  A request varies one path at a time from a base that
makes that path decide the policy where one exists.  The expected result is
regate's own reading of the condition (`matches`, the MongoDB semantics of
docs/semantics.md), never the compiled Rego's, so the generated `_test.rego`
proves the Rego against an independent reading.
"""

from __future__ import annotations

import copy
import itertools
import json
import math
import re
from collections.abc import Callable, Container, Iterator
from dataclasses import dataclass
from operator import ge, gt, le, lt

from compiler import aggregation
from compiler.ast import (
    All,
    Checklist,
    Comparison,
    Constant,
    DynamicPattern,
    Exists,
    Expr,
    Expression,
    FieldCondition,
    FieldOperator,
    FieldRef,
    JsonValue,
    Logical,
    Mod,
    NotOp,
    Nrn,
    Operation,
    Policy,
    Program,
    Query,
    Size,
    Span,
    TypeOp,
)
from compiler.bindings import bind
from compiler.check import Specifications, dynamic_patterns, expr_conditions, field_conditions
from compiler.entities import program_model
from compiler.schema import Resolved, json_type, resolve

# Bounds each search for a base request, in readings of the conditions, so a policy
# with many paths stays cheap.
MAX_READINGS = 1024
# The request's parts other than entities, when no action binds the policy.
DEFAULT_ACTION = "deployment:create"


class UnknownOperator(Exception):
    """An operator this generator cannot read yet: the policy gets no boundary cases."""


@dataclass(frozen=True)
class Case:
    """One boundary request and whether the policy holds for it."""

    description: str
    input: JsonValue
    expected: bool


@dataclass(frozen=True)
class PolicyBoundaries:
    """The cases of one rule: a policy's conditions (package `policies`), its
    selector (`selectors`), or a checklist item's query (`checklists`)."""

    package: str
    name: str  # how messages name it: `policy "Code Coverage"`, `selector of policy "P"`
    span: Span  # the policy's name, the item
    owner: Policy | Checklist  # the declaration the rule comes from
    cases: tuple[Case, ...]
    skipped: str | None = None  # why no cases were generated
    item: str | None = None  # a checklist item's id


# --- regate's reading of a condition (docs/semantics.md) ---

_MISSING = object()  # a path whose field is absent from the request


@dataclass(frozen=True)
class _InAnotherElement:
    """The value in a second object of the innermost array of objects on the path, beside
    the first holding the base request's value: MongoDB matches if any element does."""

    value: JsonValue
    first: JsonValue = _MISSING


@dataclass(frozen=True)
class _Item:
    """What a path yields (docs/semantics.md, "Paths"): a value reached through a field or
    by an array index, or missing."""

    value: JsonValue  # _MISSING: missing
    by_index: bool = False


def _step(item: _Item, key: str) -> list[_Item]:
    value = item.value
    if value is _MISSING or not isinstance(value, dict | list):
        return [_Item(_MISSING)]
    if isinstance(value, dict):
        return [_Item(value.get(key, _MISSING))]
    found = [_Item(e.get(key, _MISSING)) for e in value if isinstance(e, dict)]
    if key.isdigit() and int(key) < len(value):
        found.append(_Item(value[int(key)], by_index=True))
    return found


def _items(document: JsonValue, segments: tuple[str, ...]) -> list[_Item]:
    items = [_Item(document)]
    for key in segments:
        items = [child for item in items for child in _step(item, key)]
    return items


def _offered(items: list[_Item]) -> list[JsonValue]:
    """The values operators test: an array reached through a field offers its elements and
    itself; one reached by an index is offered as is."""
    offered: list[JsonValue] = []
    for item in items:
        if item.value is _MISSING:
            continue
        if isinstance(item.value, list) and not item.by_index:
            offered.extend(item.value)
        offered.append(item.value)
    return offered


def same(a: JsonValue, b: JsonValue) -> bool:
    """JSON equality: numbers by value, `true` is not `1` (Python says otherwise), arrays
    in order, objects unordered."""
    if _class(a) == _class(b) == "number":
        return bool(a == b)
    if type(a) is not type(b):
        return False
    if isinstance(a, list):
        return len(a) == len(b) and all(same(x, y) for x, y in zip(a, b, strict=True))
    if isinstance(a, dict):
        return a.keys() == b.keys() and all(same(a[k], b[k]) for k in a)
    return bool(a == b)


def _class(value: JsonValue) -> str:
    kind = json_type(value)
    return "number" if kind == "integer" else kind


def _equals(items: list[_Item], operand: JsonValue) -> bool:
    if operand is None and any(item.value is _MISSING for item in items):
        return True
    return any(same(value, operand) for value in _offered(items))


ORDERINGS = {"$gt": gt, "$gte": ge, "$lt": lt, "$lte": le}


def _orders(op: str, items: list[_Item], operand: JsonValue) -> bool:
    """$gt $gte $lt $lte: some offered value of the operand's type class compares so.
    regate reads scalar operands; arrays and objects compare by BSON rules it leaves
    to the Rego, so such a policy gets no boundary cases."""
    if operand is None:  # null: $gte and $lte match null and missing
        return op in ("$gte", "$lte") and _equals(items, None)
    kind = _class(operand)
    if kind in ("array", "object"):
        raise UnknownOperator(f"{op} with {_a(kind)} operand")
    compare = ORDERINGS[op]
    if kind == "string":
        return any(
            compare(v.encode(), operand.encode()) for v in _offered(items) if _class(v) == kind
        )
    return any(compare(v, operand) for v in _offered(items) if _class(v) == kind)


def _holds(operator: FieldOperator, items: list[_Item], document: JsonValue) -> bool:
    """Whether an operator holds for what a path reached; `document` (the request's
    entities) fills a $dynamicPattern's placeholders."""
    match operator:
        case Comparison(op="$eq", value=value):
            return _equals(items, value)
        case Comparison(op="$ne", value=value):
            return not _equals(items, value)
        case Comparison(op="$in", value=listed):
            return any(_equals(items, value) for value in listed)
        case Comparison(op="$nin", value=listed):
            return not any(_equals(items, value) for value in listed)
        case Comparison(op=op, value=value) if op in ORDERINGS:
            return _orders(op, items, value)
        case Exists(present=present):
            return any(item.value is not _MISSING for item in items) == present
        case NotOp(operators=operators):
            return not all(_holds(inner, items, document) for inner in operators)
        case TypeOp(aliases=aliases):
            return any(_bson_type(v) in aliases for v in _offered(items))
        case All(values=values, elem_matches=()):
            return bool(values) and all(_equals(items, value) for value in values)
        case Size(length=length):
            return any(isinstance(item.value, list) and len(item.value) == length for item in items)
        case Mod(divisor=divisor, remainder=remainder):
            # A number beyond the 64-bit integers never matches (mod_special_values.js).
            return any(
                _class(v) == "number"
                and -(2**63) <= v < 2**63
                and _remainder(math.trunc(v), divisor) == remainder
                for v in _offered(items)
            )
        case DynamicPattern():
            pattern = _filled(operator, document)
            return pattern is not None and any(
                isinstance(v, str) and pattern.search(v) for v in _offered(items)
            )
    raise UnknownOperator(_operator_name(operator))


# Metacharacters a placeholder's text is escaped of (templates/mongo.rego.j2).
_METACHARACTERS = re.compile(r"[\\.+*?()|\[\]{}^$]")
# RE2 spellings Python's `re` reads otherwise, or not at all: a pattern with one
# gets no boundary cases (Unicode classes, POSIX classes, the ungreedy flag).
_RE2_ONLY = re.compile(r"\\[pP]|\[:|\(\?[a-zA-Z]*U")


def _filled(pattern: DynamicPattern, document: JsonValue) -> re.Pattern[str] | None:
    """The template filled with its fields' text (one string or number each; else None),
    as a Python pattern that matches as the RE2 one does."""
    texts: list[str] = []
    for placeholder in pattern.fields:
        reached = [i.value for i in _items(document, placeholder.path.segments)]
        found = [v for v in reached if v is not _MISSING]
        if len(found) != 1 or _class(found[0]) not in ("string", "number"):
            return None
        texts.append(found[0] if isinstance(found[0], str) else _shown(found[0]))
    filled = pattern.pieces[0] + "".join(
        _METACHARACTERS.sub(r"\\\g<0>", texts[gap]) + piece
        for gap, piece in zip(pattern.gaps, pattern.pieces[1:], strict=True)
    )
    if _RE2_ONLY.search(filled):
        raise UnknownOperator("$dynamicPattern with a construct Python's re reads otherwise")
    return re.compile(filled.replace("\\z", "\\Z").replace("(?<", "(?P<"), re.ASCII)


def _expr_holds(expr: Expr, document: JsonValue) -> bool:
    """An $expr holds where its value is truthy; an evaluation error never holds."""
    try:
        return aggregation.truthy(aggregation.evaluate(expr.expression, document))
    except aggregation.EvaluationError:
        return False


# int and long: a number written without fraction or exponent (a Python int, as JSON
# reads and writes it) in 32 and 64 bits; any other number is a double.
INT32, INT64 = range(-(2**31), 2**31), range(-(2**63), 2**63)


def _bson_type(value: JsonValue) -> str:
    """The $type alias of a JSON value (docs/semantics.md); never `decimal`."""
    if isinstance(value, bool):
        return "bool"
    if isinstance(value, int):
        return "int" if value in INT32 else "long" if value in INT64 else "double"
    if isinstance(value, float):
        return "double"
    return {type(None): "null", str: "string", list: "array", dict: "object"}[type(value)]


# A value of each $type alias a JSON value can have.
TYPE_SAMPLES: tuple[JsonValue, ...] = ("x", 7, 2**40, 7.5, True, None, {}, [])


def _remainder(dividend: int, divisor: int) -> int:
    """C's `%`: the sign of the dividend (Python's `%` takes the divisor's)."""
    magnitude = abs(dividend) % abs(divisor)
    return -magnitude if dividend < 0 else magnitude


def _operator_name(operator: object) -> str:
    """`$size` for Comparison("$size") or for a class Size (ElemMatch: `$elemMatch`)."""
    if hasattr(operator, "op"):
        return str(operator.op)
    if isinstance(operator, All):
        return "$all of $elemMatch"
    name = type(operator).__name__.removesuffix("Op")
    return f"${name[:1].lower()}{name[1:]}"


def matches(query: Query, document: JsonValue) -> bool:
    """Whether a document (a request's entities) satisfies a query document."""
    for condition in query.conditions:
        if isinstance(condition, Logical):
            results = [matches(clause, document) for clause in condition.clauses]
            if condition.op == "$and":
                holds = all(results)
            else:
                holds = any(results) == (condition.op == "$or")
        elif isinstance(condition, Expr):
            holds = _expr_holds(condition, document)
        else:
            items = _items(document, condition.path.segments)
            holds = all(_holds(o, items, document) for o in condition.operators)
        if not holds:
            return False
    return True


def _a(kind: str) -> str:
    return f"an {kind}" if kind[0] in "aeiou" else f"a {kind}"


# --- candidate values ---


@dataclass(frozen=True)
class Candidate:
    label: str
    value: JsonValue  # _MISSING: the field is absent


def _shown(value: JsonValue) -> str:
    return json.dumps(value, ensure_ascii=False, sort_keys=True)


def _neighbours(value: JsonValue) -> Iterator[Candidate]:
    """Values just beside an operand: below and above for numbers and strings."""
    if isinstance(value, bool):
        yield Candidate(f"{_shown(not value)}", not value)
    elif isinstance(value, int | float):
        step = 1 if float(value).is_integer() else 0.5
        below, above = value - step, value + step
        yield Candidate(f"{_shown(below)}, just below {_shown(value)}", below)
        yield Candidate(f"{_shown(above)}, just above {_shown(value)}", above)
    elif isinstance(value, str):
        if value:
            yield Candidate(f"{_shown(value[:-1])}, just below {_shown(value)}", value[:-1])
        yield Candidate(f"{_shown(value + 'a')}, just above {_shown(value)}", value + "a")
    elif value is None:
        yield Candidate('"x", not null', "x")


def _wrong_type(value: JsonValue) -> JsonValue:
    """A value that reads like the operand but has another JSON type: 80 → "80"."""
    if isinstance(value, str):
        return int(value) if value.isdigit() else 0
    if value is None or isinstance(value, list | dict):
        return False
    return _shown(value)


def _operands(operator: FieldOperator) -> Iterator[JsonValue]:
    match operator:
        case Comparison(op="$in" | "$nin", value=listed):
            yield from listed
        case All(values=values, elem_matches=()):
            yield from values
        case Comparison(value=value):
            yield value
        case NotOp(operators=operators):
            for inner in operators:
                yield from _operands(inner)
        case Exists():
            yield None
        case Size() | Mod() | TypeOp() | DynamicPattern():
            return  # no value to stand beside: _shaped builds theirs
        case _:
            raise UnknownOperator(_operator_name(operator))


def _shaped(operator: FieldOperator) -> Iterator[Candidate]:
    """Values at the edges of what an operator measures, rather than beside an operand:
    a value of each $type; arrays one element short of, at and past a $size; numbers
    with and without a $mod's remainder, a fraction it truncates away, and the
    dividend's sign flipped."""
    match operator:
        case TypeOp():
            for sample in TYPE_SAMPLES:
                yield Candidate(f"{_shown(sample)}, {_a(_bson_type(sample))}", sample)
        case All(values=values, elem_matches=()) if len(values) > 1:
            yield Candidate(f"{_shown(list(values))}, an array of them all", list(values))
            for n, value in enumerate(values):
                others = [v for m, v in enumerate(values) if m != n]
                yield Candidate(f"{_shown(others)}, an array without {_shown(value)}", others)
        case Size(length=length):
            for size in (length - 1, length, length + 1):
                if size >= 0:
                    yield Candidate(f"{_shown([0] * size)}, an array of {size}", [0] * size)
            yield Candidate(f"{length}, a number: wrong type", length)
        case Mod(divisor=divisor, remainder=remainder):
            twice = 2 * abs(divisor)
            holding = remainder + twice if remainder >= 0 else remainder - twice
            yield Candidate(f"{holding}, remainder {remainder} by {divisor}", holding)
            yield Candidate(f"{holding + 1}, one past it", holding + 1)
            yield Candidate(f"{holding + 0.5}, a fraction past it", holding + 0.5)
            yield Candidate(f"{-holding}, its sign flipped", -holding)
            yield Candidate(f'"{holding}", a string: wrong type', str(holding))
        case DynamicPattern(fields=fields):
            # Strings around the placeholders filled with PLACEHOLDER_TEXT, whose dot
            # tells an escaped placeholder from one read as a pattern.
            text = "-".join(PLACEHOLDER_TEXT for _ in fields) or "x"
            unescaped = text.replace(".", "b")
            for value, label in (
                (text, "the placeholders' text"),
                (f"{text}-x", "the placeholders' text and more"),
                (f"x{text}-x", "the placeholders' text inside"),
                (f"{unescaped}-x", "the text read as a pattern would match"),
                ("", "the empty string"),
            ):
                yield Candidate(f"{_shown(value)}, {label}", value)
            yield Candidate("7, a number: wrong type", 7)
        case NotOp(operators=operators):
            for inner in operators:
                yield from _shaped(inner)


# What boundary requests fill $dynamicPattern placeholders with: a dot, which a
# placeholder escaped matches only as itself.
PLACEHOLDER_TEXT = "a.c"


def _placeholder_candidates(allows_array: bool) -> list[Candidate]:
    """Values for a placeholder's field: its text, another, and values that leave the
    pattern unfilled (missing, null, a boolean, several values)."""
    found = [
        Candidate(f"{_shown(PLACEHOLDER_TEXT)}, the placeholders' text", PLACEHOLDER_TEXT),
        Candidate('"abc", other text', "abc"),
        Candidate("7, a number: its JSON text", 7),
        Candidate("null: no text", None),
        Candidate("true: no text", True),
        Candidate("missing", _MISSING),
    ]
    if allows_array:
        found.append(
            Candidate(f"[{_shown(PLACEHOLDER_TEXT)}], an array: no text", [PLACEHOLDER_TEXT])
        )
    return found


def _expr_constants(expression: Expression) -> list[JsonValue]:
    """The scalar literals of an $expr expression, in source order."""
    match expression:
        case Constant(value=value) if not isinstance(value, list | dict):
            return [value]
        case Operation(args=args):
            return [c for argument in args for c in _expr_constants(argument)]
    return []


def _expr_references(expression: Expression) -> list[tuple[str, ...]]:
    match expression:
        case FieldRef(path=path):
            return [path.segments]
        case Operation(args=args):
            return [r for argument in args for r in _expr_references(argument)]
    return []


def _reference_candidates(
    constants: list[JsonValue], kinds: frozenset[str] | None, allows_array: bool
) -> list[Candidate]:
    """Values for an $expr field reference: the expression's literals and their
    neighbours (or, comparing fields, a value of the field's type and its
    neighbours, which every reference shares, so that they can be equal), zero (a
    divisor), missing and null (MongoDB orders them below everything), a value of
    another type, and an array where the schema allows one (compared as an array)."""
    numbers = kinds is None or bool(kinds & {"number", "integer"})
    seeds = [c for c in constants if c is not None and not isinstance(c, bool)]
    if not seeds:
        seeds = [1000] if numbers else ["m"] if kinds and "string" in kinds else [True]
    found: list[Candidate] = []
    for seed in seeds:
        found.append(Candidate(_shown(seed), seed))
        found.extend(_neighbours(seed))
    found.append(Candidate("0, zero", 0))
    found.append(Candidate("missing", _MISSING))
    found.append(Candidate("null", None))
    wrong = _wrong_type(seeds[0])
    found.append(Candidate(f"{_shown(wrong)}, {_a(json_type(wrong))}: another type", wrong))
    if allows_array:
        found.append(Candidate(f"[{_shown(seeds[0])}], an array", [seeds[0]]))
    return found


def _candidates_for(
    conditions: list[FieldCondition], allows_array: bool, through_array: bool
) -> list[Candidate]:
    """Each operand and its neighbours, then the field missing, of the wrong type, and
    (where the schema allows arrays there) in arrays; without repeats."""
    operands = [v for c in conditions for o in c.operators for v in _operands(o)]
    found: list[Candidate] = []
    for operand in operands:
        found.append(Candidate(_shown(operand), operand))
        found.extend(_neighbours(operand))
    found.extend(shaped for c in conditions for o in c.operators for shaped in _shaped(o))
    found.append(Candidate("missing", _MISSING))
    for operand in operands:
        wrong = _wrong_type(operand)
        found.append(Candidate(f"{_shown(wrong)}, {_a(json_type(wrong))}: wrong type", wrong))
    for operand in operands if allows_array else ():
        found.append(Candidate(f"[{_shown(operand)}], an array holding it", [operand]))
        others = [c.value for c in _neighbours(operand)][:1]
        found.append(Candidate(f"{_shown(others)}, an array without it", others))
    if allows_array:
        found.append(Candidate("[], an empty array", []))
    for operand in operands if through_array else ():
        label = f"{_shown(operand)} in another element of the array"
        found.append(Candidate(label, _InAnotherElement(operand)))
    return _unique(found)


def _unique(found: list[Candidate]) -> list[Candidate]:
    unique: dict[str, Candidate] = {}
    for candidate in found:
        key = "missing" if candidate.value is _MISSING else repr(candidate.value)
        unique.setdefault(key, candidate)
    return list(unique.values())


# --- requests ---


Assignment = dict[tuple[str, ...], JsonValue]  # path → value (or _MISSING)
# For each path, the depths (prefix lengths) at which the schema holds objects in an array.
ArrayDepths = dict[tuple[str, ...], frozenset[int]]


def _with(
    entities: dict[str, JsonValue],
    segments: tuple[str, ...],
    value: JsonValue,
    arrays: frozenset[int],
    new_element: bool = False,
) -> None:
    """Set (or, for _MISSING, remove) the field at `segments`, creating objects on the way,
    and a one-object array where the schema has an array of objects (`new_element`: in a
    new object appended to the innermost one)."""
    target = entities
    for depth, key in enumerate(segments[:-1], start=1):
        child = target.get(key)
        if depth in arrays:
            if not (isinstance(child, list) and child and isinstance(child[0], dict)):
                if value is _MISSING:
                    return
                child = target[key] = [{}]
            innermost = new_element and depth == max(arrays)
            if innermost:
                child.append({})
            child = child[-1] if innermost else child[0]
        elif not isinstance(child, dict):
            if value is _MISSING:
                return
            child = target[key] = {}
        target = child
    if value is _MISSING:
        target.pop(segments[-1], None)
    else:
        target[segments[-1]] = copy.deepcopy(value)


def _entities(assignment: Assignment, arrays: ArrayDepths) -> dict[str, JsonValue]:
    entities: dict[str, JsonValue] = {}
    for segments, value in assignment.items():
        depths = arrays.get(segments, frozenset())
        if isinstance(value, _InAnotherElement):
            _with(entities, segments, value.first, depths)
            _with(entities, segments, value.value, depths, new_element=True)
        else:
            _with(entities, segments, value, depths)
    return entities


class _Generator:
    def __init__(self, program: Program) -> None:
        self.program = program
        self.specifications = Specifications(list(program.specifications))
        self.model = program_model(program)
        bindings = bind(program)[0]
        self.bound = bindings.actions_of(program)
        for action in program.actions:  # checklists, by the actions using them
            checklist = bindings.checklist_of(action)
            if checklist is not None:
                self.bound.setdefault(checklist.span, []).append(action)

    def context(self, owner: Policy | Checklist) -> tuple[str, Nrn]:
        """The action and NRN of the first action using the policy or checklist (else
        its own NRN)."""
        for action in self.bound.get(owner.span, ()):
            return action.action, action.nrn
        return DEFAULT_ACTION, owner.nrn

    def types(self, segments: tuple[str, ...], nrn: Nrn) -> list[frozenset[str] | None]:
        """The JSON types the schemas give each prefix of a path (None: any), from the
        entity itself (index 0) to the whole path."""
        entity, depth = segments[0], 1
        if segments[1:2] == ("metadata",) and len(segments) > 2:
            specification = self.specifications.in_force(entity, segments[2], nrn)
            schema, depth = (specification.schema if specification else {}), 3
        else:
            schema = {"type": "object", "properties": self.model.attributes.get(entity, {})}
        found: list[frozenset[str] | None] = [None] * depth
        for end in range(depth, len(segments) + 1):
            resolved = resolve(schema, segments[depth:end])
            found.append(resolved.types if isinstance(resolved, Resolved) else None)
        return found[1:]

    def boundaries(
        self,
        package: str,
        name: str,
        span: Span,
        owner: Policy | Checklist,
        query: Query,
        item: str | None = None,
    ) -> PolicyBoundaries:
        try:
            cases = self.cases(query, *self.context(owner))
        except UnknownOperator as unknown:
            reason = f"the boundary generator does not know operator {unknown} yet"
            return PolicyBoundaries(package, name, span, owner, (), reason, item)
        return PolicyBoundaries(package, name, span, owner, cases, None, item)

    def cases(self, query: Query, action: str, nrn: Nrn) -> tuple[Case, ...]:
        by_path: dict[tuple[str, ...], list[FieldCondition]] = {}
        for condition in field_conditions(query):
            by_path.setdefault(condition.path.segments, []).append(condition)
        # The paths $expr references and $dynamicPattern placeholders read, and the
        # literals each reference is compared or computed with.
        references: dict[tuple[str, ...], list[JsonValue]] = {}
        for expr in expr_conditions(query):
            for segments in _expr_references(expr.expression):
                references.setdefault(segments, []).extend(_expr_constants(expr.expression))
        placeholders = {f.path.segments for p in dynamic_patterns(query) for f in p.fields}
        paths = [*by_path, *references, *sorted(placeholders)]
        types = {path: self.types(path, nrn) for path in paths}
        arrays = {
            path: frozenset(
                depth
                for depth, kinds in enumerate(found[:-1], start=1)
                if kinds == frozenset({"array"})
            )
            for path, found in types.items()
        }

        def candidates_of(path: tuple[str, ...]) -> list[Candidate]:
            allows_array = _may_be_array(types[path][-1])
            found = _candidates_for(by_path.get(path, []), allows_array, bool(arrays[path]))
            if path in references:
                kinds = types[path][-1]
                found += _reference_candidates(references[path], kinds, allows_array)
            if path in placeholders:
                found += _placeholder_candidates(allows_array)
            if path not in by_path:
                found = [c for c in found if c.value is not _MISSING] + [
                    Candidate("missing", _MISSING)
                ]
            return _likely_first(query, path, _unique(found), arrays)

        candidates = {path: candidates_of(path) for path in dict.fromkeys(paths)}

        def request(assignment: Assignment) -> JsonValue:
            return {"action": action, "nrn": nrn.text, "entities": _entities(assignment, arrays)}

        def holds(assignment: Assignment) -> bool:
            return matches(query, _entities(assignment, arrays))

        passing = _search(candidates, holds)
        cases: dict[str, Case] = {}
        if not candidates:
            cases["{}"] = Case("no conditions: every request", request({}), holds({}))
        for path, own in candidates.items():
            base = _decisive_base(path, candidates, holds, passing)
            for candidate in own:
                value = candidate.value
                if isinstance(value, _InAnotherElement):
                    first = base.get(path, _MISSING)
                    if isinstance(first, _InAnotherElement):
                        first = first.first
                    value = _InAnotherElement(value.value, first)
                assignment = {**base, path: value}
                built = request(assignment)
                description = f"{'.'.join(path)} = {candidate.label}"
                if candidate.value is _MISSING:
                    description = f"{'.'.join(path)} missing"
                cases.setdefault(_shown(built), Case(description, built, holds(assignment)))
        return tuple(cases.values())


def _may_be_array(kinds: frozenset[str] | None) -> bool:
    return kinds is None or "array" in kinds


def _likely_first(
    query: Query, path: tuple[str, ...], found: list[Candidate], arrays: ArrayDepths
) -> list[Candidate]:
    """Candidates that satisfy the path's own top-level conditions first, so the search
    for a passing request usually succeeds at once."""
    own = [c for c in query.conditions if isinstance(c, FieldCondition) and c.path.segments == path]

    def satisfies(candidate: Candidate) -> bool:
        document = _entities({path: candidate.value}, arrays)
        items = _items(document, path)
        return all(_holds(o, items, document) for c in own for o in c.operators)

    return sorted(found, key=lambda c: not satisfies(c))


def _search(
    candidates: dict[tuple[str, ...], list[Candidate]],
    accept: Callable[[Assignment], bool],
    tries: int = MAX_READINGS,
) -> Assignment | None:
    """The first assignment of candidate values (of the first `tries`) that `accept` takes."""
    paths = list(candidates)
    choices = itertools.product(*[[c.value for c in candidates[p]] for p in paths])
    for values in itertools.islice(choices, tries):
        assignment = dict(zip(paths, values, strict=True))
        if accept(assignment):
            return assignment
    return None


def _decisive_base(
    path: tuple[str, ...],
    candidates: dict[tuple[str, ...], list[Candidate]],
    holds: Callable[[Assignment], bool],
    passing: Assignment | None,
) -> Assignment:
    """Values for the other paths under which `path` decides the policy: the passing
    request's if they do, else the first found; failing that, the passing request's."""
    others = {p: c for p, c in candidates.items() if p != path}

    def decides(base: Assignment) -> bool:
        return len({holds({**base, path: c.value}) for c in candidates[path]}) == 2

    if passing is not None and decides(passing):
        return passing
    tries = MAX_READINGS // len(candidates[path])  # each try reads every candidate of `path`
    found = _search(others, decides, tries)
    return found or passing or {p: c[0].value for p, c in others.items()}


def boundaries(
    program: Program, shared: Container[Span] = frozenset()
) -> tuple[PolicyBoundaries, ...]:
    """Boundary cases for every policy of a checked program, its selector, and every
    query of its checklists' items, in source order.  The conditions of a policy in
    `shared` are those of an earlier one, whose rule decides both: they are left out."""
    generator = _Generator(program)
    found: list[PolicyBoundaries] = []
    for file in program.files:
        for policy in file.policies:
            title = f'policy "{policy.name}"'
            if policy.span not in shared:
                found.append(
                    generator.boundaries("policies", title, policy.span, policy, policy.conditions)
                )
            if policy.selector is not None:
                title = f'the selector of policy "{policy.name}"'
                found.append(
                    generator.boundaries("selectors", title, policy.span, policy, policy.selector)
                )
        for checklist in file.checklists:
            for item in checklist.items:
                for query, what in ((item.query, ""), (item.applies_when, "applies_when of ")):
                    if query is None:
                        continue
                    title = f'{what}item {item.id} of checklist "{checklist.name}"'
                    found.append(
                        generator.boundaries(
                            "checklists",
                            title,
                            item.span,
                            checklist,
                            query,
                            item.id + ("?" if what else ""),
                        )
                    )
    return tuple(found)
