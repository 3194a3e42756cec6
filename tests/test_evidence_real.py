"""Reports the tools themselves wrote (tests/fixtures/reports/README.md): what regate
reads from each, the faults real outputs showed, and bad reports derived from them."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from compiler.evidence import formats
from compiler.evidence.report import EvidenceError, Report, read_text
from tests.test_evidence import REPORTS, counts, failure, metadata, rendered, vulnerabilities

REAL = REPORTS / "real"


def security(**categories: Any) -> dict[str, Any]:
    return {"security": categories}


EXPECTED: dict[tuple[str, str], Any] = {
    # One failed Dockerfile check, no vulnerability scan result: vulnerabilities 0.
    ("trivy", "trivy/dockerfile.json"): security(
        vulnerabilities=vulnerabilities(0, 0, 0, 0, 0), findings=counts(high=1)
    ),
    ("grype", "grype/chainguard-ruby.json"): security(
        vulnerabilities=vulnerabilities(0, 3, 0, 0, 0)
    ),
    # No fingerprint, no is_ignored (an older Semgrep): both results count.
    ("semgrep", "semgrep/equivalence.json"): security(findings=counts(medium=2)),
    ("gitleaks", "gitleaks/json_simple.json"): security(secrets={"total": 1}),
    ("sarif", "sarif/codeql-fingerprinting.sarif"): security(findings=counts(medium=2)),
    # "defaultConfiguration": {} and no level: SARIF's default, warning.
    ("sarif", "sarif/codeql-fingerprinting2.sarif"): security(findings=counts(medium=1)),
    # coverlet writes branch="True": 2/2 and 1/2 conditions.
    ("cobertura", "cobertura/coverlet-excerpt.xml"): {
        "code": {
            "coverage": 69.57,
            "lines": 23,
            "lines_covered": 16,
            "branches": {"coverage": 75.0, "total": 4, "covered": 3},
        }
    },
    # Comment lines (#) between records; the summary records are not trusted (BRF:5).
    ("lcov", "lcov/merge-a.info"): {
        "code": {
            "coverage": 28.57,
            "lines": 7,
            "lines_covered": 2,
            "branches": {"coverage": 42.86, "total": 7, "covered": 3},
        }
    },
    ("lcov", "lcov/merge-b.info"): {
        "code": {
            "coverage": 85.71,
            "lines": 7,
            "lines_covered": 6,
            "branches": {"coverage": 85.71, "total": 7, "covered": 6},
        }
    },
    # Lines alone (8/10), not coverage.py's 75 that mixes in branches.
    ("coveragepy", "coveragepy/coverage-7.18.json"): {
        "code": {
            "coverage": 80.0,
            "lines": 10,
            "lines_covered": 8,
            "branches": {"coverage": 50.0, "total": 2, "covered": 1},
        }
    },
    # max_severity 9.0, 8.3 (two ids, one vulnerability), 6.9.
    ("osv-scanner", "osv-scanner/max-severity.json"): security(
        vulnerabilities=vulnerabilities(1, 0, 0, 0, 0)
    ),
    ("osv-scanner", "osv-scanner/two-aliases.json"): security(
        vulnerabilities=vulnerabilities(0, 1, 0, 0, 0)
    ),
    ("osv-scanner", "osv-scanner/dev-dependency.json"): security(
        vulnerabilities=vulnerabilities(0, 0, 1, 0, 0)
    ),
    # Two advisories; npm's own summary says 9 (it counts the 7 dependents too).
    ("npm-audit", "npm-audit/gatsby.json"): security(
        vulnerabilities=vulnerabilities(0, 0, 0, 2, 0)
    ),
    ("npm-audit", "npm-audit/dep-vuln-with-own-vuln.json"): security(
        vulnerabilities=vulnerabilities(0, 1, 0, 1, 0)
    ),
    ("npm-audit", "npm-audit/npm-cli-json-audit.json"): security(
        vulnerabilities=vulnerabilities(0, 1, 0, 0, 0)
    ),
    ("pip-audit", "pip-audit/vulnerabilities.json"): security(
        vulnerabilities=vulnerabilities(0, 0, 0, 0, 3)
    ),
    # Three vulnerabilities the code calls; two more only imported or required.
    ("govulncheck", "govulncheck/source-call.json"): security(
        vulnerabilities=vulnerabilities(0, 0, 0, 0, 3)
    ),
    # No platform key, no severities: Checkov's own SARIF calls each failed check an error.
    ("checkov", "checkov/head.json"): security(findings=counts(high=11)),
    ("checkov", "checkov/base.json"): security(findings=counts(high=8)),
    ("zap", "zap/basic-traditional-json.json"): security(findings=counts(high=1)),
    ("sonarqube-gate", "sonarqube/project_status-example.json"): {
        "quality_gate": {
            "status": "ERROR",
            "passed": False,
            "failed_conditions": 4,
            "metrics": {
                "new_blocker_violations": 14,
                "new_coverage": 82.50562381034781,
                "new_critical_violations": 1,
                "new_sqale_debt_ratio": 0.6562109862671661,
                "open_issues": 17,
                "reopened_issues": 0,
                "skipped_tests": 0,
            },
        }
    },
    # Its one issue is resolved (WONTFIX).
    ("sonarqube-issues", "sonarqube/search-example.json"): security(findings=counts()),
    # The "low" rating (with a CVSS score of 8.2) is Grype's severity; EPSS is no rating.
    ("cyclonedx", "cyclonedx/grype-image.cdx.json"): security(
        vulnerabilities=vulnerabilities(1, 0, 0, 1, 0)
    ),
    ("cyclonedx", "cyclonedx/vex-affected.json"): security(
        vulnerabilities=vulnerabilities(1, 0, 0, 0, 0)
    ),
    # The VEX statement says not_affected: nothing to count.
    ("cyclonedx", "cyclonedx/vex-not_affected.json"): security(
        vulnerabilities=vulnerabilities(0, 0, 0, 0, 0)
    ),
}


@pytest.mark.parametrize(("format", "name"), list(EXPECTED), ids=[n for _, n in EXPECTED])
def test_each_real_report_gives_the_expected_metadata(format, name):
    assert metadata(format, str(REAL / name)) == EXPECTED[format, name]


@pytest.mark.parametrize(("format", "name"), list(EXPECTED), ids=[n for _, n in EXPECTED])
def test_each_real_report_is_recognised_without_its_format(format, name):
    assert formats.detect(read_text(str(REAL / name))).name == format


def test_a_grype_match_without_severity_is_unknown_as_grype_reads_it(tmp_path):
    """Grype omits an empty severity (`json:"severity,omitempty"`) and reads it as Unknown."""
    document = json.loads((REAL / "grype/chainguard-ruby.json").read_text())
    del document["matches"][2]["vulnerability"]["severity"]
    report = tmp_path / "grype.json"
    report.write_text(json.dumps(document))
    assert metadata("grype", str(report)) == security(
        vulnerabilities=vulnerabilities(0, 2, 0, 0, 1)
    )


def test_a_sarif_location_given_by_artifact_index_names_the_artifact():
    found = metadata("sarif", str(REAL / "sarif/codeql-fingerprinting.sarif"), "--with-findings")
    assert [f["target"] for f in found["findings"]] == ["testFile1.js", "testFile2.js"]


def test_skipped_dependencies_are_a_warning():
    from tests.conftest import run_cli

    report = REAL / "pip-audit/skipped-dependency.json"
    result = run_cli("metadata", "from", "pip-audit", str(report))
    assert result.exit_code == 0
    assert json.loads(result.stdout) == security(vulnerabilities=vulnerabilities(0, 0, 0, 0, 1))
    assert result.stderr == (
        f"{report}:1:1: warning[RG112]: pip-audit did not audit 1 dependency (bar); "
        "nothing is counted for them\n"
        "help: see their skip_reason in the report; `pip-audit --strict` fails instead\n"
        "\n0 errors, 1 warning\n"
    )


def test_checkov_parsing_errors_are_refused():
    report = REAL / "checkov/broken.json"
    assert failure("checkov", str(report)) == rendered(
        report,
        f"error[RG110]: {report} is incomplete: Checkov could not parse 1 file, which it did "
        "not check (the report, written with --quiet, names none)",
        "fix the files, or leave them out of the scan with --skip-path",
    )


def test_checkov_finding_nothing_to_check_is_refused():
    report = REAL / "checkov/empty.json"
    assert "Checkov found nothing to check" in failure("checkov", str(report))


# --- bad reports derived from real ones: each a located error, never a count ---

Mutation = Callable[[Any], Any]


def _set(path: str, value: Any) -> Mutation:
    """Set the member at a dotted path ("results.0.source") of the JSON document."""

    def mutate(document: Any) -> Any:
        *steps, last = path.split(".")
        owner = document
        for step in steps:
            owner = owner[int(step)] if isinstance(owner, list) else owner[step]
        if value is DELETE:
            del owner[int(last) if isinstance(owner, list) else last]
        else:
            owner[int(last) if isinstance(owner, list) else last] = value
        return document

    return mutate


DELETE = object()

BAD: list[tuple[str, str, Mutation, str, str]] = [
    (
        "osv-scanner",
        "osv-scanner/max-severity.json",
        _set("results.0.packages.0.groups.0.max_severity", "HIGH"),
        'results[0].packages[0].groups[0].max_severity is "HIGH"; expected a CVSS score',
        "23:31",
    ),
    (
        "osv-scanner",
        "osv-scanner/max-severity.json",
        _set("results.0.source", DELETE),
        'results[0] has no "source" (expected an object)',
        "3:5",
    ),
    (
        "npm-audit",
        "npm-audit/gatsby.json",
        _set("vulnerabilities.mem.via.0.severity", "severe"),
        'vulnerabilities.mem.via[0].severity is "severe"; expected one of critical, high, '
        "moderate, low, info",
        "12:23",
    ),
    (
        "npm-audit",
        "npm-audit/gatsby.json",
        _set("vulnerabilities.yargs.via.0", "left-pad"),
        'vulnerabilities.yargs.via[0] names "left-pad", which is not in vulnerabilities',
        "65:9",
    ),
    (
        "npm-audit",
        "npm-audit/gatsby.json",
        lambda d: {"advisories": {}, "muted": [], "actions": [], "metadata": d["metadata"]},
        "it is an npm 6 report; regate reads npm 7+ (auditReportVersion 2)",
        "1:1",
    ),
    (
        "npm-audit",
        "npm-audit/gatsby.json",
        lambda d: {"error": {"code": "ENOLOCK", "summary": "This command requires a lockfile."}},
        "it is npm's error report (ENOLOCK), not an audit",
        "1:1",
    ),
    (
        "pip-audit",
        "pip-audit/vulnerabilities.json",
        _set("dependencies.0.vulns.1.id", DELETE),
        'dependencies[0].vulns[1] has no "id" (expected a string)',
        "18:9",
    ),
    (
        "govulncheck",
        "govulncheck/source-call.json",
        lambda d: [{"config": {**d[0]["config"], "scan_level": "deep"}}, *d[1:]],
        'scan_level is "deep"; expected module, package or symbol',
        "2:13",
    ),
    (
        "govulncheck",
        "govulncheck/source-call.json",
        lambda d: [m for m in d if m.get("osv", {}).get("id") != "GO-2021-0054"],
        "a finding names GO-2021-0054, but no osv entry describes it",
        "1:1",
    ),
    (
        "checkov",
        "checkov/head.json",
        _set("results.failed_checks.0.severity", "SEVERE"),
        'results.failed_checks[0].severity is "SEVERE"; expected one of CRITICAL, HIGH',
        "34:21",
    ),
    (
        "zap",
        "zap/basic-traditional-json.json",
        _set("site.0.alerts.0.riskcode", "4"),
        'site[0].alerts[0].riskcode is "4"; expected one of 3, 2, 1, 0',
        "17:23",
    ),
    (
        "zap",
        "zap/basic-traditional-json.json",
        _set("site.0.alerts.0.riskcode", 3),
        "site[0].alerts[0].riskcode is 3; expected a string",
        "17:23",
    ),
    (
        "sonarqube-gate",
        "sonarqube/project_status-example.json",
        _set("projectStatus.status", "NONE"),
        "projectStatus.status is NONE: the project has no quality gate status",
        "3:15",
    ),
    (
        "sonarqube-issues",
        "sonarqube/search-example.json",
        _set("paging.total", 250),
        "is incomplete: it holds 1 of 250 issues (one page of the response)",
        "1:1",
    ),
    (
        "sonarqube-issues",
        "sonarqube/search-example.json",
        lambda d: _set("issues.0.impacts", [])(_set("issues.0.severity", DELETE)(d)),
        'issues[0] has no "severity" and no "impacts"',
        "8:5",
    ),
    (
        "cyclonedx",
        "cyclonedx/vex-affected.json",
        _set("vulnerabilities.0.analysis.state", "unaffected"),
        'vulnerabilities[0].analysis.state is "unaffected"; expected one of not_affected',
        "34:18",
    ),
    (
        "cyclonedx",
        "cyclonedx/vex-affected.json",
        _set("vulnerabilities", DELETE),
        'it has no "vulnerabilities": an SBOM that was not scanned for them',
        "1:1",
    ),
    (
        "sarif",
        "sarif/codeql-fingerprinting.sarif",
        _set("runs.0.results.1.locations.0.physicalLocation.artifactLocation.index", 5),
        "runs[0].results[1].locations[0].physicalLocation.artifactLocation.index is 5; "
        "the run has 2 artifacts",
        "67:28",
    ),
]


def _load(name: str) -> Any:
    text = (REAL / name).read_text()
    if name.startswith("govulncheck/"):
        decoder, values, position = json.JSONDecoder(), [], 0
        while position < len(text.rstrip()):
            value, position = decoder.raw_decode(text, position)
            values.append(value)
            position += len(text[position:]) - len(text[position:].lstrip())
        return values
    return json.loads(text)


def _write(path: Path, name: str, document: Any) -> None:
    if name.startswith("govulncheck/"):
        path.write_text("\n".join(json.dumps(m, indent=2) for m in document) + "\n")
    else:
        path.write_text(json.dumps(document, indent=2))


@pytest.mark.parametrize(
    ("format", "name", "mutate", "message", "at"),
    BAD,
    ids=[f"{b[0]}-{i}" for i, b in enumerate(BAD)],
)
def test_bad_real_reports_are_located_errors(tmp_path, format, name, mutate, message, at):
    """At the offending value, or its owner; 1:1 for what concerns the whole report."""
    report = tmp_path / Path(name).name
    _write(report, name, mutate(_load(name)))
    stderr = failure(format, str(report))
    assert stderr.startswith(f"{report}:{at}: error["), stderr
    assert message in stderr


def test_a_truncated_govulncheck_stream_is_located(tmp_path):
    report = tmp_path / "govulncheck.json"
    report.write_text((REAL / "govulncheck/source-call.json").read_text()[:3000])
    stderr = failure("govulncheck", str(report))
    assert stderr.startswith(f"{report}:132:19: error[RG071]: ")
    assert "is not valid JSON: it ends too early (truncated?)" in stderr


# --- any change to a real report: a document or a located error, never a traceback ---

JSON_FILES = [
    (format, name)
    for format, name in EXPECTED
    if not name.endswith((".xml", ".info")) and not name.startswith("govulncheck/")
] + [("provenance", "provenance/slsa-github-generator-v1.2.1.intoto.jsonl")]

SCALARS = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(-3, 10**6),
    st.floats(allow_nan=False),
    st.text(max_size=8),
)
VALUES = st.recursive(
    SCALARS,
    lambda inner: (
        st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=5), inner, max_size=3)
    ),
    max_leaves=6,
)


def _paths(value: Any, path: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    found = [path]
    if isinstance(value, dict):
        for key, child in value.items():
            found += _paths(child, (*path, key))
    elif isinstance(value, list):
        for index, child in enumerate(value):
            found += _paths(child, (*path, index))
    return found


def _replace(document: Any, path: tuple[Any, ...], value: Any) -> Any:
    if not path:
        return value
    copy = json.loads(json.dumps(document))
    owner = copy
    for step in path[:-1]:
        owner = owner[step]
    owner[path[-1]] = value
    return copy


@pytest.mark.parametrize(("format", "name"), JSON_FILES, ids=[n for _, n in JSON_FILES])
@settings(max_examples=15, derandomize=True, deadline=None, database=None)
@given(data=st.data())
def test_changed_real_reports_never_crash(tmp_path_factory, format, name, data):
    document = json.loads((REAL / name).read_text())
    paths = _paths(document)
    path = data.draw(st.sampled_from(paths), label="path")
    changed = _replace(document, path, data.draw(VALUES, label="value"))
    report = Report(
        str(tmp_path_factory.getbasetemp() / "changed.json"), json.dumps(changed, indent=1)
    )
    try:
        formats.measure(report, formats.FORMATS[format])
    except EvidenceError as error:
        (diagnostic,) = error.diagnostics
        assert diagnostic.code in ("RG071", "RG072", "RG110"), diagnostic
