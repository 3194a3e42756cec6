"""OWASP ZAP JSON (the traditional JSON report: `zap-baseline.py -J report.json`).

Every alert of every `site[]` is a finding, at its `riskcode`: 3 high, 2 medium,
1 low, 0 informational.  An alert ZAP marks as a false positive (`confidence` "0")
is not counted.  ZAP writes its codes as strings ("2"), as the report format
documents.

An alert is told apart by its `alertRef` (else `pluginid`) and the site's
`@name`; the instances (URLs) of an alert are not told apart.
"""

from __future__ import annotations

from typing import Any

from compiler.evidence.report import FINDING_LEVELS, Finding, Format, Measured, Reading

RISK = {"3": "high", "2": "medium", "1": "low", "0": "info"}
CONFIDENCE = ("0", "1", "2", "3", "4")  # false positive, low, medium, high, user confirmed
FALSE_POSITIVE = "0"


def recognise(document: Any) -> bool:
    return isinstance(document, dict) and "site" in document and "@version" in document


def measure(document: Any, reading: Reading) -> Measured:
    top = reading.at(document)
    findings = []
    for site in top.need("site", "array").elements():
        name = site.need("@name", "string").value
        for alert in site.items("alerts"):
            confidence = alert.get("confidence", "string")
            if confidence is not None and confidence.value not in CONFIDENCE:
                raise confidence.wrong(
                    f'{confidence.where} is "{confidence.value}"; expected one of '
                    + ", ".join(CONFIDENCE)
                )
            if confidence is not None and confidence.value == FALSE_POSITIVE:
                continue
            reference = alert.get("alertRef", "string") or alert.need("pluginid", "string")
            findings.append(
                Finding("findings", reference.value, alert.level("riskcode", RISK), target=name)
            )
    return Measured(findings=tuple(findings), scales={"findings": FINDING_LEVELS})


ZAP = Format(
    name="zap",
    title="an OWASP ZAP JSON report",
    produced_by="ZAP's traditional JSON report, e.g. `zap-baseline.py -t URL -J report.json`",
    shape='an object with "@version" and "site"',
    syntax="json",
    kind="security",
    recognise=recognise,
    measure=measure,
)
