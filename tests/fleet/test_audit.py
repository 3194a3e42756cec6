"""`regate audit LOGS...` on decision logs a real OPA sidecar wrote (console
output), and on logs with lines that cannot be read: every line is accounted for."""

from __future__ import annotations

import json
import shutil
import subprocess
import urllib.request
from html.parser import HTMLParser
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from compiler.cli import main
from tests.conftest import QUALITY_GATES, REQUESTS, free_port, run_cli, stop_process
from tests.fleet.conftest import revision_of, wait_for
from tests.test_exceptions import LOG4SHELL, URI, request, sources_by_the_clock

pytestmark = pytest.mark.opa

EXTRA_SOURCES = """
waiver "Known critical in payments" {
  policy  = "Security"
  nrn     = "organization=1:account=2:namespace=3"
  owner   = "team-payments"
  reason  = "a critical with a compensating control"
  expires = "2099-12-31"
}

action "watch-staging-secrets" {
  entity         = deployment
  action         = "deployment:create"
  nrn            = "organization=1"
  dimensions     = {"environment": "staging"}
  enforcement    = audit
  on_policy_fail = deny
  policies       = ["No Leaked Secrets"]
}
"""
MALFORMED = {"action": 7, "nrn": "organization=1", "entities": {}}
EXCEPTION = {"name": "log4shell in legacy batch", "nrn": "organization=1:account=2",
             "rule": "CVE-2021-44228", "owner": "appsec@example.com",
             "expires": "2027-01-31T00:00:00Z", "findings": 1}  # fmt: skip


def ask(url: str, path: str, body: object | None = None) -> Any:
    data = None if body is None else json.dumps({"input": body}).encode()
    with urllib.request.urlopen(url + path, data, 5) as answer:
        return json.load(answer).get("result")


def decide_logged(opa: str, bundle: Path, log: Path, requests: list[Any]) -> list[Any]:
    """A real sidecar with `bundle`, its console (decision logs included) written to
    `log`, decides `requests` (and answers a query at another path); its answers."""
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    process = subprocess.Popen(
        [opa, "run", "--server", "--addr", f"127.0.0.1:{port}", "--bundle", str(bundle),
         "--set", "decision_logs.console=true", "--set", "labels.region=eu"],
        stdout=log.open("wb"), stderr=subprocess.STDOUT,
    )  # fmt: skip
    try:
        wait_for("the sidecar", lambda: bool(urllib.request.urlopen(f"{url}/health?bundles=true")))
        answers = [ask(url, "/v1/data/regate/decision", r) for r in requests]
        ask(url, "/v1/data/regate/catalog/revision")
    finally:
        stop_process(process)
    return answers


@pytest.fixture(scope="module")
def logged(opa: str, tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path, list[Any]]:
    """A bundle, the console log of a real sidecar that decided every example request
    and a malformed one (and answered a query at another path), and its answers."""
    directory = tmp_path_factory.mktemp("audit")
    sources = directory / "sources"
    shutil.copytree(QUALITY_GATES, sources)
    (sources / "audit.rg").write_text(EXTRA_SOURCES)
    bundle = directory / "bundle.tar.gz"
    built = run_cli("build", str(sources), "-o", str(bundle))
    assert built.exit_code == 0, built.output
    log = directory / "opa.log"
    requests = [json.loads(p.read_text()) for p in sorted(REQUESTS.glob("*.json"))]
    return bundle, log, decide_logged(opa, bundle, log, [*requests, MALFORMED])


@pytest.fixture(scope="module")
def excepted(opa: str, tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, list[Any]]:
    """The console log of a real sidecar deciding with finding exceptions by its own
    clock: log4shell's in force (30 days left), the uri one expired yesterday; and
    its answers."""
    directory = tmp_path_factory.mktemp("excepted")
    (directory / "gate.rg").write_text(sources_by_the_clock())
    bundle = directory / "bundle.tar.gz"
    built = run_cli("build", str(directory / "gate.rg"), "-o", str(bundle))
    assert built.exit_code == 0, built.output
    assert "warning[RG145]" in built.stderr  # the uri exception has expired
    other_account = "organization=1:account=3"
    requests = [
        request([LOG4SHELL, URI]),  # one excepted, one no longer: denied
        request([LOG4SHELL, LOG4SHELL]),  # both excepted: approved
        request([URI], nrn=other_account),  # the uri exception is the organisation's
        request([LOG4SHELL], nrn=other_account),  # no exception there: denied
    ]
    log = directory / "opa.log"
    return log, decide_logged(opa, bundle, log, requests)


def audit(*arguments: str, input: str | None = None):  # type: ignore[no-untyped-def]
    return CliRunner().invoke(main, ["audit", *arguments], input=input)


def test_audit_counts_what_the_sidecar_decided(logged):
    bundle, log, answers = logged
    result = audit(str(log), "--format", "json")
    assert result.exit_code == 0, result.output
    summary = json.loads(result.stdout)

    results: dict[str, int] = {}
    for answer in answers:
        results[answer["result"]] = results.get(answer["result"], 0) + 1
    assert summary["decisions"] == len(answers) == 7
    assert summary["results"] == dict(sorted(results.items()))
    assert summary["by_action"] == {
        "7": {"deny": 1},  # the malformed request's action, as the log holds it
        "deployment:create": {r: n - (r == "deny") for r, n in sorted(results.items())},
    }
    assert summary["malformed_requests"] == {
        'input.action: error[RQ003]: must be a string such as "deployment:create", not a number': 1
    }
    assert summary["other_paths"] == {"regate/catalog/revision": 1}
    assert summary["unreadable"] == [] and summary["opa_log_lines"] > 0
    assert summary["lines"] == summary["opa_log_lines"] + summary["decisions"] + 1
    assert summary["revisions"] == {revision_of(bundle): 7}
    assert summary["stale"]["decisions"] == 0
    assert summary["waivers"] == [
        {"waiver": "Known critical in payments", "policy": "Security", "owner": "team-payments",
         "expires": "2100-01-01T00:00:00Z", "used": 1},  # through the end of 2099-12-31
    ]  # fmt: skip
    assert summary["audit_would_block"] == [
        {"action": "watch-staging-secrets", "would_be": "deny", "decisions": 1}
    ]
    answered: dict[str, int] = {}
    for answer in answers:
        for action in answer["actions"]:
            for policy in action["policies"]:
                if not policy["passed"]:
                    answered[policy["name"]] = answered.get(policy["name"], 0) + 1
    failed = {p["policy"]: p["failed"] for p in summary["failed_policies"]}
    assert failed == answered == {"Code Coverage": 1, "No Leaked Secrets": 2, "Security": 1}
    coverage = [c for c in summary["failed_conditions"] if c["policy"] == "Code Coverage"]
    assert coverage == [
        {"policy": "Code Coverage", "source": "policies.rg:8", "path":
         "build.metadata.coverage.code.coverage", "operator": "$gte", "expected": 80, "failed": 1}
    ]  # fmt: skip
    (sidecar,) = summary["sidecars"]
    assert sidecar.endswith(",region=eu")


def test_the_text_report(logged):
    _, log, _ = logged
    result = audit(str(log))
    assert result.exit_code == 0, result.output
    lines = result.stdout.splitlines()
    assert lines[0].startswith("7 decisions in ")
    assert "  deployment-create-production: 3 approve, 1 manual" in lines
    assert '       2  "No Leaked Secrets" (policies.rg:21)' in lines
    assert (
        '       1  "Known critical in payments" for "Security" (owner team-payments, expires '
        in result.stdout
    )
    assert "       1  watch-staging-secrets would be deny" in lines
    assert (
        '       1  input.action: error[RQ003]: must be a string such as "deployment:create", '
        "not a number"
    ) in lines


def test_unreadable_lines_are_reported_with_their_numbers_and_the_rest_is_counted(logged, tmp_path):
    _, log, _ = logged
    lines = log.read_text().splitlines()
    damaged = tmp_path / "damaged.log"
    decision = next(line for line in lines if '"Decision Log"' in line)
    damaged.write_text(
        "\n".join(
            [
                decision,
                "plain text from a wrapper script",
                decision[: len(decision) // 2],  # cut off mid-line
                "",
                "[1, 2]",
                '{"unrelated": true}',
                json.dumps([json.loads(decision), json.loads(decision)]),  # as a service received
                decision,
            ]
        )
        + "\n"
    )
    result = audit(str(damaged), str(tmp_path / "missing.log"), "--format", "json")
    assert result.exit_code == 1
    summary = json.loads(result.stdout)
    assert summary["decisions"] == 4
    assert [(u["line"], u["reason"].split(" (")[0]) for u in summary["unreadable"]] == [
        (2, "not JSON"),
        (3, "not JSON"),
        (4, "an empty line"),
        (5, "not a JSON object"),
        (5, "not a JSON object"),
        (6, "neither a decision log event nor a line of OPA's log"),
        (0, f"cannot read {tmp_path / 'missing.log'}: no such file"),
    ]
    stderr = result.stderr.splitlines()
    assert f"{damaged}:2:1: error[RG123]: not JSON (Expecting value: line 1 column 1 (char 0))" in (
        stderr
    )
    assert (
        f"{tmp_path / 'missing.log'}:1:1: error[RG124]: cannot read "
        f"{tmp_path / 'missing.log'}: no such file" in stderr
    )
    assert stderr[-1] == "7 errors, 0 warnings"


def test_stale_revisions_against_the_newest_given_or_seen(logged, tmp_path):
    bundle, log, _ = logged
    old = revision_of(bundle)
    given = json.loads(audit(str(log), "--newest", "f" * 20, "--format", "json").stdout)
    assert given["newest"] == {str(bundle): ["f" * 20]}  # `opa run --bundle` names it by path
    assert given["stale"]["decisions"] == 7
    first = given["stale"]["list"][0]
    assert first["bundles"] == {str(bundle): old}
    assert first["action"] == "deployment:create"
    assert first["nrn"] == "organization=1:account=2:namespace=3:application=4:scope=5"

    # Without --newest, the newest is the revision that appeared last.
    newer = tmp_path / "newer.log"
    decision = json.loads(next(x for x in log.read_text().splitlines() if '"Decision Log"' in x))
    decision["bundles"][str(bundle)]["revision"] = "b" * 20
    decision["timestamp"] = "2999-01-01T00:00:00Z"
    newer.write_text(json.dumps(decision) + "\n")
    seen = json.loads(audit(str(log), str(newer), "--format", "json").stdout)
    assert seen["newest"] == {str(bundle): ["b" * 20]}
    assert seen["stale"]["decisions"] == 7


def test_masked_values_stay_masked_and_the_html_escapes_what_logs_hold(tmp_path):
    """A log event is data from requests: the report shows no request values (only
    action and NRN), counts erased pointers, and escapes everything in HTML."""
    event = {
        "decision_id": "d1",
        "path": "regate/decision",
        "timestamp": "2026-01-01T00:00:00Z",
        "labels": {"id": "sidecar-<1>"},
        "bundles": {"regate": {"revision": "r1"}},
        "erased": ["/input/entities/build/metadata/vault",
                   "/result/actions/0/policies/0/failures/0/actual"],
        "input": {"action": "deployment:create", "nrn": "organization=1",
                  "entities": {"build": {"metadata": {"visible": "not-shown-either"}}}},
        "result": {"result": "deny", "revision": "r1", "actions": [
            {"id": "<script>alert(1)</script>", "result": "deny", "policies": [
                {"name": "<b>Token</b>", "source": "p.rg:1", "passed": False, "failures": [
                    {"path": "build.metadata.vault.token", "operator": "$lt", "expected": 10,
                     "source": "p.rg:3"}]}]}]},
    }  # fmt: skip
    log = tmp_path / "events.jsonl"
    log.write_text(json.dumps(event) + "\n")
    summary = json.loads(audit(str(log), "--format", "json").stdout)
    assert summary["masked"] == {
        "/input/entities/build/metadata/vault": 1,
        "/result/actions/*/policies/*/failures/*/actual": 1,
    }
    for fmt in ("text", "json", "html"):
        report = audit(str(log), "--format", fmt).stdout
        assert "not-shown-either" not in report
    page = audit(str(log), "--format", "html").stdout
    assert "<script>" not in page and "<b>Token</b>" not in page
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in page

    class Tags(HTMLParser):
        def __init__(self) -> None:
            super().__init__()
            self.open: list[str] = []

        def handle_starttag(self, tag: str, attrs: Any) -> None:
            if tag not in ("meta", "br"):
                self.open.append(tag)

        def handle_endtag(self, tag: str) -> None:
            assert self.open.pop() == tag

    tags = Tags()
    tags.feed(page)
    assert tags.open == []


def test_standard_input_and_an_output_file(logged, tmp_path):
    _, log, _ = logged
    out = tmp_path / "report.html"
    result = audit("-", "--format", "html", "-o", str(out), input=log.read_text())
    assert result.exit_code == 0, result.output
    assert result.stdout == ""
    assert "7 decisions in" in out.read_text()


def test_the_newest_revision_read_from_the_registry(logged, registry, tmp_path):
    bundle, log, _ = logged
    reference = f"{registry.host}/policies/audited:production"
    assert run_cli("publish", str(bundle), reference, "--plain-http").exit_code == 0
    current = json.loads(
        audit(str(log), "--published", reference, "--plain-http", "--format", "json").stdout
    )
    assert current["newest"] == {str(bundle): [revision_of(bundle)]}
    assert current["stale"]["decisions"] == 0

    missing = audit(str(log), "--published", f"{registry.host}/policies/none:production",
                    "--plain-http")  # fmt: skip
    assert missing.exit_code == 3
    assert missing.stderr == (
        f"regate: error[RG121]: cannot read {registry.host}/policies/none:production: "
        f"{registry.host} has no {registry.host}/policies/none:production "
        "(the registry says: manifest unknown)\n"
    )


def test_audit_counts_the_finding_exceptions_used_and_the_expired_ones_still_hit(excepted):
    log, answers = excepted
    assert [a["result"] for a in answers] == ["deny", "approve", "deny", "deny"]
    result = audit(str(log), "--format", "json")
    assert result.exit_code == 0, result.output
    summary = json.loads(result.stdout)
    log4shell = next(e for a in answers for e in a.get("exceptions", []))
    uri = next(e for a in answers for e in a.get("expired_exceptions", []))
    assert summary["exceptions"] == [
        {"exception": "log4shell in legacy batch", "nrn": "organization=1:account=2",
         "rule": "CVE-2021-44228", "package": "org.apache.logging.log4j:log4j-core",
         "owner": "appsec@example.com", "expires": log4shell["expires"], "decisions": 2,
         "findings": 3},
    ]  # fmt: skip
    assert summary["expired_exceptions"] == [
        {"exception": "uri ReDoS", "nrn": "organization=1", "rule": "CVE-2023-28755",
         "target": "gem", "owner": "team-ruby", "expires": uri["expires"], "decisions": 2,
         "findings": 2},
    ]  # fmt: skip

    lines = audit(str(log)).stdout.splitlines()
    used = lines.index("finding exceptions used:")
    assert lines[used + 1] == (
        '       2  "log4shell in legacy batch" at organization=1:account=2 excepted 3 findings '
        "of CVE-2021-44228 in org.apache.logging.log4j:log4j-core in 2 decisions (owner "
        f"appsec@example.com, expires {log4shell['expires']})"
    )
    expired = lines.index("expired finding exceptions still hit (their findings count again):")
    assert lines[expired + 1] == (
        '       2  "uri ReDoS" at organization=1 would have excepted 2 findings of '
        f"CVE-2023-28755 in gem in 2 decisions (owner team-ruby, expired {uri['expires']})"
    )


def test_a_log_without_finding_exceptions_lists_none(logged):
    _, log, _ = logged
    summary = json.loads(audit(str(log), "--format", "json").stdout)
    assert summary["exceptions"] == summary["expired_exceptions"] == []
    report = audit(str(log)).stdout
    assert "finding exceptions" not in report
    assert "Finding exceptions" not in audit(str(log), "--format", "html").stdout


@pytest.mark.parametrize(
    ("exceptions", "reason"),
    [
        ("not a list", "the decision's exceptions is not a list"),
        ([7], "the decision's exceptions[0] is not a finding exception: not a JSON object"),
        ([{"nrn": "organization=1"}],
         "the decision's exceptions[0] is not a finding exception: its name is missing"),
        ([{**EXCEPTION, "owner": ["a", "b"]}],
         "the decision's exceptions[0] is not a finding exception: its owner is not a string"),
        ([{**EXCEPTION, "package": None}],
         "the decision's exceptions[0] is not a finding exception: its package is not a string"),
        ([EXCEPTION, {**EXCEPTION, "findings": "3"}],
         "the decision's exceptions[1] is not a finding exception: its findings is not a count"),
        ([{**EXCEPTION, "findings": True}],
         "the decision's exceptions[0] is not a finding exception: its findings is not a count"),
        ([{**EXCEPTION, "findings": -1}],
         "the decision's exceptions[0] is not a finding exception: its findings is not a count"),
    ],
    ids=["not-a-list", "not-an-object", "no-name", "owner-a-list", "null-package",
         "findings-a-string", "findings-a-boolean", "findings-negative"],
)  # fmt: skip
def test_a_finding_exception_audit_cannot_read_is_reported_with_its_line(
    excepted, tmp_path, exceptions, reason
):
    """The decision is counted, the entry is not (it may be anything), and the line is
    reported as unreadable: exit 1, never a traceback."""
    log, _ = excepted
    event = json.loads(next(x for x in log.read_text().splitlines() if '"Decision Log"' in x))
    event["result"]["exceptions"] = exceptions
    damaged = tmp_path / "damaged.log"
    damaged.write_text(json.dumps(event) + "\n")
    result = audit(str(damaged), "--format", "json")
    assert result.exit_code == 1
    summary = json.loads(result.stdout)
    assert summary["decisions"] == 1
    assert summary["unreadable"] == [{"file": str(damaged), "line": 1, "reason": reason}]
    counted = [e["exception"] for e in summary["exceptions"]]
    assert counted == (["log4shell in legacy batch"] if exceptions[0] is EXCEPTION else [])
    assert result.stderr.splitlines()[0] == f"{damaged}:1:1: error[RG123]: {reason}"
    for fmt in ("text", "html"):
        assert audit(str(damaged), "--format", fmt).exit_code == 1
