"""CycloneDX JSON with vulnerabilities (an SBOM scanned by Grype, Trivy or
Dependency-Track, or a VEX document): `vulnerabilities[]`, each affecting components.

Each vulnerability counts once per component it `affects`, unless its VEX
analysis says the component is not affected: the states `not_affected` and
`false_positive` (not affected) and `resolved`, `resolved_with_pedigree` (fixed)
remove it, as Trivy reads VEX; `exploitable`, `in_triage` and no analysis keep it.
Its level is the highest `severity` among its `ratings` (info and none count as
low), else the highest CVSS score among them (9.0 critical, 7.0 high, 4.0 medium,
0.1 low), else unknown.  An SBOM without `vulnerabilities` was never scanned for
them and is refused: it would count zero.

A vulnerability is told apart by its `id` (the ids of its `references` as aliases)
and the affected component's group and name, never its version.

A separate VEX document (`--vex`, a CycloneDX document of vulnerabilities with their
analysis, as Trivy takes one) applies its statements the same way to the SBOM's
vulnerabilities: a statement names a vulnerability and a component by its bom-ref,
a BOM-Link (`urn:cdx:SERIAL/VERSION#bom-ref`) or a purl.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import unquote

from compiler.evidence.report import VULNERABILITY_LEVELS, At, Finding, Format, Measured, Reading

REMOVED = ("not_affected", "false_positive", "resolved", "resolved_with_pedigree")
KEPT = ("exploitable", "in_triage")
SEVERITY = {
    "critical": "critical",
    "high": "high",
    "medium": "medium",
    "low": "low",
    "info": "low",
    "none": "low",
    "unknown": "unknown",
}
CVSS = ("CVSSv2", "CVSSv3", "CVSSv31", "CVSSv4")
SCORES = ((9.0, "critical"), (7.0, "high"), (4.0, "medium"), (0.1, "low"))


def recognise(document: Any) -> bool:
    return isinstance(document, dict) and document.get("bomFormat") == "CycloneDX"


def _named(component: At) -> str:
    name = component.need("name", "string").value
    group = component.get("group", "string")
    return f"{group.value}/{name}" if group is not None and group.value else name


def _components(owner: At, found: dict[str, str]) -> None:
    """bom-ref → group/name of every component, nested ones too."""
    for component in owner.items("components"):
        ref = component.get("bom-ref", "string")
        if ref is not None:
            found[ref.value] = _named(component)
        _components(component, found)


def _package(ref: str, names: dict[str, str]) -> str:
    """The affected component's name: by its bom-ref, a BOM-Link's fragment, or a purl."""
    if ref in names:
        return names[ref]
    if ref.startswith("urn:cdx:") and "#" in ref:
        fragment = unquote(ref.split("#", 1)[1])
        return names.get(fragment) or _package(fragment, {})
    if ref.startswith("pkg:"):
        path = ref[4:].split("?", 1)[0].split("#", 1)[0].split("@", 1)[0]
        return unquote(path.split("/", 1)[1]) if "/" in path else path
    return ref


def _severity(vulnerability: At) -> str:
    levels = []
    scores = []
    for rating in vulnerability.items("ratings"):
        level = rating.optional_level("severity", SEVERITY)
        if level is not None and level != "unknown":
            levels.append(level)
        method = rating.get("method", "string")
        score = rating.get("score", "number")
        if score is not None and method is not None and method.value in CVSS:
            scores.append(float(score.value))
    if levels:
        return min(levels, key=VULNERABILITY_LEVELS.index)
    if scores:
        top = max(scores)
        return next((level for floor, level in SCORES if top >= floor), "low")
    return "unknown"


def _statements(document: Any, reading: Reading) -> list[tuple[Finding, bool]]:
    """Each vulnerability of each affected component, and whether its VEX analysis says
    it does not affect the component."""
    top = reading.at(document)
    if top.get("vulnerabilities", "array") is None:
        raise reading.wrong(
            'it has no "vulnerabilities": an SBOM that was not scanned for them; '
            "scan it first (grype sbom:FILE -o cyclonedx-json, trivy sbom --format cyclonedx)"
        )
    names: dict[str, str] = {}
    metadata = top.get("metadata", "object")
    subject = metadata.get("component", "object") if metadata else None
    if subject is not None:
        ref = subject.get("bom-ref", "string")
        if ref is not None:
            names[ref.value] = _named(subject)
    _components(top, names)
    found = []
    for vulnerability in top.items("vulnerabilities"):
        vid = vulnerability.need("id", "string").value
        analysis = vulnerability.get("analysis", "object")
        state = analysis.get("state", "string") if analysis else None
        if state is not None and state.value not in REMOVED + KEPT:
            known = ", ".join(REMOVED + KEPT)
            raise state.wrong(f'{state.where} is "{state.value}"; expected one of {known}')
        aliases = tuple(r.need("id", "string").value for r in vulnerability.items("references"))
        severity = _severity(vulnerability)
        affected = [a.need("ref", "string").value for a in vulnerability.items("affects")]
        for ref in affected or [None]:
            package = _package(ref, names) if ref is not None else None
            finding = Finding("vulnerabilities", vid, severity, package=package, aliases=aliases)
            found.append((finding, state is not None and state.value in REMOVED))
    return found


def measure(document: Any, reading: Reading) -> Measured:
    findings = tuple(f for f, removed in _statements(document, reading) if not removed)
    return Measured(findings=findings, scales={"vulnerabilities": VULNERABILITY_LEVELS})


def not_affecting(document: Any, reading: Reading) -> list[Finding]:
    """The statements of a VEX document that a component is not affected (or fixed)."""
    return [f for f, removed in _statements(document, reading) if removed]


def without_vex(findings: tuple[Finding, ...], statements: list[Finding]) -> tuple[Finding, ...]:
    """The findings no statement says do not affect their component: a statement names
    the vulnerability (or an alias) and the component by group and name."""
    return tuple(
        f for f in findings if not any(s.place == f.place and s.ids & f.ids for s in statements)
    )


CYCLONEDX = Format(
    name="cyclonedx",
    title="a CycloneDX JSON document",
    produced_by="a CycloneDX SBOM with vulnerabilities (grype -o cyclonedx-json, "
    "trivy --format cyclonedx, Dependency-Track) or a CycloneDX VEX",
    shape='an object with "bomFormat": "CycloneDX" and "vulnerabilities"',
    syntax="json",
    kind="security",
    recognise=recognise,
    measure=measure,
)
