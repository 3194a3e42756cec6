"""The HTML reports in a real headless Chromium, without JavaScript: the result at a glance,
the reasons in tables, no request leaving the file, colours a person can read."""

from __future__ import annotations

import json
import re
import shutil
from pathlib import Path
from typing import Any

import pytest
from playwright.sync_api import Page, expect

from tests.conftest import QUALITY_GATES, REQUESTS, build, run_cli, write_sources
from tests.editor.conftest import Visit
from tests.fleet.test_audit import audit, excepted  # noqa: F401 (a fixture: a sidecar's log)
from tests.test_exceptions import LOG4SHELL, URI, sources_by_the_clock
from tests.test_exceptions import request as exceptions_request

pytestmark = pytest.mark.opa

# The lowest contrast ratio of text against its background a report may use (WCAG AA).
MINIMUM_CONTRAST = 4.5
CONTRAST = """(element) => {
  const luminance = (rgb) => {
    const [r, g, b] = rgb.match(/[0-9.]+/g).slice(0, 3).map((c) => {
      c = c / 255;
      return c <= 0.03928 ? c / 12.92 : Math.pow((c + 0.055) / 1.055, 2.4);
    });
    return 0.2126 * r + 0.7152 * g + 0.0722 * b;
  };
  let background = element;
  let color = getComputedStyle(background).backgroundColor;
  while (color === "rgba(0, 0, 0, 0)" && background.parentElement) {
    background = background.parentElement;
    color = getComputedStyle(background).backgroundColor;
  }
  const [a, b] = [luminance(getComputedStyle(element).color), luminance(color)];
  return (Math.max(a, b) + 0.05) / (Math.min(a, b) + 0.05);
}"""


def open_report(visit: Visit, html: str, path: Path) -> Page:
    path.write_text(html)
    visit.page.goto(path.as_uri())
    return visit.page


def assert_self_contained(visit: Visit, path: Path) -> None:
    assert visit.requests == [path.as_uri()], "the report fetched something"


def assert_readable(page: Page) -> None:
    """Every banner, tag and table cell has enough contrast against its background."""
    for selector in (".banner h1", ".banner p", ".tag", "td", "th", "caption"):
        for element in page.locator(selector).all():
            ratio = element.evaluate(CONTRAST)
            assert ratio >= MINIMUM_CONTRAST, (selector, element.inner_text(), ratio)


@pytest.fixture(scope="module")
def bundle(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return build([QUALITY_GATES], tmp_path_factory.mktemp("bundle"))


def explain_html(bundle: Path, request: str) -> str:
    result = run_cli(
        "explain", "--bundle", str(bundle), "--input", str(REQUESTS / request), "--format", "html"
    )
    assert result.exit_code == 0, result.stderr
    return result.stdout


def test_explain_shows_the_result_and_the_failed_condition(
    visit: Visit, bundle: Path, tmp_path: Path
) -> None:
    path = tmp_path / "decision.html"
    page = open_report(visit, explain_html(bundle, "01-coverage-70.json"), path)
    expect(page).to_have_title(
        "regate: manual approval required — " + str(REQUESTS / "01-coverage-70.json")
    )
    expect(page.get_by_role("heading", level=1)).to_have_text("⚠ Manual approval required")
    policies = page.get_by_role("table", name="Policies of action deployment-create-production")
    expect(policies.get_by_role("row", name="Code Coverage")).to_contain_text("✗ failed")
    expect(policies.get_by_role("row", name="Security")).to_contain_text("✓ passed")
    failed = page.get_by_role("table", name="Failed conditions of Code Coverage")
    cells = failed.get_by_role("row").nth(1).get_by_role("cell")
    expect(cells).to_have_text(
        ["build.metadata.coverage.code.coverage", "70", "needs ≥ 80", "policies.rg:8"]
    )
    assert_self_contained(visit, path)
    assert_readable(page)


def test_explain_of_a_denial_and_of_an_approval(visit: Visit, bundle: Path, tmp_path: Path) -> None:
    page = open_report(visit, explain_html(bundle, "04-leaked-secret.json"), tmp_path / "deny.html")
    expect(page.get_by_role("heading", level=1)).to_have_text("✗ Denied")
    expect(
        page.get_by_role("table", name="Failed conditions of No Leaked Secrets")
    ).to_contain_text("build.metadata.security.security.secrets.total")
    assert_readable(page)
    page = open_report(visit, explain_html(bundle, "05-staging.json"), tmp_path / "approve.html")
    expect(page.get_by_role("heading", level=1)).to_have_text("✓ Approved")
    expect(page.get_by_text("No approval action applies to this request.")).to_be_visible()
    assert_readable(page)


def test_diff_groups_changed_requests_by_policy(visit: Visit, tmp_path: Path) -> None:
    new = tmp_path / "new"
    shutil.copytree(QUALITY_GATES, new)
    policies = new / "policies.rg"
    policies.write_text(policies.read_text().replace('{"$gte": 80}', '{"$gte": 70}'))
    result = run_cli(
        "diff", str(QUALITY_GATES), str(new), "--requests", str(REQUESTS), "--format", "html"
    )
    assert result.exit_code == 1, result.stderr
    path = tmp_path / "diff.html"
    page = open_report(visit, result.stdout, path)
    expect(page.get_by_role("heading", level=1)).to_have_text(
        "⚠ 1 of 6 requests decided differently"
    )
    changed = page.get_by_role("table", name="Each request whose decision changes")
    expect(changed.get_by_role("row").nth(1)).to_contain_text("manual approval required")
    expect(changed.get_by_role("row").nth(1)).to_contain_text("approved")
    group = page.get_by_role("region", name="policy Code Coverage")
    expect(group.get_by_role("heading", level=4)).to_contain_text("failed → passed")
    expect(
        group.get_by_role("table", name="Conditions that failed with the old version")
    ).to_contain_text("needs ≥ 80")
    assert_self_contained(visit, path)
    assert_readable(page)


GATE = """
policy "Coverage" {
  nrn        = "organization=1"
  conditions = {"build.metadata.coverage.line": {"$gte": 80}, "build.metadata.coverage.branch": {"$gte": 50}}
}
policy "Tier" {
  nrn        = "organization=1"
  conditions = {"scope.tier": "gold"}
}
action "prod" {
  action            = "deployment:create"
  nrn               = "organization=1"
  dimensions        = {"environment": "production"}
  on_policy_success = approve
  policies          = ["Coverage"]
}
action "scopes" {
  action   = "scope:create"
  nrn      = "organization=1"
  policies = ["Tier"]
}
specification "Coverage" {
  entity   = build
  metadata = coverage
  nrn      = "organization=1"
  schema   = {}
}
test "low line coverage asks a human" {
  action   = "deployment:create"
  nrn      = "organization=1"
  entities = {"scope.dimensions.environment": "production", "build.metadata.coverage.line": 70}
  expect   = manual
}
"""


def test_coverage_marks_each_source_line(visit: Visit, tmp_path: Path) -> None:
    source = write_sources(tmp_path / "project", {"gate.rg": GATE})
    result = run_cli("test", "--coverage", "--format", "html", str(source))
    assert result.exit_code == 0, result.stderr
    assert "coverage: 1/2 policies, 1/3 conditions exercised" in result.stderr
    path = tmp_path / "coverage.html"
    page = open_report(visit, result.stdout, path)
    expect(page.get_by_role("heading", level=1)).to_have_text(
        "⚠ All tests passed, some conditions not exercised"
    )
    marks = page.get_by_role("table", name="Policies and conditions in gate.rg")
    expect(marks.get_by_role("row", name="Tier (the policy) 6 ✗ no")).to_be_visible()
    expect(
        marks.get_by_role("row", name="Coverage build.metadata.coverage.branch 4 ✗ no")
    ).to_be_visible()
    listing = page.get_by_role("table", name="gate.rg, line by line")
    expect(listing.get_by_role("row").nth(4)).to_have_text(  # line 4, a heading row first
        '4◐ partly exercised  conditions = {"build.metadata.coverage.line": {"$gte": 80}, "build.metadata.coverage.branch": {"$gte": 50}}'
    )
    expect(listing.get_by_role("row").nth(6)).to_contain_text('6✗ not exercisedpolicy "Tier" {')
    failures = page.get_by_role("table", name="What regate test found")
    expect(failures).to_contain_text('no test exercises policy "Tier"')
    assert_self_contained(visit, path)
    assert_readable(page)


def test_explain_shows_the_finding_exceptions_used_and_the_expired_ones(
    visit: Visit, tmp_path: Path
) -> None:
    """A real OPA decides by its clock: log4shell's exception in force, the uri one expired."""
    bundle = build([write_sources(tmp_path / "src", {"gate.rg": sources_by_the_clock()})], tmp_path)
    given = tmp_path / "request.json"
    given.write_text(json.dumps(exceptions_request([LOG4SHELL, URI])))
    result = run_cli("explain", "--bundle", str(bundle), "--input", str(given), "--format", "html")
    assert result.exit_code == 0, result.stderr
    path = tmp_path / "decision.html"
    page = open_report(visit, result.stdout, path)
    expect(page.get_by_role("heading", level=1)).to_have_text("✗ Denied")
    summary = page.get_by_role("list", name="summary")
    expect(summary).to_contain_text("1 finding exception used")
    expect(summary).to_contain_text("1 expired exception that would have applied")
    used = page.get_by_role("table", name="Finding exceptions the decision used")
    row = used.get_by_role("row").nth(1)
    expect(row.get_by_role("rowheader")).to_have_text(
        "log4shell in legacy batch at organization=1:account=2", use_inner_text=True
    )
    expect(row.get_by_role("cell")).to_have_text(
        [
            "CVE-2021-44228 in org.apache.logging.log4j:log4j-core",
            "1",
            "appsec@example.com",
            re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$"),
            "not reachable: JNDI lookups disabledCompensating controls: WAF rule 932100"
            "Review when: a fixed version is published",
            "gate.rg:25",
        ]
    )
    expired = page.get_by_role("table", name="Expired finding exceptions that would have applied")
    expect(expired.get_by_role("columnheader")).to_contain_text(
        ["Findings it would have excepted", "Expired"]
    )
    row = expired.get_by_role("row").nth(1)
    expect(row.get_by_role("rowheader")).to_have_text(
        "uri ReDoS at organization=1", use_inner_text=True
    )
    expect(row.get_by_role("cell")).to_have_text(
        [
            "CVE-2023-28755 in gem",
            "1",
            "team-ruby",
            re.compile(r"^\d{4}-"),
            "no untrusted URIs are parsed",
            "gate.rg:36",
        ]
    )
    expect(
        page.get_by_text("Expired: the findings these exceptions named count again.")
    ).to_be_visible()
    expect(page.get_by_role("heading", name="More in the decision")).to_have_count(0)
    for table in page.get_by_role("table").all():  # long package names wrap in the page
        assert table.evaluate("(t) => t.scrollWidth <= t.parentElement.clientWidth")
    assert_self_contained(visit, path)
    assert_readable(page)


def test_audit_shows_the_finding_exceptions_used_and_the_expired_ones(
    visit: Visit,
    excepted: tuple[Path, list[Any]],  # noqa: F811 (the fixture imported above)
    tmp_path: Path,
) -> None:
    """`regate audit --format html` over a real sidecar's log (tests/fleet/test_audit.py)."""
    log, _ = excepted
    path = tmp_path / "audit.html"
    assert audit(str(log), "--format", "html", "-o", str(path)).exit_code == 0
    page = visit.page
    page.goto(path.as_uri())
    used = page.locator("h2:text('Finding exceptions used') + table")
    expect(used.get_by_role("row").nth(1).get_by_role("cell")).to_have_text(
        ["log4shell in legacy batch", "organization=1:account=2",
         "CVE-2021-44228 in org.apache.logging.log4j:log4j-core", "appsec@example.com",
         re.compile(r"^\d{4}-\d\d-\d\dT"), "2", "3"]
    )  # fmt: skip
    expired = page.locator("h2:text('Expired finding exceptions still hit') ~ table").first
    expect(expired.get_by_role("row").nth(0)).to_contain_text("findings it would have excepted")
    expect(expired.get_by_role("row").nth(1).get_by_role("cell")).to_have_text(
        ["uri ReDoS", "organization=1", "CVE-2023-28755 in gem", "team-ruby",
         re.compile(r"^\d{4}-\d\d-\d\dT"), "2", "2"]
    )  # fmt: skip
    assert_self_contained(visit, path)
    assert_readable(page)
