"""Gitleaks JSON (`gitleaks detect --report-format json`): an array of leaked secrets.

Gitleaks gives no severity, so its secrets count in `secrets.total` only.  A leak
is told apart by its `Fingerprint`, Gitleaks' own (what `.gitleaksignore` lists);
reports from before Gitleaks wrote one get it made the way Gitleaks makes it:
`Commit:File:RuleID:StartLine`, without the commit when there is none.
"""

from __future__ import annotations

from typing import Any

from compiler.evidence.report import Finding, Format, Measured, Reading


def recognise(document: Any) -> bool:
    return isinstance(document, list) and all(
        isinstance(leak, dict) and "RuleID" in leak for leak in document
    )


def measure(document: Any, reading: Reading) -> Measured:
    findings = []
    for leak in reading.at(document).elements():
        rule = leak.need("RuleID", "string").value
        path = leak.need("File", "string").value
        line = leak.need("StartLine", "integer").value
        given = leak.get("Fingerprint", "string")
        commit = leak.get("Commit", "string")
        made = f"{path}:{rule}:{line}"
        if commit is not None and commit.value:
            made = f"{commit.value}:{made}"
        fingerprint = given.value if given is not None else made
        findings.append(Finding("secrets", rule, None, target=path, fingerprint=fingerprint))
    return Measured(findings=tuple(findings), scales={"secrets": None})


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
