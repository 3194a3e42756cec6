"""Trivy JSON (`trivy image|fs|repo --format json`, SchemaVersion 2).

`Results[].Vulnerabilities[]` count as vulnerabilities, `Results[].Secrets[]`
as secrets, and `Results[].Misconfigurations[]` whose `Status` is "FAIL" as
findings.  Trivy does not record which scanners ran, so secrets and findings
appear only when the report has some.
"""

from __future__ import annotations

from typing import Any

from compiler.evidence.report import (
    FINDING_LEVELS,
    VULNERABILITY_LEVELS,
    At,
    Counts,
    Format,
    Report,
    tally,
)

VULNERABILITY_SEVERITY = {
    "CRITICAL": "critical",
    "HIGH": "high",
    "MEDIUM": "medium",
    "LOW": "low",
    "UNKNOWN": "unknown",
}
# Secrets and misconfigurations are counted on the finding scale, which has no "unknown".
FINDING_SEVERITY = {**VULNERABILITY_SEVERITY, "UNKNOWN": "info"}


def recognise(document: Any) -> bool:
    return isinstance(document, dict) and "SchemaVersion" in document and "ArtifactName" in document


def measure(document: Any, format: Format, report: Report) -> Counts:
    top = At(document, "", format, report)
    version = top.need("SchemaVersion", "integer")
    if version.value != 2:
        raise version.wrong(f"SchemaVersion is {version.value}; regate reads SchemaVersion 2")
    vulnerabilities: list[str] = []
    secrets: list[str] = []
    findings: list[str] = []
    for result in top.items("Results"):
        result.need("Target", "string")
        for vulnerability in result.items("Vulnerabilities"):
            vulnerabilities.append(vulnerability.level("Severity", VULNERABILITY_SEVERITY))
        for secret in result.items("Secrets"):
            secrets.append(secret.level("Severity", FINDING_SEVERITY))
        for misconfiguration in result.items("Misconfigurations"):
            if misconfiguration.need("Status", "string").value == "FAIL":
                findings.append(misconfiguration.level("Severity", FINDING_SEVERITY))
    counts = tally("vulnerabilities", vulnerabilities, VULNERABILITY_LEVELS)
    if secrets:
        counts |= tally("secrets", secrets, FINDING_LEVELS)
    if findings:
        counts |= tally("findings", findings, FINDING_LEVELS)
    return counts


TRIVY = Format(
    name="trivy",
    title="a Trivy JSON report",
    produced_by="the output of `trivy image --format json` (or `trivy fs`, `trivy repo`)",
    shape='an object with "SchemaVersion": 2, "ArtifactName" and "Results"',
    syntax="json",
    kind="security",
    recognise=recognise,
    measure=measure,
)
