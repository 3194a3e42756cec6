"""The OPA double-check: OPA's own type checker, given the input schema regate
generates (compiler/input_schema.py), agrees with regate's checker.

Policies compile to `mongo.values([...])` calls, which OPA cannot see into, so each
condition is also written as a plain `input.entities...` reference (with `[_]`
where the schema has an array, and `== literal` for a scalar equality) in a module
bound to `schema.input`, and `opa check --strict --schema` runs over them.
"""

from __future__ import annotations

import json
import re
import subprocess
from pathlib import Path

import pytest

from compiler.ast import Comparison, FieldCondition, Program
from compiler.bundle import write_directory
from compiler.check import elem_match_conditions, field_conditions
from compiler.driver import check_sources, compile_sources
from compiler.entities import program_model
from compiler.input_schema import INPUT_SCHEMA, input_schema
from compiler.schema import Resolved, resolve
from tests.conftest import QUALITY_GATES
from tests.test_check_corpus import CORPUS, RIGHT, WRONG, code_of

pytestmark = pytest.mark.opa

IDENTIFIER = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
# Where regate is stricter than OPA's checker, and why; every other wrong path
# case must be rejected by OPA too.
STRICTER = {
    "rg030-specification-entity": "not a condition: the unknown entity is a specification's",
    "rg030-test-request-entity": "not a condition: the unknown entity is a test request's",
    "rg031-test-request-field": "not a condition: the unknown fields are a test request's",
    "rg032-test-request-metadata": "not a condition: the metadata is a test request's",
    "rg031-below-an-action": "OPA sees every NRN's specification at once (anyOf)",
    "rg031-deeper-specification": "OPA sees every NRN's specification at once (anyOf)",
    "rg031-pattern-properties": "OPA's checker does not read patternProperties",
    "rg031-prefix-items-string": "OPA's checker does not read prefixItems",
    "rg032-outside-the-specification-nrn": "OPA sees every NRN's specification at once",
    "rg035-all-values": "the paths module writes no $all operands",
    "rg035-boolean-as-string": "OPA's checker does not read patternProperties",
    "rg035-elem-match-item-type": "the paths module writes no $elemMatch operands",
    "rg035-map-of-strings": "OPA's checker does not type additionalProperties values",
    "rg035-number-as-string": "OPA's ordering operators accept operands of any type",
    "rg031-expr-reference-typo": "the paths module writes no $expr field references",
    "rg035-expr-compares-a-number-with-a-string": "the paths module writes no $expr operands",
}
PATH_CODES = ("RG030", "RG031", "RG032", "RG035")


def opa_check(opa: str, directory: Path, schema: object) -> str:
    """`opa check --strict` with the input schema; OPA's messages, empty when it agrees."""
    (directory / "schemas").mkdir(parents=True, exist_ok=True)
    (directory / "schemas" / "input.json").write_text(json.dumps(schema))
    checked = subprocess.run(
        [opa, "check", "--strict", "--max-errors=-1", "--schema", str(directory / "schemas")]
        + [str(p) for p in sorted(directory.rglob("*.rego"))],
        capture_output=True,
        text=True,
        timeout=120,
    )
    return checked.stdout + checked.stderr


def rego_ref(condition: FieldCondition, schema: object) -> str:
    """The condition's path as an OPA reference below input.entities."""
    ref, segments = "input.entities", condition.path.segments
    for index, segment in enumerate(segments):
        reached = resolve(schema, ("entities", *segments[:index]))
        if isinstance(reached, Resolved) and "array" in (reached.types or ()):
            ref += "[_]" if not segment.isdigit() else ""
        if segment.isdigit():
            ref += f"[{segment}]"
        elif IDENTIFIER.fullmatch(segment):
            ref += f".{segment}"
        else:
            ref += f"[{json.dumps(segment)}]"
    return ref


def rego_expressions(condition: FieldCondition, schema: object) -> list[str]:
    """The condition as OPA expressions: its reference, compared with each scalar it
    must equal ($eq, $in) so OPA's checker types the literal too."""
    ref = rego_ref(condition, schema)
    compared = [
        f"{ref} == {json.dumps(value)}"
        for operator in condition.operators
        if isinstance(operator, Comparison) and operator.op in ("$eq", "$in")
        for value in (operator.value if operator.op == "$in" else [operator.value])
        if isinstance(value, str | int | float)
    ]
    return compared or [ref]


def paths_module(package: str, program: Program, schema: object) -> str:
    conditions = [c for p in program.policies for c in field_conditions(p.conditions)]
    conditions += [inner for c in conditions for inner in elem_match_conditions(c)]
    expressions = [e for c in conditions for e in rego_expressions(c, schema)]
    rules = "\n".join(f"condition_{n} if {e}" for n, e in enumerate(expressions))
    return f"# METADATA\n# schemas:\n#   - input: schema.input\npackage {package}\n\n{rules}\n"


def modules_for(cases: list[Path], directory: Path, monkeypatch) -> object:
    """One paths module per case; returns the input schema they are checked with."""
    monkeypatch.chdir(CORPUS)
    specifications = check_sources(["specifications.rg"]).program
    assert specifications is not None
    programs = {}
    for case in cases:
        program = check_sources(["specifications.rg", str(case.relative_to(CORPUS))]).program
        assert program is not None
        programs[case] = program
    # The entities cases declare (with their specifications) are in the schema too.
    declaring = tuple(f for p in programs.values() for f in p.files if f.entities)
    everything = Program(specifications.files + declaring)
    schema = input_schema(everything, program_model(everything))
    for case, program in programs.items():
        package = "paths." + case.stem.replace("-", "_")
        (directory / f"{case.stem}.rego").write_text(paths_module(package, program, schema))
    return schema


def test_the_bundle_type_checks_against_its_own_input_schema(opa, tmp_path):
    result = compile_sources([str(QUALITY_GATES)])
    assert result.files is not None
    write_directory(str(tmp_path / "bundle"), result.files)
    schema = json.loads(result.files[INPUT_SCHEMA])
    assert opa_check(opa, tmp_path / "bundle", schema) == ""
    # The annotation binds: a typo'd path in a module of the bundle is OPA's error too.
    typo = tmp_path / "bundle" / "regate" / "policies" / "typo.rego"
    typo.write_text(
        "# METADATA\n# schemas:\n#   - input: schema.input\npackage regate.typo\n\n"
        "low if input.entities.build.metadata.coverage.coverage < 80\n"
    )
    assert 'have: "coverage"' in opa_check(opa, tmp_path / "bundle", schema)


def test_opa_accepts_the_paths_of_every_right_policy(opa, tmp_path, monkeypatch):
    schema = modules_for(RIGHT, tmp_path, monkeypatch)
    assert opa_check(opa, tmp_path, schema) == ""


def test_opa_rejects_the_paths_regate_rejects(opa, tmp_path, monkeypatch):
    cases = [c for c in WRONG if code_of(c) in PATH_CODES and c.suffix == ".rg"]
    schema = modules_for(cases, tmp_path, monkeypatch)
    output = opa_check(opa, tmp_path, schema)
    rejected = {case.stem for case in cases if f"{case.stem}.rego:" in output}
    assert rejected == {case.stem for case in cases} - set(STRICTER), output
