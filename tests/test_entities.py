"""Entity blocks (docs/language.md, "entity"): the entity model per program.  A declared
entity's action is checked, compiled, validated in the bundle and gated exactly as a
built-in one, and the built-in model stays the default."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from compiler.bundle import write_directory
from compiler.driver import check_sources, compile_sources
from compiler.editor.model import Model
from compiler.entities import entity_model, program_model
from compiler.input_schema import INPUT_SCHEMA
from compiler.opa import eval_bundle
from tests.conftest import REPO, build, run_cli, write_sources
from tests.test_check_opa import opa_check

DECLARED = """
entity "merge_request" {
  actions    = ["merge_request:merge", "merge_request:close"]
  sees       = ["merge_request", "build"]
  attributes = {"iid": {"type": "integer"}, "target_branch": {"type": "string"}}
}

entity "ticket" {
  actions = ["ticket:resolve"]
  sees    = ["ticket", "scope", "merge_request"]
}

specification "SAST" {
  entity   = merge_request
  metadata = sast
  nrn      = "organization=1"
  schema   = {
    "type": "object",
    "properties": {"high": {"type": "integer", "minimum": 0}},
    "required": ["high"],
  }
}

policy "No high finding" {
  nrn        = "organization=1"
  conditions = {"merge_request.metadata.sast.high": 0, "merge_request.target_branch": "main"}
}

policy "Resolved in production only" {
  nrn        = "organization=1"
  conditions = {"ticket.metadata": {"$exists": true}}
}

action "merge gate" {
  action            = "merge_request:merge"
  nrn               = "organization=1"
  dimensions        = {"repository": "backend"}
  on_policy_success = approve
  on_policy_fail    = deny
  policies          = ["No high finding"]
}

action "resolve in production" {
  action            = "ticket:resolve"
  nrn               = "organization=1"
  dimensions        = {"environment": "production"}
  on_policy_success = approve
  on_policy_fail    = deny
  policies          = ["Resolved in production only"]
}
"""


@pytest.fixture(scope="module")
def compiled(tmp_path_factory: pytest.TempPathFactory) -> Path:
    directory = tmp_path_factory.mktemp("entities")
    result = compile_sources([str(write_sources(directory / "src", {"gates.rg": DECLARED}))])
    assert result.files is not None, result.diagnostics
    write_directory(str(directory / "bundle"), result.files)
    return directory


def problems(tmp_path: Path, text: str) -> list[tuple[str, str]]:
    result = check_sources([str(write_sources(tmp_path, {"gates.rg": DECLARED + text}))])
    return [(d.code, d.message) for d in result.diagnostics]


def test_the_built_in_model_stays_the_default():
    model = program_model(check_sources([str(REPO / "bundles" / "quality-gates")]).program)
    assert model is entity_model()
    assert "merge_request" not in model.entities


def test_the_program_model_extends_the_built_in_one(tmp_path):
    program = check_sources([str(write_sources(tmp_path, {"gates.rg": DECLARED}))]).program
    model = program_model(program)
    assert model.actions["merge_request:merge"] == ("merge_request", "build")
    assert model.entity_of("ticket:resolve") == "ticket"
    # No scope: the merge request's own dimensions select its actions; with the
    # scope, the scope's, and the scope is then required.
    assert model.dimensions_from("merge_request:merge") == "merge_request"
    assert model.required_entities("merge_request:merge") == ()
    assert model.dimensions_from("ticket:resolve") == "scope"
    assert model.required_entities("ticket:resolve") == ("scope",)
    assert model.actions["deployment:create"] == entity_model().actions["deployment:create"]


@pytest.mark.parametrize(
    ("text", "code", "message"),
    [
        (
            'policy "P" { nrn = "organization=1" conditions = {"merge_request.iid": "7"} }\n'
            'action "a" { action = "merge_request:close" nrn = "organization=1" policies = ["P"] }',
            "RG035",
            '"merge_request.iid" is integer; comparing it with string "7" never matches',
        ),
        (
            'policy "P" { nrn = "organization=1" conditions = {"merge_request.labels": "x"} }\n'
            'action "a" { action = "merge_request:close" nrn = "organization=1" policies = ["P"] }',
            "RG031",
            'unknown field "labels" in "merge_request"',
        ),
        (
            'policy "P" { nrn = "organization=1" conditions = {"scope.tier": "gold"} }\n'
            'action "a" { action = "merge_request:close" nrn = "organization=1" policies = ["P"] }',
            "RG033",
            '"scope.tier" reads scope, which a merge_request:close action cannot see',
        ),
        (
            'policy "P" { nrn = "organization=1" conditions = {"merge_request.metadata.dast.x": 1} }'
            '\naction "a" { action = "merge_request:close" nrn = "organization=1" policies = ["P"] }',
            "RG032",
            'no metadata specification for "merge_request.metadata.dast"',
        ),
        (
            'action "a" { action = "merge_request:merg" nrn = "organization=1" }',
            "RG055",
            'unknown approval action "merge_request:merg"',
        ),
        (
            'action "a" { entity = build action = "merge_request:close" nrn = "organization=1" }',
            "RG012",
            'the entity of a merge_request:close action is "merge_request", not "build"',
        ),
    ],
    ids=["type", "unknown-attribute", "not-visible", "no-specification", "action", "entity"],
)
def test_declared_entities_are_checked_as_built_in_ones(tmp_path, text, code, message):
    found = problems(tmp_path, text)
    assert any(c == code and message in m for c, m in found), found


def test_a_test_request_for_a_declared_action_is_checked(tmp_path):
    found = problems(
        tmp_path,
        'test "t" {\n  action = "merge_request:merge"\n  nrn = "organization=1"\n'
        '  entities = {"scope.tier": "gold", "merge_request.iidd": 1}\n  expect = deny\n}',
    )
    assert ("RG033", "the test's request gives scope, which a merge_request:merge request never "
            "carries") in found  # fmt: skip
    assert any(c == "RG031" and 'unknown field "iidd"' in m for c, m in found)


def decide(compiled: Path, request: dict[str, Any]) -> Any:
    return eval_bundle(str(compiled / "bundle"), request)


def merge(**entity: Any) -> dict[str, Any]:
    return {
        "action": "merge_request:merge",
        "nrn": "organization=1:account=2",
        "entities": {"merge_request": entity},
    }


def test_a_declared_action_is_decided_by_its_own_entity_s_dimensions(compiled):
    passing = {"metadata": {"sast": {"high": 0}}, "target_branch": "main"}
    chosen = decide(compiled, merge(**passing, dimensions={"repository": "backend"}))
    assert (chosen["result"], [a["id"] for a in chosen["actions"]]) == ("approve", ["merge gate"])
    other = decide(compiled, merge(**passing, dimensions={"repository": "frontend"}))
    assert (other["result"], other["actions"]) == ("approve", [])
    failing = decide(compiled, merge(metadata={"sast": {"high": 2}}, target_branch="main"))
    assert failing["result"] == "deny"
    (failure,) = failing["actions"][0]["policies"][0]["failures"]
    assert (failure["path"], failure["actual"]) == ("merge_request.metadata.sast.high", 2)


@pytest.mark.parametrize(
    ("request_", "errors"),
    [
        (merge(iid="seven"), [("RQ013", "input.entities.merge_request.iid")]),
        (
            merge(metadata={"sast": {"high": "none"}}),
            [("RQ015", "input.entities.merge_request.metadata.sast.high")],
        ),
        (
            {**merge(), "action": "merge_request:merg"},
            [("RQ004", "input.action")],
        ),
        (
            {"action": "ticket:resolve", "nrn": "organization=1", "entities": {"ticket": {}}},
            [("RQ010", "input.entities.scope")],
        ),
        (
            merge(dimensions={"repository": 7}),
            [("RQ012", "input.entities.merge_request.dimensions.repository")],
        ),
        (
            {**merge(), "entities": {"merge_request": {}, "pipeline": {}}},
            [("RQ008", "input.entities.pipeline")],
        ),
    ],
    ids=["attribute-type", "metadata", "action", "scope-required", "dimension", "unknown-entity"],
)
def test_the_bundle_validates_requests_for_declared_actions(compiled, request_, errors):
    decision = decide(compiled, request_)
    assert (decision["result"], decision["actions"]) == ("deny", [])
    assert [(e["code"], e["path"]) for e in decision["errors"]] == errors


def test_the_rq004_message_names_the_declared_actions(compiled):
    decision = decide(compiled, {**merge(), "action": "merge_request:merg"})
    assert "merge_request:close, merge_request:merge" in decision["errors"][0]["message"]


def test_the_input_schema_types_declared_entities(opa, compiled):
    schema = json.loads((compiled / "bundle" / INPUT_SCHEMA).read_text())
    entity = schema["properties"]["entities"]["properties"]["merge_request"]
    assert entity["properties"]["iid"] == {"type": "integer"}
    assert "sast" in entity["properties"]["metadata"]["properties"]
    assert opa_check(opa, compiled / "bundle", schema) == ""


def test_the_editor_completes_declared_attributes(tmp_path):
    program = check_sources([str(write_sources(tmp_path, {"gates.rg": DECLARED}))]).program
    model = Model(program, {})
    assert "merge_request" in model.visible_entities("No high finding")
    assert "scope" not in model.visible_entities("No high finding")
    assert model.fields(("merge_request", "iid"), [])


def test_gate_decides_a_declared_action_with_a_bundle_and_a_sidecar(compiled, sidecar, tmp_path):
    semgrep = REPO / "tests" / "fixtures" / "reports" / "real" / "semgrep" / "equivalence.json"
    mapping = tmp_path / "high.json"
    mapping.write_text(json.dumps({"high": "findings.high"}))
    bundle = build([compiled / "src"], tmp_path)
    common = [
        "gate", "--action", "merge_request:merge", "--nrn", "organization=1:account=2",
        "--dimension", "repository=backend", "--attribute", "merge_request.iid=42",
        "--attribute", "merge_request.target_branch=main",
        "--evidence", f"merge_request.sast=semgrep:{semgrep}",
        "--mapping", f"merge_request.sast={mapping}",
    ]  # fmt: skip
    local = run_cli(*common, "--bundle", str(bundle))
    assert (local.exit_code, local.stderr) == (0, "")
    assert local.stdout.splitlines()[1] == (
        '  action "merge gate" (merge_request:merge at organization=1, repository=backend) approves'
    )
    server = sidecar(bundle)
    remote = run_cli(*common, "--opa-url", server.url)
    assert (remote.exit_code, remote.stdout) == (0, local.stdout)
    # The attribute is typed as the bundle's model types it.
    wrong = run_cli(*common[:-2], "--attribute", "merge_request.iid=x", "--bundle", str(bundle))
    assert wrong.exit_code == 2
    assert "merge_request.iid is integer in the bundle's entity model, not 'x'" in wrong.stderr
    typo = run_cli(*[a.replace(":merge", ":merg") for a in common], "--bundle", str(bundle))
    assert typo.exit_code == 1
    assert 'help: did you mean "merge_request:merge"?' in typo.stderr


def test_export_leaves_out_what_nullplatform_has_no_place_for(tmp_path):
    result = run_cli("export", str(REPO / "bundles" / "devsecops"), "-o", str(tmp_path / "out"),
                     "--format", "terraform")  # fmt: skip
    assert result.exit_code == 1
    for lost in (
        'entity "merge_request": the entity block cannot be exported',
        'action "merge-request-gate": the action cannot be exported (merge_request:merge is an '
        "entity block's action; nullplatform has none)",
        'specification "MR SAST": the specification cannot be exported',
        'exception "uri ReDoS in the ruby base image": the exception cannot be exported',
    ):
        assert lost in result.stderr
    assert not (tmp_path / "out").exists()


def test_gate_reads_the_declared_actions_of_a_tenant_split_router(compiled, tmp_path):
    split = tmp_path / "split"
    built = run_cli("build", str(compiled / "src"), "-o", str(split), "--split-by", "account")
    assert built.exit_code == 0
    semgrep = REPO / "tests" / "fixtures" / "reports" / "real" / "semgrep" / "equivalence.json"
    result = run_cli(
        "gate", "--bundle", str(split / "regate.tar.gz"), "--action", "merge_request:merge",
        "--nrn", "organization=1:account=2", "--evidence", f"merge_request.sast={semgrep}",
    )  # fmt: skip
    assert "RG103" not in result.stderr  # the router's common bundle has the action
    assert result.exit_code == 4  # decided: this OPA lacks the tenant's bundle
    assert "this OPA does not serve the bundle of organization=1" in result.stdout
