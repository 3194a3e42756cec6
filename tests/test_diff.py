"""regate diff: two versions of the example that differ in one threshold, as directories and as
git revisions, decided by a real OPA."""

from __future__ import annotations

import json
import re
import shutil
import subprocess

import pytest

from tests.conftest import QUALITY_GATES, REQUESTS, run_cli

pytestmark = pytest.mark.opa

THRESHOLD_LOWERED = """\
{requests}/01-coverage-70.json: manual -> approve
  old: manual approval required (bundle revision R)
    action "deployment-create-production" (deployment:create at organization=1:account=2:namespace=3, environment=production) requires manual approval
      policy "Code Coverage" (policies.rg:5) failed:
        build.metadata.coverage.code.coverage is 70, needs ≥ 80 (policies.rg:8)
      policy "Security" (policies.rg:12) passed
    action "deployment-create-production-secrets" (deployment:create at organization=1, environment=production) approves
      policy "No Leaked Secrets" (policies.rg:21) passed
  new: approved (bundle revision R)
    action "deployment-create-production" (deployment:create at organization=1:account=2:namespace=3, environment=production) approves
      policy "Code Coverage" (policies.rg:5) passed
      policy "Security" (policies.rg:12) passed
    action "deployment-create-production-secrets" (deployment:create at organization=1, environment=production) approves
      policy "No Leaked Secrets" (policies.rg:21) passed

1 of 6 requests changed
"""


def without_revisions(report: str) -> str:
    """Revisions are content hashes: any change to the compiler changes them."""
    return re.sub(r"bundle revision [0-9a-f]{20}", "bundle revision R", report)


def lower_the_coverage_threshold(directory) -> None:
    policies = directory / "policies.rg"
    text = policies.read_text()
    assert '{"$gte": 80}' in text
    policies.write_text(text.replace('{"$gte": 80}', '{"$gte": 70}'))


@pytest.fixture
def versions(tmp_path):
    old, new = tmp_path / "old", tmp_path / "new"
    shutil.copytree(QUALITY_GATES, old)
    shutil.copytree(old, new)
    lower_the_coverage_threshold(new)
    return old, new


def test_a_lowered_threshold_flips_the_request_at_70_percent(versions, opa):
    old, new = versions
    result = run_cli("diff", str(old), str(new), "--requests", str(REQUESTS))
    assert (result.exit_code, without_revisions(result.stdout)) == (
        1,
        THRESHOLD_LOWERED.format(requests=REQUESTS),
    )


def test_the_same_sources_change_nothing(versions, opa):
    old, _new = versions
    result = run_cli("diff", str(old), str(QUALITY_GATES), "--requests", str(REQUESTS))
    assert (result.exit_code, result.stdout) == (0, "0 of 6 requests changed\n")


def test_json_report_carries_both_decisions(versions, opa):
    old, new = versions
    result = run_cli("diff", str(old), str(new), "--requests", str(REQUESTS), "--format", "json")
    assert result.exit_code == 1
    report = json.loads(result.stdout)
    (change,) = report["changed"]
    assert (report["requests"], change["old"]["result"], change["new"]["result"]) == (
        6,
        "manual",
        "approve",
    )
    assert change["old"]["revision"] != change["new"]["revision"]


def git(*arguments: str, cwd) -> None:
    subprocess.run(
        ["git", "-c", "user.name=regate", "-c", "user.email=regate@example.com", *arguments],
        cwd=cwd,
        check=True,
        capture_output=True,
    )


def test_versions_may_be_git_revisions(tmp_path, monkeypatch, opa):
    repository = tmp_path / "repo"
    shutil.copytree(QUALITY_GATES, repository / "policies")
    git("init", "-q", cwd=repository)
    git("add", ".", cwd=repository)
    git("commit", "-qm", "coverage at 80", cwd=repository)
    lower_the_coverage_threshold(repository / "policies")
    git("commit", "-qam", "coverage at 70", cwd=repository)
    monkeypatch.chdir(repository / "policies")  # REV:PATH is relative to the current directory
    result = run_cli("diff", "HEAD~1:.", "HEAD:.", "--requests", str(REQUESTS))
    assert (result.exit_code, without_revisions(result.stdout)) == (
        1,
        THRESHOLD_LOWERED.format(requests=REQUESTS),
    )
    working_tree = run_cli("diff", "HEAD:.", ".", "--requests", str(REQUESTS))
    assert (working_tree.exit_code, working_tree.stdout) == (0, "0 of 6 requests changed\n")
    missing = run_cli("diff", "HEAD:nope", ".", "--requests", str(REQUESTS))
    assert missing.exit_code == 2
    assert missing.stderr.startswith(
        "regate: error[RG066]: cannot read HEAD:nope from git: pathspec 'policies/nope' did not "
        "match any files\n"
    )


def test_a_version_with_errors_is_reported_and_exits_2(versions, opa):
    old, new = versions
    (new / "policies.rg").write_text('policy "P" {\n  nrn = \n}\n')
    result = run_cli("diff", str(old), str(new), "--requests", str(REQUESTS))
    assert (result.exit_code, result.stdout) == (2, "")
    assert result.stderr.startswith(f'{new}/policies.rg:3:1: error[RG002]: unexpected "}}"')


def test_a_bad_request_is_a_diagnostic(versions, tmp_path, opa):
    old, new = versions
    (tmp_path / "requests").mkdir()
    (tmp_path / "requests" / "r.json").write_text('{"action": }\n')
    result = run_cli("diff", str(old), str(new), "--requests", str(tmp_path / "requests"))
    assert (result.exit_code, result.stderr) == (
        2,
        f"{tmp_path}/requests/r.json:1:12: error[RG002]: the request is not valid JSON: "
        "Expecting value\n"
        ' 1 | {"action": }\n'
        "   |            ^\n"
        "\n"
        "1 error, 0 warnings\n",
    )
