"""`$expr` and `$dynamicPattern` end to end: the provider fixture's "Respect Budget"
and the documentation's service naming rule, checked, built, served by a real OPA
sidecar, explained, tested, formatted, diffed and imported from Terraform."""

from __future__ import annotations

import json
import re
import shutil

import pytest

from tests.conftest import build, run_cli, write_sources

pytestmark = pytest.mark.opa

SOURCES = {
    "specifications.rg": """\
specification "FinOps" {
  entity   = application
  metadata = finops
  nrn      = "organization=1"
  schema   = {
    "type": "object",
    "properties": {
      "current_total_cost": {"type": "number"},
      "budget_assigned": {"type": "number"}
    }
  }
}
""",
    "policies.rg": """\
# nullplatform's provider fixture (nullplatform/testdata/approval_upgrade/associations.tf)
policy "Respect Budget" {
  nrn        = "organization=1"
  conditions = {
    "application": {
      "$expr": {
        "$lte": [
          "$application.metadata.finops.current_total_cost",
          "$application.metadata.finops.budget_assigned"
        ]
      }
    }
  }
}

# https://docs.nullplatform.com/docs/approvals/configuring-approvals/configure-policies
policy "Acme service rules" {
  nrn        = "organization=1"
  conditions = {
    "service.name": {
      "$dynamicPattern": {
        "template": "^{application}-[a-zA-Z0-9_-]+$",
        "fields": {"application": {"path": "tags.application"}}
      }
    }
  }
}
""",
    "actions.rg": """\
action "scope-create-production" {
  action            = "scope:create"
  nrn               = "organization=1"
  dimensions        = {"environment": "production"}
  on_policy_success = approve
  on_policy_fail    = manual
  policies          = ["Respect Budget"]
}

action "service-create" {
  action            = "service:action:create"
  nrn               = "organization=1"
  on_policy_success = approve
  on_policy_fail    = deny
  policies          = ["Acme service rules"]
}
""",
    "tests.rg": """\
test "over budget asks a human" {
  action   = "scope:create"
  nrn      = "organization=1:account=2"
  entities = {
    "scope.dimensions.environment": "production",
    "application.metadata.finops": {"current_total_cost": 1200, "budget_assigned": 1000},
  }
  expect  = manual
  failing = ["Respect Budget"]
}

test "a service named after its application" {
  action   = "service:action:create"
  nrn      = "organization=1"
  entities = {"service": {"name": "acme-app-billing", "tags": {"application": "acme-app"}}}
  expect   = approve
}
""",
}


def scope(finops: dict[str, object]) -> dict[str, object]:
    return {
        "action": "scope:create",
        "nrn": "organization=1:account=2",
        "entities": {
            "scope": {"dimensions": {"environment": "production"}},
            "application": {"metadata": {"finops": finops}},
        },
    }


def service(name: str, tags: dict[str, object]) -> dict[str, object]:
    return {
        "action": "service:action:create",
        "nrn": "organization=1",
        "entities": {"service": {"name": name, "tags": tags}},
    }


@pytest.fixture
def project(tmp_path):
    return write_sources(tmp_path / "src", SOURCES)


def test_check_warns_that_a_missing_cost_passes_the_budget(project):
    result = run_cli("check", str(project))
    assert result.exit_code == 0
    assert "warning[RG028]" in result.output
    assert '"$application.metadata.finops.current_total_cost" may be missing' in result.output


def test_a_sidecar_decides_and_explains(project, tmp_path, sidecar):
    server = sidecar(build([project], tmp_path))
    over = server.decide(scope({"current_total_cost": 1200, "budget_assigned": 1000}))
    assert over["result"] == "manual"
    [policy] = over["actions"][0]["policies"]
    assert policy["failures"] == [
        {
            "operator": "$expr",
            "path": "application",
            "expected": {
                "$lte": [
                    "$application.metadata.finops.current_total_cost",
                    "$application.metadata.finops.budget_assigned",
                ]
            },
            "actual": False,
            "references": [
                {"reference": "$application.metadata.finops.current_total_cost", "actual": 1200},
                {"reference": "$application.metadata.finops.budget_assigned", "actual": 1000},
            ],
            "source": "policies.rg:6",
        }
    ]
    assert (
        server.decide(scope({"current_total_cost": 800, "budget_assigned": 1000}))["result"]
        == "approve"
    )
    # MongoDB orders a missing cost below any budget: the policy holds (RG028 warned).
    assert server.decide(scope({"budget_assigned": 1000}))["result"] == "approve"
    assert (
        server.decide(service("acme-app-billing", {"application": "acme-app"}))["result"]
        == "approve"
    )
    denied = server.decide(service("billing", {"application": "acme-app"}))
    assert denied["result"] == "deny"
    assert denied["actions"][0]["policies"][0]["failures"][0]["expected"] == (
        "^acme-app-[a-zA-Z0-9_-]+$"
    )
    # No tag to fill the pattern with: the condition fails (fail closed).
    assert server.decide(service("acme-app-billing", {}))["result"] == "deny"


def test_explain_prints_the_expression_and_the_filled_pattern(project, tmp_path):
    bundle = build([project], tmp_path)
    request = tmp_path / "request.json"
    request.write_text(json.dumps(scope({"current_total_cost": 1200, "budget_assigned": 1000})))
    result = run_cli("explain", "--bundle", str(bundle), "--input", str(request))
    assert (
        '      $expr {"$lte": ["$application.metadata.finops.current_total_cost", '
        '"$application.metadata.finops.budget_assigned"]} is false: '
        "$application.metadata.finops.current_total_cost is 1200, "
        "$application.metadata.finops.budget_assigned is 1000 (policies.rg:6)\n"
    ) in result.output
    request.write_text(json.dumps(service("acme-x", {"application": "acme-app"})))
    result = run_cli("explain", "--bundle", str(bundle), "--input", str(request))
    assert (
        '      service.name is "acme-x", needs to match /^acme-app-[a-zA-Z0-9_-]+$/ '
        '({application} from service.tags.application, which is "acme-app") (policies.rg:21)\n'
    ) in result.output
    request.write_text(json.dumps(service("acme-x", {})))
    result = run_cli("explain", "--bundle", str(bundle), "--input", str(request))
    assert (
        "needs to match /^{application}-[a-zA-Z0-9_-]+$/, which cannot be filled "
        "({application} from service.tags.application, which is missing)"
    ) in result.output


def test_regate_test_runs_the_blocks_and_the_generated_boundaries(project):
    result = run_cli("test", str(project))
    assert result.exit_code == 0, result.output
    passed = re.search(
        r"(\d+) passed, 0 failed \(2 from test blocks, (\d+) generated", result.output
    )
    assert passed is not None, result.output
    assert int(passed.group(2)) >= 20


def test_fmt_keeps_both_operators(project):
    """The policies are already canonical: formatting the project leaves them as written."""
    assert run_cli("fmt", str(project)).exit_code == 0
    assert (project / "policies.rg").read_text() == SOURCES["policies.rg"]
    assert run_cli("fmt", "--check", str(project)).exit_code == 0


def test_diff_finds_the_request_a_stricter_budget_flips(project, tmp_path):
    new = tmp_path / "new"
    shutil.copytree(project, new)
    policies = new / "policies.rg"
    policies.write_text(policies.read_text().replace('"$lte": [', '"$lt": ['))
    requests = tmp_path / "requests"
    requests.mkdir()
    (requests / "at-budget.json").write_text(
        json.dumps(scope({"current_total_cost": 1000, "budget_assigned": 1000}))
    )
    (requests / "under-budget.json").write_text(
        json.dumps(scope({"current_total_cost": 10, "budget_assigned": 1000}))
    )
    result = run_cli("diff", str(project), str(new), "--requests", str(requests))
    assert result.exit_code == 1
    assert f"{requests}/at-budget.json: approve -> manual" in result.output
    assert "1 of 2 requests changed" in result.output


TERRAFORM = """\
resource "nullplatform_approval_policy" "respect_budget" {
  nrn  = "organization=1"
  name = "Respect Budget"
  conditions = jsonencode({
    "application" : {
      "$expr" = {
        "$lte" = [
          "$application.metadata.finops.current_total_cost",
          "$application.metadata.finops.budget_assigned"
        ]
      }
    }
  })
}
"""


def test_import_reads_expr_from_terraform(tmp_path):
    source = tmp_path / "tf"
    source.mkdir()
    (source / "approvals.tf").write_text(TERRAFORM)
    out = tmp_path / "out"
    assert run_cli("import", str(source), "-o", str(out)).exit_code == 0
    imported = (out / "policies.rg").read_text()
    assert '"$expr": {' in imported
    assert '"$application.metadata.finops.current_total_cost"' in imported
