"""Emit pass: the Rego is pinned by snapshots, and real OPA finds it strict-clean and fmt-clean."""

from __future__ import annotations

import json
import re
import subprocess
from pathlib import Path
from typing import Any

import pytest

from compiler.bundle import write_directory
from compiler.driver import compile_sources
from compiler.emit import environment
from compiler.limits import MAX_QUERY_DEPTH
from compiler.rego import RegoText, identifier, literal, set_of, slug
from tests.conftest import QUALITY_GATES, write_sources
from tests.mongo_harness import sources, verdicts


@pytest.fixture(scope="module")
def files() -> dict[str, bytes]:
    result = compile_sources([str(QUALITY_GATES)])
    assert result.files is not None
    return result.files


def test_bundle_layout(files):
    assert sorted(files) == [
        ".manifest",
        "regate/catalog/data.json",
        "regate/conditions/conditions.rego",
        "regate/decision.rego",
        "regate/explanations/conditions/data.json",
        "regate/explanations/explanations.rego",
        "regate/explanations/plain/data.json",
        "regate/mongo/mongo.rego",
        "regate/policies/policies.rego",
        "regate/request/checks.rego",
        "regate/request/errors.rego",
        "regate/request/request.rego",
        "regate/request/rules/data.json",
        "schemas/input.json",
    ]
    with_tests = compile_sources([str(QUALITY_GATES)], with_tests=True).files
    assert with_tests is not None
    assert sorted(set(with_tests) - set(files)) == [
        "regate/boundaries/data.json",
        "regate/tests/boundaries/policies_test.rego",
        "regate/tests/cases/data.json",
        "regate/tests/tests_test.rego",
    ]


@pytest.mark.parametrize(
    "module",
    [
        "regate/conditions/conditions.rego",
        "regate/policies/policies.rego",
        "regate/decision.rego",
        "regate/request/request.rego",
        "regate/request/checks.rego",
        "regate/request/errors.rego",
        "regate/explanations/explanations.rego",
    ],
)
def test_emitted_rego_snapshot(files, module, snapshot):
    assert files[module].decode() == snapshot


@pytest.mark.parametrize("data", ["plain", "conditions"])
def test_explanation_data_snapshot(files, data, snapshot):
    assert json.loads(files[f"regate/explanations/{data}/data.json"]) == snapshot


def test_catalog_snapshot(files, snapshot):
    assert files["regate/catalog/data.json"].decode() == snapshot


# Every kind of explanation: $or, $nor, $and, $not of one and of several
# operators, $elemMatch of both forms nested, $all of nothing, $regex with
# options, and an $elemMatch clause that always holds (no node).
EVERY_EXPLANATION = """
specification "Doc" { entity = build  metadata = doc  nrn = "organization=1"  schema = {} }
policy "Everything" {
  nrn = "organization=1"
  conditions = {
    "$or": [{"build.metadata.doc.a": {"$gt": 5}}, {"build.metadata.doc.b": "x"}],
    "$nor": [{"build.metadata.doc.d": 1}, {"build.metadata.doc.e": 2}],
    "$and": [{"build.metadata.doc.f": {"$not": {"$gt": 1, "$lt": 10}}}, {"build.metadata.doc.g": {"$all": []}}],
    "build.metadata.doc.items": {"$elemMatch": {"n": {"$not": {"$gte": 3}}, "$or": [{"k": "a"}], "tags": {"$elemMatch": {"$eq": "z"}}}},
    "build.metadata.doc.h": {"$regex": "^ab", "$options": "i"},
    "build.metadata.doc.i": {"$elemMatch": {}}
  }
}
action "all" { action = "deployment:create"  nrn = "organization=1"  policies = ["Everything"] }
"""


@pytest.mark.opa
def test_every_kind_of_explanation_is_strict_clean_and_fmt_clean(opa, tmp_path):
    source = write_sources(tmp_path / "src", {"every.rg": EVERY_EXPLANATION})
    result = compile_sources([str(source)])
    assert result.files is not None
    conditions = json.loads(result.files["regate/explanations/conditions/data.json"])
    assert kinds(conditions["everything"]) == {
        *("shared", "test", "never"),
        *("and", "or", "nor", "elemMatch"),
    }
    test_emitted_rego_is_strict_clean_and_fmt_clean(result.files, opa, tmp_path / "bundle")


# $expr (in a clause, with and without field references) and $dynamicPattern (shared,
# and inside an $elemMatch, where it tests the element).
EVERY_OPERATOR_OF_NULLPLATFORM = """
specification "Doc" { entity = build  metadata = doc  nrn = "organization=1"  schema = {} }
policy "Both" {
  nrn = "organization=1"
  conditions = {
    "$or": [{"$expr": {"$lte": [{"$add": ["$build.metadata.doc.a.b.c", 1]}, "$build.id"]}}, {"$expr": true}],
    "build.metadata.doc.name": {"$dynamicPattern": {"template": "^{x}-", "fields": {"x": {"path": "metadata.doc.x"}}}},
    "build.metadata.doc.names": {"$elemMatch": {"$dynamicPattern": {"template": "{x}$", "fields": {"x": {"path": "build.id"}}}}}
  }
}
action "all" { action = "deployment:create"  nrn = "organization=1"  policies = ["Both"] }
"""


@pytest.mark.opa
def test_expr_and_dynamic_pattern_are_strict_clean_and_fmt_clean(opa, tmp_path):
    source = write_sources(tmp_path / "src", {"both.rg": EVERY_OPERATOR_OF_NULLPLATFORM})
    result = compile_sources([str(source)])
    assert result.files is not None, [d.message for d in result.diagnostics]
    conditions = json.loads(result.files["regate/explanations/conditions/data.json"])
    assert kinds(conditions["both"]) == {"or", "expr", "shared", "elemMatch", "test"}
    library = result.files["regate/mongo/mongo.rego"].decode()
    # A walk function per segment of the longest reference ($build.metadata.doc.a.b.c: 6).
    assert re.findall(r"^_expr_step_(\d+)\(", library, re.MULTILINE) == [
        str(n) for n in range(1, 7)
    ]
    test_emitted_rego_is_strict_clean_and_fmt_clean(result.files, opa, tmp_path / "bundle")


def test_the_library_has_expr_and_dynamic_pattern_only_where_used(files):
    library = files["regate/mongo/mongo.rego"].decode()
    assert "expr_" not in library
    assert "dynamic_pattern" not in library
    assert "_expr" not in files["regate/explanations/explanations.rego"].decode()


def kinds(nodes: list[Any]) -> set[str]:
    """The kinds of the explanation nodes in a list, nested ones included."""
    nested = [
        *(clause for node in nodes for clause in node.get("clauses", ())),
        *(node["clause"] for node in nodes if "clause" in node),
    ]
    return {node["kind"] for node in nodes}.union(*(kinds(inner) for inner in nested))


def nested_or(depth: int) -> dict[str, Any]:
    condition: dict[str, Any] = {"a": 1}
    for _ in range(depth):
        condition = {"$or": [condition]}
    return condition


@pytest.mark.parametrize(
    ("condition", "levels"),
    [
        ({"a": 1}, 0),  # plain tests: explained without the interpreter
        ({}, 0),
        ({"$or": [{"a": 1}], "b": 2}, 2),
        ({"a": {"$elemMatch": {}}}, 2),  # the element's (empty) list of nodes is a level
        ({"a": {"$elemMatch": {"$not": {"$gt": 1, "$lt": 5}}}}, 3),
        (nested_or(MAX_QUERY_DEPTH), MAX_QUERY_DEPTH + 1),
    ],
)
def test_the_interpreter_has_a_function_per_level_the_conditions_nest(tmp_path, condition, levels):
    source = write_sources(tmp_path, {"cases.rg": sources([condition])})
    result = compile_sources([str(source)])
    assert result.files is not None
    interpreter = result.files["regate/explanations/explanations.rego"].decode()
    defined = re.findall(r"^_failures_(\d+)\(", interpreter, re.MULTILINE)
    assert defined == [str(n) for n in range(1, levels + 1)]


@pytest.mark.opa
def test_conditions_nested_to_the_limit_explain_their_innermost_condition(opa, tmp_path):
    [verdict] = verdicts(opa, tmp_path, [(nested_or(MAX_QUERY_DEPTH), {"a": 2})])
    failures = verdict.failures
    for _ in range(MAX_QUERY_DEPTH):
        [entry] = failures
        assert entry["operator"] == "$or"
        [failures] = entry["clauses"]
    assert [(f["operator"], f["actual"]) for f in failures] == [("$eq", 2)]


@pytest.mark.opa
def test_emitted_rego_is_strict_clean_and_fmt_clean(files, opa, tmp_path):
    assert_strict_and_fmt_clean(opa, files, tmp_path)


def assert_strict_and_fmt_clean(opa: str, files: dict[str, bytes], directory: Path) -> None:
    write_directory(str(directory), files)
    strict = subprocess.run(
        [opa, "check", "--strict", str(directory)], capture_output=True, text=True
    )
    assert strict.returncode == 0, strict.stdout + strict.stderr
    unformatted = subprocess.run(
        [opa, "fmt", "--list", str(directory)], capture_output=True, text=True
    )
    assert unformatted.returncode == 0, unformatted.stderr
    assert unformatted.stdout == ""


@pytest.mark.opa
def test_policies_split_over_files_make_one_strict_clean_package(opa, tmp_path):
    # Every source file's module is package regate.policies: OPA refuses a
    # package-scoped METADATA block declared in more than one of them, and one
    # (binding the input schema) covers them all.
    sources = Path(tmp_path, "sources")
    for team in ("a", "b"):
        Path(sources, f"team-{team}.rg").parent.mkdir(exist_ok=True)
        Path(sources, f"team-{team}.rg").write_text(
            f'policy "Tier {team}" {{ nrn = "organization=1"  conditions = {{"scope.tier": "{team}"}} }}\n'
            f'test "tier {team}" {{ request = {{"action": "scope:create", "nrn": "organization=1",'
            f' "entities": {{"scope": {{"tier": "{team}"}}}}}}  expect = manual }}\n'
        )
    Path(sources, "actions.rg").write_text(
        'action "a" { action = "scope:create"  nrn = "organization=1"  policies = ["Tier a", "Tier b"] }\n'
    )
    result = compile_sources([str(sources)], with_tests=True)
    assert result.files is not None
    assert {f"regate/tests/team-{team}_test.rego" for team in "ab"} <= set(result.files)
    modules = [result.files[f"regate/policies/team-{team}.rego"].decode() for team in "ab"]
    assert [m.count("# schemas:") for m in modules] == [1, 0]
    bundle = tmp_path / "bundle"
    write_directory(str(bundle), result.files)
    strict = subprocess.run(
        [opa, "check", "--strict", "--schema", str(bundle / "schemas"), str(bundle)],
        capture_output=True,
        text=True,
    )
    assert strict.returncode == 0, strict.stdout + strict.stderr


def test_templates_refuse_unescaped_values():
    template = environment().from_string("x := {{ value }}")
    with pytest.raises(TypeError, match="unescaped value"):
        template.render(value='"; allow := true #')
    assert template.render(value=literal('"; allow := true #')) == r'x := "\"; allow := true #"'


def test_literals_and_identifiers_are_escaped():
    assert literal("line\nbreak\u2028ünï") == r'"line\nbreak\u2028\u00fcn\u00ef"'
    assert isinstance(literal(1), RegoText)
    assert slug("Code Coverage ≥ 80%") == "code_coverage_80"
    assert slug("if") == "policy_if"
    assert slug("80 percent") == "policy_80_percent"
    with pytest.raises(ValueError, match="not a safe Rego identifier"):
        identifier("a-b")


def test_long_literals_are_written_over_lines_opa_fmt_keeps(opa, tmp_path):
    value = {"fields": [{"name": "application", "path": "application.slug"}], "gaps": [0]}
    assert literal(value) == json.dumps(value, sort_keys=True)  # no indentation: one line
    wrapped = literal(value, 1)
    names = set_of([f"entity_{n}" for n in range(8)], 1)
    assert set_of(["a", "b"], 1) == '{"a", "b"}'  # short: one line
    module = tmp_path / "wrapped.rego"
    module.write_text(f'package wrapped\n\nvalue := {{\n\t"a": {wrapped},\n\t"b": {names},\n}}\n')
    assert max(len(line) for line in module.read_text().splitlines()) <= 80
    formatted = subprocess.run([opa, "fmt", "--diff", str(module)], capture_output=True, text=True)
    assert (formatted.returncode, formatted.stdout) == (0, "")
    evaluated = subprocess.run(
        [opa, "eval", "-f", "json", "-d", str(module), "data.wrapped.value.a"],
        capture_output=True,
        text=True,
        check=True,
    )
    assert json.loads(evaluated.stdout)["result"][0]["expressions"][0]["value"] == value


def test_policy_names_that_collide_get_distinct_rules(tmp_path):
    source = Path(tmp_path, "p.rg")
    source.write_text(
        """
policy "Code Coverage" { nrn = "organization=1"  conditions = {"scope.tier": "a"} }
policy "code-coverage" { nrn = "organization=1"  conditions = {"scope.tier": "b"} }
action "a" { action = "scope:create"  nrn = "organization=1"
             policies = ["Code Coverage", "code-coverage"] }
"""
    )
    result = compile_sources([str(source)])
    assert result.files is not None
    rego = result.files["regate/policies/p.rego"].decode()
    assert "code_coverage if {" in rego
    assert "code_coverage_2 if {" in rego
