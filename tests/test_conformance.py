"""MongoDB's documented query semantics, case by case, decided by a real OPA.

Each file in tests/fixtures/conformance/ is one operator family: a list of
{why, condition, document, match} written from MongoDB's documentation (query
and projection operators, "Query an Array", "Query on Embedded/Nested
Documents", "Query for Null or Missing Fields").  All cases of a file are
compiled into one bundle and decided by one `opa eval` (tests/mongo_harness.py).
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.mongo_harness import verdicts

FIXTURES = Path(__file__).parent / "fixtures" / "conformance"
FAMILIES = sorted(p.stem for p in FIXTURES.glob("*.json"))


@pytest.mark.opa
@pytest.mark.parametrize("family", FAMILIES)
def test_conformance(family, opa, tmp_path):
    cases = json.loads((FIXTURES / f"{family}.json").read_text())
    found = verdicts(opa, tmp_path, [(c["condition"], c["document"]) for c in cases])
    wrong = [
        f"{c['why']}: {json.dumps(c['condition'])} on {json.dumps(c['document'])} "
        f"gave {got}, MongoDB gives {c['match']}"
        for c, got in zip(cases, found, strict=True)
        if got != c["match"]
    ]
    assert wrong == []


def test_every_family_is_present():
    assert FAMILIES == ["array", "comparison", "element", "evaluation", "logical", "paths"]


@pytest.mark.opa
def test_conditions_nested_50_deep_compile_and_decide(opa, tmp_path):
    condition: dict[str, object] = {"a": 1}
    for depth in range(50):
        condition = {"$or": [condition, {"b": depth}]} if depth % 2 else {"$and": [condition]}
    found = verdicts(opa, tmp_path, [(condition, {"a": 1}), (condition, {"a": 2})])
    assert found == [True, False]
