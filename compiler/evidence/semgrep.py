"""Semgrep JSON (`semgrep scan --json`): every `results[]` entry is a finding.

Semgrep rules say ERROR, WARNING or INFO: they count as high, medium and info.
The newer CRITICAL, HIGH, MEDIUM and LOW keep their level; INVENTORY and
EXPERIMENT count as info.  Results Semgrep marks `is_ignored` (a `nosemgrep`
comment) are not counted.

A result is told apart by its `check_id`, `path` and `extra.fingerprint`, Semgrep's
own; Semgrep writes "requires login" there when run without an account, and then
the `check_id` and `path` alone tell results apart (several in one file count one
for one against the baseline's).
"""

from __future__ import annotations

from typing import Any

from compiler.evidence.report import FINDING_LEVELS, Finding, Format, Measured, Reading

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
NO_FINGERPRINT = "requires login"  # what Semgrep writes without an account


def recognise(document: Any) -> bool:
    return isinstance(document, dict) and "results" in document and "errors" in document


def measure(document: Any, reading: Reading) -> Measured:
    top = reading.at(document)
    top.need("results", "array")
    findings = []
    for result in top.items("results"):
        rule = result.need("check_id", "string").value
        path = result.need("path", "string").value
        extra = result.need("extra", "object")
        ignored = extra.get("is_ignored", "boolean")
        if ignored is not None and ignored.value:
            continue
        fingerprint = extra.get("fingerprint", "string")
        findings.append(
            Finding(
                "findings",
                rule,
                extra.level("severity", SEVERITY),
                target=path,
                fingerprint=fingerprint.value
                if fingerprint and fingerprint.value != NO_FINGERPRINT
                else None,
            )
        )
    return Measured(findings=tuple(findings), scales={"findings": FINDING_LEVELS})


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
