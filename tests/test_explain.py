"""`regate explain`: the example's decisions as text a person reads, pinned by snapshots."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.conftest import QUALITY_GATES, REQUESTS, build, run_cli

pytestmark = pytest.mark.opa


@pytest.fixture(scope="module")
def bundle(tmp_path_factory) -> Path:
    return build([QUALITY_GATES], tmp_path_factory.mktemp("explain"))


@pytest.mark.parametrize("request_file", sorted(p.name for p in REQUESTS.glob("*.json")))
def test_explain_the_example_scenarios(bundle, request_file, snapshot):
    result = run_cli("explain", "--bundle", str(bundle), "--input", str(REQUESTS / request_file))
    assert result.exit_code == 0, result.stderr
    revision = result.stdout.split("(bundle revision ")[1].split(")")[0]
    assert result.stdout.replace(revision, "<revision>") == snapshot


def test_explain_a_malformed_request(bundle):
    result = run_cli("explain", "--bundle", str(bundle), "--input", "-", input='{"action": 1}')
    assert result.exit_code == 0
    assert result.stdout.splitlines()[1:] == [
        "  the request is malformed, so no approval action was looked at:",
        '    input.action: error[RQ003]: must be a string such as "deployment:create", not a number',
        "    input.entities: error[RQ007]: is missing; it must be an object",
        '    input.nrn: error[RQ005]: is missing; it must be a string such as "organization=1:account=2"',
    ]
    assert result.stdout.startswith("denied (bundle revision ")


def test_exception_entries_of_another_shape_are_shown_as_they_are():
    from compiler import explain

    decision = {
        "result": "approve",
        "actions": [],
        "revision": "r1",
        "exceptions": [{"name": "log4shell", "findings": 2}, "not an object"],
        "expired_exceptions": {"name": "a lone object"},
    }
    lines = explain.render(decision).splitlines()
    assert lines[2:] == [
        '  exception "log4shell" (?) excepted 2 findings of ? (owner ?, expires ?): ?',
        '  exceptions entry regate cannot read: "not an object"',
        '  exception "a lone object" (?) would have excepted ? findings of ? (owner ?, '
        "expired ?): ?",
    ]
