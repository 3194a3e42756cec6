"""OSV-Scanner JSON (`osv-scanner scan --format json`).

OSV-Scanner groups the advisories of one package that are aliases of each other
(`packages[].groups[]`, one vulnerability known under several ids); each group is
one vulnerability, counted as OSV-Scanner's own table counts it: groups its call
analysis found not called, or marked unimportant, are not counted.  The level is
the group's `max_severity`, a CVSS score rated as OSV-Scanner rates it (9.0
critical, 7.0 high, 4.0 medium, 0.1 low); an empty or missing score is unknown.

A group is told apart by its ids (any one shared with the baseline's group), the
package's ecosystem and name, and the source (`source.path`, the lockfile or SBOM),
never the installed version.
"""

from __future__ import annotations

from typing import Any

from compiler.evidence.report import (
    VULNERABILITY_LEVELS,
    At,
    Finding,
    Format,
    Measured,
    Reading,
)

RATING = ((9.0, "critical"), (7.0, "high"), (4.0, "medium"), (0.1, "low"))


def recognise(document: Any) -> bool:
    results = document.get("results") if isinstance(document, dict) else None
    return (
        isinstance(results, list)
        and "errors" not in document  # Semgrep's report also has "results"
        and all(isinstance(r, dict) and "packages" in r for r in results)
    )


def _rating(group: At) -> str:
    score = group.get("max_severity", "string")
    if score is None or not score.value:
        return "unknown"
    try:
        value = float(score.value)
    except ValueError:
        raise score.wrong(f'{score.where} is "{score.value}"; expected a CVSS score') from None
    return next((level for floor, level in RATING if value >= floor), "unknown")


def _counted(group: At) -> bool:
    """OSV-Scanner's "regular" vulnerabilities: called (or no call analysis), not unimportant."""
    analysis = group.get("experimental_analysis", "object")
    if analysis is None or not analysis.value:
        return True
    verdicts = [analysis.need(vid, "object") for vid in analysis.value]
    called = any(v.need("called", "boolean").value for v in verdicts)
    unimportant = any(
        flag.value for v in verdicts if (flag := v.get("unimportant", "boolean")) is not None
    )
    return called and not unimportant


def measure(document: Any, reading: Reading) -> Measured:
    top = reading.at(document)
    findings = []
    for result in top.need("results", "array").elements():
        source = result.need("source", "object").need("path", "string").value
        for entry in result.items("packages"):
            package = entry.need("package", "object")
            name = package.need("name", "string").value
            ecosystem = package.get("ecosystem", "string")
            named = f"{ecosystem.value}:{name}" if ecosystem is not None else name
            advisories = [v.need("id", "string").value for v in entry.items("vulnerabilities")]
            grouped: set[str] = set()
            for group in entry.items("groups"):
                ids = [i.value for i in group.need("ids", "array").elements()]
                if not ids or not all(isinstance(i, str) for i in ids):
                    raise group.wrong(f"{group.where}.ids is not a list of advisory ids")
                grouped.update(ids)
                if _counted(group):
                    aliases = tuple(
                        str(a.value) for a in group.items("aliases") if isinstance(a.value, str)
                    )
                    findings.append(
                        Finding(
                            "vulnerabilities",
                            ids[0],
                            _rating(group),
                            package=named,
                            target=source,
                            aliases=(*ids[1:], *aliases),
                        )
                    )
            # An advisory no group holds is counted on its own: nothing is dropped.
            for advisory in advisories:
                if advisory not in grouped:
                    findings.append(Finding("vulnerabilities", advisory, "unknown", named, source))
    return Measured(findings=tuple(findings), scales={"vulnerabilities": VULNERABILITY_LEVELS})


OSV_SCANNER = Format(
    name="osv-scanner",
    title="an OSV-Scanner JSON report",
    produced_by="the output of `osv-scanner scan --format json`",
    shape='an object with "results", each with "source" and "packages"',
    syntax="json",
    kind="security",
    recognise=recognise,
    measure=measure,
)
