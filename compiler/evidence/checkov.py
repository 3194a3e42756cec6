"""Checkov JSON (`checkov -d DIR -o json`): failed checks of infrastructure as code.

Checkov writes one report per framework it ran (an array when several ran, else
one object); each `results.failed_checks[]` entry is a finding.  Skipped checks
(`checkov:skip` comments) are not counted.  Checkov gives severities only with a
platform API key; a failed check without one counts as high, as Checkov's own
SARIF output writes it (level "error").  A report with `parsing_errors` did not
check the files it could not parse, and a run that found nothing to check writes
only a summary: both are refused, since neither shows the code is clean.

A failed check is told apart by its `check_id`, `file_path` and `resource`, as
Checkov's own baseline (`--create-baseline`) tells them apart.
"""

from __future__ import annotations

from typing import Any

from compiler.evidence.report import FINDING_LEVELS, At, Finding, Format, Measured, Reading

SEVERITY = {
    "CRITICAL": "critical",
    "HIGH": "high",
    "MEDIUM": "medium",
    "LOW": "low",
    "INFO": "info",
    "NONE": "info",
}
WITHOUT_SEVERITY = "high"  # Checkov's SARIF: a failed check without severity is an error


def _is_report(item: Any) -> bool:
    return isinstance(item, dict) and "check_type" in item and "results" in item


def _is_empty_run(item: Any) -> bool:
    return isinstance(item, dict) and "resource_count" in item and "checkov_version" in item


def recognise(document: Any) -> bool:
    if isinstance(document, list):
        return bool(document) and all(_is_report(r) for r in document)
    return _is_report(document) or _is_empty_run(document)


def _unparsed(report: At) -> tuple[int, list[str]]:
    """How many files Checkov could not parse, and those it names: a report written
    with --quiet only counts them in its summary."""
    listed = [str(e.value) for e in report.need("results", "object").items("parsing_errors")]
    summary = report.get("summary", "object")
    count = summary.get("parsing_errors", "integer") if summary else None
    return max(count.value if count else 0, len(listed)), listed


def measure(document: Any, reading: Reading) -> Measured:
    top = reading.at(document)
    if _is_empty_run(document):
        raise reading.wrong(
            "Checkov found nothing to check (a summary with resource_count 0, no results); "
            "expected a report of checked resources"
        )
    reports = top.elements() if isinstance(document, list) else [top]
    counts = [_unparsed(report) for report in reports]
    unparsed = sum(count for count, _ in counts)
    if unparsed:
        named = [path for _, paths in counts for path in paths]
        shown = ", ".join(named[:3]) + (", ..." if len(named) > 3 else "")
        which = f": {shown}" if named else " (the report, written with --quiet, names none)"
        raise reading.report.fail(
            "RG110",
            f"{reading.report.path} is incomplete: Checkov could not parse {unparsed} "
            f"file{'s' if unparsed > 1 else ''}, which it did not check{which}",
            help="fix the files, or leave them out of the scan with --skip-path",
        )
    findings = []
    for report in reports:
        report.need("check_type", "string")
        for check in report.need("results", "object").items("failed_checks"):
            severity = check.optional_level("severity", SEVERITY) or WITHOUT_SEVERITY
            findings.append(
                Finding(
                    "findings",
                    check.need("check_id", "string").value,
                    severity,
                    package=check.need("resource", "string").value,
                    target=check.need("file_path", "string").value,
                )
            )
    return Measured(findings=tuple(findings), scales={"findings": FINDING_LEVELS})


CHECKOV = Format(
    name="checkov",
    title="a Checkov JSON report",
    produced_by="the output of `checkov -d DIR -o json`",
    shape='an object (or an array of them) with "check_type" and "results"',
    syntax="json",
    kind="security",
    recognise=recognise,
    measure=measure,
)
