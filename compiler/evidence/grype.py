"""Grype JSON (`grype IMAGE -o json`): every `matches[].vulnerability` is a vulnerability.

Grype's severities are Critical, High, Medium, Low, Negligible and Unknown;
Negligible counts as low.
"""

from __future__ import annotations

from typing import Any

from compiler.evidence.report import VULNERABILITY_LEVELS, At, Counts, Format, Report, tally

SEVERITY = {
    "Critical": "critical",
    "High": "high",
    "Medium": "medium",
    "Low": "low",
    "Negligible": "low",
    "Unknown": "unknown",
}


def recognise(document: Any) -> bool:
    return isinstance(document, dict) and "matches" in document and "descriptor" in document


def measure(document: Any, format: Format, report: Report) -> Counts:
    top = At(document, "", format, report)
    name = top.need("descriptor", "object").need("name", "string")
    if name.value != "grype":
        raise name.wrong(f'descriptor.name is "{name.value}"; expected "grype"')
    top.need("matches", "array")
    severities = [
        match.need("vulnerability", "object").level("severity", SEVERITY)
        for match in top.items("matches")
    ]
    return tally("vulnerabilities", severities, VULNERABILITY_LEVELS)


GRYPE = Format(
    name="grype",
    title="a Grype JSON report",
    produced_by="the output of `grype IMAGE -o json`",
    shape='an object with "matches" and "descriptor"',
    syntax="json",
    kind="security",
    recognise=recognise,
    measure=measure,
)
