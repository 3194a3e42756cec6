"""The report formats regate reads, and reading a report into what it measures."""

from __future__ import annotations

from typing import Any

from compiler.evidence.checkov import CHECKOV
from compiler.evidence.cobertura import COBERTURA
from compiler.evidence.coveragepy import COVERAGEPY
from compiler.evidence.cyclonedx import CYCLONEDX, not_affecting
from compiler.evidence.gitleaks import GITLEAKS
from compiler.evidence.govulncheck import GOVULNCHECK
from compiler.evidence.grype import GRYPE
from compiler.evidence.jacoco import JACOCO
from compiler.evidence.lcov import LCOV
from compiler.evidence.npm_audit import NPM_AUDIT
from compiler.evidence.osv_scanner import OSV_SCANNER
from compiler.evidence.pip_audit import PIP_AUDIT
from compiler.evidence.provenance import PROVENANCE
from compiler.evidence.report import (
    EvidenceError,
    Finding,
    Format,
    JsonSeq,
    Measured,
    Reading,
    Report,
    Syntax,
    parse_json,
    parse_json_seq,
    parse_xml,
)
from compiler.evidence.sarif import SARIF
from compiler.evidence.semgrep import SEMGREP
from compiler.evidence.sonarqube import SONARQUBE_GATE, SONARQUBE_ISSUES
from compiler.evidence.trivy import TRIVY
from compiler.evidence.zap import ZAP

# In the order a report named without its format is recognised.
FORMATS: dict[str, Format] = {
    f.name: f
    for f in (
        TRIVY,
        GRYPE,
        SEMGREP,
        GITLEAKS,
        SARIF,
        COBERTURA,
        LCOV,
        COVERAGEPY,
        JACOCO,
        OSV_SCANNER,
        NPM_AUDIT,
        PIP_AUDIT,
        GOVULNCHECK,
        CHECKOV,
        ZAP,
        SONARQUBE_GATE,
        SONARQUBE_ISSUES,
        CYCLONEDX,
        PROVENANCE,
    )
}


SYNTAX_WORDS: dict[Syntax, str] = {
    "json": "JSON",
    "json-seq": "JSON",
    "xml": "XML",
    "lcov": "plain text",
}


def _syntax_of(report: Report) -> Syntax:
    start = report.text.lstrip()[:1]
    return "xml" if start == "<" else "json" if start in ("{", "[") else "lcov"


def _fits(found: Syntax, expected: Syntax) -> bool:
    return found == expected or (found == "json" and expected == "json-seq")


def _parse(report: Report, syntax: Syntax, expected: str) -> Any:
    if syntax == "json":
        return parse_json(report, expected)
    if syntax == "json-seq":
        return parse_json_seq(report, expected)
    if syntax == "xml":
        return parse_xml(report, expected)
    return report.text


def _looks_like(document: Any, syntax: Syntax) -> Format | None:
    return next((f for f in FORMATS.values() if f.syntax == syntax and f.recognise(document)), None)


def detect(report: Report) -> Format:
    """The format of a report named without one (`--evidence build.security=trivy.json`)."""
    syntax = _syntax_of(report)
    names = ", ".join(FORMATS)
    expected = f"a report in one of the formats {names}"
    found: Format | None = None
    if syntax == "json":
        # One JSON value, or a stream of them (govulncheck, JSON Lines): a stream that
        # no format reads is reported as the JSON error it is.
        try:
            found = _looks_like(parse_json(report, expected), "json")
        except EvidenceError as single:
            values = parse_json_seq(report, expected) if "Extra data" in str(single) else None
            if values is None or _looks_like(values, "json-seq") is None:
                raise
        if found is None:
            found = _looks_like(parse_json_seq(report, expected), "json-seq")
    else:
        found = _looks_like(_parse(report, syntax, expected), syntax)
    if found is None:
        raise report.fail(
            "RG072",
            f"{report.path} is not a report regate recognises (expected one of {names})",
            help=f"name the format: FORMAT:{report.path}, and regate says what it lacks",
        )
    return found


def measure(
    report: Report, format: Format, key: Any = None, key_path: str | None = None
) -> Measured:
    """What `format` takes from the report; anything else raises EvidenceError."""
    if not report.text.strip():
        raise format.not_this(report, "the file is empty")
    found = _syntax_of(report)
    if not _fits(found, format.syntax):
        raise format.not_this(report, f"expected {format.shape}, found {SYNTAX_WORDS[found]}")
    document = _parse(report, format.syntax, format.title)
    if not format.recognise(document):
        other = _looks_like(document, format.syntax)
        if other is None and isinstance(document, JsonSeq) and len(document) == 1:
            other = _looks_like(document[0], "json")
        looks = f"; it looks like {other.title}" if other else ""
        raise format.not_this(report, f"expected {format.shape}{looks}")
    measured = format.measure(document, Reading(format, report, key, key_path))
    if format.kind == "coverage" and measured.values.get("lines.total") == 0:
        # A gate must not pass on a coverage run that measured nothing.
        raise format.not_this(report, "it measures no lines; expected at least one")
    return measured


def vex_statements(report: Report) -> list[Finding]:
    """The not-affected statements of a CycloneDX VEX document (`--vex`)."""
    if not report.text.strip() or _syntax_of(report) != "json":
        raise CYCLONEDX.not_this(report, f"expected {CYCLONEDX.shape} (a VEX document)")
    document = parse_json(report, "a CycloneDX VEX document")
    if not CYCLONEDX.recognise(document):
        raise CYCLONEDX.not_this(report, f"expected {CYCLONEDX.shape} (a VEX document)")
    return not_affecting(document, Reading(CYCLONEDX, report))
