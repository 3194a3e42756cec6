"""regate import: the seed guide's Terraform and API payloads become regate sources that check
(reporting the guide's path mistakes) and, corrected, compile and decide as the originals do;
what is not written is reported, and nothing is written on an error."""

from __future__ import annotations

import json

import pytest

from compiler.opa import eval_bundle
from tests.conftest import REPO, REQUESTS, build, run_cli, without_locations

SEED_TERRAFORM = REPO / "tests/fixtures/seed-000-terraform"
SEED_PAYLOADS = REPO / "tests/fixtures/seed-000"

IMPORTED_POLICIES = """\
# imported from approvals.tf:11 nullplatform_approval_policy.coverage
policy "Code Coverage" {
  nrn        = "organization=1:account=2:namespace=3"
  conditions = {
    "build.metadata.coverage.coverage": {"$gte": 80}
  }
}

# imported from approvals.tf:18 nullplatform_approval_policy.security
policy "Security" {
  nrn        = "organization=1:account=2:namespace=3"
  conditions = {
    "build.metadata.security.critical": {"$eq": 0}
  }
}
"""

IMPORTED_ACTIONS = """\
# imported from approvals.tf:25 nullplatform_approval_action.deployment_create
# ignored: lifecycle (a Terraform meta-argument: how Terraform manages the resource)
action "deployment_create" {
  entity            = deployment
  action            = "deployment:create"
  nrn               = "organization=1:account=2:namespace=3"
  dimensions        = {"environment": "production"}
  on_policy_success = approve
  on_policy_fail    = manual
  policies          = ["Code Coverage", "Security"]
}
"""


def the_guides_path_mistakes(out) -> str:
    return (
        f'{out}/policies.rg:5:30: error[RG031]: unknown field "coverage" in "build.metadata.coverage" (specification "Coverage Schema" at {out}/specifications.rg:2:1)\n'
        ' 5 |     "build.metadata.coverage.coverage": {"$gte": 80}\n'
        "   |                              ^^^^^^^^\n"
        'help: did you mean "build.metadata.coverage.code.coverage"?\n'
        "\n"
        f'{out}/policies.rg:13:30: error[RG031]: unknown field "critical" in "build.metadata.security" (specification "Security Schema" at {out}/specifications.rg:31:1)\n'
        ' 13 |     "build.metadata.security.critical": {"$eq": 0}\n'
        "    |                              ^^^^^^^^\n"
        'help: did you mean "build.metadata.security.security.vulnerabilities.critical"?\n'
        "\n"
        "2 errors, 0 warnings\n"
    )


def correct_the_paths(out) -> None:
    policies = out / "policies.rg"
    text = policies.read_text()
    text = text.replace("coverage.coverage", "coverage.code.coverage")
    text = text.replace("security.critical", "security.security.vulnerabilities.critical")
    policies.write_text(text)


def test_the_seed_terraform_imports_and_check_reports_its_two_path_mistakes(tmp_path):
    out = tmp_path / "imported"
    result = run_cli("import", str(SEED_TERRAFORM), "-o", str(out))
    assert result.exit_code == 0, result.stderr
    assert sorted(p.name for p in out.iterdir()) == [
        "actions.rg",
        "policies.rg",
        "specifications.rg",
    ]
    assert (out / "policies.rg").read_text() == IMPORTED_POLICIES
    assert (out / "actions.rg").read_text() == IMPORTED_ACTIONS
    # What is not written is reported, per object, then what was written.
    assert result.stderr == (
        "approvals.tf:25 nullplatform_approval_action.deployment_create: ignored: lifecycle "
        "(a Terraform meta-argument: how Terraform manages the resource)\n"
        f"wrote {out}/specifications.rg\n"
        f"wrote {out}/policies.rg\n"
        f"wrote {out}/actions.rg\n"
    )
    check = run_cli("check", str(out))
    assert (check.exit_code, check.stderr) == (1, the_guides_path_mistakes(out))


@pytest.mark.opa
def test_the_seed_terraform_with_corrected_paths_compiles_and_decides(tmp_path, opa):
    out = tmp_path / "imported"
    run_cli("import", str(SEED_TERRAFORM), "-o", str(out))
    correct_the_paths(out)
    bundle = build([out], tmp_path)
    request = json.loads((REQUESTS / "01-coverage-70.json").read_text())
    decision = eval_bundle(str(bundle), request)
    assert decision["result"] == "manual"
    assert [(a["id"], a["policies"]) for a in decision["actions"]] == [
        (
            "deployment_create",
            [
                {
                    "name": "Code Coverage",
                    "passed": False,
                    "source": "policies.rg:2",
                    "failures": [
                        {
                            "path": "build.metadata.coverage.code.coverage",
                            "operator": "$gte",
                            "expected": 80,
                            "actual": 70,
                            "source": "policies.rg:5",
                        }
                    ],
                },
                {"name": "Security", "passed": True, "source": "policies.rg:10"},
            ],
        )
    ]


def test_the_seed_api_payloads_import_to_the_same_policies(tmp_path):
    out = tmp_path / "imported"
    assert run_cli("import", str(SEED_PAYLOADS), "-o", str(out)).exit_code == 0
    policies = (out / "policies.rg").read_text()
    assert policies == IMPORTED_POLICIES.replace(
        "approvals.tf:11 nullplatform_approval_policy.coverage", "policies.json:2"
    ).replace("approvals.tf:18 nullplatform_approval_policy.security", "policies.json:11")
    # An API action has no name: without an "id" it keeps the id the compiler derives.
    assert (out / "actions.rg").read_text() == (
        "# imported from action.json:1\n"
        "action {\n"
        "  entity            = deployment\n"
        '  action            = "deployment:create"\n'
        '  nrn               = "organization=1:account=2:namespace=3"\n'
        '  dimensions        = {"environment": "production"}\n'
        "  on_policy_success = approve\n"
        "  on_policy_fail    = manual\n"
        '  policies          = ["Code Coverage", "Security"]\n'
        "}\n"
    )


@pytest.mark.opa
def test_imported_api_example_decides_every_request_as_the_original(tmp_path, opa):
    (tmp_path / "original").mkdir()
    original = build([REPO / "bundles/quality-gates-api"], tmp_path / "original")
    out = tmp_path / "imported"
    assert run_cli("import", str(REPO / "bundles/quality-gates-api"), "-o", str(out)).exit_code == 0
    imported = build([out], tmp_path)
    for request_file in sorted(REQUESTS.glob("*.json")):
        request = json.loads(request_file.read_text())
        before, after = eval_bundle(str(original), request), eval_bundle(str(imported), request)
        assert without_locations(after) == without_locations(before), request_file.name


def test_values_only_terraform_knows_are_diagnostics_and_nothing_is_written(tmp_path):
    source = tmp_path / "main.tf"
    source.write_text(
        'variable "nrn" {}\n'
        "\n"
        'resource "nullplatform_approval_policy" "coverage" {\n'
        "  nrn        = var.nrn\n"
        '  name       = "Code Coverage"\n'
        '  conditions = jsonencode({ "build.x" = 1 })\n'
        "}\n"
        "\n"
        'resource "nullplatform_approval_action_policy_association" "coverage" {\n'
        "  approval_action_id = nullplatform_approval_action.missing.id\n"
        "  approval_policy_id = nullplatform_approval_policy.coverage.id\n"
        "}\n"
    )
    out = tmp_path / "out"
    result = run_cli("import", str(source), "-o", str(out))
    assert result.exit_code == 1
    assert result.stderr == (
        f"{source}:4:16: error[RG091]: cannot import `nrn`: var.nrn has no value\n"
        " 4 |   nrn        = var.nrn\n"
        "   |                ^^^^^^^\n"
        "help: pass -var nrn=VALUE or a -var-file, set it in terraform.tfvars beside the .tf, or import with the Terraform state\n"
        "\n"
        f"{source}:10:24: error[RG092]: the association refers to approval action nullplatform_approval_action.missing, which the imported files do not define\n"
        " 10 |   approval_action_id = nullplatform_approval_action.missing.id\n"
        "    |                        ^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^\n"
        "help: import the files that define it together (a directory), with the state if it names objects by id\n"
        "\n"
        "2 errors, 0 warnings\n"
    )
    assert not out.exists()


def test_json_strings_and_heredocs_are_read_as_json(tmp_path):
    source = tmp_path / "main.tf"
    source.write_text(
        'resource "nullplatform_approval_policy" "p" {\n'
        '  nrn        = "organization=1"\n'
        '  name       = "P"\n'
        "  conditions = <<EOT\n"
        '{"build.metadata.x": {"$in": [1, 2]}}\n'
        "EOT\n"
        "}\n"
        'resource "nullplatform_approval_policy" "q" {\n'
        '  nrn        = "organization=1"\n'
        '  name       = "Q"\n'
        '  conditions = "not json"\n'
        "}\n"
    )
    result = run_cli("import", str(source), "-o", str(tmp_path / "out"))
    assert result.exit_code == 1
    assert result.stderr.startswith(
        f"{source}:11:3: error[RG091]: `conditions` is a string but not JSON: Expecting value "
        "(line 1, column 1 of the string)\n"
    )
    source.write_text(source.read_text().replace('"not json"', '"{}"'))
    assert run_cli("import", str(source), "-o", str(tmp_path / "out")).exit_code == 0
    assert '"build.metadata.x": {"$in": [1, 2]}' in (tmp_path / "out/policies.rg").read_text()


def test_a_terraform_syntax_error_is_a_diagnostic(tmp_path):
    source = tmp_path / "main.tf"
    source.write_text('resource "nullplatform_approval_policy" "p" {\n  nrn = \n}\n')
    result = run_cli("import", str(source), "-o", str(tmp_path / "out"))
    assert (result.exit_code, result.stderr) == (
        1,
        f'{source}:2:9: error[RG002]: Terraform syntax error: unexpected "}}"\n'
        " 2 |   nrn =\n"
        "   |         ^\n"
        "\n"
        "1 error, 0 warnings\n",
    )


def test_an_actions_own_policies_references_bind_like_associations(tmp_path):
    source = tmp_path / "main.tf"
    source.write_text(
        'resource "nullplatform_approval_policy" "p" {\n'
        '  nrn        = "organization=1"\n'
        '  name       = "P"\n'
        "  conditions = jsonencode({})\n"
        "}\n"
        'resource "nullplatform_approval_action" "gate" {\n'
        '  nrn      = "organization=1"\n'
        '  action   = "scope:create"\n'
        "  policies = [nullplatform_approval_policy.p.id]\n"
        "}\n"
        'resource "nullplatform_approval_policy" "nameless" {\n'
        '  nrn = "organization=1"\n'
        "}\n"
    )
    result = run_cli("import", str(source), "-o", str(tmp_path / "out"))
    assert (result.exit_code, result.stderr) == (
        1,
        f"{source}:11:1: error[RG011]: nullplatform_approval_policy.nameless has no `name`\n"
        ' 11 | resource "nullplatform_approval_policy" "nameless" {\n'
        "    | ^^^^^^^^\n"
        'help: add `name = "..."`\n'
        "\n"
        "1 error, 0 warnings\n",
    )
    source.write_text(
        source.read_text().replace('"organization=1"\n}\n', '"organization=1"\n  name = "N"\n}\n')
    )
    assert run_cli("import", str(source), "-o", str(tmp_path / "out")).exit_code == 0
    assert (tmp_path / "out/actions.rg").read_text() == (
        "# imported from main.tf:6 nullplatform_approval_action.gate\n"
        'action "gate" {\n'
        '  action            = "scope:create"\n'
        '  nrn               = "organization=1"\n'
        "  on_policy_success = manual\n"
        "  on_policy_fail    = manual\n"
        '  policies          = ["P"]\n'
        "}\n"
    )
