"""Semgrep JSON (`semgrep scan --json`): every `results[]` entry is a finding.

Semgrep rules say ERROR, WARNING or INFO: they count as high, medium and info.
The newer CRITICAL, HIGH, MEDIUM and LOW keep their level; INVENTORY and
EXPERIMENT count as info.  Results Semgrep marks `is_ignored` (a `nosemgrep`
comment) are not counted.
"""

from __future__ import annotations

from typing import Any

from compiler.evidence.report import FINDING_LEVELS, At, Counts, Format, Report, tally

SEVERITY = {
    "ERROR": "high",
    "WARNING": "medium",
    "INFO": "info",
    "CRITICAL": "critical",
    "HIGH": "high",
    "MEDIUM": "medium",
    "LOW": "low",
    "INVENTORY": "info",
    "EXPERIMENT": "info",
}


def recognise(document: Any) -> bool:
    return isinstance(document, dict) and "results" in document and "errors" in document


def measure(document: Any, format: Format, report: Report) -> Counts:
    top = At(document, "", format, report)
    top.need("results", "array")
    severities: list[str] = []
    for result in top.items("results"):
        result.need("check_id", "string")
        result.need("path", "string")
        extra = result.need("extra", "object")
        ignored = extra.get("is_ignored", "boolean")
        if ignored is None or not ignored.value:
            severities.append(extra.level("severity", SEVERITY))
    return tally("findings", severities, FINDING_LEVELS)


SEMGREP = Format(
    name="semgrep",
    title="a Semgrep JSON report",
    produced_by="the output of `semgrep scan --json`",
    shape='an object with "results" and "errors"',
    syntax="json",
    kind="security",
    recognise=recognise,
    measure=measure,
)
