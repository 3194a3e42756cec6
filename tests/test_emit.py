"""Emit pass: the Rego is pinned by snapshots, and real OPA finds it strict-clean and fmt-clean."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from compiler.bundle import write_directory
from compiler.driver import compile_sources
from compiler.emit import environment
from compiler.rego import RegoText, identifier, literal, slug
from tests.conftest import QUALITY_GATES


@pytest.fixture(scope="module")
def files() -> dict[str, bytes]:
    result = compile_sources([str(QUALITY_GATES)])
    assert result.files is not None
    return result.files


def test_bundle_layout(files):
    assert sorted(files) == [
        ".manifest",
        "regate/boundaries/data.json",
        "regate/catalog/data.json",
        "regate/decision.rego",
        "regate/mongo.rego",
        "regate/policies/policies.rego",
        "regate/tests/boundaries/policies_test.rego",
        "regate/tests/tests_test.rego",
        "schemas/input.json",
    ]


@pytest.mark.parametrize("module", ["regate/policies/policies.rego", "regate/decision.rego"])
def test_emitted_rego_snapshot(files, module, snapshot):
    assert files[module].decode() == snapshot


def test_catalog_snapshot(files, snapshot):
    assert files["regate/catalog/data.json"].decode() == snapshot


@pytest.mark.opa
def test_emitted_rego_is_strict_clean_and_fmt_clean(files, opa, tmp_path):
    write_directory(str(tmp_path), files)
    strict = subprocess.run(
        [opa, "check", "--strict", str(tmp_path)], capture_output=True, text=True
    )
    assert strict.returncode == 0, strict.stdout + strict.stderr
    unformatted = subprocess.run(
        [opa, "fmt", "--list", str(tmp_path)], capture_output=True, text=True
    )
    assert unformatted.returncode == 0, unformatted.stderr
    assert unformatted.stdout == ""


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
