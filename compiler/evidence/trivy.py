"""Trivy JSON (`trivy image|fs|repo --format json`, SchemaVersion 2).

`Results[].Vulnerabilities[]` count as vulnerabilities, `Results[].Secrets[]`
as secrets, and `Results[].Misconfigurations[]` whose `Status` is "FAIL" as
findings.  Trivy does not record which scanners ran, so secrets and findings
appear only when the report has some.

A vulnerability is told apart by its `VulnerabilityID` (and `VendorIDs`), `PkgName`
and where it was found, never the installed version: the result's `Target`, or for
OS packages the result's `Type` ("debian"), since their `Target` names the image
and its tag, which change with every release.  A secret is told apart by its
`RuleID` and `Target`, a misconfiguration by its `ID`, `Target` and
`CauseMetadata.Resource`.
"""

from __future__ import annotations

from typing import Any

from compiler.evidence.report import (
    FINDING_LEVELS,
    VULNERABILITY_LEVELS,
    At,
    Finding,
    Format,
    Measured,
    Reading,
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


def _strings(owner: At, key: str) -> tuple[str, ...]:
    return tuple(str(item.value) for item in owner.items(key) if isinstance(item.value, str))


def measure(document: Any, reading: Reading) -> Measured:
    top = reading.at(document)
    version = top.need("SchemaVersion", "integer")
    if version.value != 2:
        raise version.wrong(f"SchemaVersion is {version.value}; regate reads SchemaVersion 2")
    findings: list[Finding] = []
    for result in top.items("Results"):
        target = result.need("Target", "string").value
        kind = result.get("Class", "string")
        os_packages = kind is not None and kind.value == "os-pkgs"
        where = result.need("Type", "string").value if os_packages else target
        for vulnerability in result.items("Vulnerabilities"):
            findings.append(
                Finding(
                    "vulnerabilities",
                    vulnerability.need("VulnerabilityID", "string").value,
                    vulnerability.level("Severity", VULNERABILITY_SEVERITY),
                    package=vulnerability.need("PkgName", "string").value,
                    target=where,
                    aliases=_strings(vulnerability, "VendorIDs"),
                )
            )
        for secret in result.items("Secrets"):
            rule = secret.need("RuleID", "string").value
            findings.append(
                Finding("secrets", rule, secret.level("Severity", FINDING_SEVERITY), target=target)
            )
        for misconfiguration in result.items("Misconfigurations"):
            if misconfiguration.need("Status", "string").value == "FAIL":
                cause = misconfiguration.get("CauseMetadata", "object")
                resource = cause.get("Resource", "string") if cause else None
                findings.append(
                    Finding(
                        "findings",
                        misconfiguration.need("ID", "string").value,
                        misconfiguration.level("Severity", FINDING_SEVERITY),
                        package=resource.value if resource and resource.value else None,
                        target=target,
                    )
                )
    scales: dict[str, tuple[str, ...] | None] = {"vulnerabilities": VULNERABILITY_LEVELS}
    for category in ("secrets", "findings"):
        if any(f.category == category for f in findings):
            scales[category] = FINDING_LEVELS
    return Measured(findings=tuple(findings), scales=scales)


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
