"""nullplatform's identities: ids, names unique per NRN, and every shape the API
returns (objects with ids, actions embedding their policies, list envelopes,
association bodies), decided by a real OPA as nullplatform would."""

from __future__ import annotations

import json
import textwrap
from pathlib import Path

import pytest

from compiler.diagnostics import render_all_text
from compiler.driver import check_sources
from compiler.opa import eval_bundle
from tests.conftest import build, write_sources

pytestmark = pytest.mark.opa

COVERAGE_SPECIFICATION = {
    "id": "5f0e8a52-3b1c-4d2e-9a57-0c1b2d3e4f50",
    "name": "Coverage Schema",
    "nrn": "organization=1",
    "entity": "build",
    "metadata": "coverage",
    "schema": {
        "type": "object",
        "properties": {"percent": {"type": "number", "minimum": 0, "maximum": 100}},
        "required": ["percent"],
    },
}


def request(nrn: str, coverage: float | None, environment: str = "production") -> dict[str, object]:
    build_entity = {"metadata": {"coverage": {"percent": coverage}}} if coverage is not None else {}
    return {
        "action": "deployment:create",
        "nrn": nrn,
        "entities": {"scope": {"dimensions": {"environment": environment}}, "build": build_entity},
    }


def results(bundle: Path, *requests: dict[str, object]) -> list[object]:
    return [eval_bundle(str(bundle), r)["result"] for r in requests]


def team(account: int, threshold: int) -> list[dict[str, object]]:
    """One team's policy and production action, as the API takes them (no ids)."""
    nrn = f"organization=1:account={account}"
    return [
        {
            "nrn": nrn,
            "name": "Code Coverage",
            "conditions": {"build.metadata.coverage.percent": {"$gte": threshold}},
        },
        {
            "nrn": nrn,
            "entity": "deployment",
            "action": "deployment:create",
            "dimensions": {"environment": "production"},
            "on_policy_success": "approve",
            "on_policy_fail": "manual",
            "policies": ["Code Coverage"],
        },
    ]


def test_two_teams_with_the_same_names_build_and_decide_each_their_own(tmp_path):
    sources = write_sources(
        tmp_path / "src",
        {
            "specification.json": json.dumps(COVERAGE_SPECIFICATION),
            "team-a.json": json.dumps(team(2, 80)),
            "team-b.json": json.dumps(team(3, 90)),
        },
    )
    result = check_sources([str(sources)])
    assert result.ok, render_all_text(result.diagnostics, result.texts)
    bundle = build([sources], tmp_path)
    team_a, team_b = "organization=1:account=2:namespace=5", "organization=1:account=3:namespace=6"
    assert results(
        bundle,
        request(team_a, 85),
        request(team_b, 85),
        request(team_b, 95),
        request(team_a, 70),
    ) == ["approve", "manual", "approve", "manual"]
    decision = eval_bundle(str(bundle), request(team_b, 85))
    (action,) = decision["actions"]
    # Each team's action has its own id, derived from what nullplatform keeps unique.
    assert action["id"] == "deployment:create@organization=1:account=3[environment=production]"
    assert action["policies"][0]["name"] == "Code Coverage"
    assert action["policies"][0]["passed"] is False


# What `GET /approval/action?...` answers: a list envelope of actions with ids,
# each embedding its policies (a policy shared by two actions appears in both).
API_EXPORT = {
    "paging": {"total": 2, "offset": 0, "limit": 30},
    "results": [
        {
            "id": 1001,
            "nrn": "organization=1:account=2",
            "entity": "deployment",
            "action": "deployment:create",
            "dimensions": {"environment": "production"},
            "status": "active",
            "on_policy_success": "approve",
            "on_policy_fail": "manual",
            "on_checklist_fail": None,
            "checklist_specification_id": None,
            "checklist_template_id": None,
            "policies": [
                {
                    "id": 2001,
                    "nrn": "organization=1",
                    "name": "Code Coverage",
                    "conditions": {"build.metadata.coverage.percent": {"$gte": 80}},
                    "selector": {},
                    "status": "active",
                }
            ],
        },
        {
            "id": 1002,
            "nrn": "organization=1:account=3",
            "entity": "deployment",
            "action": "deployment:create",
            "dimensions": {"environment": "production"},
            "status": "active",
            "on_policy_success": "approve",
            "on_policy_fail": "deny",
            "policies": [
                {
                    "id": 2001,
                    "nrn": "organization=1",
                    "name": "Code Coverage",
                    "conditions": {"build.metadata.coverage.percent": {"$gte": 80}},
                    "selector": {},
                    "status": "active",
                }
            ],
        },
    ],
}


def test_an_api_export_with_ids_and_embedded_policies_decides_by_id(tmp_path):
    sources = write_sources(
        tmp_path / "src",
        {
            "specifications.json": json.dumps({"results": [COVERAGE_SPECIFICATION], "total": 1}),
            "actions.json": json.dumps(API_EXPORT),
        },
    )
    result = check_sources([str(sources)])
    assert result.ok, render_all_text(result.diagnostics, result.texts)
    assert [p.id for p in result.program.policies] == [2001]  # declared once
    bundle = build([sources], tmp_path)
    decision = eval_bundle(str(bundle), request("organization=1:account=3", 70))
    assert decision["result"] == "deny"
    (action,) = decision["actions"]
    assert action["id"] == 1002
    assert action["policies"][0]["id"] == 2001
    assert results(bundle, request("organization=1:account=2", 70)) == ["manual"]


def test_association_payloads_bind_actions_to_policies_by_id(tmp_path):
    payloads = [
        {**COVERAGE_SPECIFICATION},
        {
            "id": 2001,
            "nrn": "organization=1",
            "name": "Code Coverage",
            "conditions": {"build.metadata.coverage.percent": {"$gte": 80}},
        },
        {
            "id": 1001,
            "nrn": "organization=1",
            "entity": "deployment",
            "action": "deployment:create",
            "on_policy_success": "approve",
            "on_policy_fail": "deny",
        },
        # The provider's association resource writes both ids as strings.
        {"approval_action_id": "1001", "approval_policy_id": "2001"},
    ]
    sources = write_sources(tmp_path / "src", {"org.json": json.dumps(payloads)})
    bundle = build([sources], tmp_path)
    assert results(bundle, request("organization=1", 70), request("organization=1", 90)) == [
        "deny",
        "approve",
    ]


def test_regate_sources_name_policies_by_id_and_actions_carry_ids_and_names(tmp_path):
    sources = write_sources(
        tmp_path / "src",
        {
            "specifications.json": json.dumps(COVERAGE_SPECIFICATION),
            "org.rg": textwrap.dedent(
                """
                policy "Code Coverage" {
                  id         = 2001
                  nrn        = "organization=1"
                  conditions = {"build.metadata.coverage.percent": {"$gte": 80}}
                }
                policy "Code Coverage" {
                  id         = 2002
                  nrn        = "organization=1:account=2"
                  conditions = {"build.metadata.coverage.percent": {"$gte": 95}}
                }
                action "production" {
                  id                = 1001
                  action            = "deployment:create"
                  nrn               = "organization=1:account=2"
                  on_policy_success = approve
                  policies          = [2001]
                }
                """
            ),
        },
    )
    result = check_sources([str(sources)])
    rendered = render_all_text(result.diagnostics, result.texts)
    assert result.ok, rendered
    bundle = build([sources], tmp_path)
    decision = eval_bundle(str(bundle), request("organization=1:account=2", 85))
    assert decision["result"] == "approve"  # policy 2001 (80), not the account's 2002 (95)
    (action,) = decision["actions"]
    assert (action["id"], action["name"]) == (1001, "production")
    assert action["policies"] == [
        {"id": 2001, "name": "Code Coverage", "passed": True, "source": "org.rg:2"}
    ]


def test_an_action_with_no_policies_asks_a_person_even_when_it_would_approve(tmp_path):
    sources = write_sources(
        tmp_path / "src",
        {
            "actions.rg": textwrap.dedent(
                """
                action "production" {
                  action            = "deployment:create"
                  nrn               = "organization=1"
                  on_policy_success = approve
                }
                """
            )
        },
    )
    bundle = build([sources], tmp_path)
    decision = eval_bundle(str(bundle), request("organization=1:account=2", 100))
    assert decision["result"] == "manual"
    assert decision["actions"][0]["policies"] == []
