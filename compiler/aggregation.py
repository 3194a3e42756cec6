"""MongoDB aggregation expressions, the subset regate's `$expr` supports, in Python.

What each operator means, with MongoDB's rules for missing and null values, its
comparison order across types and its errors (docs/semantics.md, "Aggregation
expressions ($expr)").  The parse pass folds constant sub-expressions with it,
as MongoDB's optimizer does, so that an expression failing whatever the request
is a compile error; the boundary generator reads `$expr` conditions with it,
independently of the Rego that decides them (templates/mongo.rego.j2).

Numbers are exact decimals, as OPA computes them (a deviation from BSON
doubles, documented), except that a quotient that is not a whole number is
rounded to a double, as MongoDB's `$divide` returns one.
"""

from __future__ import annotations

from decimal import Context, Decimal

from compiler.ast import Constant, Expression, FieldRef, JsonValue, Operation


class Missing:
    """What a field reference to an absent field evaluates to: less than null."""

    def __repr__(self) -> str:
        return "missing"


MISSING = Missing()


class EvaluationError(Exception):
    """MongoDB fails the expression (and its query); in regate the `$expr` condition fails."""


COMPARISONS = ("$eq", "$ne", "$gt", "$gte", "$lt", "$lte", "$cmp")
LOGICAL = ("$and", "$or", "$not")
ARITHMETIC = ("$add", "$subtract", "$multiply", "$divide", "$mod", "$abs")
# How many arguments each supported operator takes (None: any number).
ARITY: dict[str, int | None] = {
    **dict.fromkeys(COMPARISONS, 2),
    "$and": None,
    "$or": None,
    "$not": 1,
    "$add": None,
    "$multiply": None,
    "$subtract": 2,
    "$divide": 2,
    "$mod": 2,
    "$abs": 1,
}
SUPPORTED = (*COMPARISONS, *LOGICAL, *ARITHMETIC, "$literal")
# MongoDB's other expression operators: regate names them when it rejects them.
OTHER_OPERATORS = frozenset(
    [
        "$accumulator",
        "$acos",
        "$acosh",
        "$addToSet",
        "$allElementsTrue",
        "$anyElementTrue",
        "$arrayElemAt",
        "$arrayToObject",
        "$asin",
        "$asinh",
        "$atan",
        "$atan2",
        "$atanh",
        "$avg",
        "$binarySize",
        "$bitAnd",
        "$bitNot",
        "$bitOr",
        "$bitXor",
        "$bottom",
        "$bottomN",
        "$bsonSize",
        "$ceil",
        "$concat",
        "$concatArrays",
        "$cond",
        "$convert",
        "$cos",
        "$cosh",
        "$dateAdd",
        "$dateDiff",
        "$dateFromParts",
        "$dateFromString",
        "$dateSubtract",
        "$dateToParts",
        "$dateToString",
        "$dateTrunc",
        "$dayOfMonth",
        "$dayOfWeek",
        "$dayOfYear",
        "$degreesToRadians",
        "$exp",
        "$filter",
        "$first",
        "$firstN",
        "$floor",
        "$function",
        "$getField",
        "$hour",
        "$ifNull",
        "$in",
        "$indexOfArray",
        "$indexOfBytes",
        "$indexOfCP",
        "$isArray",
        "$isNumber",
        "$isoDayOfWeek",
        "$isoWeek",
        "$isoWeekYear",
        "$last",
        "$lastN",
        "$let",
        "$ln",
        "$log",
        "$log10",
        "$ltrim",
        "$map",
        "$max",
        "$maxN",
        "$median",
        "$mergeObjects",
        "$meta",
        "$millisecond",
        "$min",
        "$minN",
        "$minute",
        "$month",
        "$objectToArray",
        "$percentile",
        "$pow",
        "$radiansToDegrees",
        "$rand",
        "$range",
        "$reduce",
        "$regexFind",
        "$regexFindAll",
        "$regexMatch",
        "$replaceAll",
        "$replaceOne",
        "$reverseArray",
        "$round",
        "$rtrim",
        "$sampleRate",
        "$second",
        "$setDifference",
        "$setEquals",
        "$setField",
        "$setIntersection",
        "$setIsSubset",
        "$setUnion",
        "$sin",
        "$sinh",
        "$size",
        "$slice",
        "$sortArray",
        "$split",
        "$sqrt",
        "$stdDevPop",
        "$stdDevSamp",
        "$strLenBytes",
        "$strLenCP",
        "$strcasecmp",
        "$substr",
        "$substrBytes",
        "$substrCP",
        "$sum",
        "$switch",
        "$tan",
        "$tanh",
        "$toBool",
        "$toDate",
        "$toDecimal",
        "$toDouble",
        "$toInt",
        "$toLong",
        "$toLower",
        "$toObjectId",
        "$toString",
        "$toUUID",
        "$toUpper",
        "$top",
        "$topN",
        "$trim",
        "$trunc",
        "$tsIncrement",
        "$tsSecond",
        "$type",
        "$unsetField",
        "$week",
        "$year",
        "$zip",
    ]
)

# Exact for any sum, difference, product or remainder of JSON numbers (up to ±1e308).
_EXACT = Context(prec=1000)

# MongoDB's canonical type order: missing < null < numbers < strings < objects <
# arrays < booleans (the BSON types JSON has).
_CLASSES = {type(None): 5, bool: 40, int: 10, float: 10, Decimal: 10, str: 15, dict: 20, list: 25}


def type_class(value: object) -> int:
    return 0 if value is MISSING else _CLASSES[type(value)]


def is_number(value: object) -> bool:
    return type_class(value) == 10


def _number(value: object) -> Decimal:
    """An exact decimal: a float as its shortest text, which is how JSON wrote it."""
    return value if isinstance(value, Decimal) else Decimal(repr(value))


def _sign(n: float | Decimal) -> int:
    return (n > 0) - (n < 0)


def compare(a: object, b: object) -> int:
    """-1, 0 or 1, in MongoDB's order: by type first, then by value; arrays element
    by element then by length; objects over their keys in sorted order (JSON objects
    have no field order), each field by its value's type, its key, then its value."""
    difference = type_class(a) - type_class(b)
    if difference:
        return _sign(difference)
    if is_number(a):
        return _sign(_number(a) - _number(b))
    if isinstance(a, str) and isinstance(b, str):
        return _sign((a.encode() > b.encode()) - (a.encode() < b.encode()))
    if isinstance(a, bool):
        return _sign(int(a) - int(b))  # type: ignore[call-overload]
    if isinstance(a, list) and isinstance(b, list):
        return _sequence(a, b)
    if isinstance(a, dict) and isinstance(b, dict):
        return _sequence(_entries(a), _entries(b))
    return 0  # missing, null


def _entries(value: dict[str, JsonValue]) -> list[JsonValue]:
    return [[type_class(value[key]), key, value[key]] for key in sorted(value, key=str.encode)]


def _sequence(a: list[JsonValue], b: list[JsonValue]) -> int:
    for x, y in zip(a, b, strict=False):
        found = compare(x, y)
        if found:
            return found
    return _sign(len(a) - len(b))


def truthy(value: object) -> bool:
    """MongoDB's truth: false, null, missing and zero are false, everything else true."""
    if value is MISSING or value is None:
        return False
    if isinstance(value, bool):
        return value
    if is_number(value):
        return _number(value) != 0
    return True


def _nullish(value: object) -> bool:
    return value is None or value is MISSING


def type_name(value: object) -> str:
    """The type an error message names."""
    names = {0: "missing", 5: "null", 10: "number", 15: "string", 20: "object", 25: "array"}
    return names.get(type_class(value), "bool")


def field(document: JsonValue, segments: tuple[str, ...]) -> JsonValue:
    """What `"$a.b.c"` reaches, as aggregation reads a path: an array on the way maps
    the rest of the path over its elements that are objects, leaving out those
    where it is missing; no segment indexes an array."""

    def at(value: JsonValue, index: int) -> JsonValue:
        if not isinstance(value, dict):
            return MISSING
        found = value.get(segments[index], MISSING)
        if index == len(segments) - 1:
            return found
        if isinstance(found, dict):
            return at(found, index + 1)
        if isinstance(found, list):
            nested = (at(element, index + 1) for element in found if isinstance(element, dict))
            return [item for item in nested if item is not MISSING]
        return MISSING

    return at(document, 0)


def evaluate(expression: Expression, document: JsonValue) -> JsonValue:
    """The expression's value on a document (the request's entities); raises
    EvaluationError where MongoDB fails.  Arguments are evaluated in order, and
    `$and`, `$or`, `$add` and `$multiply` stop where MongoDB stops."""
    match expression:
        case FieldRef(path=path):
            return field(document, path.segments)
        case Constant(value=value):
            return value
        case Operation(op=op, args=args):
            return _operation(op, args, document)


def _operation(op: str, args: tuple[Expression, ...], document: JsonValue) -> JsonValue:
    if op == "$and":
        return all(truthy(evaluate(a, document)) for a in args)
    if op == "$or":
        return any(truthy(evaluate(a, document)) for a in args)
    if op == "$not":
        return not truthy(evaluate(args[0], document))
    if op in ("$add", "$multiply"):
        total = Decimal(0 if op == "$add" else 1)
        for argument in args:
            value = evaluate(argument, document)
            if _nullish(value):
                return None
            if not is_number(value):
                kinds = "numeric or date types" if op == "$add" else "numeric types"
                raise EvaluationError(f"{op} only supports {kinds}, not {type_name(value)}")
            number = _number(value)
            total = _EXACT.add(total, number) if op == "$add" else _EXACT.multiply(total, number)
        return total
    values = [evaluate(a, document) for a in args]
    if op in COMPARISONS:
        found = compare(values[0], values[1])
        return {
            "$eq": found == 0,
            "$ne": found != 0,
            "$gt": found > 0,
            "$gte": found >= 0,
            "$lt": found < 0,
            "$lte": found <= 0,
            "$cmp": found,
        }[op]
    return _arithmetic(op, values)


def _arithmetic(op: str, values: list[JsonValue]) -> JsonValue:
    if not all(is_number(v) for v in values):
        if any(_nullish(v) for v in values):
            return None
        if op == "$subtract":
            shown = f"{type_name(values[1])} from {type_name(values[0])}"
            raise EvaluationError(f"can't $subtract {shown}")
        names = " and ".join(type_name(v) for v in values)
        raise EvaluationError(f"{op} only supports numeric types, not {names}")
    numbers = [_number(v) for v in values]
    match op:
        case "$abs":
            return abs(numbers[0])
        case "$subtract":
            return _EXACT.subtract(numbers[0], numbers[1])
        case "$divide":
            if numbers[1] == 0:
                raise EvaluationError("can't $divide by zero")
            return _quotient(numbers[0], numbers[1])
        case _:  # $mod: the remainder takes the dividend's sign, as C's fmod
            if numbers[1] == 0:
                raise EvaluationError("can't $mod by zero")
            return _EXACT.remainder(numbers[0], numbers[1])


def _quotient(numerator: Decimal, denominator: Decimal) -> Decimal:
    """A whole quotient exactly; any other rounded to the nearest double."""
    exact = Context(prec=60).divide(numerator, denominator)
    if exact == exact.to_integral_value():
        return exact
    rounded = float(exact)
    return Decimal(repr(rounded)) if rounded not in (float("inf"), float("-inf")) else exact


def as_json(value: JsonValue) -> JsonValue:
    """A value as JSON: exact decimals become the number they are."""
    if isinstance(value, Decimal):
        return int(value) if value == value.to_integral_value() else float(value)
    if isinstance(value, list):
        return [as_json(v) for v in value]
    if isinstance(value, dict):
        return {k: as_json(v) for k, v in value.items()}
    return value
