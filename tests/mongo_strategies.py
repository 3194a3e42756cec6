"""Hypothesis strategies for random MongoDB conditions and the documents they are tried on.

Both draw from the same small vocabulary (keys `a b 0 1`, a few numbers,
strings and nestings) so that random conditions often reach something in a
random document: dotted paths with numeric segments meet arrays of documents,
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

scalars = st.one_of(
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
    return st.one_of(
        scalars,
        st.lists(inner, max_size=3),
        st.dictionaries(keys, inner, max_size=3),
    )


documents = st.dictionaries(keys, values(), max_size=3)
operands = values(2)
paths = st.lists(keys, min_size=1, max_size=3).map(".".join)


def _regex() -> st.SearchStrategy[dict[str, Any]]:
    return st.builds(
        lambda pattern, options: {"$regex": pattern, **({"$options": options} if options else {})},
        st.sampled_from(PATTERNS),
        st.sampled_from(OPTIONS),
    )


@cache
def operator_expressions(depth: int) -> st.SearchStrategy[dict[str, Any]]:
    """`{$op: operand, ...}`: one or two field operators (the second on its own key)."""
    simple: list[st.SearchStrategy[dict[str, Any]]] = [
        st.builds(lambda op, v: {op: v}, st.sampled_from(("$eq", "$ne")), operands),
        st.builds(lambda op, v: {op: v}, st.sampled_from(("$gt", "$gte", "$lt", "$lte")), operands),
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
        simple += [
            st.builds(lambda e: {"$elemMatch": e}, elem_match_operands(depth - 1)),
            st.builds(lambda e: {"$not": e}, operator_expressions(depth - 1)),
            st.builds(
                lambda qs: {"$all": [{"$elemMatch": q} for q in qs]},
                st.lists(queries(depth - 1), min_size=1, max_size=2),
            ),
        ]
    one = st.one_of(*simple)
    return st.one_of(one, st.tuples(one, one).map(lambda pair: {**pair[1], **pair[0]}))


@cache
def elem_match_operands(depth: int) -> st.SearchStrategy[dict[str, Any]]:
    """The operator form (applied to each element) or the query form (each element a document)."""
    return st.one_of(operator_expressions(depth), queries(depth))


@cache
def field_conditions(depth: int) -> st.SearchStrategy[tuple[str, Any]]:
    return st.tuples(paths, st.one_of(operands, operator_expressions(depth)))


@cache
def queries(depth: int = 1) -> st.SearchStrategy[dict[str, Any]]:
    """A query document: field conditions and, while depth lasts, $and/$or/$nor of queries."""
    clauses: st.SearchStrategy[tuple[str, Any]] = field_conditions(depth)
    if depth > 0:
        logical = st.tuples(
            st.sampled_from(("$and", "$or", "$nor")),
            st.lists(queries(depth - 1), min_size=1, max_size=2),
        )
        clauses = st.one_of(clauses, logical)
    return st.lists(clauses, min_size=1, max_size=2, unique_by=lambda c: c[0]).map(dict)


conditions = queries()
