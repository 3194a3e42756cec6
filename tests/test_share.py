"""Share pass: each test of the request's entities is one rule of package
regate.conditions, whatever the number of policies that make it; decisions are
unchanged (the conformance, explanation and end-to-end tests decide through it)."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pytest

from compiler.bundle import write_directory
from compiler.driver import compile_sources
from compiler.emit import render
from compiler.limits import MAX_COMPARE_DEPTH, MAX_PATH_SEGMENTS
from tests.conftest import write_sources

SPECIFICATION = (
    'specification "Doc" { entity = build  metadata = doc  nrn = "organization=1"  schema = {} }\n'
)


def policy(name: str, conditions: object) -> str:
    return f'policy "{name}" {{\n  nrn = "organization=1"\n  conditions = {json.dumps(conditions)}\n}}\n'


def action(policies: list[str]) -> str:
    return (
        'action "gate" {\n  action = "deployment:create"\n  nrn = "organization=1"\n'
        f"  on_policy_success = approve\n  on_policy_fail = deny\n  policies = {json.dumps(policies)}\n}}\n"
    )


def compiled(tmp_path: Path, *policies: tuple[str, object]) -> dict[str, str]:
    text = SPECIFICATION + "".join(policy(n, c) for n, c in policies)
    text += action([n for n, _ in policies])
    source = write_sources(tmp_path, {"policies.rg": text})
    result = compile_sources([str(source)])
    assert result.files is not None, [d.message for d in result.diagnostics]
    return {path: content.decode() for path, content in result.files.items()}


def rules(rego: str) -> list[str]:
    """The rule heads of a module, in order."""
    return [line.split(" ")[0] for line in rego.splitlines() if line[:1].isalpha()][2:]


def test_a_test_many_policies_make_is_one_rule(tmp_path):
    files = compiled(
        tmp_path,
        ("A", {"build.metadata.doc.coverage": {"$gte": 80}}),
        ("B", {"build.metadata.doc.coverage": {"$gte": 80}, "build.metadata.doc.critical": 0}),
        ("C", {"build.metadata.doc.coverage": {"$not": {"$gte": 80}}}),
    )
    assert rules(files["regate/conditions/conditions.rego"]) == [
        "at_build_metadata_doc_coverage",
        "at_build_metadata_doc_critical",
        "build_metadata_doc_coverage_gte_80",
        "build_metadata_doc_critical_eq_0",
    ]
    policies = files["regate/policies/policies.rego"]
    assert policies.count("\tconditions.build_metadata_doc_coverage_gte_80\n") == 2
    assert policies.count("\tnot conditions.build_metadata_doc_coverage_gte_80\n") == 1
    assert "mongo." not in policies


def test_names_depend_on_the_tests_not_on_policy_order(tmp_path):
    first = compiled(
        tmp_path / "1",
        ("A", {"build.metadata.doc.b": {"$in": [1, 2]}}),
        ("B", {"build.metadata.doc.a": {"$exists": False}}),
    )
    second = compiled(
        tmp_path / "2",
        ("B", {"build.metadata.doc.a": {"$exists": False}}),
        ("A", {"build.metadata.doc.b": {"$in": [1, 2]}}),
    )
    assert first["regate/conditions/conditions.rego"] == second["regate/conditions/conditions.rego"]
    assert rules(first["regate/conditions/conditions.rego"])[2:] == [
        "build_metadata_doc_a_exists_false",
        "build_metadata_doc_b_in_1_2",
    ]


def test_colliding_and_unnameable_tests_get_distinct_valid_names(tmp_path):
    files = compiled(
        tmp_path,
        # Both operands read "a_b" as words; the pattern is too long to name a rule.
        ("A", {"build.metadata.doc.x": {"$in": ["a b"]}}),
        ("B", {"build.metadata.doc.x": {"$in": ["a-b"]}}),
        ("C", {"build.metadata.doc.x": {"$regex": "^(release|hotfix)/[0-9]+[.][0-9]+$"}}),
    )
    assert rules(files["regate/conditions/conditions.rego"])[1:] == [
        "build_metadata_doc_x_in_a_b",
        "build_metadata_doc_x_in_a_b_2",
        "build_metadata_doc_x_regex",
    ]


def test_element_tests_stay_in_their_policy(tmp_path):
    files = compiled(
        tmp_path,
        ("A", {"build.metadata.doc.items": {"$elemMatch": {"name": "x", "size": {"$gt": 1}}}}),
    )
    assert "regate/conditions/conditions.rego" not in files
    policies = files["regate/policies/policies.rego"]
    assert "import data.regate.mongo" in policies
    assert "import data.regate.conditions" not in policies
    assert 'mongo.values_at(element_1, ["name"])' in policies


@pytest.mark.opa
def test_shared_rules_decide_like_the_policies_they_came_from(tmp_path, opa):
    files = compiled(
        tmp_path,
        ("A", {"build.metadata.doc.coverage": {"$gte": 80}}),
        (
            "B",
            {
                "$or": [
                    {"build.metadata.doc.coverage": {"$gte": 80}},
                    {"build.metadata.doc.ok": True},
                ]
            },
        ),
        ("C", {"build.metadata.doc.coverage": {"$not": {"$gte": 80}}}),
    )
    bundle = tmp_path / "bundle"
    write_directory(str(bundle), {k: v.encode() for k, v in files.items()})
    for coverage, passed in ((85, {"a", "b"}), (70, {"c"})):
        request = {"build": {"metadata": {"doc": {"coverage": coverage}}}}
        done = subprocess.run(
            [opa, "eval", "-f", "json", "-b", str(bundle), "-I", "data.regate.policies"],
            input=json.dumps({"entities": request}),
            capture_output=True,
            text=True,
            check=True,
        )
        value = json.loads(done.stdout)["result"][0]["expressions"][0]["value"]
        policies = {rule for rule, holds in value.items() if not rule.startswith("_")}
        assert {rule for rule in policies if value[rule] is True} == passed


@pytest.mark.opa
def test_a_module_imports_only_the_packages_it_uses(tmp_path, opa):
    files = compiled(
        tmp_path, ("Always", {}), ("Items", {"build.metadata.doc.items": {"$size": 2}})
    )
    policies = files["regate/policies/policies.rego"]
    assert "import data.regate.conditions" in policies
    assert "import data.regate.mongo" not in policies
    # Strict checking refuses an unused import: a policy of `{}` uses neither package.
    files = compiled(tmp_path / "always", ("Always", {}))
    assert "import" not in files["regate/policies/policies.rego"]
    bundle = tmp_path / "bundle"
    write_directory(str(bundle), {k: v.encode() for k, v in files.items()})
    checked = subprocess.run(
        [opa, "check", "--strict", "-b", str(bundle)], capture_output=True, text=True
    )
    assert checked.returncode == 0, checked.stdout + checked.stderr


# Tests whose library function the conditions module writes out (SharedTest.inline),
# first over a ref of its path (SharedTest.plain_path), each with the library calls it stands
# for (one rule body each: `$or`), negated too; the keyword path (`if`) is not plain
# field names, so no Rego ref reads it: the library walks it.
INLINED = [
    ("build.metadata.doc.n", {"$gte": 80}, ["mongo.greater_or_equal(AT, 80)"]),
    ("build.metadata.doc.n", {"$lt": 10}, ["mongo.less(AT, 10)"]),
    ("build.metadata.doc.s", {"$gt": "b"}, ['mongo.greater(AT, "b")']),
    ("build.metadata.doc.b", {"$lte": False}, ["mongo.less_or_equal(AT, false)"]),
    ("build.metadata.doc.n", {"$eq": {"a": 1}}, ['mongo.equals(AT, {"a": 1})']),
    ("build.metadata.doc.s", {"$in": ["a", 1]}, ['mongo.is_in(AT, ["a", 1])']),
    ("build.metadata.doc.n", {"$exists": True}, ["mongo.exists(AT)"]),
    ("build.metadata.doc.if.data", {"$gte": 1}, ["mongo.greater_or_equal(AT, 1)"]),
    ("build.metadata.doc.n", {"$not": {"$lt": 10}}, ["not mongo.less(AT, 10)"]),
    ("build.metadata.doc.s", {"$not": {"$gt": "b"}}, ['not mongo.greater(AT, "b")']),
    ("build.metadata.doc.n", {"$not": {"$eq": 70}}, ["not mongo.equals(AT, 70)"]),
    ("build.metadata.doc.s", {"$not": {"$in": ["a", 1]}}, ['not mongo.is_in(AT, ["a", 1])']),
    ("build.metadata.doc.n", {"$not": {"$exists": True}}, ["not mongo.exists(AT)"]),
    (
        "build.metadata.doc.n",
        {"$or": [{"$gte": 80}, {"$lt": 10}]},
        ["mongo.greater_or_equal(AT, 80)", "mongo.less(AT, 10)"],
    ),
]
# Values of build.metadata.doc that tell the written-out bodies from wrong ones:
# matches, misses, other types, arrays on the way and at the leaf, null, missing.
DOCUMENTS = [
    {"n": 85, "s": "c", "b": False, "if": {"data": 2}},
    {"n": 70, "s": "a", "b": True, "if": {"data": 0}},
    {"n": "90", "s": 1, "b": 0, "if": [{"data": 2}]},
    {"n": [70, 90], "s": ["z", "a"], "b": [True, False], "if": {"data": [0, 3]}},
    {"n": [5], "s": ["a"], "b": [False]},
    {"n": None, "s": None, "b": None, "if": None},
    {"n": {"a": 1}, "s": {"a": "b"}, "b": {}},
    {"n": [{"a": 1}], "s": [["a"]]},
    {},
    [{"n": 85}, {"n": 5, "s": "c"}],
    "doc",
]


def conditions(path: str, test: object) -> object:
    """`{path: test}`, or for an `$or` of operators, an `$or` of such conditions."""
    if isinstance(test, dict) and "$or" in test:
        return {"$or": [{path: clause} for clause in test["$or"]]}
    return {path: test}


# The library functions and helpers templates/mongo.rego.j2 can write (compiler/emit.py's uses).
LIBRARY = [
    *("values_at", "equals", "not_equals", "greater", "greater_or_equal", "less"),
    *("less_or_equal", "compare", "_is_container", "_class", "_sign", "is_in", "not_in"),
    *("exists", "not_exists", "has_type", "_has_type", "matches", "mod", "_truncate", "size"),
    *("elements", "documents", "actual", "any_failed", "all_failed"),
]


@pytest.mark.opa
def test_written_out_tests_decide_like_the_library_calls(tmp_path, opa):
    files = compiled(
        tmp_path,
        *((f"P{i}", conditions(path, test)) for i, (path, test, _) in enumerate(INLINED)),
    )
    conditions_module = files["regate/conditions/conditions.rego"]
    # Every test is written out; the keyword path is walked by the library alone.
    assert " if mongo." not in conditions_module
    walked = [line for line in conditions_module.splitlines() if line.startswith("at_")]
    assert [line.split(" ")[0] for line in walked if "{" not in line] == [
        "at_build_metadata_doc_if_data"
    ]
    # A test of a plain path reads its field with a ref first (SharedTest.plain_path).
    assert conditions_module.count("\tinput.entities.build.metadata.doc.n >= 80\n") == 1
    assert conditions_module.count("} else if {") == 8  # all tests but the keyword path's
    # The library calls, one rule body each, in a module of the test's own.
    probe = "package regate.probe\n\nimport data.regate.mongo\n"
    for i, (path, _, calls) in enumerate(INLINED):
        for call in calls:
            at = f"mongo.values_at(input.entities, {json.dumps(path.split('.'))})"
            probe += f"\nlibrary_p{i} if {call.replace('AT', at)}\n"
    files["regate/probe.rego"] = probe
    # The bundle carries only the library functions its rules call, none here.
    files["regate/mongo/mongo.rego"] = render(
        "mongo.rego.j2",
        uses=set(LIBRARY),
        walk_depth=MAX_PATH_SEGMENTS,
        compare_depth=MAX_COMPARE_DEPTH,
        containers=True,
        exprs=False,
        expr_depth=0,
        dynamic_patterns=False,
    )
    bundle = tmp_path / "bundle"
    write_directory(str(bundle), {k: v.encode() for k, v in files.items()})
    formatted = subprocess.run(
        [opa, "fmt", "--list", str(bundle / "regate" / "conditions" / "conditions.rego")],
        capture_output=True,
        text=True,
    )
    assert formatted.stdout == "", "conditions.rego is not opa fmt-clean"
    for document in DOCUMENTS:
        done = subprocess.run(
            [opa, "eval", "-f", "json", "-b", str(bundle), "-I", "data.regate"],
            input=json.dumps({"entities": {"build": {"metadata": {"doc": document}}}}),
            capture_output=True,
            text=True,
            check=True,
        )
        value = json.loads(done.stdout)["result"][0]["expressions"][0]["value"]
        written = {f"p{i}" for i in range(len(INLINED)) if value["policies"].get(f"p{i}")}
        library = {f"p{i}" for i in range(len(INLINED)) if value["probe"].get(f"library_p{i}")}
        assert written == library, document
