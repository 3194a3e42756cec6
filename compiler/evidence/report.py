"""Reading one report: its text, parsed safely, and the measures a format takes from it.

A report that cannot be read, does not parse, or does not have the structure
its format publishes raises `EvidenceError`, a diagnostic naming the file and what
was expected.  Nothing downstream ever sees a half-read report.
"""

from __future__ import annotations

import json
import xml.etree.ElementTree as StdET
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import Any, Literal

import defusedxml.ElementTree as SafeET
from defusedxml import DefusedXmlException

from compiler.ast import Span
from compiler.diagnostics import Diagnostic, error
from compiler.sources import JsonProblem, Unreadable, read_bounded, strict_json

MAX_REPORT_BYTES = 256 * 1024 * 1024  # RG070: large image scans run to tens of MiB
MAX_SNIPPET_CHARS = 200  # longer lines (minified JSON) are not echoed under a diagnostic

Syntax = Literal["json", "xml", "lcov"]
Kind = Literal["security", "coverage"]
Counts = dict[str, int]  # measure name ("vulnerabilities.high", "lines.covered") → count

VULNERABILITY_LEVELS = ("critical", "high", "medium", "low", "unknown")
FINDING_LEVELS = ("critical", "high", "medium", "low", "info")


class EvidenceError(Exception):
    """Input regate cannot use; the diagnostics say which file and what was expected."""

    def __init__(
        self, diagnostics: list[Diagnostic], texts: Mapping[str, str] | None = None
    ) -> None:
        super().__init__("; ".join(d.message for d in diagnostics))
        self.diagnostics = diagnostics
        self.texts = dict(texts or {})  # file → text, for the snippets worth showing


@dataclass(frozen=True)
class Report:
    """A report file as read: its path as the user gave it, and its text."""

    path: str
    text: str

    def fail(
        self,
        code: str,
        message: str,
        help: str | None = None,
        at: tuple[int, int] | None = None,
    ) -> EvidenceError:
        """A diagnostic about this report, at a (line, column) when the report gives one."""
        line, col = at or (1, 1)
        lines = self.text.splitlines()
        shown = at is not None and line <= len(lines) and len(lines[line - 1]) <= MAX_SNIPPET_CHARS
        span = Span(self.path, line, col, line, col + 1)
        return EvidenceError(
            [error(code, span, message, help)], {self.path: self.text} if shown else {}
        )


@dataclass(frozen=True)
class Format:
    """A report format: how to recognise a parsed report and what it measures."""

    name: str  # as given on the command line: "trivy"
    title: str  # "a Trivy JSON report"
    produced_by: str  # what makes one: "the output of `trivy image --format json`"
    shape: str  # what its top level looks like, for "not this format" errors
    syntax: Syntax
    kind: Kind
    recognise: Callable[[Any], bool]  # on the parsed document: is it this format?
    measure: Callable[[Any, Format, Report], Counts]

    def not_this(
        self, report: Report, detail: str, at: tuple[int, int] | None = None
    ) -> EvidenceError:
        return report.fail(
            "RG072",
            f"{report.path} is not {self.title}: {detail}",
            help=f"expected {self.produced_by}",
            at=at,
        )


def read_text(path: str) -> Report:
    """The report file's text (a file, or a pipe: `trivy ... | regate metadata from trivy
    /dev/stdin`); RG070 when it cannot be read."""
    where = Span(path, 1, 1, 1, 1)
    try:
        content = read_bounded(path, MAX_REPORT_BYTES)
    except Unreadable as exc:
        raise EvidenceError([error("RG070", where, f"cannot read {path}: {exc}")]) from None
    try:
        return Report(path, content.decode("utf-8-sig"))  # some Windows tools write a BOM
    except UnicodeDecodeError as exc:
        message = f"cannot read {path}: not UTF-8 text ({exc.reason})"
        raise EvidenceError([error("RG070", where, message)]) from None


def parse_json(report: Report, expected: str) -> Any:
    """The report's JSON; a duplicate key (which would hide what the first said), NaN or
    Infinity is refused as JSON syntax errors are."""
    try:
        return strict_json(report.text)
    except JsonProblem as exc:
        raise report.fail(
            "RG071",
            f"{report.path} is not valid JSON: {exc}",
            help=f"expected {expected}",
            at=exc.at,
        ) from None


def parse_xml(report: Report, expected: str) -> StdET.Element:
    """The root element; entity declarations are refused (no billion laughs, no XXE)."""
    try:
        root: StdET.Element = SafeET.fromstring(report.text)
    except DefusedXmlException as exc:
        raise report.fail(
            "RG071",
            f"{report.path} declares XML entities, which regate refuses to expand ({exc})",
            help="coverage tools do not write entity declarations; regenerate the report",
        ) from None
    except StdET.ParseError as exc:
        line, col = exc.position
        truncated = "no element found" in str(exc) or "unclosed token" in str(exc)
        reason = "it ends too early (truncated?)" if truncated else str(exc).split(":")[0]
        raise report.fail(
            "RG071",
            f"{report.path} is not well-formed XML: {reason}",
            help=f"expected {expected}",
            at=(line, col + 1),
        ) from None
    return root


def tally(category: str, severities: Iterable[str], levels: tuple[str, ...] | None) -> Counts:
    """Counts by level (each level present, zero or not) and the total."""
    found = list(severities)
    counts = {f"{category}.{level}": found.count(level) for level in levels or ()}
    counts[f"{category}.total"] = len(found)
    return counts


def add(*all_counts: Mapping[str, int]) -> Counts:
    """Counts of several reports together (a measure one report lacks counts as absent)."""
    total: Counts = {}
    for counts in all_counts:
        for name, value in counts.items():
            total[name] = total.get(name, 0) + value
    return total


JsonKind = Literal["object", "array", "string", "integer", "number", "boolean"]
_JSON_WORDS = {
    "object": "an object",
    "array": "an array",
    "string": "a string",
    "integer": "an integer",
    "number": "a number",
    "boolean": "true or false",
}


def _has_kind(value: Any, kind: JsonKind) -> bool:
    if isinstance(value, bool):
        return kind == "boolean"
    match kind:
        case "object":
            return isinstance(value, dict)
        case "array":
            return isinstance(value, list)
        case "string":
            return isinstance(value, str)
        case "integer":
            return isinstance(value, int)
        case "number":
            return isinstance(value, int | float)
    return False


@dataclass(frozen=True)
class At:
    """A value inside a JSON report and the path to it, so that a bad field is named."""

    value: Any
    where: str  # "Results[0].Vulnerabilities[2]"; "" for the whole document
    format: Format
    report: Report

    def wrong(self, detail: str) -> EvidenceError:
        return self.format.not_this(self.report, detail)

    def _path(self, key: str) -> str:
        return f"{self.where}.{key}" if self.where else key

    def get(self, key: str, kind: JsonKind) -> At | None:
        """The member `key`, or None when it is missing or null; of the wrong kind, an error."""
        if not isinstance(self.value, dict):
            raise self.wrong(f"{self.where or 'the document'} is not an object")
        value = self.value.get(key)
        if value is None:
            return None
        child = At(value, self._path(key), self.format, self.report)
        if not _has_kind(value, kind):
            raise child.wrong(f"{child.where} is {_shown(value)}; expected {_JSON_WORDS[kind]}")
        return child

    def need(self, key: str, kind: JsonKind) -> At:
        """The member `key`, which the format requires."""
        child = self.get(key, kind)
        if child is None:
            place = self.where or "the document"
            raise self.wrong(f'{place} has no "{key}" (expected {_JSON_WORDS[kind]})')
        return child

    def items(self, key: str) -> list[At]:
        """The elements of the array member `key` (none when it is missing or null)."""
        array = self.get(key, "array")
        return [] if array is None else array.elements()

    def elements(self) -> list[At]:
        """The elements of this array."""
        if not isinstance(self.value, list):
            raise self.wrong(f"{self.where or 'the document'} is not an array")
        return [
            At(v, f"{self.where}[{i}]", self.format, self.report) for i, v in enumerate(self.value)
        ]

    def level(self, key: str, table: Mapping[str, str]) -> str:
        """The string member `key` translated through a severity table."""
        found = self.optional_level(key, table)
        if found is None:
            raise self.wrong(f'{self.where or "the document"} has no "{key}" (expected a string)')
        return found

    def optional_level(self, key: str, table: Mapping[str, str]) -> str | None:
        child = self.get(key, "string")
        if child is None:
            return None
        found = table.get(child.value)
        if found is None:
            known = ", ".join(table)
            raise child.wrong(f'{child.where} is "{child.value}"; expected one of {known}')
        return found


def _shown(value: Any) -> str:
    text = json.dumps(value)
    return text if len(text) <= 40 else text[:37] + "..."


def coverage_counts(
    lines: int, covered: int, branches: int = 0, branches_covered: int = 0
) -> Counts:
    """Line counts, and branch counts when the report measured any branch."""
    counts = {"lines.total": lines, "lines.covered": covered}
    if branches:
        counts |= {"branches.total": branches, "branches.covered": branches_covered}
    return counts


def xml_count(element: StdET.Element, name: str, where: str, format: Format, report: Report) -> int:
    """A non-negative integer attribute of an XML element, which the format requires."""
    value = element.get(name)
    if value is None:
        raise format.not_this(report, f'{where} has no "{name}" attribute')
    if not value.isdigit():
        raise format.not_this(report, f'{where} has {name}="{value}"; expected a count')
    return int(value)
