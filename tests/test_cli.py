"""The command line as CONTRACT.md describes it: exit codes, formats, decide."""

from __future__ import annotations

import json

import pytest

from tests.conftest import QUALITY_GATES, REPO, REQUESTS, build, run_cli

SEED = str(REPO / "tests/fixtures/seed-000")


def test_check_clean_sources_exits_0_silently():
    result = run_cli("check", str(QUALITY_GATES))
    assert (result.exit_code, result.stdout, result.stderr) == (0, "", "")


def test_check_with_errors_exits_1_with_diagnostics_on_stderr():
    result = run_cli("check", SEED)
    assert result.exit_code == 1
    assert result.stdout == ""
    assert result.stderr.endswith("2 errors, 0 warnings\n")


def test_check_with_warnings_only_exits_0(tmp_path):
    (tmp_path / "p.rg").write_text(
        'policy "p" { nrn = "organization=1" conditions = {} }\n'
        'action "a" { action = "scope:delete" nrn = "organization=1" }\n'
    )
    result = run_cli("check", str(tmp_path))
    assert result.exit_code == 0
    assert "warning[RG053]" in result.stderr


def test_usage_errors_exit_2():
    assert run_cli("check").exit_code == 2
    assert run_cli("build", str(QUALITY_GATES)).exit_code == 2  # no -o
    assert run_cli("check", "--format", "xml", str(QUALITY_GATES)).exit_code == 2


def test_json_diagnostics():
    result = run_cli("check", "--format", "json", SEED)
    assert result.exit_code == 1
    found = json.loads(result.stdout)
    assert [(d["code"], d["line"], d["column"]) for d in found] == [
        ("RG031", 6, 32),
        ("RG031", 15, 32),
    ]
    assert found[0]["help"] == 'did you mean "build.metadata.coverage.code.coverage"?'


def test_sarif_diagnostics():
    result = run_cli("check", "--format", "sarif", SEED)
    log = json.loads(result.stdout)
    assert log["version"] == "2.1.0"
    (run,) = log["runs"]
    assert run["tool"]["driver"]["rules"] == [
        {"id": "RG031", "shortDescription": {"text": "unknown field in a path"}}
    ]
    region = run["results"][0]["locations"][0]["physicalLocation"]["region"]
    assert region == {"startLine": 6, "startColumn": 32, "endLine": 6, "endColumn": 40}


@pytest.mark.opa
def test_decide_with_a_local_opa(tmp_path):
    bundle = build([QUALITY_GATES], tmp_path)
    result = run_cli(
        "decide", "--bundle", str(bundle), "--input", str(REQUESTS / "01-coverage-70.json")
    )
    assert result.exit_code == 0, result.stderr
    assert json.loads(result.stdout)["result"] == "manual"


@pytest.mark.opa
def test_decide_reads_the_request_from_stdin(tmp_path):
    bundle = build([QUALITY_GATES], tmp_path)
    request = (REQUESTS / "04-leaked-secret.json").read_text()
    result = run_cli("decide", "--bundle", str(bundle), "--input", "-", input=request)
    assert result.exit_code == 0, result.stderr
    assert json.loads(result.stdout)["result"] == "deny"


def test_decide_with_a_request_that_is_not_json(tmp_path):
    request = tmp_path / "request.json"
    request.write_text('{\n  "action": "deployment:create",\n  "nrn": }\n')
    unused = tmp_path / "unused.tar.gz"  # never evaluated: the request is read first
    unused.touch()
    result = run_cli("decide", "--bundle", str(unused), "--input", str(request))
    assert result.exit_code == 1
    assert result.stderr.replace(str(tmp_path) + "/", "") == (
        "request.json:3:10: error[RG002]: the request is not valid JSON: Expecting value\n"
        ' 3 |   "nrn": }\n'
        "   |          ^\n"
        "\n"
        "1 error, 0 warnings\n"
    )


def test_decide_needs_exactly_one_of_bundle_and_opa_url():
    result = run_cli("decide", "--input", str(REQUESTS / "01-coverage-70.json"))
    assert result.exit_code == 2
    assert "give exactly one of --bundle and --opa-url" in result.stderr


@pytest.mark.opa
def test_decide_with_a_missing_bundle(tmp_path):
    result = run_cli(
        "decide",
        "--bundle",
        str(tmp_path / "nope.tar.gz"),
        "--input",
        str(REQUESTS / "01-coverage-70.json"),
    )
    assert result.exit_code == 1
    assert "cannot read bundle" in result.stderr
