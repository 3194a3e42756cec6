"""Schemas written out as Rego (compiler/validation.py) decide as OPA's own validator:
for schemas of the subset and documents drawn around their limits, the compiled
checks hold exactly where `json.match_schema` finds no fault, in one real `opa eval`."""

from __future__ import annotations

import json
import subprocess
from typing import Any

import jsonschema
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from compiler.emit import environment
from compiler.entities import entity_model
from compiler.request import entity_schema
from compiler.validation import compile_schema

SCALARS = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(-5, 5),
    st.sampled_from([0.5, -1.5, 2.0, 1e3, 100, 101]),
    st.sampled_from(["", "a", "ab", "abc", "é", "x" * 5]),
)
VALUES = st.recursive(
    SCALARS,
    lambda inner: st.one_of(
        st.lists(inner, max_size=3),
        st.dictionaries(st.sampled_from(["a", "b", "c", "if", "x-y"]), inner, max_size=3),
    ),
    max_leaves=8,
)
TYPES = ["object", "array", "string", "number", "integer", "boolean", "null"]


def _typed(draw: Any, depth: int) -> dict[str, Any]:
    type_ = draw(st.sampled_from(TYPES))
    schema: dict[str, Any] = {"type": type_}
    if type_ in ("number", "integer"):
        for keyword in ("minimum", "maximum"):
            if draw(st.booleans()):
                schema[keyword] = draw(st.sampled_from([-1, 0, 1, 2.5, 100]))
    elif type_ == "string":
        for keyword in ("minLength", "maxLength"):
            if draw(st.booleans()):
                schema[keyword] = draw(st.integers(0, 3))
    elif type_ == "array":
        for keyword in ("minItems", "maxItems"):
            if draw(st.booleans()):
                schema[keyword] = draw(st.integers(0, 2))
        if depth and draw(st.booleans()):
            schema["items"] = draw(schemas(depth - 1))
    elif type_ == "object":
        names = draw(st.lists(st.sampled_from(["a", "b", "c", "if", "x-y"]), unique=True))
        if depth:
            schema["properties"] = {name: draw(schemas(depth - 1)) for name in names}
        if draw(st.booleans()):
            schema["required"] = draw(st.lists(st.sampled_from(["a", "b", "q"]), unique=True))
        choice = draw(st.integers(0, 2))
        if choice == 1:
            schema["additionalProperties"] = False
        elif choice == 2 and depth:
            schema["additionalProperties"] = draw(schemas(depth - 1))
        if draw(st.booleans()):
            schema["minProperties"] = draw(st.integers(0, 2))
    return schema


@st.composite
def schemas(draw: Any, depth: int = 2) -> dict[str, Any]:
    kind = draw(st.integers(0, 4))
    if kind == 0:
        return {}
    if kind == 1:
        return {"enum": draw(st.lists(SCALARS.filter(lambda v: not isinstance(v, float)), min_size=1, max_size=3))}  # fmt: skip
    if kind == 2:
        return {"type": draw(st.lists(st.sampled_from(["string", "null", "boolean", "number"]), min_size=1, max_size=3, unique=True))}  # fmt: skip
    schema = _typed(draw, depth)
    if draw(st.integers(0, 4)) == 0:
        schema["description"] = "annotated"
    return schema


MODULE = """package check
{%- from "checks.j2" import value_checks %}
{%- for number, c in cases %}

_fits_schema({{ number | rego }}, value) if {
{{- value_checks(c, 1) }}
}
{%- endfor %}

compiled(number, document) := true if {
	_fits_schema(number, document)
} else := false

results := [[case.number, compiled(case.number, case.document), matched] |
	some case in data.cases
	[matched, _] := json.match_schema(case.document, case.schema)
]
"""


def opa_results(opa: str, tmp_path: Any, pairs: list[tuple[dict[str, Any], Any]]) -> list[Any]:
    cases, compiled = [], []
    for number, (schema, document) in enumerate(pairs, start=1):
        checks = compile_schema(schema)
        assert checks is not None, schema
        compiled.append((number, checks))
        cases.append({"number": number, "document": document, "schema": json.dumps(schema)})
    module = environment().from_string(MODULE).render(cases=compiled)
    (tmp_path / "check.rego").write_text(module)
    (tmp_path / "data.json").write_text(json.dumps({"cases": cases}))
    done = subprocess.run(
        [opa, "eval", "--format", "json", "-d", str(tmp_path / "check.rego"),
         "-d", str(tmp_path / "data.json"), "data.check.results"],
        capture_output=True, text=True,
    )  # fmt: skip
    assert done.returncode == 0, done.stdout + done.stderr
    results: list[Any] = json.loads(done.stdout)["result"][0]["expressions"][0]["value"]
    return results


@pytest.mark.opa
@settings(
    max_examples=15,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(st.lists(st.tuples(schemas(), st.lists(VALUES, min_size=1, max_size=8)), min_size=20, max_size=30))  # fmt: skip
def test_compiled_checks_hold_where_opas_validator_finds_no_fault(opa, tmp_path, drawn):
    pairs = []
    for schema, documents in drawn:
        if compile_schema(schema) is None:  # unsatisfiable optional properties (no witness)
            continue
        witnesses = [_near(schema)] if _near(schema) is not None else []
        pairs += [(schema, document) for document in [*documents, *witnesses]]
    results = opa_results(opa, tmp_path, pairs)
    wrong = [
        (pairs[n - 1], compiled, matched) for n, compiled, matched in results if compiled != matched
    ]
    assert wrong == []


def _near(schema: dict[str, Any]) -> Any:
    """A document that fits, so that both outcomes are drawn: Python's validator's
    reading of a simple candidate."""
    for candidate in ({}, [], "ab", 1, 0, None, True, {"a": 1}, {"a": "x", "b": None}):
        if jsonschema.Draft7Validator(schema).is_valid(candidate):
            return candidate
    return None


@pytest.mark.parametrize(
    "schema",
    [
        {"type": "string", "pattern": "^a"},  # keywords outside the subset
        {"type": "string", "format": "date-time"},
        {"$ref": "https://example.com/x.json"},  # a reference to another document
        {"$ref": "#/definitions/x", "definitions": {"x": {"$ref": "#/definitions/x"}}},  # a cycle
        {"$ref": "#/$defs/x", "minimum": 1, "$defs": {"x": {}}},  # a keyword beside it
        {"minimum": 1},  # a typed keyword without its type
        {"type": ["integer", "null"]},
        {"type": "number", "minimum": True},
        {"enum": [1.5]},
        {"type": "array", "items": [{"type": "string"}]},
        {"type": "object", "properties": {"a": {"type": "integer", "minimum": 2, "maximum": 1}}},
        {"type": "object", "additionalProperties": {"const": 1}},
    ],
)
def test_a_schema_outside_the_subset_is_left_to_opas_validator(schema):
    assert compile_schema(schema) is None


@pytest.mark.opa
def test_the_entity_model_compiles_and_decides_as_opas_validator(opa, tmp_path):
    documents = [{}, {"id": 1}, {"id": 1.5}, {"id": "1"}, {"metadata": []}, {"metadata": {}},
                 {"tags": {"a": "b"}}, {"tags": {"a": 1}}, {"commit": {"id": 3}},
                 {"linkable_to": ["a", 1]}, {"linkable_to": ["a"]}, {"unknown": 1}, [], "x"]  # fmt: skip
    pairs = [
        (entity_schema(attributes), document)
        for attributes in entity_model().attributes.values()
        for document in documents
    ]
    results = opa_results(opa, tmp_path, pairs)
    assert [r[1] for r in results] == [r[2] for r in results]
    assert {r[1] for r in results} == {True, False}


@pytest.mark.opa
def test_a_reference_to_the_schemas_own_definitions_is_written_out_as_opas_validator_reads_it(
    opa, tmp_path
):
    counts = {"type": "object", "properties": {"total": {"type": "integer", "minimum": 0}},
              "required": ["total"], "additionalProperties": False}  # fmt: skip
    schema = {
        "$defs": {"counts": counts},
        "definitions": {"name": {"type": "string", "maxLength": 3}},
        "type": "object",
        "properties": {
            "secrets": {"$ref": "#/$defs/counts", "description": "annotations may stand beside"},
            "findings": {"$ref": "#/$defs/counts"},
            "owner": {"$ref": "#/definitions/name"},
        },
        "required": ["secrets"],
    }
    documents = [{"secrets": {"total": 0}}, {"secrets": {"total": -1}}, {"secrets": {}},
                 {"secrets": {"total": 1, "more": 2}}, {"findings": {"total": 1}},
                 {"secrets": {"total": 1}, "findings": {"total": 1.5}},
                 {"secrets": {"total": 1}, "owner": "abcd"}, {"secrets": {"total": 1}, "owner": "ab"}]  # fmt: skip
    results = opa_results(opa, tmp_path, [(schema, document) for document in documents])
    assert [compiled for _, compiled, _ in results] == [matched for _, _, matched in results]
    assert [n for n, _, matched in results if matched] == [1, 8]
