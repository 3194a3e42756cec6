"""Waivers and audit mode (issue 5): checked at compile time, counted by OPA's clock."""

from __future__ import annotations

import subprocess
from datetime import UTC, datetime
from pathlib import Path

import pytest

from compiler.bundle import write_directory
from compiler.diagnostics import render_all_text
from compiler.driver import check_sources, compile_sources
from tests.conftest import build, load_request, write_sources

SOURCES = """
specification "Coverage" {
  entity = build
  metadata = coverage
  nrn = "organization=1"
  schema = {"type": "object", "properties": {"percent": {"type": "number"}}}
}
policy "Coverage" {
  nrn = "organization=1"
  conditions = {"build.metadata.coverage.percent": {"$gte": 80}}
}
policy "Tier" {
  nrn = "organization=1"
  conditions = {"scope.tier": "gold"}
}
action "gate" {
  action = "deployment:create"
  nrn = "organization=1"
  on_policy_success = approve
  on_policy_fail = deny
  policies = ["Coverage", "Tier"]
}
action "watch" {
  action = "deployment:create"
  nrn = "organization=1"
  on_policy_success = approve
  on_policy_fail = deny
  enforcement = audit
  policies = ["Tier"]
}
waiver "legacy coverage" {
  policy = "Coverage"
  nrn = "organization=1:account=2"
  dimensions = {"environment": "production"}
  owner = "team-payments"
  reason = "legacy service, tests being written"
  compensating_controls = ["canary rollout", "on-call review"]
  expires = "2999-12-31"
  review = "SEC-123"
}
waiver "old tier" {
  policy = "Tier"
  nrn = "organization=1"
  owner = "platform"
  reason = "migration"
  expires = "2020-01-01T00:00:00Z"
}
"""


def request(percent: int, tier: str = "gold", nrn: str = "organization=1:account=2:namespace=3"):
    document = load_request("01-coverage-70.json")
    document["nrn"] = nrn
    document["entities"] = {
        "scope": {"dimensions": {"environment": "production"}, "tier": tier},
        "build": {"metadata": {"coverage": {"percent": percent}}},
    }
    return document


@pytest.fixture(scope="module")
def bundle(tmp_path_factory) -> Path:
    directory = tmp_path_factory.mktemp("waivers")
    write_sources(directory / "src", {"gates.rg": SOURCES})
    return build([directory / "src"], directory)


@pytest.mark.opa
def test_a_waiver_in_force_turns_a_failure_into_a_visible_waived_pass(bundle, sidecar):
    decision = sidecar(bundle).decide(request(percent=50))
    gate = next(a for a in decision["actions"] if a["id"] == "gate")
    assert gate["result"] == "approve"
    assert gate["policies"][0] == {
        "name": "Coverage",
        "source": "gates.rg:8",
        "passed": False,
        "waived": True,
        "waiver": {
            "name": "legacy coverage",
            "policy": "Coverage",
            "nrn": "organization=1:account=2",
            "dimensions": {"environment": "production"},
            "owner": "team-payments",
            "reason": "legacy service, tests being written",
            "compensating_controls": ["canary rollout", "on-call review"],
            "expires": "3000-01-01T00:00:00Z",
            "review": "SEC-123",
            "source": "gates.rg:31",
        },
    }


@pytest.mark.opa
def test_a_waiver_applies_only_in_its_nrn_subtree(bundle, sidecar):
    decision = sidecar(bundle).decide(request(percent=50, nrn="organization=1:account=3"))
    gate = next(a for a in decision["actions"] if a["id"] == "gate")
    assert gate["result"] == "deny"
    assert gate["policies"][0] == {"name": "Coverage", "source": "gates.rg:8", "passed": False}


@pytest.mark.opa
def test_an_expired_waiver_no_longer_counts(bundle, sidecar):
    decision = sidecar(bundle).decide(request(percent=90, tier="silver"))
    gate = next(a for a in decision["actions"] if a["id"] == "gate")
    assert gate["result"] == "deny"
    assert gate["policies"][1] == {"name": "Tier", "source": "gates.rg:12", "passed": False}
    assert decision["result"] == "deny"


@pytest.mark.opa
def test_an_audit_action_reports_would_be_without_gating(bundle, sidecar):
    decision = sidecar(bundle).decide(request(percent=90, tier="silver"))
    watch = next(a for a in decision["actions"] if a["id"] == "watch")
    assert (watch["result"], watch["enforcement"], watch["would_be"]) == (
        "approve",
        "audit",
        "deny",
    )
    decision = sidecar(bundle).decide(request(percent=90, tier="gold"))
    assert decision["result"] == "approve"
    assert all("would_be" not in a or a["would_be"] == "approve" for a in decision["actions"])


@pytest.mark.opa
def test_the_expiry_boundary_with_opa_test(opa, tmp_path):
    """opa test, with time.now_ns pinned one nanosecond either side of the expiry."""
    expiry = "2030-06-01T12:00:00Z"
    write_sources(tmp_path / "src", {"gates.rg": SOURCES.replace('"2999-12-31"', f'"{expiry}"')})
    result = compile_sources([str(tmp_path / "src")])
    assert result.files is not None
    write_directory(str(tmp_path / "bundle"), result.files)
    expires_ns = int(datetime.fromisoformat(expiry).timestamp()) * 10**9
    (tmp_path / "bundle" / "expiry_test.rego").write_text(
        f"""package expiry_test

request := {{
\t"action": "deployment:create",
\t"nrn": "organization=1:account=2",
\t"entities": {{
\t\t"scope": {{"dimensions": {{"environment": "production"}}, "tier": "gold"}},
\t\t"build": {{"metadata": {{"coverage": {{"percent": 10}}}}}},
\t}},
}}

test_waived_one_nanosecond_before_expiry if {{
\tdata.regate.decision.result == "approve" with input as request with time.now_ns as {expires_ns - 1}
}}

test_not_waived_at_expiry if {{
\tdata.regate.decision.result == "deny" with input as request with time.now_ns as {expires_ns}
}}
"""
    )
    run = subprocess.run(
        [opa, "test", str(tmp_path / "bundle"), "-v", "--run", "expiry_test"],
        capture_output=True,
        text=True,
    )
    assert run.returncode == 0, run.stdout + run.stderr
    assert "PASS: 2/2" in run.stdout


def check_waivers(tmp_path, text: str, now: str) -> str:
    write_sources(tmp_path, {"gates.rg": SOURCES + text})
    result = check_sources(
        [str(tmp_path / "gates.rg")], datetime.fromisoformat(now).astimezone(UTC)
    )
    return render_all_text(result.diagnostics, result.texts).replace(str(tmp_path) + "/", "")


def test_check_warns_about_expired_and_expiring_waivers(tmp_path):
    rendered = check_waivers(
        tmp_path,
        'waiver "soon" { policy = "Tier" nrn = "organization=1" owner = "o" reason = "r" '
        'expires = "2026-12-01" }\n',
        now="2026-11-22T00:00:00Z",
    )
    assert rendered == (
        'gates.rg:46:13: warning[RG057]: waiver "old tier" expired at 2020-01-01T00:00:00Z; it no longer applies\n'
        ' 46 |   expires = "2020-01-01T00:00:00Z"\n'
        "    |             ^^^^^^^^^^^^^^^^^^^^^^\n"
        "help: remove it, or renew it with a new review\n"
        "\n"
        'gates.rg:48:91: warning[RG058]: waiver "soon" expires at 2026-12-02T00:00:00Z, within 14 days\n'
        ' 48 | waiver "soon" { policy = "Tier" nrn = "organization=1" owner = "o" reason = "r" expires = "2026-12-01" }\n'
        "    |                                                                                           ^^^^^^^^^^^^\n"
        "help: owner: o\n"
        "\n"
        "0 errors, 2 warnings\n"
    )


def test_check_rejects_waivers_without_owner_or_expiry_or_with_an_unknown_policy(tmp_path):
    rendered = check_waivers(
        tmp_path,
        'waiver "bad" { policy = "Coverge" nrn = "organization=1" reason = "r" }\n',
        now="2026-11-22T00:00:00Z",
    )
    assert "gates.rg:48:1: error[RG011]: waiver is missing `owner`" in rendered
    assert "gates.rg:48:1: error[RG011]: waiver is missing `expires`" in rendered
    rendered = check_waivers(
        tmp_path,
        'waiver "bad" { policy = "Coverge" nrn = "organization=1" owner = "o" reason = "r" '
        'expires = "2999-01-01" }\n',
        now="2026-11-22T00:00:00Z",
    )
    assert 'error[RG050]: waiver "bad" names an unknown policy "Coverge"' in rendered
    assert 'help: did you mean "Coverage"?' in rendered


def test_expiry_must_carry_a_zone(tmp_path):
    rendered = check_waivers(
        tmp_path,
        'waiver "bad" { policy = "Tier" nrn = "organization=1" owner = "o" reason = "r" '
        'expires = "2999-01-01T10:00:00" }\n',
        now="2026-11-22T00:00:00Z",
    )
    assert (
        'error[RG012]: `expires` must be a date or an RFC 3339 time with a zone, not "2999-01-01T10:00:00"'
        in rendered
    )
