"""SARIF 2.1.0 from any scanner: every result of every run is a finding.

A result counts unless its `kind` says it is not a problem (anything but
"fail") or it is suppressed (a `suppressions` entry, none of them
"underReview" or "rejected").  Its level, first found wins:
`properties["security-severity"]` of the result, then of its rule (GitHub's
convention: 9.0 and above critical, 7.0 high, 4.0 medium, above 0 low, else
info); the result's `level`, then the rule's `defaultConfiguration.level`,
then SARIF's default "warning" — error → high, warning → medium, note → low,
none → info.

A result is told apart by its rule, the URI of its first location and its
`partialFingerprints` (else its `fingerprints`), as code-scanning services match
results from run to run.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from compiler.evidence.report import FINDING_LEVELS, At, Finding, Format, Measured, Reading

LEVEL = {"error": "high", "warning": "medium", "note": "low", "none": "info"}
SECURITY_SEVERITY = ((9.0, "critical"), (7.0, "high"), (4.0, "medium"), (0.1, "low"))


@dataclass(frozen=True)
class Rule:
    """A rule's id and what it says about the level of its results."""

    id: str | None
    security_severity: str | None
    default_level: str | None


def recognise(document: Any) -> bool:
    return isinstance(document, dict) and "runs" in document and "version" in document


def _security_severity(owner: At) -> str | None:
    """`properties["security-severity"]`, a CVSS-like score, as a level."""
    properties = owner.get("properties", "object")
    score = properties.get("security-severity", "string") if properties else None
    if score is None:
        return None
    try:
        value = float(score.value)
    except ValueError:
        raise score.wrong(f'{score.where} is "{score.value}"; expected a number') from None
    return next((level for floor, level in SECURITY_SEVERITY if value >= floor), "info")


def _rules(run: At) -> tuple[dict[str, Rule], list[Rule]]:
    """The run's rules by id and by index."""
    driver = run.need("tool", "object").need("driver", "object")
    driver.need("name", "string")
    by_id: dict[str, Rule] = {}
    by_index: list[Rule] = []
    for rule in driver.items("rules"):
        configuration = rule.get("defaultConfiguration", "object")
        default = configuration.optional_level("level", LEVEL) if configuration else None
        rule_id = rule.need("id", "string").value
        found = Rule(rule_id, _security_severity(rule), default)
        by_id[rule_id] = found
        by_index.append(found)
    return by_id, by_index


def _rule_of(result: At, by_id: dict[str, Rule], by_index: list[Rule]) -> Rule | None:
    index = result.get("ruleIndex", "integer")
    position: int = index.value if index is not None else -1
    if 0 <= position < len(by_index):
        return by_index[position]
    rule_id = result.get("ruleId", "string")
    return by_id.get(rule_id.value) if rule_id is not None else None


def _suppressed(result: At) -> bool:
    suppressions = result.items("suppressions")
    statuses = [s.get("status", "string") for s in suppressions]
    return bool(suppressions) and not any(
        status is not None and status.value in ("underReview", "rejected") for status in statuses
    )


def _counts(result: At) -> bool:
    kind = result.get("kind", "string")
    return (kind is None or kind.value == "fail") and not _suppressed(result)


def _fingerprint(result: At) -> str | None:
    """`partialFingerprints`, else `fingerprints`, as "name=value" pairs in name order."""
    for key in ("partialFingerprints", "fingerprints"):
        found = result.get(key, "object")
        if found is not None and found.value:
            pairs = (f"{name}={found.need(name, 'string').value}" for name in sorted(found.value))
            return ";".join(pairs)
    return None


def _artifacts(run: At) -> list[str | None]:
    """The URIs of the run's artifacts, by index."""
    uris: list[str | None] = []
    for artifact in run.items("artifacts"):
        location = artifact.get("location", "object")
        uri = location.get("uri", "string") if location else None
        uris.append(str(uri.value) if uri is not None else None)
    return uris


def _location(result: At, artifacts: list[str | None]) -> str | None:
    """The URI of the result's first location; an artifactLocation may give only the
    index of the run's artifact that has it, as CodeQL writes them."""
    for location in result.items("locations"):
        physical = location.get("physicalLocation", "object")
        artifact = physical.get("artifactLocation", "object") if physical else None
        if artifact is None:
            continue
        uri = artifact.get("uri", "string")
        if uri is not None:
            return str(uri.value)
        index = artifact.get("index", "integer")
        position: int = index.value if index is not None else -1
        if 0 <= position < len(artifacts):
            return artifacts[position]
        if index is not None:
            raise index.wrong(
                f"{index.where} is {index.value}; the run has {len(artifacts)} artifacts"
            )
    return None


def measure(document: Any, reading: Reading) -> Measured:
    top = reading.at(document)
    version = top.need("version", "string")
    if version.value != "2.1.0":
        raise version.wrong(f'version is "{version.value}"; regate reads SARIF 2.1.0')
    findings = []
    for run in top.need("runs", "array").elements():
        by_id, by_index = _rules(run)
        artifacts = _artifacts(run)
        for result in filter(_counts, run.items("results")):
            result.need("message", "object")
            rule = _rule_of(result, by_id, by_index) or Rule(None, None, None)
            rule_id = result.get("ruleId", "string")
            severity = (
                _security_severity(result)
                or rule.security_severity
                or result.optional_level("level", LEVEL)
                or rule.default_level
                or LEVEL["warning"]
            )
            findings.append(
                Finding(
                    "findings",
                    rule_id.value if rule_id is not None else rule.id or "",
                    severity,
                    target=_location(result, artifacts),
                    fingerprint=_fingerprint(result),
                )
            )
    return Measured(findings=tuple(findings), scales={"findings": FINDING_LEVELS})


SARIF = Format(
    name="sarif",
    title="a SARIF 2.1.0 log",
    produced_by="a SARIF 2.1.0 log from any scanner",
    shape='an object with "version": "2.1.0" and "runs"',
    syntax="json",
    kind="security",
    recognise=recognise,
    measure=measure,
)
