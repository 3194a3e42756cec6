"""A bundle holds only the Rego it uses: every rule of every emitted module is
reachable from data.regate.decision or from a test rule (`test_*`), in the
reference graph OPA itself parses (tests/rego_modules.py).  compiler/emit.py
writes a library function, an interpreter case or an unrolled level only when
some policy, condition or the decision needs it (issue 22, item 6)."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest

from compiler.driver import compile_sources
from tests.conftest import write_sources
from tests.mongo_harness import sources
from tests.rego_modules import parse, unreachable

BUNDLES = sorted(p for p in (Path(__file__).parent.parent / "bundles").iterdir() if p.is_dir())
DECISION = [("regate", "decision")]

# Conditions that each make the library and the interpreter write a different part:
# every operator alone, negated, nested in logic and $elemMatch, containers ordered,
# $expr of each aggregation operator, $dynamicPattern.
CONDITIONS: list[dict[str, Any]] = [
    {"a": 1},
    {"a": {"$ne": 1}},
    {"a": {"$gt": 1}},
    {"a.b.c.d.e.f.g": {"$gte": "x"}},
    {"a": {"$lt": [1, 2]}},
    {"a": {"$lte": {"b": [{"c": 1}]}}},
    {"a": {"$in": [1, 2]}},
    {"a": {"$nin": [1, 2]}},
    {"a": {"$exists": True}},
    {"a": {"$exists": False}},
    {"a": {"$type": "int"}},
    {"a": {"$regex": "^x"}},
    {"a": {"$mod": [2, 0]}},
    {"a": {"$size": 2}},
    {"a": {"$all": []}},
    {"a": {"$not": {"$gt": 1, "$lt": 5}}},
    {"$or": [{"a": 1}, {"b": {"$size": 1}}]},
    {"$nor": [{"a": 1}, {"b": 2}]},
    {"$and": [{"$or": [{"a": 1}, {"b": 2}]}, {"c": 3}]},
    {"a": {"$elemMatch": {"b": {"$gt": 1}}}},
    {"a": {"$elemMatch": {"$gt": 1, "$lt": 9}}},
    {"a": {"$elemMatch": {"b": {"$elemMatch": {"$in": [1]}}}}},
    {"$expr": {"$lte": [{"$add": ["$a.b", 1]}, "$c"]}},
    {"$expr": {"$and": [{"$eq": ["$a", 1]}, {"$not": ["$b"]}]}},
    {"$expr": {"$or": [{"$gt": [{"$subtract": ["$a", 1]}, 0]}, "$b"]}},
    {"$expr": {"$cmp": [{"$divide": ["$a", 2]}, {"$mod": ["$b", 3]}]}},
    {"$expr": {"$ne": [{"$abs": "$a"}, {"$multiply": [2, "$b"]}]}},
    {"$or": [{"$expr": True}, {"a": 1}]},
    {"a": {"$dynamicPattern": {"template": "^{x}-", "fields": {"x": {"path": "metadata.doc.x"}}}}},
]


def emitted(source_files: list[Path], with_tests: bool = False) -> dict[str, bytes]:
    result = compile_sources([str(s) for s in source_files], with_tests=with_tests)
    assert result.files is not None, [d.message for d in result.diagnostics]
    return result.files


@pytest.mark.opa
@pytest.mark.parametrize("bundle", BUNDLES, ids=lambda p: p.name)
def test_every_rule_of_an_example_bundle_is_reachable(opa, bundle):
    assert unreachable(parse(opa, emitted([bundle], with_tests=True)), DECISION) == []


@pytest.mark.opa
@pytest.mark.parametrize("condition", CONDITIONS, ids=lambda c: str(c)[:40])
def test_every_rule_a_condition_makes_is_reachable(opa, tmp_path, condition):
    source = write_sources(tmp_path, {"cases.rg": sources([condition])})
    assert unreachable(parse(opa, emitted([source])), DECISION) == []


@pytest.mark.opa
def test_every_rule_of_a_bundle_of_all_conditions_is_reachable(opa, tmp_path):
    source = write_sources(tmp_path, {"cases.rg": sources(CONDITIONS)})
    assert unreachable(parse(opa, emitted([source])), DECISION) == []


@pytest.mark.opa
def test_an_unused_helper_is_found(opa, tmp_path):
    """The check can fail: a library function no condition calls is unreachable."""
    files = emitted([write_sources(tmp_path, {"cases.rg": sources([{"a": {"$size": 2}}])})])
    files["regate/mongo/mongo.rego"] += b"\n_spare(at) if at.reached != []\n"
    assert unreachable(parse(opa, files), DECISION) == [
        "regate/mongo/mongo.rego: regate.mongo._spare"
    ]


@pytest.mark.parametrize(
    ("condition", "levels"),
    [({"a": {"$size": 1}}, 1), ({"a.b.c": {"$size": 1}}, 3), ({"a.b.c.d.e.f.g": 1}, 7)],
)
def test_the_path_walk_is_unrolled_to_the_longest_path(tmp_path, condition, levels):
    """values_at walks a path with a function per segment: as many as the bundle's
    longest path (under build.metadata.doc: 3 more), not the 32 a path may have."""
    source = write_sources(tmp_path, {"cases.rg": sources([condition])})
    library = emitted([source])["regate/mongo/mongo.rego"].decode()
    walked = re.findall(r"^_reach_(\d+)\(", library, re.MULTILINE)
    assert walked == [str(n) for n in range(1, levels + 4)]


@pytest.mark.parametrize(
    ("operand", "depth"),
    [(1, 0), ([1, 2], 1), ([[1]], 2), ({"b": 1}, 2), ({"b": [1]}, 3)],
)
def test_containers_compare_as_deep_as_the_operands_nest(tmp_path, operand, depth):
    """An ordering of an array or object compares level by level (a function
    each): as deep as the operand nests, an object's fields a level deeper (they
    compare as [class, key, value] entries); a scalar compares none."""
    source = write_sources(tmp_path, {"cases.rg": sources([{"a": {"$gt": operand}}])})
    library = emitted([source])["regate/mongo/mongo.rego"].decode()
    compared = re.findall(r"^_compare_(\d+)\(", library, re.MULTILINE)
    assert compared == [str(n) for n in range(1, depth + 1)]
