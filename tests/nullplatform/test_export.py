"""regate export: regate sources become the Terraform the provider applies or the bodies
the API takes; what nullplatform cannot express is an error unless --allow-lossy, and
then reported per object; nothing is written on an error."""

from __future__ import annotations

import json
import textwrap

from tests.conftest import REPO, run_cli, write_sources
from tests.nullplatform.conftest import FIXTURES, read_dir


def test_terraform_export_writes_resources_links_and_import_blocks(tmp_path, snapshot):
    sources = tmp_path / "sources"
    assert run_cli("import", str(FIXTURES / "upgrade-migrated"), "-o", str(sources)).exit_code == 0
    out = tmp_path / "terraform"
    result = run_cli("export", str(sources), "-o", str(out))
    assert result.exit_code == 0, result.stderr
    assert result.stderr == f"wrote {out}/nullplatform.tf\n"
    assert read_dir(out) == snapshot


def test_api_export_writes_bodies_with_ids_and_associations_by_id(tmp_path, snapshot):
    sources = tmp_path / "sources"
    assert run_cli("import", str(FIXTURES / "api-payloads"), "-o", str(sources)).exit_code == 0
    out = tmp_path / "api"
    result = run_cli("export", str(sources), "-o", str(out), "--format", "api")
    assert result.exit_code == 0, result.stderr
    assert read_dir(out) == snapshot
    associations = json.loads((out / "associations.json").read_text())
    assert associations == [
        {"approval_action_id": 1003, "approval_policy_id": 2004},
        {"approval_action_id": 1001, "approval_policy_id": 2001},
        {"approval_action_id": 1001, "approval_policy_id": 2002},
        {"approval_action_id": 1002, "checklist_specification_id": "spec_0000000000000002"},
    ]
    # -o -: one JSON array, every body then the associations, which regate reads back.
    printed = run_cli("export", str(sources), "-o", "-", "--format", "api")
    payloads = json.loads(printed.stdout)
    assert payloads[-4:] == associations
    assert len(payloads) == 3 + 4 + 1 + 4 + 4


REGATE_ONLY = """
specification "Coverage" {
  entity   = build
  metadata = coverage
  nrn      = "organization=1"
  schema   = {"type": "object", "properties": {"percent": {"type": "number"}}}
}
policy "Coverage" {
  nrn         = "organization=1"
  description = "At least 80 %"
  conditions  = {"build.metadata.coverage.percent": {"$gte": 80}}
}
action "production" {
  action                  = "deployment:create"
  nrn                     = "organization=1"
  dimensions              = {"environment": "production"}
  on_policy_success       = approve
  policies                = ["Coverage"]
  enforcement             = audit
  time_to_reply           = 60000
}
waiver "Hotfix" {
  policy  = "Coverage"
  nrn     = "organization=1"
  owner   = "sre"
  reason  = "incident"
  expires = "2030-01-01"
}
test "covered" {
  action   = "deployment:create"
  nrn      = "organization=1"
  entities = {"build.metadata.coverage.percent": 90}
  expect   = approve
}
"""


def test_what_nullplatform_cannot_express_stops_the_export_unless_allowed(tmp_path):
    sources = write_sources(tmp_path / "sources", {"org.rg": REGATE_ONLY})
    out = tmp_path / "out"
    result = run_cli("export", str(sources), "-o", str(out))
    assert result.exit_code == 1
    org = sources / "org.rg"
    errors = [line for line in result.stderr.splitlines() if "error[" in line]
    assert errors == [
        f'{org}:8:8: error[RG093]: policy "Coverage": `description` cannot be exported (nullplatform policies have none)',
        f'{org}:13:8: error[RG093]: action "production": `enforcement = audit` cannot be exported (nullplatform enforces every action: exported, it would gate)',
        f'{org}:13:8: error[RG093]: action "production": `time_to_reply` cannot be exported (the Terraform provider has no such attribute)',
        f'{org}:22:8: error[RG093]: waiver "Hotfix": the waiver cannot be exported (nullplatform has no waivers)',
        f'{org}:29:6: error[RG093]: test "covered": the test block cannot be exported (nullplatform has no test blocks)',
    ]
    assert "help: pass --allow-lossy to export without it (it is then reported)" in result.stderr
    assert not out.exists()
    result = run_cli("export", str(sources), "-o", str(out), "--allow-lossy")
    assert result.exit_code == 0
    assert result.stderr.endswith(
        'org.rg:8 policy "Coverage": not exported: `description` (nullplatform policies have none)\n'
        'org.rg:13 action "production": not exported: `time_to_reply` (the Terraform provider has no such attribute)\n'
        'org.rg:13 action "production": not exported: `enforcement = audit` (nullplatform enforces every action: exported, it would gate)\n'
        'org.rg:22 waiver "Hotfix": not exported: the waiver (nullplatform has no waivers)\n'
        'org.rg:29 test "covered": not exported: the test block (nullplatform has no test blocks)\n'
        f"wrote {out}/nullplatform.tf\n"
    )
    exported = (out / "nullplatform.tf").read_text()
    assert 'resource "nullplatform_approval_action" "production" {' in exported
    assert "time_to_reply" not in exported and "description" not in exported


def test_the_api_associates_by_ids_so_objects_without_them_cannot_be_associated(tmp_path):
    sources = REPO / "tests/fixtures/seed-000"
    result = run_cli("export", str(sources), "-o", str(tmp_path / "out"), "--format", "api")
    assert result.exit_code == 1
    assert (
        'error[RG093]: action "deployment:create@organization=1:account=2:namespace=3[environment=production]": '
        'its association with policy "Code Coverage" cannot be exported (the API associates by ids, '
        'and action "deployment:create@organization=1:account=2:namespace=3[environment=production]" '
        'and policy "Code Coverage" have none; give it the id nullplatform assigned, or export '
        "--format terraform)"
    ) in result.stderr
    terraform = run_cli("export", str(sources), "-o", "-")
    assert terraform.exit_code == 0
    assert (
        'resource "nullplatform_approval_action_policy_association" '
        '"deployment_create_organization_1_account_2_namespace_3_environment_production_ba683793_code_coverage" {'
    ) in terraform.stdout


def test_sources_that_do_not_parse_or_bind_export_nothing(tmp_path):
    sources = write_sources(
        tmp_path / "sources",
        {
            "org.rg": textwrap.dedent(
                """
                action "a" {
                  action   = "deployment:create"
                  nrn      = "organization=1"
                  policies = ["Missing"]
                }
                """
            )
        },
    )
    result = run_cli("export", str(sources), "-o", str(tmp_path / "out"))
    assert result.exit_code == 1
    assert 'error[RG050]: action "a" names an unknown policy "Missing"' in result.stderr
    assert not (tmp_path / "out").exists()
    result = run_cli("export", str(FIXTURES / "upgrade-associations"), "-o", str(tmp_path / "out"))
    assert result.exit_code == 1
    assert "error[RG004]" in result.stderr  # a Terraform directory is no regate source
