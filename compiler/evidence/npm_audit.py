"""npm audit JSON (`npm audit --json`, npm 7 and later: `auditReportVersion` 2).

`vulnerabilities` maps each vulnerable package to the advisories it has itself
(`via` objects) and the packages it depends on that make it vulnerable (`via`
names).  Each advisory of a package is a vulnerability, at the advisory's
severity: info and low count as low, moderate as medium.  npm's own summary also
counts, as vulnerabilities of their own, the packages that are vulnerable only
through a dependency; regate counts each advisory once, where it is, as the other
dependency scanners do.  A `via` name that is not in `vulnerabilities` makes the
report inconsistent, and it is refused.

An advisory is told apart by its id (the last part of its `url`: a GitHub advisory
id such as GHSA-xxxx-xxxx-xxxx, else its `source` or `id` number) and the package's
name, never the installed version.
"""

from __future__ import annotations

from typing import Any

from compiler.evidence.report import VULNERABILITY_LEVELS, At, Finding, Format, Measured, Reading

SEVERITY = {
    "critical": "critical",
    "high": "high",
    "moderate": "medium",
    "low": "low",
    "info": "low",
}


def recognise(document: Any) -> bool:
    """npm 7+ reports, npm 6 reports and npm's error report, which measure() tells apart."""
    return isinstance(document, dict) and (
        "auditReportVersion" in document
        or ("advisories" in document and "muted" in document)
        or (set(document) == {"error"} and isinstance(document["error"], dict))
    )


def _advisory_id(advisory: At) -> str:
    url = advisory.get("url", "string")
    if url is not None and url.value.rstrip("/"):
        return str(url.value.rstrip("/").rsplit("/", 1)[-1])
    number = advisory.get("source", "integer") or advisory.get("id", "integer")
    if number is None:
        raise advisory.wrong(f'{advisory.where} has no "url", "source" or "id"')
    return str(number.value)


def measure(document: Any, reading: Reading) -> Measured:
    top = reading.at(document)
    error = top.get("error", "object")
    if error is not None:
        code = error.get("code", "string")
        raise top.wrong(
            f"it is npm's error report ({code.value if code else 'no code'}), not an audit"
        )
    version = top.get("auditReportVersion", "integer")
    if version is None or version.value != 2:
        raise top.wrong("it is an npm 6 report; regate reads npm 7+ (auditReportVersion 2)")
    packages = top.need("vulnerabilities", "object")
    findings = []
    for name in packages.value:
        entry = packages.need(name, "object")
        entry.level("severity", SEVERITY)
        for via in entry.need("via", "array").elements():
            if isinstance(via.value, str):
                if via.value not in packages.value:
                    raise via.wrong(
                        f'{via.where} names "{via.value}", which is not in vulnerabilities'
                    )
                continue
            findings.append(
                Finding(
                    "vulnerabilities",
                    _advisory_id(via),
                    via.level("severity", SEVERITY),
                    package=name,
                )
            )
    return Measured(findings=tuple(findings), scales={"vulnerabilities": VULNERABILITY_LEVELS})


NPM_AUDIT = Format(
    name="npm-audit",
    title="an npm audit JSON report",
    produced_by="the output of `npm audit --json` (npm 7 or later)",
    shape='an object with "auditReportVersion": 2 and "vulnerabilities"',
    syntax="json",
    kind="security",
    recognise=recognise,
    measure=measure,
)
