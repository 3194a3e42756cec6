"""The report formats regate reads, and reading a report into counts."""

from __future__ import annotations

from typing import Any

from compiler.evidence.cobertura import COBERTURA
from compiler.evidence.coveragepy import COVERAGEPY
from compiler.evidence.gitleaks import GITLEAKS
from compiler.evidence.grype import GRYPE
from compiler.evidence.jacoco import JACOCO
from compiler.evidence.lcov import LCOV
from compiler.evidence.report import Counts, Format, Report, Syntax, parse_json, parse_xml
from compiler.evidence.sarif import SARIF
from compiler.evidence.semgrep import SEMGREP
from compiler.evidence.trivy import TRIVY

FORMATS: dict[str, Format] = {
    f.name: f for f in (TRIVY, GRYPE, SEMGREP, GITLEAKS, SARIF, COBERTURA, LCOV, COVERAGEPY, JACOCO)
}


SYNTAX_WORDS: dict[Syntax, str] = {"json": "JSON", "xml": "XML", "lcov": "plain text"}


def _syntax_of(report: Report) -> Syntax:
    start = report.text.lstrip()[:1]
    return "xml" if start == "<" else "json" if start in ("{", "[") else "lcov"


def _parse(report: Report, syntax: Syntax, expected: str) -> Any:
    if syntax == "json":
        return parse_json(report, expected)
    if syntax == "xml":
        return parse_xml(report, expected)
    return report.text


def _looks_like(document: Any, syntax: Syntax) -> Format | None:
    return next((f for f in FORMATS.values() if f.syntax == syntax and f.recognise(document)), None)


def detect(report: Report) -> Format:
    """The format of a report named without one (`--evidence build.security=trivy.json`)."""
    syntax = _syntax_of(report)
    names = ", ".join(FORMATS)
    document = _parse(report, syntax, f"a report in one of the formats {names}")
    found = _looks_like(document, syntax)
    if found is None:
        raise report.fail(
            "RG072",
            f"{report.path} is not a report regate recognises (expected one of {names})",
            help=f"name the format: FORMAT:{report.path}, and regate says what it lacks",
        )
    return found


def measure(report: Report, format: Format) -> Counts:
    """The counts `format` takes from the report; anything else raises EvidenceError."""
    if not report.text.strip():
        raise format.not_this(report, "the file is empty")
    found = _syntax_of(report)
    if found != format.syntax:
        raise format.not_this(report, f"expected {format.shape}, found {SYNTAX_WORDS[found]}")
    document = _parse(report, format.syntax, format.title)
    if not format.recognise(document):
        other = _looks_like(document, _syntax_of(report))
        looks = f"; it looks like {other.title}" if other else ""
        raise format.not_this(report, f"expected {format.shape}{looks}")
    counts = format.measure(document, format, report)
    if format.kind == "coverage" and counts["lines.total"] == 0:
        # A gate must not pass on a coverage run that measured nothing.
        raise format.not_this(report, "it measures no lines; expected at least one")
    return counts
