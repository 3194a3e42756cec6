"""From counts to a metadata document: a template whose string leaves name measures.

The default templates give the shapes of `bundles/quality-gates/schemas`; a
mapping file (`--mapping FILE`) is a template of the same kind for any other
specification, e.g. `{"critical_vulnerabilities": "vulnerabilities.critical"}`.
A leaf naming a measure the reports do not have is left out, and so is an
object left empty; numbers, booleans and null are copied as they are.
"""

from __future__ import annotations

from typing import Any

from compiler.ast import Array, Call, Identifier, Node, Object, Scalar, to_json
from compiler.diagnostics import Diagnostic, did_you_mean, error
from compiler.evidence.report import (
    FINDING_LEVELS,
    VULNERABILITY_LEVELS,
    EvidenceError,
    Kind,
    Value,
)
from compiler.parse import parse_json_document
from compiler.sources import Source, read_text

Template = Any  # a JSON object whose string leaves name measures

_SEVERITY_CATEGORIES = {
    "vulnerabilities": VULNERABILITY_LEVELS,
    "findings": FINDING_LEVELS,
    "secrets": FINDING_LEVELS,
}
SECURITY_MEASURES = tuple(
    f"{category}.{level}"
    for category, levels in _SEVERITY_CATEGORIES.items()
    for level in (*levels, "total")
)
COVERAGE_MEASURES = tuple(
    f"{part}.{what}" for part in ("lines", "branches") for what in ("coverage", "total", "covered")
)
QUALITY_MEASURES = (
    "quality_gate.status",
    "quality_gate.passed",
    "quality_gate.failed_conditions",
)
METRIC = "metrics."  # metrics.<SonarQube metric key>, e.g. metrics.new_coverage
PROVENANCE_MEASURES = tuple(
    f"provenance.{what}" for what in ("verified", "builder", "source", "ref", "digests")
)
FINDINGS_LIST = "findings"  # the counted findings themselves, with their identities
MEASURES = (
    SECURITY_MEASURES
    + COVERAGE_MEASURES
    + QUALITY_MEASURES
    + PROVENANCE_MEASURES
    + (FINDINGS_LIST,)
)

DEFAULT_TEMPLATES: dict[Kind, Template] = {
    "security": {
        "security": {
            category: {level: f"{category}.{level}" for level in (*levels, "total")}
            for category, levels in _SEVERITY_CATEGORIES.items()
        }
    },
    "coverage": {
        "code": {
            "coverage": "lines.coverage",
            "lines": "lines.total",
            "lines_covered": "lines.covered",
            "branches": {
                "coverage": "branches.coverage",
                "total": "branches.total",
                "covered": "branches.covered",
            },
        }
    },
    "quality": {
        "quality_gate": {
            "status": "quality_gate.status",
            "passed": "quality_gate.passed",
            "failed_conditions": "quality_gate.failed_conditions",
        }
    },
    "provenance": {
        "provenance": {name.split(".", 1)[1]: name for name in PROVENANCE_MEASURES},
    },
}


def is_measure(name: str) -> bool:
    return name in MEASURES or (name.startswith(METRIC) and len(name) > len(METRIC))


def default_template(kinds: list[Kind], values: dict[str, Value], with_findings: bool) -> Template:
    """The default shapes of the kinds of report read (docs/evidence.md, "Default shapes")."""
    template: dict[str, Any] = {}
    for kind in kinds:
        template |= DEFAULT_TEMPLATES[kind]
    if "quality" in kinds:
        metrics = {name[len(METRIC) :]: name for name in sorted(values) if name.startswith(METRIC)}
        template["quality_gate"] = {**template["quality_gate"], "metrics": metrics}
    if with_findings:
        template[FINDINGS_LIST] = FINDINGS_LIST
    return template


def measures(found: dict[str, Value]) -> dict[str, Value]:
    """The measures and the percentages derived from them (two decimals)."""
    values = dict(found)
    for part in ("lines", "branches"):
        total, covered = found.get(f"{part}.total"), found.get(f"{part}.covered")
        if isinstance(total, int) and isinstance(covered, int) and total:
            values[f"{part}.coverage"] = round(100 * covered / total, 2)
    return values


def fill(template: Template, values: dict[str, Value]) -> Any:
    """The template with each measure name replaced by its value (absent ones left out)."""
    if isinstance(template, dict):
        filled = {key: fill(value, values) for key, value in template.items()}
        kept = {key: value for key, value in filled.items() if value is not None}
        return kept or None
    if isinstance(template, str):
        return values.get(template)
    return template


def _check(node: Node, problems: list[Diagnostic]) -> None:
    match node:
        case Object(members=members):
            for member in members:
                _check(member.value, problems)
        case Scalar(value=str(name), span=span) if not is_measure(name):
            problems.append(
                error(
                    "RG074",
                    span,
                    f'"{name}" is not a measure regate takes from reports',
                    help=did_you_mean(name, MEASURES)
                    or "measures are listed in docs/evidence.md, e.g. vulnerabilities.critical",
                )
            )
        case Scalar():
            pass
        case Array(span=span) | Identifier(span=span) | Call(span=span):
            problems.append(
                error(
                    "RG074",
                    span,
                    "a mapping holds objects, measure names and literal values only",
                    help='name a measure as a string, e.g. "lines.coverage"',
                )
            )


def load_mapping(path: str) -> Template:
    """A mapping file, checked: every string leaf names a measure."""
    text = read_text(path, path)
    if isinstance(text, Diagnostic):
        raise EvidenceError([text])
    source = Source(path, path, text, explicit=True)
    node, problems = parse_json_document(source)
    if node is not None and not isinstance(node, Object):
        problems.append(error("RG074", node.span, "a mapping is a JSON object"))
    elif node is not None:
        _check(node, problems)
    if problems:
        raise EvidenceError(problems, {path: text})
    assert node is not None
    return to_json(node)
