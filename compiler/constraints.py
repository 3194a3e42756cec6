"""Values against JSON Schema constraints: which literals a field can never hold,
and the numeric intervals that ordering operators and `minimum`/`maximum` describe.

The checker uses these to warn about conditions that hold for no value or for
every value a field can have, and about conjunctions that contradict themselves.
Only constraints regate reads exactly are used (`enum`, `const`, numeric bounds,
string length, `pattern`); anything else is assumed satisfiable, so a warning is
never a guess.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass

from compiler.schema import Schema, json_type, types_of


@dataclass(frozen=True)
class Bound:
    value: float
    inclusive: bool
    text: str = ""  # the schema keyword that set it, for messages: `maximum is 100`


def _tighter_low(a: Bound | None, b: Bound | None) -> Bound | None:
    if a is None or b is None:
        return a or b
    if a.value != b.value:
        return a if a.value > b.value else b
    return a if not a.inclusive else b


def _tighter_high(a: Bound | None, b: Bound | None) -> Bound | None:
    if a is None or b is None:
        return a or b
    if a.value != b.value:
        return a if a.value < b.value else b
    return a if not a.inclusive else b


def _no_looser(mine: Bound | None, theirs: Bound | None, direction: int) -> bool:
    """`mine` excludes at least what `theirs` excludes (direction 1: low bounds, -1: high)."""
    if theirs is None:
        return True
    if mine is None:
        return False
    if mine.value != theirs.value:
        return (mine.value - theirs.value) * direction > 0
    return theirs.inclusive or not mine.inclusive


@dataclass(frozen=True)
class Interval:
    """The numbers between `low` and `high` (None: unbounded on that side)."""

    low: Bound | None = None
    high: Bound | None = None

    def meet(self, other: Interval) -> Interval:
        return Interval(_tighter_low(self.low, other.low), _tighter_high(self.high, other.high))

    @property
    def is_empty(self) -> bool:
        if self.low is None or self.high is None:
            return False
        if self.low.value != self.high.value:
            return self.low.value > self.high.value
        return not (self.low.inclusive and self.high.inclusive)

    def within(self, other: Interval) -> bool:
        """Every number of this interval is in `other`."""
        return _no_looser(self.low, other.low, 1) and _no_looser(self.high, other.high, -1)

    def contains(self, value: float) -> bool:
        return Interval(Bound(value, True), Bound(value, True)).within(self)


def is_number(value: object) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def operator_interval(op: str, value: float) -> Interval:
    """The numbers an ordering operator (or `$eq`) with a number operand accepts."""
    low = {"$gt": False, "$gte": True, "$eq": True}
    high = {"$lt": False, "$lte": True, "$eq": True}
    return Interval(
        Bound(value, low[op]) if op in low else None,
        Bound(value, high[op]) if op in high else None,
    )


def schema_interval(schema: Schema) -> Interval:
    """The numbers a schema's `minimum`/`maximum`/`exclusive*` keywords allow."""
    if not isinstance(schema, dict):
        return Interval()
    low: Bound | None = None
    high: Bound | None = None
    old_style = schema.get("exclusiveMinimum") is True, schema.get("exclusiveMaximum") is True
    if is_number(schema.get("minimum")):
        low = Bound(schema["minimum"], not old_style[0], f"minimum is {schema['minimum']}")
    if is_number(schema.get("maximum")):
        high = Bound(schema["maximum"], not old_style[1], f"maximum is {schema['maximum']}")
    if is_number(schema.get("exclusiveMinimum")):
        value = schema["exclusiveMinimum"]
        low = _tighter_low(low, Bound(value, False, f"exclusiveMinimum is {value}"))
    if is_number(schema.get("exclusiveMaximum")):
        value = schema["exclusiveMaximum"]
        high = _tighter_high(high, Bound(value, False, f"exclusiveMaximum is {value}"))
    return Interval(low, high)


def is_numeric(schema: Schema, *, or_null: bool = False) -> bool:
    """The schema allows numbers only (and perhaps null, which no ordering matches)."""
    types = types_of(schema)
    allowed = {"integer", "number", "null"} if or_null else {"integer", "number"}
    return types is not None and types <= allowed


def same_json(a: object, b: object) -> bool:
    """JSON equality: `true` is not `1`, `1` is `1.0`."""
    if is_number(a) and is_number(b):
        return a == b
    return json_type(a) == json_type(b) and a == b


def _shown(values: list[object]) -> str:
    return ", ".join(json.dumps(v) for v in values)


def violation(value: object, schema: Schema) -> str | None:
    """The constraint of `schema` that `value` breaks, named; None when it may hold."""
    if schema is False:
        return "the schema allows no value"
    if not isinstance(schema, dict):
        return None
    types = types_of(schema)
    if types is not None and json_type(value) not in types:
        return f"type is {'/'.join(sorted(types))}"
    if "const" in schema and not same_json(value, schema["const"]):
        return f"const is {json.dumps(schema['const'])}"
    enum = schema.get("enum")
    if isinstance(enum, list) and not any(same_json(value, v) for v in enum):
        return f"enum allows only {_shown(enum)}"
    if is_number(value):
        assert isinstance(value, int | float)
        bounds = schema_interval(schema)
        for bound in (Interval(low=bounds.low), Interval(high=bounds.high)):
            if not bound.contains(value):
                return (bound.low or bound.high or Bound(value, True)).text
    if isinstance(value, str):
        return _string_violation(value, schema)
    return None


def _string_violation(value: str, schema: dict[str, object]) -> str | None:
    shortest, longest = schema.get("minLength"), schema.get("maxLength")
    if isinstance(shortest, int) and len(value) < shortest:
        return f"minLength is {shortest}"
    if isinstance(longest, int) and len(value) > longest:
        return f"maxLength is {longest}"
    pattern = schema.get("pattern")
    if isinstance(pattern, str):
        try:
            if re.search(pattern, value) is None:
                return f"pattern is {json.dumps(pattern)}"
        except re.error:  # an ECMA-262 pattern Python cannot read: assume it may match
            return None
    return None


def impossible(value: object, schemas: tuple[Schema, ...]) -> str | None:
    """Why no schema of the union admits `value`, or None when one may."""
    reasons = [violation(value, schema) for schema in schemas]
    if not schemas or any(reason is None for reason in reasons):
        return None
    kind = json_type(value)
    # A value of a type no branch has is a type error (RG035), not a constraint.
    typed = [r for r, s in zip(reasons, schemas, strict=True) if kind in (types_of(s) or ())]
    return typed[0] if typed else None
