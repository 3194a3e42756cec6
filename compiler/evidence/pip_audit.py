"""pip-audit JSON (`pip-audit --format json`): `dependencies[].vulns[]`.

pip-audit gives no severity (its vulnerability services do not), so every
vulnerability counts as unknown.  A dependency pip-audit skipped (`skip_reason`,
e.g. not on PyPI) was not audited: regate says so in a warning, as pip-audit does,
and counts nothing for it.  The older form of the report, a bare array of
dependencies, is read too.

A vulnerability is told apart by its `id` (its `aliases` too) and the package's
name, never the installed version.
"""

from __future__ import annotations

from typing import Any

from compiler.ast import Span
from compiler.diagnostics import Diagnostic, warning
from compiler.evidence.report import VULNERABILITY_LEVELS, Finding, Format, Measured, Reading


def _is_dependency(item: Any) -> bool:
    return isinstance(item, dict) and "name" in item and ("vulns" in item or "skip_reason" in item)


def recognise(document: Any) -> bool:
    dependencies = document.get("dependencies") if isinstance(document, dict) else document
    return isinstance(dependencies, list) and all(_is_dependency(d) for d in dependencies)


def measure(document: Any, reading: Reading) -> Measured:
    top = reading.at(document)
    dependencies = top.need("dependencies", "array") if isinstance(document, dict) else top
    findings = []
    skipped: list[str] = []
    for dependency in dependencies.elements():
        name = dependency.need("name", "string").value
        if dependency.get("skip_reason", "string") is not None:
            skipped.append(name)
            continue
        dependency.need("version", "string")
        for vuln in dependency.need("vulns", "array").elements():
            aliases = tuple(str(a.value) for a in vuln.items("aliases"))
            findings.append(
                Finding(
                    "vulnerabilities",
                    vuln.need("id", "string").value,
                    "unknown",
                    package=name,
                    aliases=aliases,
                )
            )
    warnings: tuple[Diagnostic, ...] = ()
    if skipped:
        listed = ", ".join(skipped)
        warnings = (
            warning(
                "RG112",
                Span(reading.report.path, 1, 1, 1, 1),
                f"pip-audit did not audit {len(skipped)} "
                f"{'dependency' if len(skipped) == 1 else 'dependencies'} ({listed}); "
                "nothing is counted for them",
                help="see their skip_reason in the report; `pip-audit --strict` fails instead",
            ),
        )
    return Measured(
        findings=tuple(findings),
        scales={"vulnerabilities": VULNERABILITY_LEVELS},
        warnings=warnings,
    )


PIP_AUDIT = Format(
    name="pip-audit",
    title="a pip-audit JSON report",
    produced_by="the output of `pip-audit --format json`",
    shape='an object with "dependencies", each with "name" and "vulns" or "skip_reason"',
    syntax="json",
    kind="security",
    recognise=recognise,
    measure=measure,
)
