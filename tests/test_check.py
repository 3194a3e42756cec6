"""Check pass: paths, entities, bindings and schemas; every diagnostic as the full rendered text."""

from __future__ import annotations

import re
import textwrap
from pathlib import Path

import pytest

from compiler.diagnostics import render_all_text
from compiler.driver import check_sources
from tests.conftest import REPO, write_sources

SPECIFICATION = """
specification "Coverage" {
  entity   = build
  metadata = coverage
  nrn      = "organization=1"
  schema   = {
    "type": "object",
    "properties": {"percent": {"type": "number", "minimum": 0, "maximum": 100}},
    "additionalProperties": false
  }
}
"""


# Sources without an approval action are RG005: this one binds nothing and applies to no
# request the tests decide.
GATE = (
    'action "gate" {\n  action = "scope:delete"\n  nrn    = "organization=1"\n  policies = ["Gate"]\n}\n'
    'policy "Gate" {\n  nrn = "organization=1"\n  conditions = {"scope.name": "gate"}\n}\n'
)


def check_text(
    tmp_path: Path, policies: str, specification: str = SPECIFICATION
) -> tuple[str, bool]:
    policies = textwrap.dedent(policies)
    write_sources(tmp_path, {"specs.rg": specification, "policies.rg": policies, "gate.rg": GATE})
    files = ["specs.rg", "policies.rg"] + ([] if "action " in policies else ["gate.rg"])
    result = check_sources([str(tmp_path / f) for f in files])
    rendered = render_all_text(result.diagnostics, result.texts)
    return rendered.replace(str(tmp_path) + "/", ""), result.ok


def test_the_seed_policies_have_paths_their_schemas_lack():
    result = check_sources([str(REPO / "tests/fixtures/seed-000")])
    assert render_all_text(result.diagnostics, result.texts).replace(str(REPO) + "/", "") == (
        'tests/fixtures/seed-000/policies.json:6:32: error[RG031]: unknown field "coverage" in '
        '"build.metadata.coverage" (specification "Coverage Schema" at '
        "tests/fixtures/seed-000/specifications.json:2:3)\n"
        ' 6 |       "build.metadata.coverage.coverage": {\n'
        "   |                                ^^^^^^^^\n"
        'help: did you mean "build.metadata.coverage.code.coverage"?\n'
        "\n"
        'tests/fixtures/seed-000/policies.json:15:32: error[RG031]: unknown field "critical" in '
        '"build.metadata.security" (specification "Security Schema" at '
        "tests/fixtures/seed-000/specifications.json:38:3)\n"
        ' 15 |       "build.metadata.security.critical": {\n'
        "    |                                ^^^^^^^^\n"
        'help: did you mean "build.metadata.security.security.vulnerabilities.critical"?\n'
        "\n"
        "2 errors, 0 warnings\n"
    )


def test_the_example_bundle_is_clean():
    result = check_sources([str(REPO / "bundles/quality-gates")])
    assert result.diagnostics == []
    result = check_sources([str(REPO / "bundles/quality-gates-api")])
    assert result.diagnostics == []


POLICY_AND_ACTION = """
policy "p" {{
  nrn        = "organization=1"
  conditions = {{{condition}}}
}}

action "a" {{
  action   = "{action}"
  nrn      = "organization=1"
  policies = ["p"]
}}
"""


def with_condition(condition: str, action: str = "deployment:create") -> str:
    return POLICY_AND_ACTION.format(condition=condition, action=action)


def test_unknown_entity(tmp_path):
    rendered, ok = check_text(tmp_path, with_condition('"biuld.metadata.coverage.percent": 1'))
    assert not ok
    assert rendered == (
        'policies.rg:4:18: error[RG030]: unknown entity "biuld" in path "biuld.metadata.coverage.percent"\n'
        ' 4 |   conditions = {"biuld.metadata.coverage.percent": 1}\n'
        "   |                  ^^^^^\n"
        'help: did you mean "build"?\n'
        "\n"
        "1 error, 0 warnings\n"
    )


def test_policy_reading_build_cannot_be_bound_to_a_scope_action(tmp_path):
    rendered, ok = check_text(
        tmp_path, with_condition('"build.metadata.coverage.percent": {"$gte": 80}', "scope:write")
    )
    assert not ok
    assert rendered == (
        'policies.rg:4:18: error[RG033]: "build.metadata.coverage.percent" reads build, which a '
        'scope:write action cannot see (bound to action "a" at policies.rg:7:8)\n'
        ' 4 |   conditions = {"build.metadata.coverage.percent": {"$gte": 80}}\n'
        "   |                  ^^^^^\n"
        "help: scope:write policies can read scope, application, namespace, account, organization\n"
        "\n"
        "1 error, 0 warnings\n"
    )


def test_unknown_metadata_key(tmp_path):
    rendered, _ = check_text(tmp_path, with_condition('"build.metadata.coverge.percent": 1'))
    assert rendered == (
        'policies.rg:4:33: error[RG032]: no metadata specification for "build.metadata.coverge" '
        "at organization=1\n"
        ' 4 |   conditions = {"build.metadata.coverge.percent": 1}\n'
        "   |                                 ^^^^^^^\n"
        'help: did you mean "coverage"?\n'
        "\n"
        "1 error, 0 warnings\n"
    )


def test_unknown_attribute_of_an_entity(tmp_path):
    rendered, _ = check_text(
        tmp_path, with_condition('"scope.dimension.environment": "production"')
    )
    assert rendered == (
        'policies.rg:4:24: error[RG031]: unknown field "dimension" in "scope"\n'
        ' 4 |   conditions = {"scope.dimension.environment": "production"}\n'
        "   |                        ^^^^^^^^^\n"
        'help: did you mean "dimensions"?\n'
        "\n"
        "1 error, 0 warnings\n"
    )


def test_comparing_a_number_with_a_string_never_matches(tmp_path):
    rendered, _ = check_text(
        tmp_path, with_condition('"build.metadata.coverage.percent": {"$gte": "80"}')
    )
    assert rendered == (
        'policies.rg:4:61: error[RG035]: "build.metadata.coverage.percent" is number; comparing it '
        'with string "80" never matches\n'
        ' 4 |   conditions = {"build.metadata.coverage.percent": {"$gte": "80"}}\n'
        "   |                                                             ^^^^\n"
        "help: write the number without quotes: 80\n"
        "\n"
        "1 error, 0 warnings\n"
    )


def test_action_binding_an_unknown_policy(tmp_path):
    rendered, _ = check_text(
        tmp_path,
        """
        policy "Code Coverage" {
          nrn = "organization=1"
          conditions = {"build.metadata.coverage.percent": {"$gte": 80}}
        }
        action "a" {
          action = "deployment:create"
          nrn = "organization=1"
          policies = ["Code Coverage", "Code Covrage"]
        }
        """,
    )
    assert rendered == (
        'policies.rg:9:32: error[RG050]: action "a" names an unknown policy "Code Covrage"\n'
        ' 9 |   policies = ["Code Coverage", "Code Covrage"]\n'
        "   |                                ^^^^^^^^^^^^^^\n"
        'help: did you mean "Code Coverage"?\n'
        "\n"
        "1 error, 0 warnings\n"
    )


def test_unbound_policy_is_a_warning(tmp_path):
    rendered, ok = check_text(
        tmp_path,
        """
        policy "lonely" {
          nrn = "organization=1"
          conditions = {"build.metadata.coverage.percent": {"$gte": 80}}
        }
        """,
    )
    assert ok
    assert rendered == (
        'policies.rg:2:8: warning[RG053]: policy "lonely" is bound to no action, so it decides nothing\n'
        ' 2 | policy "lonely" {\n'
        "   |        ^^^^^^^^\n"
        "help: list it in an action's `policies`\n"
        "\n"
        "0 errors, 1 warning\n"
    )


def test_invalid_json_schema(tmp_path):
    bad = SPECIFICATION.replace('"type": "number"', '"type": "numbr"')
    rendered, ok = check_text(tmp_path, with_condition('"build.metadata.coverage.percent": 1'), bad)
    assert not ok
    assert rendered.startswith(
        'specs.rg:6:14: error[RG040]: the schema of "Coverage" is not valid JSON Schema: '
        "at properties.percent.type: 'numbr' is not valid under any of the given schemas\n"
        " 6 |   schema   = {\n"
        "   |              ^\n"
    )


def test_missing_schema_file(tmp_path):
    specification = """
specification "Coverage" {
  entity   = build
  metadata = coverage
  nrn      = "organization=1"
  schema   = file("schemas/nope.json")
}
"""
    rendered, _ = check_text(
        tmp_path, with_condition('"build.metadata.coverage.percent": 1'), specification
    )
    assert rendered == (
        "specs.rg:6:14: error[RG001]: cannot read schemas/nope.json: no such file\n"
        ' 6 |   schema   = file("schemas/nope.json")\n'
        "   |              ^^^^^^^^^^^^^^^^^^^^^^^^^\n"
        "\n"
        "1 error, 0 warnings\n"
    )


def test_missing_source_file(tmp_path):
    result = check_sources([str(tmp_path / "nope.rg")])
    assert render_all_text(result.diagnostics, {}).replace(str(tmp_path) + "/", "") == (
        "nope.rg:1:1: error[RG001]: cannot read nope.rg: no such file\n\n1 error, 0 warnings\n"
    )


def test_a_deeper_specification_overrides_for_actions_below_it(tmp_path):
    deeper = SPECIFICATION + SPECIFICATION.replace(
        '"organization=1"', '"organization=1:account=2"'
    ).replace('"percent"', '"ratio"').replace('"Coverage"', '"Account coverage"')
    policies = with_condition('"build.metadata.coverage.percent": 1').replace(
        'nrn      = "organization=1"', 'nrn      = "organization=1:account=2"'
    )
    rendered, ok = check_text(tmp_path, policies, deeper)
    assert not ok
    assert (
        'error[RG031]: unknown field "percent" in "build.metadata.coverage" (specification "Account coverage"'
        in rendered
    )


def test_two_specifications_for_one_key_at_one_nrn(tmp_path):
    rendered, ok = check_text(
        tmp_path, with_condition('"build.metadata.coverage.percent": 1'), SPECIFICATION * 2
    )
    assert not ok
    assert (
        "error[RG041]: a second specification for build.metadata.coverage at organization=1"
        in rendered
    )


@pytest.mark.parametrize(
    ("condition", "fragment"),
    [
        ('"scope.dimensions.anything": "x"', None),  # a map of strings takes any key
        ('"scope.capabilities.auto_scaling": true', None),
        ('"build.metadata.coverage": {"$exists": true}', None),
        ('"build.metadata.coverage.percent": null', None),  # null matches a missing field
        ('"build.metadata.coverage.percent": {"$in": [80, 90.5]}', None),
        ('"build.metadata.coverage.percent": {"$in": [80, "x"]}', "RG035"),
    ],
)
def test_path_and_type_cases(tmp_path, condition, fragment):
    rendered, _ = check_text(tmp_path, with_condition(condition))
    if fragment is None:
        assert rendered == ""
    else:
        assert f"error[{fragment}]" in rendered


SMALL_OR_TEXT = '{"anyOf": [{"type": "integer", "maximum": 5}, {"type": "string"}]}'
SMALL_OR_LARGE = '{"anyOf": [{"type": "integer", "maximum": 5}, {"type": "integer", "minimum": 8}]}'


def field_schema_spec(schema: str) -> str:
    return SPECIFICATION.replace('{"type": "number", "minimum": 0, "maximum": 100}', schema)


@pytest.mark.parametrize(
    ("schema", "condition", "code"),
    [
        # Bounds: the edge decides.
        ('{"type": "number", "maximum": 100}', '{"$lt": 100}', None),
        ('{"type": "number", "maximum": 100}', '{"$lte": 100}', "RG037"),
        ('{"type": "number", "maximum": 100}', '{"$gt": 100}', "RG036"),
        ('{"type": "number", "maximum": 100}', '{"$gte": 100}', None),
        ('{"type": "number", "exclusiveMaximum": 100}', '{"$gte": 100}', "RG036"),
        ('{"type": "number", "exclusiveMaximum": 100}', '{"$lt": 100}', "RG037"),
        ('{"type": "number", "exclusiveMinimum": 79}', '{"$gte": 80}', None),
        ('{"type": "number", "minimum": 80}', '{"$gt": 80}', None),
        ('{"type": "number", "minimum": 80}', '{"$eq": 79.5}', "RG036"),
        ('{"type": "number", "minimum": 80}', '{"$ne": 79.5}', "RG037"),
        # null is a value a nullable field has, which no ordering matches.
        ('{"type": ["number", "null"], "minimum": 80}', '{"$gte": 80}', None),
        ('{"type": ["number", "null"], "maximum": 10}', '{"$gt": 10}', "RG036"),
        # A union warns only when every branch agrees.
        (SMALL_OR_TEXT, '{"$eq": 9}', "RG036"),
        (SMALL_OR_LARGE, '{"$eq": 9}', None),
        # An array matches through any item: no always-true, no contradiction.
        ('{"type": "array", "items": {"type": "integer", "minimum": 0}}', '{"$gte": 0}', None),
        ('{"type": "array", "items": {"type": "integer"}}', '{"$gte": 5, "$lt": 2}', None),
        ('{"type": "integer"}', '{"$gte": 5, "$lt": 2}', "RG038"),
        ('{"type": "integer"}', '{"$gte": 5, "$lte": 5}', None),
        ('{"type": "integer"}', '{"$gt": 5, "$lte": 5}', "RG038"),
        # Strings: length, pattern, and an ECMA pattern Python cannot read.
        ('{"type": "string", "minLength": 2}', '"x"', "RG036"),
        ('{"type": "string", "pattern": "^v\\\\d+$"}', '"v12"', None),
        ('{"type": "string", "pattern": "^(?<x>a)$"}', '"b"', None),
        # Types: ordering strings is fine, booleans are not; integers order with 80.5.
        ('{"type": "string"}', '{"$gte": "a"}', None),
        ('{"type": "boolean"}', '{"$gte": true}', "RG034"),
        ('{"type": "integer"}', '{"$gte": 80.5}', None),
        ('{"type": "integer"}', '{"$eq": 80.5}', "RG035"),
        ('{"type": "integer"}', '{"$eq": true}', "RG035"),
        ('{"type": "boolean"}', "1", "RG035"),
    ],
)
def test_values_against_constraints(tmp_path, schema, condition, code):
    rendered, _ = check_text(
        tmp_path,
        with_condition(f'"build.metadata.coverage.percent": {condition}'),
        field_schema_spec(schema),
    )
    found = re.findall(r"\[(RG\d+)\]", rendered)
    assert found == ([code] if code else []), rendered


def test_the_002_seed_condition_always_passes_and_reads_unspecified_metadata():
    result = check_sources([str(REPO / "tests/fixtures/seed-002")])
    assert render_all_text(result.diagnostics, result.texts).replace(str(REPO) + "/", "") == (
        "tests/fixtures/seed-002:1:1: error[RG005]: the sources declare no approval action, so "
        "a bundle of them would approve every request\n"
        'help: declare one: action "id" { action = "deployment:create", nrn = ..., '
        "policies = [...] }\n"
        "\n"
        'tests/fixtures/seed-002/policy.json:3:9: warning[RG053]: policy "Enforce coverage, '
        'security, and scaling for deployments" is bound to no action, so it decides nothing\n'
        ' 3 | "name": "Enforce coverage, security, and scaling for deployments",\n'
        "   |         ^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^\n"
        "help: list it in an action's `policies`\n"
        "\n"
        'tests/fixtures/seed-002/policy.json:5:46: warning[RG037]: "build.metadata.coverage.percent": '
        '{"$gte": 80} holds for every value the field can have: minimum is 80 (specification '
        '"Coverage" at tests/fixtures/seed-002/specification.json:1:1)\n'
        ' 5 | "build.metadata.coverage.percent": { "$gte": 80 },\n'
        "   |                                              ^^\n"
        "help: the specification already guarantees it; tighten the condition, or drop it\n"
        "\n"
        "tests/fixtures/seed-002/policy.json:6:17: error[RG032]: no metadata specification for "
        '"build.metadata.security" at organization=1:account=2:namespace=3:application=4\n'
        ' 6 | "build.metadata.security.issues": { "$lte": 4 },\n'
        "   |                 ^^^^^^^^\n"
        "help: declare a specification for it, or fix the path\n"
        "\n"
        "2 errors, 2 warnings\n"
    )


@pytest.mark.parametrize(
    ("schema", "problem"),
    [
        ('{"type": "object", "properties": {"percent": {"type": "number"}}}', None),
        ('{"$schema": "http://json-schema.org/draft-07/schema#", "minimum": "80"}', "minimum"),
        (
            '{"$schema": "http://json-schema.org/draft-04/schema#", "minimum": 0, "exclusiveMinimum": true}',
            None,
        ),
        ('{"$schema": "https://example.com/my-meta-schema", "type": "object"}', None),
        ('{"type": "object", "prefixItems": {}}', "prefixItems"),
    ],
)
def test_schemas_are_checked_against_their_meta_schema(tmp_path, schema, problem):
    specification = SPECIFICATION.replace(
        SPECIFICATION[SPECIFICATION.index("schema   = ") + 11 : SPECIFICATION.rindex("}\n")],
        schema + "\n",
    )
    rendered, _ = check_text(tmp_path, "", specification)
    if problem is None:
        assert rendered == ""
    else:
        assert (
            f'error[RG040]: the schema of "Coverage" is not valid JSON Schema: at {problem}: '
            in rendered
        )
