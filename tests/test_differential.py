"""Random conditions and documents: the compiled Rego (real OPA) against mongomock.

Hypothesis draws batches of (condition, document) pairs (tests/mongo_strategies.py);
each batch is compiled into one bundle and decided by one `opa eval`
(tests/mongo_harness.py), and every verdict is compared with mongomock's
`filter_applies`, an independent implementation of MongoDB's query language.

mongomock is not MongoDB.  A pair is not compared when mongomock cannot
evaluate it (it raises: `$mod`, `$type` lists and `null`, some nestings) or
when one of the named predicates below says mongomock answers it wrongly; each
predicate cites the MongoDB documentation it contradicts and is as narrow as
the fault.  The conformance table (tests/test_conformance.py) pins those
cases from the documentation instead.

A batch tries 8 conditions on 8 documents each, and each condition on 4
documents aimed at it.  REGATE_DIFFERENTIAL_BATCHES sets the number of batches
(default 8) for a long run, which prints the tally:
    REGATE_DIFFERENTIAL_BATCHES=500 pytest tests/test_differential.py -s -W ignore
"""

from __future__ import annotations

import json
import os
import warnings
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

import pytest
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st

from tests.conftest import REPO
from tests.mongo_harness import verdicts
from tests.mongo_strategies import (
    aimed_documents,
    conditions,
    documents,
    expr_conditions,
    expr_documents,
)

with warnings.catch_warnings():
    warnings.simplefilter("ignore")
    from mongomock.filtering import filter_applies, iter_key_candidates

BATCHES = int(os.environ.get("REGATE_DIFFERENTIAL_BATCHES", "8"))
# Each batch tries every one of its conditions on every one of its documents, and
# on AIMED documents of its own (with values at its paths).
BATCH_CONDITIONS = BATCH_DOCUMENTS = 8
AIMED = 4
TYPE_CODES = {1: "double", 2: "string", 3: "object", 4: "array", 8: "bool", 10: "null"}
TYPE_CODES |= {16: "int", 18: "long"}
LOGICAL = ("$and", "$or", "$nor")


@dataclass(frozen=True)
class Clause:
    """A field condition somewhere in a condition; `path` is `relative` to an array
    element inside $elemMatch (and empty for the element itself)."""

    path: str
    operand: Any
    relative: bool


def clauses(condition: dict[str, Any], relative: bool = False) -> Iterator[Clause]:
    """Every field condition, through logical operators, $not, $elemMatch and $all."""
    for key, value in condition.items():
        if key in LOGICAL:
            for clause in value:
                yield from clauses(clause, relative)
        else:
            yield Clause(key, value, relative)
            yield from _nested(value)


def _nested(operand: Any) -> Iterator[Clause]:
    if not _is_operators(operand):
        return
    for op, value in operand.items():
        if op == "$not":
            yield Clause("", value, True)
            yield from _nested(value)
        elif op == "$elemMatch":
            if _is_operators(value) and next(iter(value)) not in LOGICAL:
                yield Clause("", value, True)
                yield from _nested(value)
            else:
                yield from clauses(value, relative=True)
        elif op == "$all":
            for item in value:
                if isinstance(item, dict) and "$elemMatch" in item:
                    yield from _nested(item)


def _is_operators(operand: Any) -> bool:
    return isinstance(operand, dict) and bool(operand) and next(iter(operand)).startswith("$")


def operators(condition: dict[str, Any]) -> Iterator[tuple[str, Any]]:
    """(operator, operand) for every field operator anywhere in the condition."""
    for clause in clauses(condition):
        if _is_operators(clause.operand):
            yield from clause.operand.items()


def values_in(value: Any) -> Iterator[Any]:
    """The value and everything nested in it."""
    yield value
    children = (
        value.values() if isinstance(value, dict) else value if isinstance(value, list) else ()
    )
    for child in children:
        yield from values_in(child)


def _literals(condition: dict[str, Any]) -> Iterator[Any]:
    for clause in clauses(condition):
        yield from values_in(clause.operand)


# --- Where mongomock is wrong -------------------------------------------------
# Each predicate: (condition, document) → True when mongomock's answer cannot be
# trusted for that pair, with the MongoDB documentation it contradicts.


def bool_meets_number(condition: dict[str, Any], document: Any) -> bool:
    """Python's `True == 1` and `False == 0`: mongomock equates booleans with 1 and 0
    (and orders them as numbers).  MongoDB compares booleans only with booleans
    (https://www.mongodb.com/docs/manual/reference/bson-type-comparison-order/)."""

    def has(kind: Callable[[Any], bool], values: Iterator[Any]) -> bool:
        return any(kind(v) for v in values)

    def is_bool(v: Any) -> bool:
        return isinstance(v, bool)

    def is_zero_or_one(v: Any) -> bool:
        return not isinstance(v, bool) and isinstance(v, int | float) and v in (0, 1)

    literals = list(_literals(condition))
    found = list(values_in(document))
    return (has(is_bool, iter(literals)) and has(is_zero_or_one, iter(found))) or (
        has(is_zero_or_one, iter(literals)) and has(is_bool, iter(found))
    )


def path_crosses_scalar(condition: dict[str, Any], document: Any) -> bool:
    """mongomock yields nothing for `a.b` when `a` is a scalar or null (or `a.5` past
    an array's end), so `{"a.b": null}`, `$ne`, `$nin`, `$exists: false` and `$not`
    fail there.  MongoDB reads such a path as missing: "Query for Null or Missing
    Fields" (https://www.mongodb.com/docs/manual/tutorial/query-for-null-fields/)
    and $exists (https://www.mongodb.com/docs/manual/reference/operator/query/exists/)."""
    return any(
        _crosses_scalar(found, clause.path.split("."))
        for clause in clauses(condition)
        if "." in clause.path and _may_match_missing(clause.operand)
        for found in (values_in(document) if clause.relative else (document,))
    )


# Operators that can hold where nothing is at the path.
_MISSING_MATCHERS = ("$ne", "$nin", "$not", "$exists", "$all", "$in", "$eq", "$gte", "$lte")


def _may_match_missing(operand: Any) -> bool:
    if not _is_operators(operand):
        return operand is None
    return any(op in _MISSING_MATCHERS for op in operand)


def _crosses_scalar(value: Any, segments: list[str]) -> bool:
    if len(segments) <= 1:
        return False
    head, rest = segments[0], segments[1:]
    if isinstance(value, dict):
        if head not in value:
            return False
        inner = value[head]
        return not isinstance(inner, dict | list) or _crosses_scalar(inner, rest)
    if isinstance(value, list):
        if head.isdigit() and int(head) >= len(value):
            return True
        nexts = [e[head] for e in value if isinstance(e, dict) and head in e]
        if head.isdigit() and int(head) < len(value):
            nexts.append(value[int(head)])
        return any(not isinstance(n, dict | list) or _crosses_scalar(n, rest) for n in nexts)
    return False


def all_of_null_or_arrays(condition: dict[str, Any], document: Any) -> bool:
    """mongomock's `$all` tests membership in the values found, flattened once, so
    `{$all: []}` matches everything, `{$all: [null]}` misses a missing field,
    `{$all: [[1, 2]]}` misses `[1, 2]`, and arrays inside arrays of documents are
    not looked into.  MongoDB: "$all is equivalent to an $and operation of the
    specified values", and an empty `$all` matches nothing
    (https://www.mongodb.com/docs/manual/reference/operator/query/all/#behavior)."""
    alls = [value for op, value in operators(condition) if op == "$all"]
    return any(
        not value or any(v is None or isinstance(v, list) for v in value) for value in alls
    ) or (bool(alls) and any(_documents_in_array(v) for v in values_in(document)))


def all_of_elem_match_beside_one_array(condition: dict[str, Any], document: Any) -> bool:
    """For `{$all: [{$elemMatch: q}]}` mongomock runs `$elemMatch` over the list of values
    the path reaches, as if it were the array there, so a missing field (`[missing]`)
    can match.  MongoDB: `$elemMatch` "matches documents that contain an array field
    with at least one element that matches"
    (https://www.mongodb.com/docs/manual/reference/operator/query/elemMatch/).
    Trusted only where a path from the document's root reaches exactly one array."""
    return any(
        _is_operators(clause.operand)
        and any(isinstance(v, dict) and "$elemMatch" in v for v in clause.operand.get("$all") or ())
        and (clause.relative or not _one_array(iter_key_candidates(clause.path, document)))
        for clause in clauses(condition)
    )


def _one_array(candidates: Any) -> bool:
    return len(candidates) == 1 and isinstance(candidates[0], list)


def inclusive_null_bound(condition: dict[str, Any], document: Any) -> bool:
    """mongomock's ordering operators never match a missing field.  MongoDB's `$gte: null`
    and `$lte: null` hold where `$eq: null` does, missing fields included: null
    compares equal to missing ("Query for Null or Missing Fields",
    https://www.mongodb.com/docs/manual/tutorial/query-for-null-fields/, and the
    comparison order https://www.mongodb.com/docs/manual/reference/bson-type-comparison-order/)."""
    return any(op in ("$gte", "$lte") and v is None for op, v in operators(condition))


def _documents_in_array(value: Any) -> bool:
    return isinstance(value, list) and any(isinstance(e, dict) for e in value)


def size_of_non_array(condition: dict[str, Any], document: Any) -> bool:
    """mongomock's `$size` counts an object's keys and calls a truthy scalar size 1.
    MongoDB's `$size` "matches any array with the number of elements specified"
    (https://www.mongodb.com/docs/manual/reference/operator/query/size/)."""
    sizes = [value for op, value in operators(condition) if op == "$size"]
    return any(
        (isinstance(found, dict) and len(found) == size)
        or (size == 1 and found and not isinstance(found, dict | list))
        for size in sizes
        for found in values_in(document)
    )


def type_long_boundary(condition: dict[str, Any], document: Any) -> bool:
    """mongomock calls 2147483648 an `int` (bit length 32); it does not fit BSON's
    32-bit int, so it is a `long` (https://www.mongodb.com/docs/manual/reference/bson-types/)."""
    return any(op == "$type" for op, _ in operators(condition)) and any(
        isinstance(v, int) and v == 2147483648 for v in values_in(document)
    )


def negation_where_nothing_is_reached(condition: dict[str, Any], document: Any) -> bool:
    """Where a path reaches no value at all (`a.b` in `{a: []}` or `{a: [1]}`),
    mongomock fails every operator expression but `{$exists: false}` alone and
    `$ne`/`$nin` alone, so `$not` and `$exists: false` beside other operators fail.
    MongoDB: `$not` "selects the documents that do not match the operator
    expression. This includes documents that do not contain the field"
    (https://www.mongodb.com/docs/manual/reference/operator/query/not/), and
    `$exists: false` matches "the documents that do not contain the field"
    (https://www.mongodb.com/docs/manual/reference/operator/query/exists/)."""
    return any(
        _is_operators(clause.operand)
        and ("$not" in clause.operand or not clause.operand.get("$exists", True))
        and clause.operand != {"$exists": False}
        and not iter_key_candidates(clause.path, found)
        for clause in clauses(condition)
        for found in (values_in(document) if clause.relative else (document,))
    )


def index_reaches_array(condition: dict[str, Any], document: Any) -> bool:
    """mongomock offers the elements of an array reached by a numeric index at the end
    of a path (`{"a.0": 1}` on `{a: [[1]]}`).  MongoDB offers such an element as it
    is; only an array reached through a field name is looked into ("Query an Array",
    https://www.mongodb.com/docs/manual/tutorial/query-arrays/, shows the traversal
    of a field's array; the server's path iterator, src/mongo/db/matcher/path.cpp,
    returns the element at an array offset without traversing it)."""
    return any(
        clause.path.rsplit(".", 1)[-1].isdigit()
        and any(isinstance(v, list) for v in iter_key_candidates(clause.path, found))
        for clause in clauses(condition)
        if "." in clause.path
        for found in (values_in(document) if clause.relative else (document,))
    )


def numeric_key_in_array_elements(condition: dict[str, Any], document: Any) -> bool:
    """On an array, mongomock reads a numeric segment as an index only.  MongoDB also
    reads it as a field name of the array's documents (`{"a.0": 5}` matches
    `{a: [{"0": 5}]}`, `{"a.0": null}` matches `{a: [{}]}`): a path applies to each
    document in an array ("Query an Array of Embedded Documents",
    https://www.mongodb.com/docs/manual/tutorial/query-array-of-documents/)."""
    return any(
        _numeric_key_in_elements(found, clause.path.split("."))
        for clause in clauses(condition)
        for found in (values_in(document) if clause.relative else (document,))
    )


def _numeric_key_in_elements(value: Any, segments: list[str]) -> bool:
    """Whether walking `segments` meets an array of documents at a numeric segment."""
    if not segments:
        return False
    head, rest = segments[0], segments[1:]
    if isinstance(value, dict):
        return head in value and _numeric_key_in_elements(value[head], rest)
    if not isinstance(value, list):
        return False
    documents = [e for e in value if isinstance(e, dict)]
    if head.isdigit() and documents:
        return True
    nexts = [e[head] for e in documents if head in e]
    if head.isdigit() and int(head) < len(value):
        nexts.append(value[int(head)])
    return any(_numeric_key_in_elements(n, rest) for n in nexts)


def array_operand_beside_nested_arrays(condition: dict[str, Any], document: Any) -> bool:
    """mongomock's `$eq $ne $gt $gte $lt $lte` with an array operand compare only the
    whole field, not its elements.  MongoDB compares each element too:
    `{tags: {$eq: ["A", "B"]}}` matches where tags "either is the array ["A", "B"] or
    contains an array element ["A", "B"]"
    (https://www.mongodb.com/docs/manual/reference/operator/query/eq/#equals-an-array-value),
    and the ordering operators match an array field where "at least one element"
    satisfies them (https://www.mongodb.com/docs/manual/tutorial/query-arrays/)."""
    return any(
        op in _ARRAY_COMPARED and isinstance(value, list) for op, value in operators(condition)
    ) and any(
        isinstance(v, list) and any(isinstance(e, list) for e in v) for v in values_in(document)
    )


_ARRAY_COMPARED = ("$eq", "$ne", "$gt", "$gte", "$lt", "$lte")


def in_lists_an_array(condition: dict[str, Any], document: Any) -> bool:
    """mongomock's `$in`/`$nin` test each element of an array field against the list,
    never the array itself, so `{$in: [[]]}` misses `[]`.  MongoDB: `$in` selects
    "the documents where the value of a field equals any value in the specified
    array" (https://www.mongodb.com/docs/manual/reference/operator/query/in/), and an
    array value equals an array field as a whole
    (https://www.mongodb.com/docs/manual/reference/operator/query/eq/#equals-an-array-value)."""
    return any(
        op in ("$in", "$nin") and any(isinstance(v, list) for v in value)
        for op, value in operators(condition)
    ) and any(isinstance(v, list) for v in values_in(document))


def empty_document_equality(condition: dict[str, Any], document: Any) -> bool:
    """mongomock treats `{"a": {}}` as no condition at all.  MongoDB: "Equality matches
    on the whole embedded document require an exact match of the specified
    <value> document" (https://www.mongodb.com/docs/manual/tutorial/query-embedded-documents/)."""
    return any(clause.operand == {} for clause in clauses(condition))


def fields_out_of_order_compared(condition: dict[str, Any], document: Any) -> bool:
    """Not mongomock's fault but regate's documented deviation (docs/semantics.md,
    "Deviations from MongoDB"): JSON objects have no field order, so the ordering
    operators compare objects over their keys in sorted order, where MongoDB (and
    mongomock) take the fields in their BSON order.  Skipped where an ordering
    operator meets an object whose keys are not sorted."""
    ordering = [v for op, v in operators(condition) if op in ("$gt", "$gte", "$lt", "$lte")]
    return bool(ordering) and any(
        isinstance(v, dict) and list(v) != sorted(v)
        for value in (*ordering, document)
        for v in values_in(value)
    )


# (The last one is regate's own documented deviation, not a fault of mongomock.)
MONGOMOCK_IS_WRONG: tuple[Callable[[dict[str, Any], Any], bool], ...] = (
    bool_meets_number,
    path_crosses_scalar,
    all_of_null_or_arrays,
    size_of_non_array,
    type_long_boundary,
    negation_where_nothing_is_reached,
    index_reaches_array,
    numeric_key_in_array_elements,
    array_operand_beside_nested_arrays,
    in_lists_an_array,
    empty_document_equality,
    all_of_elem_match_beside_one_array,
    inclusive_null_bound,
    fields_out_of_order_compared,
)


def for_mongomock(condition: Any) -> Any:
    """The same condition in spellings mongomock knows: `$type` codes as aliases (MongoDB
    takes either: https://www.mongodb.com/docs/manual/reference/operator/query/type/)."""
    if isinstance(condition, list):
        return [for_mongomock(v) for v in condition]
    if not isinstance(condition, dict):
        return condition
    return {
        k: TYPE_CODES.get(v, v) if k == "$type" and isinstance(v, int) else for_mongomock(v)
        for k, v in condition.items()
    }


def mongomock_verdict(condition: dict[str, Any], document: Any) -> bool | str:
    """mongomock's answer, or why it has none: the name of the predicate that says it
    is wrong here, or that it raised."""
    for predicate in MONGOMOCK_IS_WRONG:
        if predicate(condition, document):
            return predicate.__name__
    try:
        return bool(filter_applies(for_mongomock(condition), document))
    # OperationFailure or NotImplementedError for what it lacks, TypeError or re.error
    # where it trips over a value or a pattern (`\Q...\E`).
    except Exception as error:
        return f"mongomock raised {type(error).__name__}"


def compare(opa: str, directory: Any, pairs: list[tuple[dict[str, Any], Any]]) -> Counter[str]:
    """Decides the pairs with OPA and mongomock; fails on any disagreement, returns the tally."""
    found = verdicts(opa, directory, pairs)
    tally: Counter[str] = Counter()
    disagreements = []
    for (condition, document), verdict in zip(pairs, found, strict=True):
        rego = verdict.matched
        reference = mongomock_verdict(condition, document)
        if isinstance(reference, str):
            tally[reference] += 1
            continue
        tally["compared"] += 1
        if reference != rego:
            disagreements.append(
                f"{json.dumps(condition)} on {json.dumps(document)}: "
                f"regate {rego}, mongomock {reference}"
            )
    assert disagreements == []
    return tally


TALLY: Counter[str] = Counter()


@pytest.mark.opa
@settings(
    max_examples=BATCHES,
    deadline=None,
    database=None,
    # No shrinking: a failure lists every disagreement of its batch, already small.
    phases=(Phase.explicit, Phase.generate),
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
@given(
    batch_conditions=st.lists(conditions, min_size=BATCH_CONDITIONS, max_size=BATCH_CONDITIONS),
    batch_documents=st.lists(documents, min_size=BATCH_DOCUMENTS, max_size=BATCH_DOCUMENTS),
    data=st.data(),
)
def test_compiled_rego_agrees_with_mongomock(
    opa, tmp_path_factory, batch_conditions, batch_documents, data
):
    pairs = [(c, d) for c in batch_conditions for d in batch_documents]
    for condition in batch_conditions:
        aimed = aimed_documents(condition)
        pairs += [(condition, data.draw(aimed)) for _ in range(AIMED)]
    TALLY.update(compare(opa, tmp_path_factory.mktemp("differential"), pairs))
    print(dict(TALLY))


# --- $expr -------------------------------------------------------------------
# mongomock evaluates $expr with its aggregation module.  Where it reads an
# expression otherwise than MongoDB documents, a named predicate says so; the
# conformance cases (tests/fixtures/conformance/expr.json) pin MongoDB's answer.


def expr_of_nullplatform(condition: dict[str, Any]) -> bool:
    """`{"<key>": {"$expr": ...}}` is nullplatform's spelling (docs/language.md); MongoDB
    and mongomock know `$expr` at the top of a query document only."""
    return any(isinstance(v, dict) and "$expr" in v for v in condition.values())


def expr_python_truth(condition: dict[str, Any], document: Any) -> bool:
    """mongomock tests an `$expr`'s value with Python's truth, so "", [] and {} are
    false.  MongoDB: every value but false, null, 0 and missing is true, "including
    non-zero numeric values and arrays"
    (https://www.mongodb.com/docs/manual/reference/operator/aggregation/and/#behavior)."""
    value = condition.get("$expr")
    return isinstance(value, str) and document.get(value[1:]) in ("", [], {})


def expr_not_of_an_array(condition: dict[str, Any], document: Any) -> bool:
    """mongomock reads `{$not: [x]}` as $not of the array `[x]` (always true, so the
    $not is false).  MongoDB reads an array operand as the argument list, `$not: [x]`
    negating `x` (https://www.mongodb.com/docs/manual/reference/operator/aggregation/not/)."""
    return '"$not": [' in json.dumps(condition)


def expr_numeric_segment(condition: dict[str, Any], document: Any) -> bool:
    """mongomock indexes an array with a numeric segment of a field path (`$a.0`).
    Aggregation does not: a path through an array maps over its documents
    (https://www.mongodb.com/docs/manual/reference/aggregation-variables/, field paths)."""
    return any(
        isinstance(v, str) and v.startswith("$") and any(s.isdigit() for s in v.split("."))
        for v in values_in(condition)
    )


def expr_bool_meets_number(condition: dict[str, Any], document: Any) -> bool:
    """Python's `True == 1` (see bool_meets_number), wherever in the expression or the
    document the boolean and the 0 or 1 are."""
    found = [*values_in(condition), *values_in(document)]
    return any(isinstance(v, bool) for v in found) and any(
        not isinstance(v, bool) and isinstance(v, int | float) and v in (0, 1) for v in found
    )


EXPR_MONGOMOCK_IS_WRONG = (
    expr_bool_meets_number,
    expr_python_truth,
    expr_not_of_an_array,
    expr_numeric_segment,
)


def expr_mongomock_verdict(condition: dict[str, Any], document: Any) -> bool | str:
    """mongomock's answer for an $expr condition, or why it has none."""
    if expr_of_nullplatform(condition):
        return "nullplatform's form"
    for predicate in EXPR_MONGOMOCK_IS_WRONG:
        if predicate(condition, document):
            return predicate.__name__
    try:
        return bool(filter_applies(condition, document))
    # KeyError for a missing field reference, ZeroDivisionError, AssertionError and
    # the like where MongoDB fails the expression, NotImplementedError for $cmp.
    except Exception as error:
        return f"mongomock raised {type(error).__name__}"


def test_expr_conformance_cases_agree_with_mongomock_where_it_reads_them():
    """Every case of the $expr conformance table that mongomock evaluates, and no
    named predicate excuses, gets MongoDB's documented answer from mongomock too."""
    cases = json.loads((REPO / "tests/fixtures/conformance/expr.json").read_text())
    tally: Counter[str] = Counter()
    wrong = []
    for case in cases:
        found = expr_mongomock_verdict(case["condition"], case["document"])
        if isinstance(found, str):
            tally[found] += 1
        elif found != case["match"]:
            wrong.append(case["why"])
        else:
            tally["agreed"] += 1
    assert wrong == []
    # Most of the table is MongoDB semantics mongomock does not reach (missing
    # fields, errors); what it does read, it reads as MongoDB documents.
    assert tally["agreed"] >= 35, tally


@pytest.mark.opa
@settings(
    max_examples=max(2, BATCHES // 4),
    deadline=None,
    database=None,
    phases=(Phase.explicit, Phase.generate),
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
@given(
    expressions=st.lists(expr_conditions(), min_size=12, max_size=12),
    batch_documents=st.lists(expr_documents, min_size=6, max_size=6),
)
def test_compiled_expr_agrees_with_mongomock(opa, tmp_path_factory, expressions, batch_documents):
    """Random comparisons of arithmetic over numeric fields, under $and, $or and $not:
    the compiled Rego (real OPA) and mongomock agree on every pair."""
    pairs = [({"$expr": e}, d) for e in expressions for d in batch_documents]
    found = verdicts(opa, tmp_path_factory.mktemp("expr"), pairs)
    disagreements = []
    for (condition, document), verdict in zip(pairs, found, strict=True):
        reference = expr_mongomock_verdict(condition, document)
        if isinstance(reference, bool) and reference != verdict.matched:
            disagreements.append(
                f"{json.dumps(condition)} on {json.dumps(document)}: "
                f"regate {verdict.matched}, mongomock {reference}"
            )
    assert disagreements == []
