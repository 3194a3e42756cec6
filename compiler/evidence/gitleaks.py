"""Gitleaks JSON (`gitleaks detect --report-format json`): an array of leaked secrets.

Gitleaks gives no severity, so its secrets count in `secrets.total` only.
"""

from __future__ import annotations

from typing import Any

from compiler.evidence.report import At, Counts, Format, Report, tally


def recognise(document: Any) -> bool:
    return isinstance(document, list) and all(
        isinstance(leak, dict) and "RuleID" in leak for leak in document
    )


def measure(document: Any, format: Format, report: Report) -> Counts:
    leaks = At(document, "", format, report).elements()
    for leak in leaks:
        leak.need("RuleID", "string")
        leak.need("File", "string")
        leak.need("StartLine", "integer")
    return tally("secrets", ["secret"] * len(leaks), None)


GITLEAKS = Format(
    name="gitleaks",
    title="a Gitleaks JSON report",
    produced_by="the report of `gitleaks detect --report-format json`",
    shape='an array of leaks, each with "RuleID", "File" and "StartLine"',
    syntax="json",
    kind="security",
    recognise=recognise,
    measure=measure,
)
