"""SonarQube Web API responses: the quality gate and the issues of a project.

`sonarqube-gate` reads `api/qualitygates/project_status`: the gate's status
(OK passes; ERROR fails; WARN, from versions before 7.6, fails too) and the
actual value of each condition's metric, such as the new-code metrics
`new_coverage` or `new_violations`.  A project whose gate was never computed
(status NONE) is refused: it says nothing about the code.

`sonarqube-issues` reads `api/issues/search`: each issue not resolved (no
`resolution`, status not RESOLVED or CLOSED) is a finding.  Its level is its
`severity` (BLOCKER critical, CRITICAL high, MAJOR medium, MINOR low, INFO info),
or, for issues that carry only software-quality impacts, the highest impact
(BLOCKER critical, HIGH high, MEDIUM medium, LOW low, INFO info).  A response that
holds one page of several is refused: the issues on the other pages would be
dropped (ask for every page and join their issues into one response).

An issue is told apart by its `rule`, `component` and `hash` (SonarQube's hash of
the issue's line, what it tracks issues by from analysis to analysis).
"""

from __future__ import annotations

from typing import Any

from compiler.evidence.report import (
    FINDING_LEVELS,
    At,
    Finding,
    Format,
    Measured,
    Reading,
    Value,
)

GATE_STATUS = ("OK", "ERROR", "WARN", "NONE")
SEVERITY = {
    "BLOCKER": "critical",
    "CRITICAL": "high",
    "MAJOR": "medium",
    "MINOR": "low",
    "INFO": "info",
}
IMPACT = {"BLOCKER": "critical", "HIGH": "high", "MEDIUM": "medium", "LOW": "low", "INFO": "info"}
RESOLVED = ("RESOLVED", "CLOSED")


def recognise_gate(document: Any) -> bool:
    return isinstance(document, dict) and isinstance(document.get("projectStatus"), dict)


def _number(text: str) -> Value:
    """A metric's value as a number when it is one ("82.5", "1"), else as given."""
    try:
        number = float(text)
    except ValueError:
        return text
    return int(number) if number.is_integer() and "." not in text else number


def measure_gate(document: Any, reading: Reading) -> Measured:
    status_of = reading.at(document).need("projectStatus", "object")
    status = status_of.need("status", "string")
    if status.value not in GATE_STATUS:
        raise status.wrong(f'{status.where} is "{status.value}"; expected one of OK, ERROR, WARN')
    if status.value == "NONE":
        raise status.wrong(
            "projectStatus.status is NONE: the project has no quality gate status "
            "(no analysis yet, or no gate); expected OK or ERROR"
        )
    values: dict[str, Value] = {
        "quality_gate.status": status.value,
        "quality_gate.passed": status.value == "OK",
    }
    failed = 0
    for condition in status_of.items("conditions"):
        metric = condition.need("metricKey", "string").value
        if condition.need("status", "string").value == "ERROR":
            failed += 1
        actual = condition.get("actualValue", "string")
        if actual is not None:
            values[f"metrics.{metric}"] = _number(actual.value)
    values["quality_gate.failed_conditions"] = failed
    return Measured(values=values)


def recognise_issues(document: Any) -> bool:
    return (
        isinstance(document, dict)
        and isinstance(document.get("issues"), list)
        and ("paging" in document or "total" in document)
    )


def _level(issue: At) -> str:
    severity = issue.optional_level("severity", SEVERITY)
    if severity is not None:
        return severity
    impacts = [impact.level("severity", IMPACT) for impact in issue.items("impacts")]
    if not impacts:
        raise issue.wrong(f'{issue.where} has no "severity" and no "impacts"')
    return min(impacts, key=FINDING_LEVELS.index)


def measure_issues(document: Any, reading: Reading) -> Measured:
    top = reading.at(document)
    issues = top.need("issues", "array").elements()
    paging = top.get("paging", "object")
    total = paging.need("total", "integer") if paging else top.need("total", "integer")
    if total.value > len(issues):
        raise reading.report.fail(
            "RG110",
            f"{reading.report.path} is incomplete: it holds {len(issues)} of "
            f"{total.value} issues (one page of the response)",
            help="fetch every page (p=1, 2, ... with ps=500) and join their issues into one "
            "response: jq -s '{paging: .[0].paging, issues: map(.issues[])}' page*.json",
        )
    findings = []
    for issue in issues:
        level = _level(issue)  # read for every issue: a malformed one is an error
        resolution = issue.get("resolution", "string")
        if resolution is not None or issue.need("status", "string").value in RESOLVED:
            continue
        hash_ = issue.get("hash", "string")
        findings.append(
            Finding(
                "findings",
                issue.need("rule", "string").value,
                level,
                target=issue.need("component", "string").value,
                fingerprint=hash_.value if hash_ is not None else None,
            )
        )
    return Measured(findings=tuple(findings), scales={"findings": FINDING_LEVELS})


SONARQUBE_GATE = Format(
    name="sonarqube-gate",
    title="a SonarQube quality gate status",
    produced_by="the response of SonarQube's api/qualitygates/project_status",
    shape='an object with "projectStatus"',
    syntax="json",
    kind="quality",
    recognise=recognise_gate,
    measure=measure_gate,
)

SONARQUBE_ISSUES = Format(
    name="sonarqube-issues",
    title="a SonarQube issues response",
    produced_by="the response of SonarQube's api/issues/search",
    shape='an object with "issues" and "paging"',
    syntax="json",
    kind="security",
    recognise=recognise_issues,
    measure=measure_issues,
)
