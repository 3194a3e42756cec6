"""govulncheck JSON (`govulncheck -json ./...`, or `-format json`): a stream of messages.

The stream holds a `config` message, `osv` entries and `finding` messages.  A
finding is at the depth the scan reached: a module, a package (its trace's first
frame names a `package`) or a symbol the code calls (a `function`).  As govulncheck
reports "Your code is affected by N vulnerabilities", a vulnerability counts when a
finding for it is at the scan level of the config (`scan_level`: symbol by
default); findings that only show a vulnerable module or package imported but not
called are not counted.  The Go vulnerability database gives no severity, so
every vulnerability counts as unknown.

A vulnerability is told apart by its OSV id (the osv entry's aliases too) and the
module it was found in, never the version.
"""

from __future__ import annotations

from typing import Any

from compiler.evidence.report import (
    VULNERABILITY_LEVELS,
    At,
    Finding,
    Format,
    JsonSeq,
    Measured,
    Reading,
)

DEPTH = {"module": 0, "package": 1, "symbol": 2}


def recognise(document: Any) -> bool:
    return (
        isinstance(document, JsonSeq)
        and bool(document)
        and all(isinstance(m, dict) for m in document)
        and "config" in document[0]
    )


def _depth(frame: At) -> int:
    if frame.get("function", "string") is not None:
        return DEPTH["symbol"]
    return DEPTH["package"] if frame.get("package", "string") is not None else DEPTH["module"]


def measure(document: Any, reading: Reading) -> Measured:
    messages = [
        At(message, f"message {number}", reading.format, reading.report)
        for number, message in enumerate(document, start=1)
    ]
    config = messages[0].need("config", "object")
    if config.need("scanner_name", "string").value != "govulncheck":
        raise config.wrong(f"{config.where}.scanner_name is not govulncheck")
    level = config.get("scan_level", "string")
    scan_level = level.value if level is not None else "symbol"
    if scan_level not in DEPTH:
        raise config.wrong(f'scan_level is "{scan_level}"; expected module, package or symbol')
    aliases: dict[str, tuple[str, ...]] = {}
    found: dict[tuple[str, str], None] = {}  # (osv, module), in the order first found
    for message in messages[1:]:
        osv = message.get("osv", "object")
        if osv is not None:
            aliases[osv.need("id", "string").value] = tuple(
                str(a.value) for a in osv.items("aliases")
            )
        finding = message.get("finding", "object")
        if finding is None:
            continue
        trace = finding.need("trace", "array").elements()
        if not trace:
            raise finding.wrong(f"{finding.where}.trace is empty")
        if _depth(trace[0]) >= DEPTH[scan_level]:
            found[
                (finding.need("osv", "string").value, trace[0].need("module", "string").value)
            ] = None
    findings = []
    for osv_id, module in found:
        if osv_id not in aliases:
            raise reading.wrong(f"a finding names {osv_id}, but no osv entry describes it")
        findings.append(
            Finding("vulnerabilities", osv_id, "unknown", package=module, aliases=aliases[osv_id])
        )
    return Measured(findings=tuple(findings), scales={"vulnerabilities": VULNERABILITY_LEVELS})


GOVULNCHECK = Format(
    name="govulncheck",
    title="a govulncheck JSON stream",
    produced_by="the output of `govulncheck -json ./...`",
    shape='a stream of JSON messages starting with {"config": ...}',
    syntax="json-seq",
    kind="security",
    recognise=recognise,
    measure=measure,
)
