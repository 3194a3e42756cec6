"""The pytest plugin, run by pytester as a policy repository would run it: the decisions are
snapshotted, a policy change that flips one fails, and --snapshot-update accepts it."""

from __future__ import annotations

import shutil

import pytest

from tests.conftest import QUALITY_GATES, REPO

pytest_plugins = ("pytester",)
pytestmark = pytest.mark.opa

EXAMPLE = REPO / "docs" / "ci"  # the policy repository files docs/ci.md tells users to write


@pytest.fixture
def policy_repository(pytester: pytest.Pytester):
    shutil.copytree(QUALITY_GATES, pytester.path / "policies")
    shutil.copytree(QUALITY_GATES / "requests", pytester.path / "recorded-requests")
    pytester.makeini((EXAMPLE / "pytest.ini").read_text())
    pytester.makepyfile(test_decisions=(EXAMPLE / "test_decisions.py").read_text())
    return pytester


def run(pytester: pytest.Pytester, *arguments: str) -> pytest.RunResult:
    # A subprocess, as CI runs it: the plugin is found through its pytest11 entry point.
    return pytester.runpytest_subprocess("-p", "no:cacheprovider", *arguments)


def test_a_decision_change_fails_until_the_snapshot_is_updated(policy_repository, opa):
    recorded = run(policy_repository, "--snapshot-update")
    recorded.assert_outcomes(passed=6)
    snapshots = policy_repository.path / "__snapshots__" / "test_decisions.ambr"
    assert "test_decision[01-coverage-70.json]" in snapshots.read_text()
    run(policy_repository).assert_outcomes(passed=6)

    policies = policy_repository.path / "policies" / "policies.rg"
    policies.write_text(policies.read_text().replace('{"$gte": 80}', '{"$gte": 70}'))
    flipped = run(policy_repository, "-vv")  # syrupy shows the whole diff
    flipped.assert_outcomes(passed=5, failed=1)
    flipped.stdout.fnmatch_lines(
        ["FAILED test_decisions.py::test_decision[[]01-coverage-70.json[]]*"]
    )
    # syrupy's diff: the snapshot (-) said manual, the new decision (+) approves.
    flipped.stdout.fnmatch_lines(["E   *- *'result': 'manual',", "E   *+ *'result': 'approve',"])

    run(policy_repository, "--snapshot-update").assert_outcomes(passed=6)
    run(policy_repository).assert_outcomes(passed=6)


def test_sources_that_do_not_compile_fail_with_the_diagnostics(policy_repository, opa):
    (policy_repository.path / "policies" / "policies.rg").write_text('policy "P" {\n  nrn = \n}\n')
    result = run(policy_repository)
    result.assert_outcomes(errors=6)
    result.stdout.fnmatch_lines(
        [
            "regate: the sources do not compile:",
            'policies/policies.rg:3:1: error[[]RG002[]]: unexpected "}"*',
        ]
    )
