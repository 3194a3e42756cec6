"""The DevSecOps gate stack end to end: real tool reports → `regate gate` → a real OPA.

tests/fixtures/evidence-gate: a merge gate (no new critical risk against a baseline,
legacy debt bounded), a release gate (SonarQube's quality gate) and a production
gate (verified provenance)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import Result

from tests.conftest import REPO, build, run_cli
from tests.test_evidence_real import REAL
from tests.test_provenance import ENVELOPE, signer_key  # noqa: F401 (a fixture)

SOURCES = REPO / "tests" / "fixtures" / "evidence-gate"
NRN = "organization=1:account=2:namespace=3"

pytestmark = pytest.mark.opa


@pytest.fixture(scope="module")
def bundle(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return build([SOURCES], tmp_path_factory.mktemp("evidence-gate"))


def gate(bundle: Path, environment: str, *arguments: str) -> Result:
    return run_cli(
        "gate", "--bundle", str(bundle), "--action", "deployment:create", "--nrn", NRN,
        "--dimension", f"environment={environment}", "--sources", str(SOURCES), *arguments,
    )  # fmt: skip


def explanation(result: Result) -> list[str]:
    """The explanation without its first line (it names the bundle revision)."""
    return result.stdout.splitlines()[1:]


HEAD, BASE = REAL / "checkov/head.json", REAL / "checkov/base.json"


def test_new_findings_deny_while_legacy_debt_stays_visible(bundle):
    result = gate(
        bundle, "review",
        "--evidence", f"build.new_security={HEAD}", "--baseline", f"build.new_security={BASE}",
        "--evidence", f"build.security={HEAD}",
    )  # fmt: skip
    assert (result.exit_code, result.stderr) == (4, "")
    assert explanation(result) == [
        '  action "merge-gate" (deployment:create at organization=1, environment=review) denies',
        '    policy "No New Critical" (policies.rg:3) failed:',
        "      build.metadata.new_security.security.findings.high is 3, needs not > 0 "
        "(policies.rg:8)",
        '    policy "Legacy Debt Bounded" (policies.rg:12) passed',
    ]


def test_the_same_findings_as_the_baseline_approve(bundle):
    result = gate(
        bundle, "review",
        "--evidence", f"build.new_security={HEAD}", "--baseline", f"build.new_security={HEAD}",
        "--evidence", f"build.security={HEAD}",
    )  # fmt: skip
    assert (result.exit_code, result.stderr) == (0, "")


def test_legacy_debt_past_its_bound_denies_though_nothing_is_new(bundle, tmp_path):
    doubled = tmp_path / "checkov.json"
    report = json.loads(HEAD.read_text())
    report["results"]["failed_checks"] *= 2
    doubled.write_text(json.dumps(report))
    result = gate(
        bundle, "review",
        "--evidence", f"build.new_security={doubled}", "--baseline", f"build.new_security={doubled}",
        "--evidence", f"build.security={doubled}",
    )  # fmt: skip
    assert result.exit_code == 4
    assert (
        "      build.metadata.security.security.findings.total is 22, needs ≤ 20 (policies.rg:15)"
        in explanation(result)
    )


def test_the_findings_list_reaches_the_request_and_fits_the_specification(bundle):
    result = gate(
        bundle, "review", "--with-findings",
        "--evidence", f"build.new_security={HEAD}", "--baseline", f"build.new_security={BASE}",
        "--evidence", f"build.security={BASE}",
    )  # fmt: skip
    assert (result.exit_code, result.stderr) == (4, "")  # the list fits the schema


def test_a_failed_sonarqube_quality_gate_asks_a_person(bundle):
    result = gate(
        bundle,
        "staging",
        "--evidence",
        f"build.quality={REAL / 'sonarqube/project_status-example.json'}",
    )
    assert (result.exit_code, result.stderr) == (3, "")
    assert explanation(result)[-1] == (
        "      build.metadata.quality.quality_gate.passed is false, needs = true (policies.rg:22)"
    )


def test_verified_provenance_approves_the_production_deploy(bundle, signer_key):  # noqa: F811
    result = gate(
        bundle, "production",
        "--evidence", f"build.provenance={ENVELOPE}", "--key", f"build.provenance={signer_key}",
    )  # fmt: skip
    assert (result.exit_code, result.stderr) == (0, "")


def test_unverified_provenance_denies(bundle):
    result = gate(bundle, "production", "--evidence", f"build.provenance={ENVELOPE}")
    assert result.exit_code == 4
    assert "warning[RG111]: the provenance is not verified (no --key was given)" in result.stderr
    assert (
        "      build.metadata.provenance.provenance.verified is false, needs = true (policies.rg:30)"
        in explanation(result)
    )


def test_provenance_is_one_report_per_document(bundle):
    result = gate(
        bundle, "production",
        "--evidence", f"build.provenance={ENVELOPE}", "--evidence", f"build.provenance={ENVELOPE}",
    )  # fmt: skip
    assert (result.exit_code, result.stdout) == (1, "")
    assert f"error[RG079]: {ENVELOPE} is an in-toto provenance envelope, which makes a whole" in (
        result.stderr
    )


@pytest.mark.parametrize(
    "arguments",
    [
        ["--evidence", f"build.security={HEAD}", "--baseline", f"build.other={BASE}"],
        ["--evidence", f"build.security={HEAD}", "--baseline", "build.security"],
        ["--evidence", f"build.provenance={ENVELOPE}", "--key", "build.other=k.pem"],
        [
            "--evidence",
            f"build.provenance={ENVELOPE}",
            "--key",
            "build.provenance=a.pem",
            "--key",
            "build.provenance=b.pem",
        ],
        ["--evidence", f"build.security={HEAD}", "--signing-key", "key.pem"],
    ],
    ids=[
        "baseline-without-evidence",
        "baseline-without-path",
        "key-without-evidence",
        "key-twice",
        "signing-key-without-record",
    ],
)
def test_usage_errors_exit_2(bundle, arguments):
    assert gate(bundle, "review", *arguments).exit_code == 2


def test_a_vex_statement_lifts_the_new_critical_it_covers(bundle, tmp_path):
    from tests.test_vex import SBOM, VEX

    common = ["--evidence", f"build.new_security={SBOM}", "--evidence", f"build.security={BASE}"]
    denied = gate(bundle, "review", *common)
    assert denied.exit_code == 4
    assert (
        "      build.metadata.new_security.security.vulnerabilities.critical is 1, needs not > 0 "
        "(policies.rg:6)" in explanation(denied)
    )
    vex = tmp_path / "vex.cdx.json"
    vex.write_text(json.dumps(VEX))
    approved = gate(bundle, "review", *common, "--vex", f"build.new_security={vex}")
    assert (approved.exit_code, approved.stderr) == (0, "")
