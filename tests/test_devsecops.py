"""bundles/devsecops end to end: its own tests, `regate gate` on real tool reports through
each of its gates with a real OPA, and the CI files of docs/ci/ that replace the seed's
security_gate.sh, each `regate` command they run run here against the example bundle
and the reports (tests/fixtures/reports/real, sources and licences in its README)."""

from __future__ import annotations

import json
import re
import shlex
import shutil
import subprocess
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import yaml
from click.testing import Result

from compiler.bundle import write_directory
from compiler.cli import main
from compiler.driver import compile_sources
from compiler.input_schema import INPUT_SCHEMA
from tests.conftest import REPO, build, run_cli
from tests.test_check_opa import opa_check
from tests.test_evidence_real import REAL
from tests.test_provenance import ENVELOPE, signer_key  # noqa: F401 (a fixture)
from tests.test_vex import SBOM, VEX

pytestmark = pytest.mark.opa

BUNDLE = REPO / "bundles" / "devsecops"
CI = REPO / "docs" / "ci"
NRN = "organization=1:account=2:namespace=3:application=4"
DIGEST = "sha256:ec8ff1bb40da2a36e3e9113dd7a5dd452c5125f7013e849519c0754b3c9fda89"
EXPIRY = re.compile(r'expires\s*= "[^"]*"')


def copy_stack(directory: Path, expires: datetime) -> Path:
    """bundles/devsecops with its exception expiring at `expires`: decisions by OPA's
    real clock stay the same whatever day the suite runs."""
    shutil.copytree(BUNDLE, directory)
    exceptions = directory / "exceptions.rg"
    moment = expires.strftime("%Y-%m-%dT%H:%M:%SZ")
    exceptions.write_text(EXPIRY.sub(f'expires = "{moment}"', exceptions.read_text()))
    return directory


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Path:
    directory = tmp_path_factory.mktemp("stack")
    sources = copy_stack(directory / "devsecops", datetime.now(UTC) + timedelta(days=30))
    return build([sources], directory)


@pytest.fixture(scope="module")
def expired(tmp_path_factory: pytest.TempPathFactory) -> Path:
    directory = tmp_path_factory.mktemp("expired")
    sources = copy_stack(directory / "devsecops", datetime.now(UTC) - timedelta(days=1))
    return build([sources], directory)


def test_the_example_bundle_passes_its_own_tests():
    result = run_cli("test", "--coverage", str(BUNDLE))
    assert result.exit_code == 0, result.stderr
    assert result.stdout.startswith("107 passed, 0 failed (18 from test blocks")
    assert "coverage: 12/12 policies, 21/21 conditions" in result.stdout


def test_the_bundle_is_opa_fmt_and_strict_check_clean(opa, tmp_path):
    """Its exceptions module and the decision's branch for it, with the input schema."""
    result = compile_sources([str(BUNDLE)], with_tests=True)
    assert result.files is not None
    write_directory(str(tmp_path), result.files)
    assert "regate/exceptions/exceptions.rego" in result.files
    formatted = subprocess.run(
        [opa, "fmt", "--list", str(tmp_path)], capture_output=True, text=True
    )
    assert (formatted.returncode, formatted.stdout) == (0, "")
    assert opa_check(opa, tmp_path, json.loads(result.files[INPUT_SCHEMA])) == ""


def gate(bundle: Path, *arguments: str) -> Result:
    return run_cli("gate", "--bundle", str(bundle), "--sources", str(BUNDLE), *arguments)


def explanation(result: Result) -> list[str]:
    """The explanation without its first line (it names the bundle revision)."""
    return result.stdout.splitlines()[1:]


# --- merge request gate ---

MR = ["--action", "merge_request:merge", "--nrn", NRN, "--attribute", "merge_request.draft=false"]
SEMGREP = REAL / "semgrep/equivalence.json"
OSV = REAL / "osv-scanner/max-severity.json"
HEAD, BASE = REAL / "checkov/head.json", REAL / "checkov/base.json"
QUALITY = REAL / "sonarqube/project_status-example.json"


def test_the_merge_request_gate_on_real_reports(stack):
    result = gate(
        stack, *MR, "--with-findings",
        "--evidence", f"merge_request.sast=semgrep:{SEMGREP}",
        "--baseline", f"merge_request.sast=semgrep:{SEMGREP}",
        "--evidence", f"merge_request.secrets=gitleaks:{REAL / 'gitleaks/json_simple.json'}",
        "--evidence", f"merge_request.dependencies=osv-scanner:{OSV}",
        "--evidence", f"merge_request.iac=checkov:{HEAD}",
        "--baseline", f"merge_request.iac=checkov:{BASE}",
        "--evidence", f"merge_request.quality=sonarqube-gate:{QUALITY}",
    )  # fmt: skip
    assert (result.exit_code, result.stderr) == (4, "")
    assert explanation(result) == [
        '  action "merge-request-gate" (merge_request:merge at organization=1) denies',
        '    policy "No New High SAST Findings" (policies.rg:8) passed',
        '    policy "No Secrets In The Change" (policies.rg:16) failed:',
        "      merge_request.metadata.secrets.security.secrets.total is 1, needs = 0 "
        "(policies.rg:19)",
        '    policy "No New Vulnerable Dependencies" (policies.rg:23) failed:',
        "      merge_request.metadata.dependencies.security.vulnerabilities.critical is 1, "
        "needs = 0 (policies.rg:26)",
        '    policy "No New IaC Misconfigurations" (policies.rg:31) failed:',
        "      merge_request.metadata.iac.security.findings.high is 3, needs = 0 (policies.rg:35)",
        '    policy "New Code Quality Gate" (policies.rg:40) failed:',
        "      merge_request.metadata.quality.quality_gate.passed is false, needs = true "
        "(policies.rg:43)",
        '    policy "Not A Draft" (policies.rg:48) passed',
    ]


def test_a_clean_merge_request_merges(stack, tmp_path):
    """Nothing new against the target branch, no secret (gitleaks writes [] when it
    finds none), SonarQube's gate passed (the real response, its status OK)."""
    gitleaks = tmp_path / "gitleaks.json"
    gitleaks.write_text("[]\n")
    quality = json.loads(QUALITY.read_text())
    quality["projectStatus"]["status"] = "OK"
    passed = tmp_path / "sonarqube.json"
    passed.write_text(json.dumps(quality))
    result = gate(
        stack, *MR, "--with-findings",
        "--evidence", f"merge_request.sast=semgrep:{SEMGREP}",
        "--evidence", f"merge_request.secrets=gitleaks:{gitleaks}",
        "--evidence", f"merge_request.dependencies=osv-scanner:{OSV}",
        "--baseline", f"merge_request.dependencies=osv-scanner:{OSV}",
        "--evidence", f"merge_request.iac=checkov:{HEAD}",
        "--baseline", f"merge_request.iac=checkov:{HEAD}",
        "--evidence", f"merge_request.quality=sonarqube-gate:{passed}",
    )  # fmt: skip
    assert (result.exit_code, result.stderr) == (0, "")


# --- package gate ---

GRYPE = REAL / "grype/chainguard-ruby.json"


@pytest.fixture(scope="module")
def vex(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("vex") / "vex.cdx.json"
    path.write_text(json.dumps(VEX))
    return path


def package(bundle: Path, key: Path, vex: Path, nrn: str = NRN, *more: str) -> Result:
    return gate(
        bundle, "--action", "artifact:promote", "--nrn", nrn, "--with-findings",
        "--attribute", "artifact.registry=registry.example.com",
        "--attribute", f"artifact.digest={DIGEST}",
        "--evidence", f"artifact.image=grype:{GRYPE}",
        "--evidence", f"artifact.sbom=cyclonedx:{SBOM}", "--vex", f"artifact.sbom={vex}",
        "--evidence", f"artifact.provenance={ENVELOPE}", "--key", f"artifact.provenance={key}",
        *more,
    )  # fmt: skip


def test_the_package_gate_promotes_with_the_exception_in_force(stack, signer_key, vex):  # noqa: F811
    result = package(stack, signer_key, vex)
    assert (result.exit_code, result.stderr) == (0, "")
    lines = explanation(result)
    assert lines[0] == '  action "package-gate" (artifact:promote at organization=1) approves'
    assert lines[-1].startswith(
        '  exception "uri ReDoS in the ruby base image" (exceptions.rg:10) excepted 3 findings '
        "of CVE-2023-28755 (owner appsec@example.com, expires "
    )


def test_the_exception_does_not_reach_another_account(stack, signer_key, vex):  # noqa: F811
    result = package(stack, signer_key, vex, "organization=1:account=3")
    assert result.exit_code == 4
    assert (
        "      artifact.metadata.image.security.vulnerabilities.high is 3, needs = 0 "
        "(policies.rg:61)" in explanation(result)
    )


def test_an_expired_exception_no_longer_counts_and_is_listed(expired, signer_key, vex, tmp_path):  # noqa: F811
    result = package(expired, signer_key, vex, NRN, "--record", str(tmp_path))
    assert result.exit_code == 4
    lines = explanation(result)
    assert (
        "      artifact.metadata.image.security.vulnerabilities.high is 3, needs = 0 "
        "(policies.rg:61)" in lines
    )
    assert lines[-1].startswith(
        '  exception "uri ReDoS in the ruby base image" (exceptions.rg:10) would have excepted 3 '
        "findings of CVE-2023-28755 (owner appsec@example.com, expired "
    )
    (record,) = tmp_path.glob("*.json")
    assert json.loads(record.read_text())["exceptions"] == []  # none was used


def test_without_the_findings_the_exception_has_nothing_to_apply_to(stack, signer_key, vex):  # noqa: F811
    result = gate(
        stack, "--action", "artifact:promote", "--nrn", NRN,
        "--attribute", "artifact.registry=registry.example.com",
        "--evidence", f"artifact.image=grype:{GRYPE}",
        "--evidence", f"artifact.sbom=cyclonedx:{SBOM}", "--vex", f"artifact.sbom={vex}",
        "--evidence", f"artifact.provenance={ENVELOPE}", "--key", f"artifact.provenance={signer_key}",
    )  # fmt: skip
    assert result.exit_code == 4
    assert "warning[RG149]: the bundle has finding exceptions, but artifact.image, " in (
        result.stderr
    )


def test_an_artifact_for_another_registry_is_not_promoted(stack, signer_key, vex):  # noqa: F811
    result = package(stack, signer_key, vex, NRN, "--attribute", "artifact.registry=docker.io")
    assert result.exit_code == 4
    assert (
        '      artifact.registry is "docker.io", needs to be one of "registry.example.com", '
        '"ghcr.io" (policies.rg:87)' in explanation(result)
    )


# --- release gate ---

ZAP = REAL / "zap/basic-traditional-json.json"


def release(bundle: Path, report: Path, *states: str) -> Result:
    checklist = [a for state in states for a in ("--checklist", state)]
    return gate(
        bundle, "--action", "release_candidate:promote", "--nrn", NRN,
        "--attribute", "release_candidate.semver=1.4.0",
        "--evidence", f"release_candidate.dast=zap:{report}", *checklist,
    )  # fmt: skip


def test_the_release_gate_denies_a_high_risk_dast_alert(stack):
    result = release(stack, ZAP, "contract_checks=passed", "release_approval=passed")
    assert result.exit_code == 4
    assert "      item dast_baseline (condition gate, critical): The DAST baseline finds no " in (
        "\n".join(explanation(result))
    )


def test_the_release_gate_waits_for_the_contract_checks_then_the_release_manager(stack, tmp_path):
    report = json.loads(ZAP.read_text())
    for site in report["site"]:
        for alert in site["alerts"]:
            alert["riskcode"] = "1"  # the same alert, low risk
    low = tmp_path / "zap.json"
    low.write_text(json.dumps(report))
    assert release(stack, low).exit_code == 5
    assert release(stack, low, "contract_checks=passed").exit_code == 3
    assert release(stack, low, "contract_checks=passed", "release_approval=passed").exit_code == 0
    assert release(stack, low, "contract_checks=failed").exit_code == 4


# --- production gate ---


def production(bundle: Path, key: Path, *more: str) -> Result:
    return gate(
        bundle, "--action", "deployment:create", "--nrn", NRN,
        "--dimension", "environment=production", "--with-findings",
        "--evidence", f"build.image=grype:{GRYPE}",
        "--evidence", f"build.provenance={ENVELOPE}", "--key", f"build.provenance={key}",
        *more,
    )  # fmt: skip


def test_the_production_gate_asks_the_approver_and_records_the_exception(
    stack,
    signer_key,  # noqa: F811
    tmp_path,
):
    result = production(stack, signer_key, "--record", str(tmp_path))
    assert result.exit_code == 3
    assert explanation(result)[0] == (
        '  action "production-gate" (deployment:create at organization=1, environment=production)'
        " requires manual approval"
    )
    (record,) = tmp_path.glob("*.json")
    (used,) = json.loads(record.read_text())["exceptions"]
    assert used["exception"]["name"] == "uri ReDoS in the ruby base image"
    assert used["exception"]["findings"] == 3
    assert run_cli("record", "verify", str(record), "--check-files").exit_code == 0


def test_the_same_build_after_the_exception_expired_is_denied(expired, signer_key):  # noqa: F811
    assert production(expired, signer_key).exit_code == 4


# --- the CI files ---


def joined_lines(script: str) -> Iterator[str]:
    """A shell script's lines, continuation lines (a trailing backslash) joined."""
    pending = ""
    for line in script.splitlines():
        if line.rstrip().endswith("\\"):
            pending += line.rstrip()[:-1] + " "
            continue
        yield pending + line
        pending = ""


def regate_commands(script: str) -> list[str]:
    """Each `regate ...` command of a script, as written (up to `||`, `&&`, `>`)."""
    found = []
    for line in joined_lines(script):
        text = line.strip()
        if text.startswith("regate "):
            found.append(re.split(r"\s(?:\|\||&&|>)\s", text)[0])
    return found


def gitlab_commands() -> list[str]:
    pipeline = yaml.safe_load((CI / "devsecops-gitlab-ci.yml").read_text())
    jobs = {name: job for name, job in pipeline.items() if isinstance(job, dict)}
    scripts = [line for job in jobs.values() for key in ("before_script", "script")
               for line in job.get(key, [])]  # fmt: skip
    return [c for script in scripts for c in regate_commands(script)]


def github_commands() -> list[str]:
    workflow = yaml.safe_load((CI / "devsecops-github-actions.yml").read_text())
    steps = [s for job in workflow["jobs"].values() for s in job["steps"] if "run" in s]
    return [c for step in steps for c in regate_commands(step["run"])]


def expand(command: str, environment: dict[str, str], directory: Path) -> list[str]:
    """The command's arguments as the shell would give them: `$(cat FILE)` and
    variables substituted, then split."""
    text = re.sub(r"\$\(cat ([^)]+)\)", lambda m: (directory / m[1]).read_text().strip(), command)
    text = re.sub(r"\$\{?([A-Za-z_][A-Za-z0-9_]*)\}?", lambda m: environment.get(m[1], ""), text)
    return shlex.split(text)


@pytest.fixture
def repository(tmp_path: Path, signer_key: Path, vex: Path) -> Path:  # noqa: F811
    """A pipeline's working directory: the policy repository at $GATES (its exception in
    force), the builder's key, and each report under the name the CI files give it."""
    copy_stack(tmp_path / "gates" / "devsecops", datetime.now(UTC) + timedelta(days=30))
    reports = {
        "semgrep.json": SEMGREP,
        "baseline/semgrep.json": SEMGREP,
        "gitleaks.json": REAL / "gitleaks/json_simple.json",
        "osv-scanner.json": OSV,
        "baseline/osv-scanner.json": OSV,
        "checkov.json": HEAD,
        "baseline/checkov.json": BASE,
        "sonarqube-gate.json": QUALITY,
        "grype.json": GRYPE,
        "sbom.cdx.json": SBOM,
        "vex/vex.cdx.json": vex,
        "provenance.intoto.jsonl": ENVELOPE,
        "keys/builder.pub": signer_key,
        "zap.json": ZAP,
    }
    for name, source in reports.items():
        (tmp_path / name).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy(source, tmp_path / name)
    (tmp_path / "image.digest").write_text(DIGEST + "\n")
    return tmp_path


def ci_environment(path: Path) -> dict[str, str]:
    """The CI file's own variables, and what GitLab or GitHub would set."""
    document = yaml.safe_load(path.read_text())
    own = document.get("variables") or document.get("env") or {}
    return {
        **{key: str(value) for key, value in own.items()},
        "CI_MERGE_REQUEST_IID": "17", "CI_MERGE_REQUEST_SOURCE_BRANCH_NAME": "feature/login",
        "CI_MERGE_REQUEST_TARGET_BRANCH_NAME": "main", "CI_MERGE_REQUEST_DRAFT": "false",
        "CI_REGISTRY": "registry.example.com", "CI_REGISTRY_IMAGE": "registry.example.com/shop/web",
        "IMAGE_DIGEST": DIGEST, "CI_COMMIT_TAG": "v1.4.0",
        "PR_NUMBER": "17", "PR_DRAFT": "false", "GITHUB_HEAD_REF": "feature/login",
        "GITHUB_BASE_REF": "main", "GITHUB_REPOSITORY": "shop/web", "GITHUB_REF_NAME": "v1.4.0",
    }  # fmt: skip


# What each gate decides on the real reports: the merge request adds a secret, IaC
# misconfigurations and fails SonarQube's gate; the artifact is clean but for the
# excepted uri ReDoS; ZAP finds a high-risk alert; production waits for its approver.
OUTCOMES = {
    "merge_request:merge": 4,
    "artifact:promote": 0,
    "release_candidate:promote": 4,
    "deployment:create": 3,
}


@pytest.mark.parametrize(
    ("ci_file", "commands"),
    [
        ("devsecops-gitlab-ci.yml", gitlab_commands),
        ("devsecops-github-actions.yml", github_commands),
    ],
    ids=["gitlab", "github"],
)
def test_the_ci_files_regate_commands_decide_the_real_reports(
    repository, monkeypatch, ci_file, commands
):
    environment = ci_environment(CI / ci_file)
    monkeypatch.chdir(repository)
    decided: dict[str, int] = {}
    for command in dict.fromkeys(commands()):  # the same build, run once
        arguments = expand(command, environment, repository)[1:]
        name = arguments[0]
        # Parses as the command would: an unknown or a missing option fails here.
        main.commands[name].make_context(name, list(arguments[1:]))
        result = run_cli(*arguments)
        if name == "build":
            assert (result.exit_code, result.stderr) == (0, ""), command
            continue
        assert name == "gate", command
        assert result.stderr.count("error[") == 0, result.stderr
        decided[arguments[arguments.index("--action") + 1]] = result.exit_code
    assert decided == OUTCOMES
    assert len(list((repository / "decisions").glob("*.json"))) == 4


@pytest.mark.parametrize("ci_file", ["devsecops-gitlab-ci.yml", "devsecops-github-actions.yml"])
def test_the_ci_files_replace_the_security_gate_script(ci_file):
    text = (CI / ci_file).read_text()
    assert "security_gate.sh" in text  # what they replace, named in their header
    assert "jq " not in text
    workflow: Any = yaml.safe_load(text)
    assert workflow


def test_manual_results_are_the_ones_the_ci_files_let_through():
    """3 (a person decides next) passes the job where a person's step follows; 4 never."""
    gitlab = yaml.safe_load((CI / "devsecops-gitlab-ci.yml").read_text())
    allowed = {
        name: job.get("allow_failure", {}).get("exit_codes")
        for name, job in gitlab.items()
        if isinstance(job, dict) and "regate gate" in "\n".join(job.get("script", []))
    }
    assert allowed == {
        "merge_request_gate": None,
        "package_gate": None,
        "release_gate": [3],
        "production_gate": [3],
    }
    assert gitlab["deploy_production"]["rules"][0]["when"] == "manual"
    github = yaml.safe_load((CI / "devsecops-github-actions.yml").read_text())
    steps = [s["run"] for job in github["jobs"].values() for s in job["steps"] if "run" in s]
    gates = [s for s in steps if "regate gate" in s]
    assert [s.rstrip().endswith("|| [ $? -eq 3 ]") for s in gates] == [False, False, True, True]
    assert github["jobs"]["deploy"]["environment"] == "production"
