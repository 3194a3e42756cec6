"""MongoDB's documented query semantics, case by case, decided by a real OPA.

Each file in tests/fixtures/conformance/ is one operator family: a list of
{why, condition, document, match} written from MongoDB's documentation (query
and projection operators, "Query an Array", "Query on Embedded/Nested
Documents", "Query for Null or Missing Fields").  All cases of a file are
compiled into one bundle and decided by one `opa eval` (tests/mongo_harness.py).
Every case also checks the explanation against the verdict: a condition that
matches explains no failure, one that does not explains at least one.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.conftest import build
from tests.mongo_harness import ROOT, sources, verdicts

FIXTURES = Path(__file__).parent / "fixtures" / "conformance"
FAMILIES = sorted(p.stem for p in FIXTURES.glob("*.json"))


@pytest.mark.opa
@pytest.mark.parametrize("family", FAMILIES)
def test_conformance(family, opa, tmp_path):
    cases = json.loads((FIXTURES / f"{family}.json").read_text())
    found = verdicts(opa, tmp_path, [(c["condition"], c["document"]) for c in cases])
    wrong = [
        f"{c['why']}: {json.dumps(c['condition'])} on {json.dumps(c['document'])} "
        f"gave {got.matched}, MongoDB gives {c['match']}"
        for c, got in zip(cases, found, strict=True)
        if got.matched != c["match"]
    ]
    assert wrong == []
    unexplained = [
        f"{c['why']}: matched {got.matched}, explained failures {json.dumps(got.failures)}"
        for c, got in zip(cases, found, strict=True)
        if got.matched != (got.failures == [])
    ]
    assert unexplained == []


def test_every_family_is_present():
    assert FAMILIES == ["array", "comparison", "element", "evaluation", "expr", "logical", "paths"]


@pytest.mark.opa
def test_conditions_nested_50_deep_compile_and_decide(opa, tmp_path):
    condition: dict[str, object] = {"a": 1}
    for depth in range(50):
        condition = {"$or": [condition, {"b": depth}]} if depth % 2 else {"$and": [condition]}
    found = verdicts(opa, tmp_path, [(condition, {"a": 1}), (condition, {"a": 2})])
    assert [v.matched for v in found] == [True, False]
    assert found[0].failures == []
    assert found[1].failures != []


TYPE_CONDITIONS = [{"n": {"$type": alias}} for alias in ("int", "long", "double", "number")]


@pytest.mark.opa
@pytest.mark.parametrize(
    ("number", "types"),
    [
        (5, [True, False, False, True]),
        (5.0, [False, False, True, True]),
        (-2147483648, [True, False, False, True]),
        (2147483648, [False, True, False, True]),
        (5e9, [False, False, True, True]),
    ],
)
def test_type_reads_the_number_as_written_in_a_sidecar_request(number, types, sidecar, tmp_path):
    """OPA's HTTP API keeps a number's JSON text, so `5.0` is a double and `5` an int there too."""
    source = tmp_path / "types.rg"
    source.write_text(sources(TYPE_CONDITIONS))
    entity, metadata, key = ROOT.split(".")
    request = {
        "action": "deployment:create",
        "nrn": "organization=1",
        "entities": {"scope": {"dimensions": {}}, entity: {metadata: {key: {"n": number}}}},
    }
    decision = sidecar(build([source], tmp_path)).decide(request)
    [action] = decision["actions"]
    assert [p["passed"] for p in action["policies"]] == types
