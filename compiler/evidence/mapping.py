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
    Counts,
    EvidenceError,
    Kind,
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
MEASURES = SECURITY_MEASURES + COVERAGE_MEASURES

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
}


def measures(counts: Counts) -> dict[str, int | float]:
    """The counts and the percentages derived from them (two decimals)."""
    values: dict[str, int | float] = dict(counts)
    for part in ("lines", "branches"):
        total = counts.get(f"{part}.total", 0)
        if total:
            values[f"{part}.coverage"] = round(100 * counts[f"{part}.covered"] / total, 2)
    return values


def fill(template: Template, values: dict[str, int | float]) -> Any:
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
        case Scalar(value=str(name), span=span) if name not in MEASURES:
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
