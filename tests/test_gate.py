"""`regate gate`: reports → request → a real OPA → explanation and exit status."""

from __future__ import annotations

from pathlib import Path

import pytest

from compiler.evidence.formats import FORMATS
from tests.conftest import QUALITY_GATES, REPO, build, run_cli

REPORTS = REPO / "tests" / "fixtures" / "reports"
NRN = "organization=1:account=2:namespace=3:application=4:scope=5"

pytestmark = pytest.mark.opa


@pytest.fixture(scope="module")
def bundle(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return build([QUALITY_GATES], tmp_path_factory.mktemp("gate"))


def gate(decider: list[str], *evidence: str):
    arguments = ["gate", *decider, "--action", "deployment:create", "--nrn", NRN]
    arguments += ["--dimension", "environment=production", "--sources", str(QUALITY_GATES)]
    for item in evidence:
        arguments += ["--evidence", item]
    return run_cli(*arguments)


def without_revision(text: str) -> str:
    revision = text.split("(bundle revision ")[1].split(")")[0]
    return text.replace(revision, "<revision>")


@pytest.mark.parametrize(
    ("evidence", "status"),
    [
        pytest.param(
            ["build.coverage=cobertura.xml", "build.security=grype.json"],  # 85.71 %, no critical
            0,
            id="approve",
        ),
        pytest.param(
            [
                "build.coverage=lcov:lcov.info",
                "build.security=trivy:trivy.json",
            ],  # 60 %, 1 critical
            3,
            id="manual",
        ),
        pytest.param(
            # 90.62 %, no critical, two leaked secrets
            [
                "build.coverage=coverage.json",
                "build.security=grype.json",
                "build.security=gitleaks.json",
            ],
            4,
            id="deny",
        ),
    ],
)
def test_reports_decide_and_set_the_exit_status(opa, bundle, evidence, status, snapshot):
    arguments = []
    for item in evidence:
        target, report = item.split("=", 1)
        format, colon, name = report.rpartition(":")
        arguments.append(f"{target}={format}{colon}{REPORTS / name}")
    result = gate(["--bundle", str(bundle)], *arguments)
    assert (result.exit_code, result.stderr) == (status, "")
    assert without_revision(result.stdout) == snapshot


def test_a_sidecar_decides_the_same(sidecar, bundle):
    server = sidecar(bundle)
    result = gate(
        ["--opa-url", server.url],
        f"build.coverage={REPORTS / 'jacoco.xml'}",  # 75 %
        f"build.security={REPORTS / 'trivy.json'}",
        f"build.security={REPORTS / 'semgrep.json'}",
    )
    assert result.exit_code == 3
    lines = result.stdout.splitlines()
    assert lines[0].startswith("manual approval required (bundle revision ")
    assert '    policy "Code Coverage" (policies.rg:5) failed:' in lines
    assert (
        "      build.metadata.coverage.code.coverage is 75.0, needs ≥ 80 (policies.rg:8)" in lines
    )


def test_no_applying_action_approves(opa, bundle):
    result = run_cli(
        "gate", "--bundle", str(bundle), "--action", "deployment:create", "--nrn", NRN,
        "--dimension", "environment=staging",
        "--evidence", f"build.coverage={REPORTS / 'lcov.info'}",
    )  # fmt: skip
    assert result.exit_code == 0
    assert without_revision(result.stdout) == (
        "approved (bundle revision <revision>)\n  no approval action applies to this request\n"
    )


def test_a_bad_report_decides_nothing(bundle):
    result = gate(["--bundle", str(bundle)], f"build.coverage={REPORTS / 'semgrep.json'}")
    assert (result.exit_code, result.stdout) == (1, "")
    assert result.stderr.startswith(
        f"{REPORTS}/semgrep.json:1:1: error[RG073]: the metadata from {REPORTS}/semgrep.json "
        'does not fit specification "Coverage Schema"'
    )


def test_an_unrecognised_report(tmp_path, bundle):
    report = tmp_path / "scan.json"
    report.write_text('{"issues": []}')
    result = gate(["--bundle", str(bundle)], f"build.security={report}")
    assert (result.exit_code, result.stdout) == (1, "")
    assert result.stderr.splitlines() == [
        f"{report}:1:1: error[RG072]: {report} is not a report regate recognises (expected one of "
        f"{', '.join(FORMATS)})",
        f"help: name the format: FORMAT:{report}, and regate says what it lacks",
        "",
        "1 error, 0 warnings",
    ]


def test_evidence_for_a_key_without_specification(bundle):
    result = gate(["--bundle", str(bundle)], f"build.quality={REPORTS / 'lcov.info'}")
    assert result.exit_code == 1
    assert result.stderr == (
        f'{QUALITY_GATES}:1:1: error[RG032]: no metadata specification for "build.metadata.quality" '
        f"at {NRN} in {QUALITY_GATES}\n"
        "\n"
        "1 error, 0 warnings\n"
    )


@pytest.mark.parametrize(
    "arguments",
    [
        ["--evidence", "build.coverage"],  # no =REPORT
        ["--evidence", "coverage=lcov.info"],  # no ENTITY.KEY
        ["--evidence", "build.coverage=lcov.info", "--dimension", "production"],
    ],
)
def test_usage_errors_exit_2(bundle, arguments):
    common = ["gate", "--bundle", str(bundle), "--action", "deployment:create", "--nrn", NRN]
    assert run_cli(*common, *arguments).exit_code == 2


def test_exactly_one_decider(bundle):
    arguments = ["gate", "--action", "a", "--nrn", NRN, "--evidence", "build.coverage=x"]
    assert run_cli(*arguments).exit_code == 2
    both = [*arguments, "--bundle", str(bundle), "--opa-url", "http://127.0.0.1:1"]
    assert run_cli(*both).exit_code == 2
