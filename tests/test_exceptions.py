"""Finding exceptions (docs/decisions.md, "Finding exceptions"): decided by a real OPA,
by its clock (`time.now_ns` set per evaluation), fail closed on findings lists that
disagree with their counts or are malformed."""

from __future__ import annotations

import copy
import json
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from compiler.bundle import write_directory
from compiler.driver import compile_sources
from compiler.evidence.record import exceptions_used
from compiler.explain import render
from compiler.lower import epoch_ns
from compiler.opa import eval_bundle
from tests.conftest import write_sources

pytestmark = pytest.mark.opa

SOURCES = """
specification "Image" {
  entity   = build
  metadata = image
  nrn      = "organization=1"
  schema   = {"type": "object"}
}

policy "No high vulnerability" {
  nrn        = "organization=1"
  conditions = {
    "build.metadata.image.security.vulnerabilities.critical": 0,
    "build.metadata.image.security.vulnerabilities.high": 0,
  }
}

action "gate" {
  action            = "deployment:create"
  nrn               = "organization=1"
  on_policy_success = approve
  on_policy_fail    = deny
  policies          = ["No high vulnerability"]
}

exception "log4shell in legacy batch" {
  nrn                   = "organization=1:account=2"
  rule                  = "CVE-2021-44228"
  package               = "org.apache.logging.log4j:log4j-core"
  owner                 = "appsec@example.com"
  reason                = "not reachable: JNDI lookups disabled"
  compensating_controls = ["WAF rule 932100"]
  expires               = "2027-01-31T00:00:00Z"
  review_trigger        = "a fixed version is published"
}

exception "uri ReDoS" {
  nrn     = "organization=1"
  rule    = "CVE-2023-28755"
  target  = "gem"
  owner   = "team-ruby"
  reason  = "no untrusted URIs are parsed"
  expires = "2026-12-20"
}
"""


def sources_by_the_clock() -> str:
    """SOURCES for a real OPA deciding by its own clock, whatever day the suite runs:
    the log4shell exception in force (30 days left), the uri one expired yesterday."""

    def moment(days: int) -> str:
        return (datetime.now(UTC) + timedelta(days=days)).strftime("%Y-%m-%dT%H:%M:%SZ")

    return SOURCES.replace("2027-01-31T00:00:00Z", moment(30)).replace(
        '"2026-12-20"', f'"{moment(-1)}"'
    )


BEFORE = "2026-12-10T00:00:00Z"  # both in force
BETWEEN = "2027-01-01T00:00:00Z"  # the uri exception has expired
AFTER = "2027-01-31T00:00:00Z"  # both have expired (an expiry is exclusive)

LOG4SHELL = {
    "format": "trivy",
    "category": "vulnerabilities",
    "id": "CVE-2021-44228",
    "severity": "critical",
    "package": "org.apache.logging.log4j:log4j-core",
    "target": "app.jar",
}
URI = {
    "format": "grype",
    "category": "vulnerabilities",
    "id": "GHSA-hv5j-3h9f-99c2",
    "aliases": ["CVE-2023-28755"],
    "severity": "high",
    "package": "uri",
    "target": "gem",
}


def levels(critical: int = 0, high: int = 0, medium: int = 0) -> dict[str, int]:
    return {
        "critical": critical,
        "high": high,
        "medium": medium,
        "low": 0,
        "unknown": 0,
        "total": critical + high + medium,
    }


def request(
    findings: list[Any], counts: dict[str, int] | None = None, nrn: str = "organization=1:account=2"
) -> dict[str, Any]:
    if counts is None:
        severities = [f["severity"] for f in findings]
        counts = levels(severities.count("critical"), severities.count("high"))
    return {
        "action": "deployment:create",
        "nrn": f"{nrn}:namespace=3",
        "entities": {
            "scope": {"dimensions": {"environment": "production"}},
            "build": {
                "metadata": {
                    "image": {"security": {"vulnerabilities": counts}, "findings": findings}
                }
            },
        },
    }


@pytest.fixture(scope="module")
def bundle(tmp_path_factory: pytest.TempPathFactory) -> Path:
    directory = tmp_path_factory.mktemp("exceptions")
    result = compile_sources([str(write_sources(directory / "src", {"gate.rg": SOURCES}))])
    assert result.files is not None, result.diagnostics
    write_directory(str(directory / "bundle"), result.files)
    return directory / "bundle"


def decide(bundle: Path, given: dict[str, Any], at: str) -> Any:
    from datetime import datetime

    now = epoch_ns(datetime.fromisoformat(at))
    return eval_bundle(str(bundle), given, f"data.regate.decision with time.now_ns as {now}")


def seen(bundle: Path, given: dict[str, Any], at: str) -> Any:
    """The image document the policies read: the request's, less what is excepted."""
    from datetime import datetime

    now = epoch_ns(datetime.fromisoformat(at))
    query = f"data.regate.exceptions.entities.build.metadata.image with time.now_ns as {now}"
    return eval_bundle(str(bundle), given, query)


def names(decision: Any, key: str) -> list[tuple[str, int]]:
    return [(e["name"], e["findings"]) for e in decision.get(key, [])]


def test_an_exception_in_force_lowers_the_counts_and_is_listed(bundle):
    decision = decide(bundle, request([LOG4SHELL]), BEFORE)
    assert decision["result"] == "approve"
    (used,) = decision["exceptions"]
    assert used == {
        "name": "log4shell in legacy batch",
        "nrn": "organization=1:account=2",
        "rule": "CVE-2021-44228",
        "package": "org.apache.logging.log4j:log4j-core",
        "owner": "appsec@example.com",
        "reason": "not reachable: JNDI lookups disabled",
        "compensating_controls": ["WAF rule 932100"],
        "expires": "2027-01-31T00:00:00Z",
        "review_trigger": "a fixed version is published",
        "source": "gate.rg:25",
        "findings": 1,
    }
    assert "expired_exceptions" not in decision
    assert seen(bundle, request([LOG4SHELL]), BEFORE) == {
        "security": {"vulnerabilities": levels()},
        "findings": [],
    }


def test_a_build_made_before_the_expiry_does_not_pass_a_deployment_after_it(bundle):
    built = request([LOG4SHELL])  # the build's evidence, made while the exception held
    assert decide(bundle, built, BEFORE)["result"] == "approve"
    after = decide(bundle, built, AFTER)
    assert after["result"] == "deny"
    assert names(after, "expired_exceptions") == [("log4shell in legacy batch", 1)]
    assert "exceptions" not in after
    (action,) = after["actions"]
    (failure,) = action["policies"][0]["failures"]
    assert (failure["path"], failure["actual"]) == (
        "build.metadata.image.security.vulnerabilities.critical",
        1,
    )


def test_aliases_and_targets_name_findings(bundle):
    other_target = {**URI, "target": "apk", "package": "ruby-3.0", "id": "CVE-2023-28755"}
    del other_target["aliases"]
    given = request([URI, other_target])
    assert seen(bundle, given, BEFORE)["findings"] == [other_target]
    decision = decide(bundle, given, BEFORE)
    assert names(decision, "exceptions") == [("uri ReDoS", 1)]
    assert decision["result"] == "deny"  # the apk's finding is not the gem's


def test_an_exception_for_another_package_names_nothing(bundle):
    given = request([{**LOG4SHELL, "package": "org.apache.logging.log4j:log4j-api"}])
    decision = decide(bundle, given, BEFORE)
    assert decision["result"] == "deny"
    assert "exceptions" not in decision and "expired_exceptions" not in decision


def test_an_exception_applies_at_its_nrn_and_below_only(bundle):
    assert decide(bundle, request([LOG4SHELL], nrn="organization=1:account=3"), BEFORE)[
        "result"
    ] == ("deny")
    # The uri exception is at the organisation: every account has it.
    assert decide(bundle, request([URI], nrn="organization=1:account=3"), BEFORE)["result"] == (
        "approve"
    )


def test_in_force_and_expired_exceptions_are_listed_apart(bundle):
    decision = decide(bundle, request([LOG4SHELL, URI]), BETWEEN)
    assert names(decision, "exceptions") == [("log4shell in legacy batch", 1)]
    assert names(decision, "expired_exceptions") == [("uri ReDoS", 1)]
    assert decision["result"] == "deny"
    text = render(decision)
    assert (
        '  exception "log4shell in legacy batch" (gate.rg:25) excepted 1 finding of '
        "CVE-2021-44228 in org.apache.logging.log4j:log4j-core (owner appsec@example.com, "
        "expires 2027-01-31T00:00:00Z): not reachable: JNDI lookups disabled"
    ) in text
    assert (
        '  exception "uri ReDoS" (gate.rg:36) would have excepted 1 finding of CVE-2023-28755 '
        "in gem (owner team-ruby, expired 2026-12-21T00:00:00Z): no untrusted URIs are parsed"
    ) in text
    assert exceptions_used(decision) == [{"exception": decision["exceptions"][0]}]


def test_counts_above_the_list_keep_the_findings_the_list_leaves_out(bundle):
    """A list shorter than its counts (a truncated list, a mapping): only what is
    excepted comes off; the findings nobody listed still count."""
    given = request([LOG4SHELL], counts=levels(critical=3))
    image = seen(bundle, given, BEFORE)
    assert image["security"]["vulnerabilities"] == {**levels(critical=2)}


def test_counts_below_the_list_never_fall_below_what_the_list_justifies(bundle):
    """Counts lower than the list they come with: what no exception names still counts
    as the list says, so the counts rise rather than fall."""
    duplicated = [LOG4SHELL, LOG4SHELL, {**URI, "id": "CVE-2024-0001", "aliases": []}]
    given = request(duplicated, counts=levels(critical=2))
    image = seen(bundle, given, BEFORE)
    assert image["security"]["vulnerabilities"]["critical"] == 0
    assert image["security"]["vulnerabilities"]["high"] == 1
    assert image["security"]["vulnerabilities"]["total"] == 1
    assert decide(bundle, given, BEFORE)["result"] == "deny"


def test_a_document_with_no_exception_to_apply_is_read_as_it_is(bundle):
    given = request([{**URI, "id": "CVE-2024-0001", "aliases": []}], counts=levels())
    assert seen(bundle, given, BEFORE)["security"]["vulnerabilities"] == levels()


@pytest.mark.parametrize(
    ("findings", "code", "path"),
    [
        ("not a list", "RQ030", "input.entities.build.metadata.image.findings"),
        (
            [{"category": "vulnerabilities"}],
            "RQ031",
            "input.entities.build.metadata.image.findings.0",
        ),
        (
            [LOG4SHELL, {**LOG4SHELL, "category": "bugs"}],
            "RQ031",
            "input.entities.build.metadata.image.findings.1",
        ),
        (
            [{**URI, "aliases": "CVE-2023-28755"}],
            "RQ031",
            "input.entities.build.metadata.image.findings.0",
        ),
        ([{**URI, "package": None}], "RQ031", "input.entities.build.metadata.image.findings.0"),
        ([7], "RQ031", "input.entities.build.metadata.image.findings.0"),
    ],
    ids=[
        "not-a-list",
        "no-id",
        "unknown-category",
        "aliases-not-a-list",
        "null-package",
        "not-an-object",
    ],
)
def test_a_malformed_findings_list_is_denied(bundle, findings, code, path):
    given = request([], counts=levels())
    given["entities"]["build"]["metadata"]["image"]["findings"] = findings
    decision = decide(bundle, given, BEFORE)
    assert decision["result"] == "deny"
    assert decision["actions"] == []
    assert [(e["code"], e["path"]) for e in decision["errors"]] == [(code, path)]


def test_many_malformed_findings_are_listed_up_to_the_limit(bundle):
    given = request([], counts=levels())
    given["entities"]["build"]["metadata"]["image"]["findings"] = [{"id": n} for n in range(40)]
    errors = decide(bundle, given, BEFORE)["errors"]
    # 32 of the 40 and one for the 8 more; of these 33, the decision lists 32 and says so.
    assert errors[0] == {
        "code": "RQ017",
        "path": "input.entities.build.metadata.image.findings",
        "message": "8 more findings not listed",
    }
    assert [e["code"] for e in errors[1:-1]] == ["RQ031"] * 31
    assert errors[-1] == {"code": "RQ017", "path": "input", "message": "1 more errors not listed"}


def test_a_findings_list_beside_other_shapes_is_not_read(bundle):
    """Only documents of the default security shape (a `security` object) have their
    findings read: a document of another shape keeps its counts, whatever it lists."""
    given = request([LOG4SHELL])
    image = given["entities"]["build"]["metadata"]["image"]
    given["entities"]["build"]["metadata"]["image"] = {
        "scan": image["security"],
        "findings": "free",
    }
    decision = decide(bundle, given, BEFORE)
    assert "errors" not in decision
    assert "exceptions" not in decision


def test_a_bundle_without_exceptions_is_unchanged(tmp_path):
    without = SOURCES.split('exception "log4shell')[0]
    result = compile_sources([str(write_sources(tmp_path, {"gate.rg": without}))])
    assert result.files is not None
    assert "regate/exceptions/exceptions.rego" not in result.files
    assert b"exceptions" not in result.files["regate/decision.rego"]
    assert b"findings" not in result.files["regate/request/request.rego"]
    assert "exceptions" not in json.loads(result.files["regate/catalog/data.json"])


def test_decisions_of_a_valid_request_agree_with_and_without_listing(bundle):
    """The request's own entities are what the exception module reads: a deep copy of
    the request decides the same (no state carried between evaluations)."""
    given = request([LOG4SHELL, URI])
    assert decide(bundle, copy.deepcopy(given), BEFORE) == decide(bundle, given, BEFORE)
