"""Explanations computed by the emitted Rego (package regate.explanations), asked of a
real OPA sidecar: for each operator family, nested logic and missing fields, the
failures the decision carries and the text `regate explain` prints for them.

Each case is a policy of its own action, at an NRN of its own, so a request
reaches exactly that policy.  Paths are rooted at `build.metadata.doc`
(tests/mongo_harness.py); the expected failures and text leave that root and the
`source` out, and every source is checked to be the case's own line.
"""

from __future__ import annotations

import json
import subprocess
from collections.abc import Iterator
from typing import Any

import pytest

from compiler.bundle import write_directory
from compiler.driver import compile_sources
from compiler.explain import render
from tests.conftest import QUALITY_GATES, REQUESTS, Sidecar, build, run_cli, write_sources
from tests.mongo_harness import ROOT, rooted, sources

pytestmark = pytest.mark.opa

# (why, condition, document, failures, the policy's lines in `regate explain`; @ stands
# for the case's source location)
CASES: list[tuple[str, dict[str, Any], Any, list[Any], list[str]]] = [
    (
        "a passing policy carries no failures",
        {"a": {"$gte": 80}},
        {"a": 85},
        [],
        ["passed"],
    ),
    (
        "$gte on a lower value",
        {"a": {"$gte": 80}},
        {"a": 70},
        [{"path": "a", "operator": "$gte", "expected": 80, "actual": 70}],
        ["failed:", "a is 70, needs ≥ 80 @"],
    ),
    (
        "a missing field",
        {"a.b": {"$gt": 1}},
        {"a": {}},
        [{"path": "a.b", "operator": "$gt", "expected": 1, "missing": True}],
        ["failed:", "a.b is missing, needs > 1 @"],
    ),
    (
        "implicit equality, and only the failing one of two conditions",
        {"a": "gold", "b": {"$lt": 3, "$ne": 1}},
        {"a": "silver", "b": 1},
        [
            {"path": "a", "operator": "$eq", "expected": "gold", "actual": "silver"},
            {"path": "b", "operator": "$ne", "expected": 1, "actual": 1},
        ],
        ["failed:", 'a is "silver", needs = "gold" @', "b is 1, needs ≠ 1 @"],
    ),
    (
        "several values reached through an array",
        {"a.b": {"$lte": 0}},
        {"a": [{"b": 2}, {"b": 1}, {}]},
        [{"path": "a.b", "operator": "$lte", "expected": 0, "actual_values": [1, 2]}],
        ["failed:", "a.b has values 1, 2, needs ≤ 0 @"],
    ),
    (
        "$in and $nin",
        {"a": {"$in": [1, 2]}, "b": {"$nin": ["x"]}},
        {"a": 3, "b": ["x", "y"]},
        [
            {"path": "a", "operator": "$in", "expected": [1, 2], "actual": 3},
            {"path": "b", "operator": "$nin", "expected": ["x"], "actual": ["x", "y"]},
        ],
        [
            "failed:",
            "a is 3, needs to be one of 1, 2 @",
            'b is ["x", "y"], needs to be none of "x" @',
        ],
    ),
    (
        "$exists both ways",
        {"a": {"$exists": True}, "b": {"$exists": False}},
        {"b": None},
        [
            {"path": "a", "operator": "$exists", "expected": True, "missing": True},
            {"path": "b", "operator": "$exists", "expected": False, "actual": None},
        ],
        ["failed:", "a is missing, needs to exist @", "b is null, needs to be absent @"],
    ),
    (
        "$type, with `number` expanded",
        {"a": {"$type": "number"}},
        {"a": "7"},
        [
            {
                "path": "a",
                "operator": "$type",
                "expected": ["decimal", "double", "int", "long"],
                "actual": "7",
            }
        ],
        ["failed:", 'a is "7", needs to be of type decimal or double or int or long @'],
    ),
    (
        "$regex as written, with its options",
        {"a": {"$regex": "^rel", "$options": "i"}, "b": {"$regex": "x$"}},
        {"a": "main", "b": "y"},
        [
            {
                "path": "a",
                "operator": "$regex",
                "expected": {"$regex": "^rel", "$options": "i"},
                "actual": "main",
            },
            {"path": "b", "operator": "$regex", "expected": "x$", "actual": "y"},
        ],
        ["failed:", 'a is "main", needs to match /^rel/i @', 'b is "y", needs to match /x$/ @'],
    ),
    (
        "$mod and $size",
        {"a": {"$mod": [4, 1]}, "b": {"$size": 2}},
        {"a": 8, "b": [1]},
        [
            {"path": "a", "operator": "$mod", "expected": [4, 1], "actual": 8},
            {"path": "b", "operator": "$size", "expected": 2, "actual": [1]},
        ],
        [
            "failed:",
            "a is 8, needs to leave 1 when divided by 4 @",
            "b is [1], needs to be an array of 2 elements @",
        ],
    ),
    (
        "$all: one entry per value missing, and $all of nothing",
        {"a": {"$all": ["x", "y", "z"]}, "b": {"$all": []}},
        {"a": ["x"], "b": [1]},
        [
            {"path": "a", "operator": "$all", "expected": "y", "actual": ["x"]},
            {"path": "a", "operator": "$all", "expected": "z", "actual": ["x"]},
            {"path": "b", "operator": "$all", "expected": []},
        ],
        [
            "failed:",
            'a is ["x"], needs to contain "y" @',
            'a is ["x"], needs to contain "z" @',
            "b: $all of no values never matches @",
        ],
    ),
    (
        "$not of one operator",
        {"a": {"$not": {"$gt": 0}}},
        {"a": 2},
        [{"path": "a", "operator": "$not", "expected": {"$gt": 0}, "actual": 2}],
        ["failed:", "a is 2, needs not > 0 @"],
    ),
    (
        "$not of a $regex",
        {"a": {"$not": {"$regex": "^x"}}, "b": {"$not": {"$regex": "^y", "$options": "i"}}},
        {"a": "xa", "b": "Yb"},
        [
            {"path": "a", "operator": "$not", "expected": {"$regex": "^x"}, "actual": "xa"},
            {
                "path": "b",
                "operator": "$not",
                "expected": {"$regex": "^y", "$options": "i"},
                "actual": "Yb",
            },
        ],
        [
            "failed:",
            'a is "xa", needs not to match /^x/ @',
            'b is "Yb", needs not to match /^y/i @',
        ],
    ),
    (
        "$not of one operator beside plain tests, one of them holding",
        {"a": {"$not": {"$gt": 0}}, "b": 1, "c": {"$exists": True}},
        {"a": 0, "b": 2},
        [
            {"path": "b", "operator": "$eq", "expected": 1, "actual": 2},
            {"path": "c", "operator": "$exists", "expected": True, "missing": True},
        ],
        ["failed:", "b is 2, needs = 1 @", "c is missing, needs to exist @"],
    ),
    (
        "$not of several operators",
        {"a": {"$not": {"$gt": 0, "$lt": 9}}},
        {"a": 2},
        [{"path": "a", "operator": "$not", "matched": [1]}],
        ["failed:", "a: the conditions under $not all hold @"],
    ),
    (
        "$or: every clause with its own failures",
        {"$or": [{"a": 1}, {"b": {"$gt": 5}, "c": "x"}]},
        {"a": 2, "b": 9},
        [
            {
                "operator": "$or",
                "clauses": [
                    [{"path": "a", "operator": "$eq", "expected": 1, "actual": 2}],
                    [{"path": "c", "operator": "$eq", "expected": "x", "missing": True}],
                ],
            }
        ],
        [
            "failed:",
            "no clause of $or holds @:",
            "  clause 1:",
            "    a is 2, needs = 1 @",
            "  clause 2:",
            '    c is missing, needs = "x" @',
        ],
    ),
    (
        "$nor: the clauses that hold",
        {"$nor": [{"a": 1}, {"b": 2}, {"c": 3}]},
        {"a": 1, "c": 3},
        [{"operator": "$nor", "matched": [1, 3]}],
        ["failed:", "clause 1, 3 of $nor holds, but none may @"],
    ),
    (
        "$and: its clauses apart, those that hold with no failures",
        {"$and": [{"a": 1}, {"b": 2}]},
        {"a": 1, "b": 3},
        [
            {
                "operator": "$and",
                "clauses": [[], [{"path": "b", "operator": "$eq", "expected": 2, "actual": 3}]],
            }
        ],
        ["failed:", "not all clauses of $and hold @:", "  clause 2:", "    b is 3, needs = 2 @"],
    ),
    (
        "$and inside $or inside $elemMatch, on a field missing in the element",
        {"a": {"$elemMatch": {"$or": [{"$and": [{"b": 1}, {"c": 2}]}, {"d": 3}]}}},
        {"a": [{"b": 1}]},
        [
            {
                "path": "a",
                "operator": "$elemMatch",
                "actual": [{"b": 1}],
                "elements": [
                    {
                        "element": {"b": 1},
                        "failures": [
                            {
                                "operator": "$or",
                                "clauses": [
                                    [
                                        {
                                            "operator": "$and",
                                            "clauses": [
                                                [],
                                                [
                                                    {
                                                        "path": "c",
                                                        "operator": "$eq",
                                                        "expected": 2,
                                                        "missing": True,
                                                    }
                                                ],
                                            ],
                                        }
                                    ],
                                    [
                                        {
                                            "path": "d",
                                            "operator": "$eq",
                                            "expected": 3,
                                            "missing": True,
                                        }
                                    ],
                                ],
                            }
                        ],
                    }
                ],
            }
        ],
        [
            "failed:",
            'a is [{"b": 1}], needs an element matching @',
            '  element {"b": 1}:',
            "    no clause of $or holds @:",
            "      clause 1:",
            "        not all clauses of $and hold @:",
            "          clause 2:",
            "            c is missing, needs = 2 @",
            "      clause 2:",
            "        d is missing, needs = 3 @",
        ],
    ),
    (
        "$elemMatch: each element with its failures, nested logic inside",
        {"a": {"$elemMatch": {"n": {"$gte": 3}, "$or": [{"k": "x"}, {"k": "y"}]}}},
        {"a": [{"n": 5, "k": "z"}, {"n": 1, "k": "x"}]},
        [
            {
                "path": "a",
                "operator": "$elemMatch",
                "actual": [{"n": 5, "k": "z"}, {"n": 1, "k": "x"}],
                "elements": [
                    {
                        "element": {"n": 1, "k": "x"},
                        "failures": [{"path": "n", "operator": "$gte", "expected": 3, "actual": 1}],
                    },
                    {
                        "element": {"n": 5, "k": "z"},
                        "failures": [
                            {
                                "operator": "$or",
                                "clauses": [
                                    [
                                        {
                                            "path": "k",
                                            "operator": "$eq",
                                            "expected": "x",
                                            "actual": "z",
                                        }
                                    ],
                                    [
                                        {
                                            "path": "k",
                                            "operator": "$eq",
                                            "expected": "y",
                                            "actual": "z",
                                        }
                                    ],
                                ],
                            }
                        ],
                    },
                ],
            }
        ],
        [
            "failed:",
            'a is [{"k": "z", "n": 5}, {"k": "x", "n": 1}], needs an element matching @',
            '  element {"k": "x", "n": 1}:',
            "    n is 1, needs ≥ 3 @",
            '  element {"k": "z", "n": 5}:',
            "    no clause of $or holds @:",
            "      clause 1:",
            '        k is "z", needs = "x" @',
            "      clause 2:",
            '        k is "z", needs = "y" @',
        ],
    ),
    (
        "$elemMatch of operators on the element itself",
        {"a": {"$elemMatch": {"$gt": 5}}},
        {"a": [1]},
        [
            {
                "path": "a",
                "operator": "$elemMatch",
                "actual": [1],
                "elements": [
                    {
                        "element": 1,
                        "failures": [{"path": "", "operator": "$gt", "expected": 5, "actual": 1}],
                    }
                ],
            }
        ],
        [
            "failed:",
            "a is [1], needs an element matching @",
            "  element 1:",
            "    the element is 1, needs > 5 @",
        ],
    ),
    (
        "$elemMatch on a missing field",
        {"a": {"$elemMatch": {"b": 1}}},
        {},
        [{"path": "a", "operator": "$elemMatch", "missing": True, "elements": []}],
        ["failed:", "a is missing, needs an element matching @"],
    ),
]
FIRST_POLICY_LINE = 3


def source(cases: list[tuple[str, dict[str, Any], Any, list[Any], list[str]]]) -> str:
    lines = [
        'specification "Doc" { entity = build  metadata = doc  nrn = "organization=1"'
        "  schema = {} }",
        "# one policy per line, each bound to an action at an NRN of its own",
    ]
    for i, (_, condition, *_rest) in enumerate(cases):
        lines.append(
            f'policy "case {i}" {{ nrn = "organization=1"  conditions = {json.dumps(rooted(condition))} }}'
        )
    for i in range(len(cases)):
        lines.append(
            f'action "case {i}" {{ action = "deployment:create"  nrn = "organization=1:account={i + 1}"'
            f'  policies = ["case {i}"] }}'
        )
    return "\n".join(lines) + "\n"


def request(i: int, document: Any) -> dict[str, Any]:
    return {
        "action": "deployment:create",
        "nrn": f"organization=1:account={i + 1}",  # ids start at 1
        "entities": {"scope": {"dimensions": {}}, "build": {"metadata": {"doc": document}}},
    }


def sources_and_unrooted(value: Any, location: str) -> Any:
    """The failures with every `source` checked to be `location` and left out, and
    paths without the root."""
    if isinstance(value, list):
        return [sources_and_unrooted(item, location) for item in value]
    if not isinstance(value, dict):
        return value
    if "operator" in value:
        assert value["source"] == location, value
    return {
        key: item.removeprefix(f"{ROOT}.")
        if key == "path"
        else sources_and_unrooted(item, location)
        for key, item in value.items()
        if not ("operator" in value and key == "source")
    }


@pytest.fixture(scope="module")
def server(opa, tmp_path_factory) -> Iterator[Sidecar]:
    """One sidecar for every case (tests/conftest.py's `sidecar` is per test)."""
    directory = tmp_path_factory.mktemp("explanations")
    write_sources(directory / "src", {"cases.rg": source(CASES)})
    started = Sidecar(opa, build([directory / "src"], directory))
    yield started
    started.stop()


@pytest.mark.parametrize("i", range(len(CASES)), ids=[case[0] for case in CASES])
def test_explanations_from_a_sidecar(server, i):
    _, _, document, failures, text = CASES[i]
    decision = server.decide(request(i, document))
    [action] = decision["actions"]
    [policy] = action["policies"]
    location = f"cases.rg:{FIRST_POLICY_LINE + i}"
    assert policy["passed"] == (failures == [])
    assert sources_and_unrooted(policy.get("failures", []), location) == failures

    explained = run_cli(
        "explain", "--opa-url", server.url, "--input", "-", input=json.dumps(request(i, document))
    )
    assert explained.exit_code == 0, explained.stderr
    policy_lines = explained.stdout.splitlines()[2:]
    headline = f'    policy "case {i}" ({location}) {text[0]}'
    rest = [f"      {line}".replace("@", f"({location})") for line in text[1:]]
    assert [line.replace(f"{ROOT}.", "") for line in policy_lines] == [headline, *rest]


def test_a_failed_policy_stays_failed_without_its_explanation(opa, tmp_path):
    """Fail closed: were an explanation ever undefined, the policy still fails."""
    result = compile_sources([str(QUALITY_GATES)])
    assert result.files is not None
    # The explanations' data gone: the interpreter finds nothing to explain.
    files = {
        k: v
        for k, v in result.files.items()
        if not k.endswith("/data.json") or "explanations" not in k
    }
    write_directory(str(tmp_path / "bundle"), files)
    decision = subprocess.run(
        [
            *(opa, "eval", "-f", "json", "-b", str(tmp_path / "bundle")),
            *("-i", str(REQUESTS / "01-coverage-70.json"), "data.regate.decision"),
        ],
        capture_output=True,
        text=True,
        check=True,
    )
    value = json.loads(decision.stdout)["result"][0]["expressions"][0]["value"]
    assert value["result"] == "manual"
    assert value["actions"][0]["policies"][0] == {
        "name": "Code Coverage",
        "source": "policies.rg:5",
        "passed": False,
        "failures": [],
    }
    assert '    policy "Code Coverage" (policies.rg:5) failed\n' in render(value)


def test_each_test_of_the_request_names_its_shared_rules(tmp_path):
    """A policy of plain tests of the request's entities is explained by its tests
    alone, any other by the interpreter; either way a test of the request's
    entities names its rule and its path's rule in package regate.conditions, so
    explaining it tests nothing again.  An $elemMatch's tests test the element."""
    conditions = [
        {"a": {"$gte": 1}, "b": {"$in": [1, 2]}},
        {"a": {"$not": {"$gte": 1}}},
        {"$or": [{"a": 1}, {"c": {"$elemMatch": {"e": 1}}}]},
    ]
    result = compile_sources([str(write_sources(tmp_path, {"cases.rg": sources(conditions)}))])
    assert result.files is not None
    plain, interpreted = (
        json.loads(result.files[f"regate/explanations/{data}/data.json"])
        for data in ("plain", "conditions")
    )
    assert (set(plain), set(interpreted)) == ({"case_0"}, {"case_1", "case_2"})
    shared_rules = {
        line.split(" ")[0]
        for line in result.files["regate/conditions/conditions.rego"].decode().splitlines()
        if line[:1].isalpha() and not line.startswith(("package", "import"))
    }
    [negated] = interpreted["case_1"]
    [either] = interpreted["case_2"]
    [[equals], [elem_match]] = either["clauses"]
    assert (negated["kind"], negated["negated"], equals["kind"]) == ("shared", True, "shared")
    for node in (*plain["case_0"], negated, equals):
        assert {node["test"], node["at"]} <= shared_rules, node
    assert [node["kind"] for node in elem_match["clause"]] == ["test"]
