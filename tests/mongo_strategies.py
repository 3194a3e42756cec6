"""Hypothesis strategies for random MongoDB conditions and the documents they are tried on.

Both draw from the same small vocabulary (keys `a b` at the top, `a b 0 1`
below, a few numbers, strings and nestings) so that random conditions often
reach something in a random document: dotted paths with numeric segments meet arrays of documents,
nested arrays, objects keyed "0", nulls and values of every JSON type.
"""

from __future__ import annotations

from functools import cache
from typing import Any

from hypothesis import strategies as st

KEYS = ("a", "b", "0", "1")
NUMBERS = (-2, -1, 0, 1, 2, 3, 10, 2147483648, -0.5, 1.0, 1.5, 2.0)
STRINGS = ("", "a", "b", "ab", "ba", "A", "2", "a\nb", "a.b")
TYPE_NAMES = ("double", "string", "object", "array", "bool", "null", "int", "long", "number")
TYPE_CODES = (1, 2, 3, 4, 8, 10, 16, 18)
# Patterns in the common subset of PCRE and RE2, so both engines read them alike.
PATTERNS = ("a", "^a", "b$", "^$", "a.b", "^[ab]+$", "A", "^\\d", "\\Qa.\\E", "a|2", "^a$")
OPTIONS = ("", "i", "m", "s", "x", "im", "is")
MAX_DOCUMENT_DEPTH = 3


def pick(*strategies: st.SearchStrategy[Any]) -> st.SearchStrategy[Any]:
    """One of the strategies, each as likely (`st.one_of` favours its first ones).  By
    index, so that the strategy's repr stays short."""
    return st.integers(0, len(strategies) - 1).flatmap(lambda i: strategies[i])


scalars = pick(
    st.none(),
    st.booleans(),
    st.sampled_from(NUMBERS),
    st.sampled_from(STRINGS),
)
keys = st.sampled_from(KEYS)


@cache
def values(depth: int = MAX_DOCUMENT_DEPTH) -> st.SearchStrategy[Any]:
    """Any JSON value, arrays and objects nested at most `depth` levels.  (Each strategy
    is built once per depth: a shared tree keeps Hypothesis fast.)"""
    if depth == 0:
        return scalars
    inner = values(depth - 1)
    return pick(
        scalars,
        st.lists(inner, max_size=3),
        st.dictionaries(keys, inner, max_size=3),
    )


top_keys = st.sampled_from(KEYS[:2])
documents = st.dictionaries(top_keys, values(), max_size=2)
# Mostly scalars, as in policies; arrays and documents too.
operands = pick(scalars, values(2))
COMPARISONS = ("$eq", "$ne", "$gt", "$gte", "$lt", "$lte")
paths = st.builds(lambda top, rest: ".".join((top, *rest)), top_keys, st.lists(keys, max_size=2))


def _regex() -> st.SearchStrategy[dict[str, Any]]:
    return st.builds(
        lambda pattern, options: {"$regex": pattern, **({"$options": options} if options else {})},
        st.sampled_from(PATTERNS),
        st.sampled_from(OPTIONS),
    )


@cache
def operator_expressions(depth: int) -> st.SearchStrategy[dict[str, Any]]:
    """`{$op: operand, ...}`: one or two field operators (the second on its own key)."""
    comparison = st.builds(lambda op, v: {op: v}, st.sampled_from(COMPARISONS), operands)
    others: list[st.SearchStrategy[dict[str, Any]]] = [
        st.builds(
            lambda op, v: {op: v}, st.sampled_from(("$in", "$nin")), st.lists(operands, max_size=3)
        ),
        st.builds(lambda v: {"$exists": v}, st.booleans()),
        st.builds(
            lambda t: {"$type": t},
            st.one_of(
                st.sampled_from(TYPE_NAMES),
                st.sampled_from(TYPE_CODES),
                st.lists(st.sampled_from(TYPE_NAMES), min_size=1, max_size=2),
            ),
        ),
        _regex(),
        st.builds(
            lambda d, r: {"$mod": [d, r]},
            st.sampled_from((2, 3, -2)),
            st.sampled_from((0, 1, -1)),
        ),
        st.builds(lambda n: {"$size": n}, st.integers(0, 3)),
        st.builds(lambda vs: {"$all": vs}, st.lists(operands, max_size=2)),
    ]
    if depth > 0:
        others += [
            st.builds(lambda e: {"$elemMatch": e}, elem_match_operands(depth - 1)),
            st.builds(lambda e: {"$not": e}, operator_expressions(depth - 1)),
            st.builds(
                lambda qs: {"$all": [{"$elemMatch": q} for q in qs]},
                st.lists(queries(depth - 1), min_size=1, max_size=2),
            ),
        ]
    # Comparisons are most of what policies say: drawn as often as all the rest.
    one = pick(comparison, pick(*others))
    return pick(one, st.tuples(one, one).map(lambda pair: {**pair[1], **pair[0]}))


@cache
def elem_match_operands(depth: int) -> st.SearchStrategy[dict[str, Any]]:
    """The operator form (applied to each element) or the query form (each element a document)."""
    return pick(operator_expressions(depth), queries(depth))


@cache
def field_conditions(depth: int) -> st.SearchStrategy[tuple[str, Any]]:
    expressions = operator_expressions(depth)
    return st.tuples(paths, pick(expressions, expressions, operands))


@cache
def queries(depth: int = 1) -> st.SearchStrategy[dict[str, Any]]:
    """A query document: field conditions and, while depth lasts, $and/$or/$nor of queries."""
    clauses: st.SearchStrategy[tuple[str, Any]] = field_conditions(depth)
    if depth > 0:
        logical = st.tuples(
            st.sampled_from(("$and", "$or", "$nor")),
            st.lists(queries(depth - 1), min_size=1, max_size=2),
        )
        clauses = pick(clauses, logical)
    return st.lists(clauses, min_size=1, max_size=2, unique_by=lambda c: c[0]).map(dict)


conditions = queries()


def _top_clauses(condition: dict[str, Any]) -> list[tuple[str, Any]]:
    """(path, operand) of the field conditions, through $and/$or/$nor."""
    found: list[tuple[str, Any]] = []
    for key, value in condition.items():
        if key in ("$and", "$or", "$nor"):
            for clause in value:
                found += _top_clauses(clause)
        else:
            found.append((key, value))
    return found


def _literals(operand: Any) -> list[Any]:
    """The operand and the values inside it, operators' names left out."""
    found = [operand] if not isinstance(operand, dict) or not operand else []
    children = operand.values() if isinstance(operand, dict) else operand
    if isinstance(operand, dict | list):
        for child in children:
            found += _literals(child)
    return found


@st.composite
def aimed_documents(draw: st.DrawFn, condition: dict[str, Any]) -> dict[str, Any]:
    """A document holding, at one of the condition's paths, one of its operands (or
    something near), reached through objects, arrays of documents or indexes, so
    that the operators, not missing fields, decide."""
    path, operand = draw(st.sampled_from(_top_clauses(condition)))
    near = st.sampled_from(_literals(operand) or [None])
    value = draw(pick(near, st.lists(pick(near, scalars), max_size=3), values(1)))
    top, *rest = path.split(".")
    for segment in reversed(rest):
        if segment.isdigit():
            before = draw(st.lists(values(1), min_size=int(segment), max_size=int(segment)))
            value = draw(st.sampled_from(([*before, value], {segment: value})))
        else:
            value = draw(
                st.sampled_from(({segment: value}, [{segment: value}], [1, {segment: value}]))
            )
    return {**draw(documents), top: value}


# --- $expr: aggregation expressions over numeric fields (tests/test_differential.py) ---
# Whole numbers and halves, exact in binary, so that a double (mongomock) and
# an exact decimal (OPA) compute alike.
EXPR_NUMBERS = (-2, -1, 0, 1, 2, 3, 10, 0.5, 1.5)
EXPR_FIELDS = ("$a", "$b", "$c")
expr_documents = st.fixed_dictionaries(
    {key[1:]: st.sampled_from(EXPR_NUMBERS) for key in EXPR_FIELDS}
)


@cache
def expr_numbers(depth: int) -> st.SearchStrategy[Any]:
    """A numeric expression: a field, a number, or arithmetic on numeric expressions."""
    leaf = pick(st.sampled_from(EXPR_FIELDS), st.sampled_from(EXPR_NUMBERS))
    if depth == 0:
        return leaf
    inner = expr_numbers(depth - 1)
    return pick(
        leaf,
        st.builds(lambda args: {"$add": args}, st.lists(inner, min_size=1, max_size=3)),
        st.builds(lambda args: {"$multiply": args}, st.lists(inner, min_size=1, max_size=2)),
        st.builds(lambda a, b: {"$subtract": [a, b]}, inner, inner),
        st.builds(lambda a: {"$abs": a}, inner),
        st.builds(lambda a, d: {"$divide": [a, d]}, inner, st.sampled_from((2, 4, -2))),
        st.builds(lambda a, d: {"$mod": [a, d]}, inner, st.sampled_from((2, 3, -3))),
    )


@cache
def expr_conditions(depth: int = 2) -> st.SearchStrategy[dict[str, Any]]:
    """A comparison of numeric expressions, or $and, $or, $not of such."""
    comparison = st.builds(
        lambda op, a, b: {op: [a, b]},
        st.sampled_from(COMPARISONS),
        expr_numbers(2),
        expr_numbers(2),
    )
    if depth == 0:
        return comparison
    inner = expr_conditions(depth - 1)
    return pick(
        comparison,
        st.builds(lambda args: {"$and": args}, st.lists(inner, min_size=1, max_size=3)),
        st.builds(lambda args: {"$or": args}, st.lists(inner, min_size=1, max_size=3)),
        st.builds(lambda a: {"$not": a}, inner),
    )
