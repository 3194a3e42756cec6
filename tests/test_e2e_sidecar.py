"""End-to-end: the example bundle served by a real OPA sidecar, asked through opa-python-client."""

from __future__ import annotations

import copy
import json
import subprocess
from pathlib import Path

import pytest

from tests.conftest import QUALITY_GATES, build, load_request, run_cli

pytestmark = pytest.mark.opa


@pytest.fixture(scope="module")
def bundle(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return build([QUALITY_GATES], tmp_path_factory.mktemp("quality-gates"))


def results(decision: dict[str, object]) -> tuple[object, dict[str, object]]:
    actions = decision["actions"]
    assert isinstance(actions, list)
    return decision["result"], {a["id"]: a["result"] for a in actions}


def test_coverage_70_needs_manual_approval(bundle, sidecar):
    decision = sidecar(bundle).decide(load_request("01-coverage-70.json"))
    assert results(decision) == (
        "manual",
        {
            "deployment-create-production": "manual",
            "deployment-create-production-secrets": "approve",
        },
    )
    gate = next(a for a in decision["actions"] if a["id"] == "deployment-create-production")
    assert gate == {
        "id": "deployment-create-production",
        "action": "deployment:create",
        "nrn": "organization=1:account=2:namespace=3",
        "dimensions": {"environment": "production"},
        "result": "manual",
        "policies": [
            {
                "name": "Code Coverage",
                "source": "policies.rg:5",
                "passed": False,
                "failures": [
                    {
                        "path": "build.metadata.coverage.code.coverage",
                        "operator": "$gte",
                        "expected": 80,
                        "actual": 70,
                        "source": "policies.rg:8",
                    }
                ],
            },
            {"name": "Security", "source": "policies.rg:12", "passed": True},
        ],
    }


def test_coverage_85_without_critical_vulnerabilities_is_approved(bundle, sidecar):
    decision = sidecar(bundle).decide(load_request("02-coverage-85-no-critical.json"))
    assert results(decision)[0] == "approve"
    assert all(a["result"] == "approve" for a in decision["actions"])


def test_one_critical_vulnerability_needs_manual_approval(bundle, sidecar):
    decision = sidecar(bundle).decide(load_request("03-critical-vulnerability.json"))
    gate = next(a for a in decision["actions"] if a["id"] == "deployment-create-production")
    assert decision["result"] == "manual"
    assert gate["policies"] == [
        {"name": "Code Coverage", "source": "policies.rg:5", "passed": True},
        {
            "name": "Security",
            "source": "policies.rg:12",
            "passed": False,
            "failures": [
                {
                    "path": "build.metadata.security.security.vulnerabilities.critical",
                    "operator": "$eq",
                    "expected": 0,
                    "actual": 1,
                    "source": "policies.rg:15",
                }
            ],
        },
    ]


def test_failing_policy_of_a_deny_action_denies_and_the_strictest_action_wins(bundle, sidecar):
    decision = sidecar(bundle).decide(load_request("04-leaked-secret.json"))
    assert results(decision) == (
        "deny",
        {"deployment-create-production": "approve", "deployment-create-production-secrets": "deny"},
    )


def test_manual_beats_approve_when_two_actions_apply(bundle, sidecar):
    decision = sidecar(bundle).decide(load_request("01-coverage-70.json"))
    assert len(decision["actions"]) == 2
    assert decision["result"] == "manual"


def test_staging_scope_matches_no_action_and_is_approved(bundle, sidecar):
    decision = sidecar(bundle).decide(load_request("05-staging.json"))
    assert decision["result"] == "approve"
    assert decision["actions"] == []


def test_request_from_an_nrn_outside_the_action_is_not_gated_by_it(bundle, sidecar):
    decision = sidecar(bundle).decide(load_request("06-other-namespace.json"))
    assert results(decision) == ("approve", {"deployment-create-production-secrets": "approve"})


def test_nrn_ancestry_is_by_whole_segments(bundle, sidecar):
    request = load_request("01-coverage-70.json")
    request["nrn"] = "organization=1:account=2:namespace=33:application=4"  # not below namespace=3
    decision = sidecar(bundle).decide(request)
    assert [a["id"] for a in decision["actions"]] == ["deployment-create-production-secrets"]


def test_other_actions_are_not_gated(bundle, sidecar):
    request = load_request("01-coverage-70.json")
    request["action"] = "scope:create"
    decision = sidecar(bundle).decide(request)
    assert (decision["result"], decision["actions"]) == ("approve", [])
    assert set(decision) == {"result", "actions", "revision"}


def test_malformed_request_is_denied_with_the_reason(bundle, sidecar):
    request = copy.deepcopy(load_request("01-coverage-70.json"))
    del request["nrn"]
    decision = sidecar(bundle).decide(request)
    assert decision["result"] == "deny"
    assert decision["errors"] == [
        {
            "code": "RQ005",
            "path": "input.nrn",
            "message": 'is missing; it must be a string such as "organization=1:account=2"',
        }
    ]


def test_decision_names_the_bundle_revision(bundle, sidecar, opa):
    manifest = subprocess.run(
        ["tar", "-xzOf", str(bundle), "/.manifest"], capture_output=True, check=True
    ).stdout
    decision = sidecar(bundle).decide(load_request("02-coverage-85-no-critical.json"))
    assert decision["revision"] == json.loads(manifest)["revision"]


def test_regate_decide_asks_the_sidecar(bundle, sidecar):
    server = sidecar(bundle)
    result = run_cli(
        "decide",
        "--opa-url",
        server.url,
        "--input",
        str(QUALITY_GATES / "requests" / "01-coverage-70.json"),
    )
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout) == server.decide(load_request("01-coverage-70.json"))
