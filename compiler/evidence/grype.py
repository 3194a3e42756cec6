"""Grype JSON (`grype IMAGE -o json`): every `matches[].vulnerability` is a vulnerability.

Grype's severities are Critical, High, Medium, Low, Negligible and Unknown;
Negligible counts as low.  Grype leaves `severity` out when its database has none
(`omitempty`) and reads that as Unknown, and so does regate.

A match is told apart by `vulnerability.id` (the ids of `relatedVulnerabilities` as
aliases), `artifact.name` and `artifact.type`, never the installed version.
"""

from __future__ import annotations

from typing import Any

from compiler.evidence.report import VULNERABILITY_LEVELS, Finding, Format, Measured, Reading

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


def measure(document: Any, reading: Reading) -> Measured:
    top = reading.at(document)
    name = top.need("descriptor", "object").need("name", "string")
    if name.value != "grype":
        raise name.wrong(f'descriptor.name is "{name.value}"; expected "grype"')
    top.need("matches", "array")
    findings = []
    for match in top.items("matches"):
        vulnerability = match.need("vulnerability", "object")
        artifact = match.need("artifact", "object")
        related = tuple(r.need("id", "string").value for r in match.items("relatedVulnerabilities"))
        findings.append(
            Finding(
                "vulnerabilities",
                vulnerability.need("id", "string").value,
                vulnerability.optional_level("severity", SEVERITY) or "unknown",
                package=artifact.need("name", "string").value,
                target=artifact.need("type", "string").value,
                aliases=related,
            )
        )
    return Measured(findings=tuple(findings), scales={"vulnerabilities": VULNERABILITY_LEVELS})


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
