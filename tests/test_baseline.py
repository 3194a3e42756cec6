"""New findings against a baseline: identities per format, the findings list, and misuse."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from tests.conftest import run_cli
from tests.test_evidence import counts, failure, metadata, rendered, vulnerabilities
from tests.test_evidence_real import REAL, security


def _copy(tmp_path: Path, name: str, change: Any) -> Path:
    """A real report with one change, written beside the test."""
    document = json.loads((REAL / name).read_text())
    change(document)
    path = tmp_path / Path(name).name
    path.write_text(json.dumps(document, indent=2))
    return path


def test_a_report_against_itself_has_nothing_new():
    report = str(REAL / "grype/chainguard-ruby.json")
    assert metadata("grype", report, "--baseline", report) == security(
        vulnerabilities=vulnerabilities(0, 0, 0, 0, 0)
    )


def test_new_checkov_findings_are_those_of_the_new_resource():
    """The head adds a security group to the base's bucket: its three failed checks are new."""
    found = metadata(
        "checkov", str(REAL / "checkov/head.json"),
        "--baseline", str(REAL / "checkov/base.json"), "--with-findings",
    )  # fmt: skip
    assert found["security"] == {"findings": counts(high=3)}
    assert {(f["id"], f["package"], f["target"]) for f in found["findings"]} == {
        ("CKV_AWS_23", "aws_security_group.web", "/main.tf"),
        ("CKV_AWS_24", "aws_security_group.web", "/main.tf"),
        ("CKV2_AWS_5", "aws_security_group.web", "/main.tf"),
    }


def test_an_upgraded_package_with_the_same_vulnerability_is_not_new(tmp_path):
    """Identity is the vulnerability, the package and where it is; not the installed version."""

    def older(document):
        for match in document["matches"]:
            match["artifact"]["version"] = "0.10.0"

    baseline = _copy(tmp_path, "grype/chainguard-ruby.json", older)
    found = metadata("grype", str(REAL / "grype/chainguard-ruby.json"), "--baseline", str(baseline))
    assert found == security(vulnerabilities=vulnerabilities(0, 0, 0, 0, 0))


def test_a_vulnerability_known_under_another_alias_is_not_new():
    """OSV-1 gained the alias GHSA-123 since the baseline: the same vulnerability."""
    found = metadata(
        "osv-scanner", str(REAL / "osv-scanner/two-aliases.json"),
        "--baseline", str(REAL / "osv-scanner/max-severity.json"),
    )  # fmt: skip
    assert found == security(vulnerabilities=vulnerabilities(0, 0, 0, 0, 0))


def test_an_advisory_grype_matches_twice_is_new_once_per_match(tmp_path):
    """The baseline lacks Grype's GHSA match for the uri gem: that one match is new, with
    its related CVE as alias; the CVE match of the same gem is in the baseline."""
    baseline = _copy(tmp_path, "grype/chainguard-ruby.json", lambda d: d["matches"].pop(2))
    found = metadata(
        "grype", str(REAL / "grype/chainguard-ruby.json"),
        "--baseline", str(baseline), "--with-findings",
    )  # fmt: skip
    assert found == {
        **security(vulnerabilities=vulnerabilities(0, 1, 0, 0, 0)),
        "findings": [
            {
                "format": "grype",
                "category": "vulnerabilities",
                "id": "GHSA-hv5j-3h9f-99c2",
                "severity": "high",
                "package": "uri",
                "target": "gem",
                "aliases": ["CVE-2023-28755"],
            }
        ],
    }


def test_findings_with_one_identity_count_one_for_one(tmp_path):
    """Two open-redirect results in one file (Semgrep without an account gives no
    fingerprint): against a baseline with one of them, one is new."""
    baseline = _copy(tmp_path, "semgrep/equivalence.json", lambda d: d["results"].pop())
    found = metadata("semgrep", str(REAL / "semgrep/equivalence.json"), "--baseline", str(baseline))
    assert found == security(findings=counts(medium=1))


def test_moved_lines_are_not_new_findings(tmp_path):
    def moved(document):
        for result in document["results"]:
            result["start"]["line"] += 40
            result["end"]["line"] += 40

    baseline = _copy(tmp_path, "semgrep/equivalence.json", moved)
    found = metadata("semgrep", str(REAL / "semgrep/equivalence.json"), "--baseline", str(baseline))
    assert found == security(findings=counts())


def test_baselines_apply_to_reports_of_their_format():
    """A merged document: the Checkov baseline counts against Checkov's findings only."""
    found = metadata(
        "checkov", str(REAL / "checkov/head.json"),
        "--merge", str(REAL / "zap/basic-traditional-json.json"),
        "--baseline", str(REAL / "checkov/base.json"),
    )  # fmt: skip
    assert found == security(findings=counts(high=4))


def test_a_baseline_of_another_tool_is_refused():
    baseline = REAL / "zap/basic-traditional-json.json"
    assert failure(
        "checkov", str(REAL / "checkov/head.json"), "--baseline", f"zap:{baseline}"
    ) == rendered(
        baseline,
        f"error[RG075]: {baseline} is an OWASP ZAP JSON report, but no report of that format "
        f"is compared with it ({REAL / 'checkov/head.json'})",
        "a baseline is the same tool's report on the code it is compared with",
    )


def test_a_baseline_without_findings_is_refused():
    report = str(REAL / "lcov/merge-b.info")
    stderr = failure("lcov", report, "--baseline", str(REAL / "lcov/merge-a.info"))
    assert "error[RG075]" in stderr
    assert "is an LCOV tracefile, which has no findings to compare" in stderr


def test_a_bad_baseline_is_an_error_like_any_report(tmp_path):
    baseline = tmp_path / "base.json"
    baseline.write_text('{"matches": [')
    stderr = failure("grype", str(REAL / "grype/chainguard-ruby.json"), "--baseline", str(baseline))
    assert stderr.startswith(f"{baseline}:1:")
    assert "is not valid JSON: it ends too early (truncated?)" in stderr


def test_the_findings_list_carries_each_formats_identity():
    found = metadata(
        "gitleaks", str(REAL / "gitleaks/json_simple.json"),
        "--merge", str(REAL / "sarif/codeql-fingerprinting.sarif"),
        "--merge", str(REAL / "cyclonedx/grype-image.cdx.json"),
        "--with-findings",
    )  # fmt: skip
    assert found["findings"] == [
        {
            "format": "cyclonedx",
            "category": "vulnerabilities",
            "id": "CVE-1999-0001",
            "severity": "low",
            "package": "package-1",
        },
        {
            "format": "cyclonedx",
            "category": "vulnerabilities",
            "id": "CVE-1999-0002",
            "severity": "critical",
            "package": "package-2",
        },
        {
            "format": "gitleaks",
            "category": "secrets",
            "id": "test-rule",
            "target": "auth.py",
            "fingerprint": "0000000000000000:auth.py:test-rule:1",
        },
        {
            "format": "sarif",
            "category": "findings",
            "id": "js/unused-local-variable",
            "severity": "medium",
            "target": "testFile1.js",
            "fingerprint": "primaryLocationLineHash=5e4d5a9cf1294ad9:1",
        },
        {
            "format": "sarif",
            "category": "findings",
            "id": "js/unused-local-variable",
            "severity": "medium",
            "target": "testFile2.js",
            "fingerprint": "primaryLocationLineHash=f7592a95a9381ac0:1",
        },
    ]


def test_a_mapping_places_the_findings_list(tmp_path):
    mapping = tmp_path / "mapping.json"
    mapping.write_text('{"new": {"critical": "vulnerabilities.critical", "list": "findings"}}')
    found = metadata(
        "cyclonedx", str(REAL / "cyclonedx/vex-affected.json"), "--mapping", str(mapping)
    )
    assert found == {
        "new": {
            "critical": 1,
            "list": [
                {
                    "format": "cyclonedx",
                    "category": "vulnerabilities",
                    "id": "CVE-2021-44228",
                    "severity": "critical",
                    "package": "DEF",
                }
            ],
        }
    }


def test_without_with_findings_the_default_shape_is_unchanged():
    result = run_cli("metadata", "from", "grype", str(REAL / "grype/chainguard-ruby.json"))
    assert list(json.loads(result.stdout)) == ["security"]
