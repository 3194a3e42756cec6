"""Limits (docs/hardening.md, "Limits"): each is a clear diagnostic at its edge,
and the value at the edge itself still compiles."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from compiler.diagnostics import render_all_text
from compiler.driver import check_sources, compile_sources
from compiler.limits import (
    MAX_CLAUSES,
    MAX_EXACT_INTEGER,
    MAX_NESTING_DEPTH,
    MAX_PATH_SEGMENTS,
    MAX_QUERY_DEPTH,
    MAX_REGEX_LENGTH,
    MAX_SOURCE_BYTES,
)
from compiler.opa import eval_bundle
from tests.conftest import build, write_sources

SPECIFICATION = """specification "Anything" {
  entity = build
  metadata = coverage
  nrn = "organization=1"
  schema = {}
}
"""


def policy(conditions: str) -> str:
    return f'policy "Limit" {{\n  nrn = "organization=1"\n  conditions = {conditions}\n}}\n'


# Sources without an approval action are RG005: this one binds nothing and applies to no
# request the tests decide.
GATE = (
    'action "gate" {\n  action = "scope:delete"\n  nrn    = "organization=1"\n  policies = ["Gate"]\n}\n'
    'policy "Gate" {\n  nrn = "organization=1"\n  conditions = {"scope.name": "gate"}\n}\n'
)


def compile_text(tmp_path: Path, text: str) -> tuple[str, bool]:
    """Compile spec.rg + policy.rg (+ gate.rg); the rendered diagnostics with short paths,
    and ok."""
    write_sources(tmp_path, {"spec.rg": SPECIFICATION, "policy.rg": text, "gate.rg": GATE})
    result = compile_sources([str(tmp_path)])
    rendered = render_all_text(result.diagnostics, result.texts)
    return rendered.replace(str(tmp_path) + "/", ""), result.ok


def test_a_source_file_over_the_size_limit(tmp_path):
    body = policy("{}")
    padding = "#" * (MAX_SOURCE_BYTES - len(body)) + "\n"  # one byte too many
    text, ok = compile_text(tmp_path, body + padding)
    assert not ok
    size = MAX_SOURCE_BYTES + 1
    assert text == (
        f"policy.rg:1:1: error[RG001]: policy.rg is {size} bytes; "
        f"source files are limited to {MAX_SOURCE_BYTES}\n\n1 error, 0 warnings\n"
    )


def test_a_source_file_at_the_size_limit(tmp_path):
    body = policy("{}")
    _, ok = compile_text(tmp_path, body + "#" * (MAX_SOURCE_BYTES - len(body) - 1) + "\n")
    assert ok


def nested_and(depth: int) -> str:
    """A query `depth` $and levels deep."""
    query = '{"build.metadata.coverage.x": 1}'
    for _ in range(depth):
        query = f'{{"$and": [{query}]}}'
    return query


def test_conditions_nested_past_the_limit(tmp_path):
    text, ok = compile_text(tmp_path, policy(nested_and(MAX_QUERY_DEPTH + 1)))
    assert not ok
    column = 1 + len('{"$and": [') * (MAX_QUERY_DEPTH + 1)  # the innermost query document
    assert text.splitlines()[0] == (
        f"policy.rg:3:{column + 15}: error[RG023]: conditions nest deeper than "
        f"{MAX_QUERY_DEPTH} levels"
    )
    assert text.endswith(
        "help: flatten nested $and/$or, or split the policy\n\n1 error, 0 warnings\n"
    )


def test_conditions_nested_to_the_limit(tmp_path):
    assert compile_text(tmp_path, policy(nested_and(MAX_QUERY_DEPTH)))[1]


def test_a_file_nested_too_deeply_to_read(tmp_path):
    text, ok = compile_text(tmp_path, policy("[" * 100_000 + "]" * 100_000))
    assert not ok
    assert text == (
        "policy.rg:1:1: error[RG023]: the file nests too deeply to be read\n\n1 error, 0 warnings\n"
    )


def nested(depth: int) -> str:
    """Objects and arrays `depth` levels deep, alternately."""
    return "".join('{"a": [' for _ in range(depth // 2)) + "{}" * (depth % 2) + "]}" * (depth // 2)


def deep_project(depth: int) -> dict[str, str]:
    """A schema, a test request and a policy's description-free value nested `depth` deep."""
    # The request's entities are checked against the model: the nesting goes below
    # build.metadata.coverage, which the specification leaves open.
    entities = f'{{"build": {{"metadata": {{"coverage": {{"x": {nested(depth - 5)}}}}}}}}}'
    return {
        "spec.rg": SPECIFICATION.replace("schema = {}", f'schema = {{"x": {nested(depth - 1)}}}'),
        "policy.rg": policy('{"build.metadata.coverage.x": 1}')
        + f'test "deep" {{\n  request = {{"entities": {entities}}}\n  expect = manual\n}}\n',
        "gate.rg": GATE,
    }


def test_a_file_nested_to_the_limit(tmp_path):
    write_sources(tmp_path, deep_project(MAX_NESTING_DEPTH))
    result = compile_sources([str(tmp_path)], with_tests=True)
    assert result.ok, render_all_text(result.diagnostics, result.texts)


def test_a_file_nested_past_the_limit(tmp_path):
    write_sources(tmp_path, deep_project(MAX_NESTING_DEPTH + 1))
    result = compile_sources([str(tmp_path)], with_tests=True)
    assert [(d.code, str(d.span), d.message) for d in result.diagnostics] == [
        (code, f"{tmp_path}/{file}:1:1", "the file nests too deeply to be read")
        for code, file in (("RG023", "policy.rg"), ("RG023", "spec.rg"))
    ]


def test_a_path_with_too_many_segments(tmp_path):
    path = "build.metadata.coverage." + ".".join("s" * (MAX_PATH_SEGMENTS - 2))
    text, ok = compile_text(tmp_path, policy(f'{{"{path}": 1}}'))
    assert not ok
    assert text.splitlines()[0] == (
        f"policy.rg:3:17: error[RG024]: path has {MAX_PATH_SEGMENTS + 1} segments; "
        f"at most {MAX_PATH_SEGMENTS} are supported"
    )
    assert compile_text(tmp_path, policy(f'{{"{path.rsplit(".", 1)[0]}": 1}}'))[1]


def clauses(count: int) -> str:
    return "{" + ", ".join(f'"build.metadata.coverage.f{i}": {i}' for i in range(count)) + "}"


def test_too_many_clauses(tmp_path):
    text, ok = compile_text(tmp_path, policy(clauses(MAX_CLAUSES + 1)))
    assert not ok
    column = 1 + len(clauses(MAX_CLAUSES)[:-1]) + len(", ")
    assert text.splitlines()[0] == (
        f"policy.rg:3:{column + 15}: error[RG026]: conditions have more than {MAX_CLAUSES} clauses"
    )
    assert text.endswith(
        "help: split the policy into several policies bound to the same action\n\n"
        "1 error, 0 warnings\n"
    )
    # At the edge: checked only, since building generates boundary tests in time
    # quadratic in the clauses (docs/hardening.md).
    write_sources(tmp_path, {"policy.rg": policy(clauses(MAX_CLAUSES))})
    assert check_sources([str(tmp_path)]).ok


@pytest.mark.parametrize("sign", ["", "-"])
def test_an_integer_beyond_2_to_the_53(tmp_path, sign):
    value = f"{sign}{MAX_EXACT_INTEGER + 1}"
    text, ok = compile_text(tmp_path, policy(f'{{"build.metadata.coverage.n": {value}}}'))
    assert not ok
    assert text == (
        f"policy.rg:3:46: error[RG016]: integer {value} is beyond ±2^53, where 64-bit floats "
        "stop being exact\n"
        f' 3 |   conditions = {{"build.metadata.coverage.n": {value}}}\n'
        f"   | {' ' * 45}{'^' * len(value)}\n"
        "help: JSON tools that carry metadata round such integers; compare a smaller number "
        "or a string\n\n1 error, 0 warnings\n"
    )


@pytest.mark.opa
def test_2_to_the_53_compiles_and_opa_compares_it_exactly(tmp_path):
    # The edge: 2^53 is still exact as a float, and OPA tells it from 2^53 - 1.
    write_sources(
        tmp_path / "src",
        {
            "spec.rg": SPECIFICATION,
            "policy.rg": policy(f'{{"build.metadata.coverage.n": {{"$gte": {MAX_EXACT_INTEGER}}}}}')
            + 'action "a" {\n  action = "deployment:create"\n  nrn = "organization=1"\n'
            '  on_policy_success = approve\n  on_policy_fail = deny\n  policies = ["Limit"]\n}\n',
        },
    )
    bundle = build([tmp_path / "src"], tmp_path)

    def result(n: int) -> str:
        request = {
            "action": "deployment:create",
            "nrn": "organization=1",
            "entities": {
                "scope": {"dimensions": {}},
                "build": {"metadata": {"coverage": {"n": n}}},
            },
        }
        return str(eval_bundle(str(bundle), request)["result"])

    assert (result(MAX_EXACT_INTEGER), result(MAX_EXACT_INTEGER - 1)) == ("approve", "deny")


@pytest.mark.parametrize(
    ("literal", "shown"),
    [
        ("1e400", "1e400"),
        ("-1e400", "-1e400"),
        ("1" * 400, "1" * 24 + "... (400 characters)"),
        ("9" * 5000, "9" * 24 + "... (5000 characters)"),
    ],
)
def test_numbers_no_float_holds(tmp_path, literal, shown):
    text, ok = compile_text(tmp_path, policy(f'{{"build.metadata.coverage.n": {literal}}}'))
    assert not ok
    assert text.splitlines()[0] == f"policy.rg:3:46: error[RG016]: number {shown} is out of range"
    assert "help: numbers must fit a 64-bit float (about ±1.8e308)" in text


@pytest.mark.parametrize("word", ["NaN", "Infinity"])
def test_nan_and_infinity_are_not_values(tmp_path, word):
    text, ok = compile_text(tmp_path, policy(f'{{"build.metadata.coverage.n": {word}}}'))
    assert not ok
    assert (
        text.splitlines()[0] == f"policy.rg:3:46: error[RG022]: bare word `{word}` is not a value"
    )
    assert f'help: quote it: "{word}"' in text


def test_out_of_range_numbers_in_schemas_are_diagnostics_too(tmp_path):
    schema = json.dumps({"type": "object"})[:-1] + ', "maximum": 1e999}'
    write_sources(tmp_path, {"schema.json": schema})
    spec = SPECIFICATION.replace("schema = {}", 'schema = file("schema.json")')
    write_sources(tmp_path, {"spec.rg": spec, "policy.rg": policy("{}")})
    result = compile_sources([str(tmp_path / "spec.rg"), str(tmp_path / "policy.rg")])
    rendered = render_all_text(result.diagnostics, result.texts)
    assert "schema.json:1:31: error[RG016]: number 1e999 is out of range\n" in (
        rendered.replace(str(tmp_path) + "/", "")
    )


def test_a_regex_over_the_length_limit(tmp_path):
    pattern = "a" * (MAX_REGEX_LENGTH + 1)
    text, ok = compile_text(
        tmp_path, policy(f'{{"build.metadata.coverage.s": {{"$regex": "{pattern}"}}}}')
    )
    assert not ok
    assert text.splitlines()[0] == (
        f"policy.rg:3:57: error[RG022]: $regex pattern is {MAX_REGEX_LENGTH + 1} characters; "
        f"at most {MAX_REGEX_LENGTH} are supported"
    )
    assert "help: split it into several conditions under $or" in text
    edge = "a" * MAX_REGEX_LENGTH
    assert compile_text(
        tmp_path, policy(f'{{"build.metadata.coverage.s": {{"$regex": "{edge}"}}}}')
    )[1]
