"""Reading one report: its text, parsed safely, and the measures a format takes from it.

A report that cannot be read, does not parse, or does not have the structure
its format publishes raises `EvidenceError`, a diagnostic naming the file and what
was expected.  Nothing downstream ever sees a half-read report.
"""

from __future__ import annotations

import hashlib
import json
import json.decoder
import re
import xml.etree.ElementTree as StdET
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import Any, Literal

import defusedxml.ElementTree as SafeET
from defusedxml import DefusedXmlException

from compiler.ast import Span
from compiler.diagnostics import Diagnostic, error
from compiler.sources import JsonProblem, Unreadable, read_bounded, strict_decoder, strict_json

MAX_REPORT_BYTES = 256 * 1024 * 1024  # RG070: large image scans run to tens of MiB
MAX_SNIPPET_CHARS = 200  # longer lines (minified JSON) are not echoed under a diagnostic

# "json-seq": one JSON value after another (govulncheck -json, .intoto.jsonl), or one alone.
Syntax = Literal["json", "json-seq", "xml", "lcov"]
Kind = Literal["security", "coverage", "quality", "provenance"]
Counts = dict[str, int]  # measure name ("vulnerabilities.high", "lines.covered") → count
Value = int | float | str | bool | list[Any]  # what a measure can be

VULNERABILITY_LEVELS = ("critical", "high", "medium", "low", "unknown")
FINDING_LEVELS = ("critical", "high", "medium", "low", "info")


class JsonSeq(list[Any]):
    """The JSON values of a report that holds several, one after another."""


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
    """A report file as read: its path as the user gave it, its text, and the SHA-256
    of its bytes (for decision records)."""

    path: str
    text: str
    sha256: str = ""

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
    measure: Callable[[Any, Reading], Measured]

    def not_this(
        self, report: Report, detail: str, at: tuple[int, int] | None = None
    ) -> EvidenceError:
        return report.fail(
            "RG072",
            f"{report.path} is not {self.title}: {detail}",
            help=f"expected {self.produced_by}",
            at=at,
        )


@dataclass(frozen=True)
class Reading:
    """A report being measured: its format, its text, and what the command line gave for it."""

    format: Format
    report: Report
    key: Any = None  # a public key (`--key`) that provenance signatures are verified with
    key_path: str | None = None

    def at(self, document: Any) -> At:
        return At(document, "", self.format, self.report)

    def wrong(self, detail: str, at: tuple[int, int] | None = None) -> EvidenceError:
        return self.format.not_this(self.report, detail, at)


@dataclass(frozen=True)
class Measured:
    """What a report measures: plain values (coverage, a quality gate, provenance) and findings.

    `scales` names the finding categories the report measures, with their severity
    levels (None: the tool gives none, so only the total is counted); a category it
    does not measure is absent, not zero.
    """

    values: Mapping[str, Value] = field(default_factory=dict)
    findings: tuple[Finding, ...] = ()
    scales: Mapping[str, tuple[str, ...] | None] = field(default_factory=dict)
    warnings: tuple[Diagnostic, ...] = ()

    def without(self, baseline: Sequence[Finding]) -> Measured:
        """The same measures, counting only the findings the baseline does not have."""
        return replace(self, findings=tuple(new_findings(self.findings, baseline)))

    def measures(self) -> dict[str, Value]:
        """The values and, for each category measured, its findings counted by level."""
        found: dict[str, Value] = dict(self.values)
        for category, levels in self.scales.items():
            severities = [f.severity or "" for f in self.findings if f.category == category]
            found |= tally(category, severities, levels)
        return found


@dataclass(frozen=True)
class Finding:
    """One finding, and what tells it apart from others for a baseline.

    Two findings are the same when their category, package, target and fingerprint
    are equal and their ids (the id and its aliases) share one; line numbers and
    installed versions are never part of it (docs/evidence.md, "Finding identities").
    """

    category: str  # "vulnerabilities", "findings" or "secrets"
    id: str  # the vulnerability or rule id as the tool names it
    severity: str | None  # a level of the category's scale; None when the tool gives none
    package: str | None = None
    target: str | None = None  # where: a lockfile, an image, a file, a site
    fingerprint: str | None = None  # the tool's own fingerprint
    aliases: tuple[str, ...] = ()  # other ids of the same vulnerability

    @property
    def place(self) -> tuple[str, str | None, str | None, str | None]:
        return (self.category, self.package, self.target, self.fingerprint)

    @property
    def ids(self) -> frozenset[str]:
        return frozenset((self.id, *self.aliases))


def new_findings(findings: Iterable[Finding], baseline: Iterable[Finding]) -> list[Finding]:
    """The findings the baseline does not have.  Each baseline finding matches one
    finding at most, so a third finding of a kind the baseline has two of is new."""
    pool: dict[tuple[str, str | None, str | None, str | None], list[frozenset[str]]] = {}
    for old in baseline:
        pool.setdefault(old.place, []).append(old.ids)
    new = []
    for finding in findings:
        candidates = pool.get(finding.place, [])
        match = next((i for i, ids in enumerate(candidates) if ids & finding.ids), None)
        if match is None:
            new.append(finding)
        else:
            del candidates[match]
    return new


def read_text(path: str) -> Report:
    """The report file's text (a file, or a pipe: `trivy ... | regate metadata from trivy
    /dev/stdin`); RG070 when it cannot be read."""
    where = Span(path, 1, 1, 1, 1)
    try:
        content = read_bounded(path, MAX_REPORT_BYTES)
    except Unreadable as exc:
        raise EvidenceError([error("RG070", where, f"cannot read {path}: {exc}")]) from None
    try:
        # utf-8-sig: some Windows tools write a byte order mark
        return Report(path, content.decode("utf-8-sig"), hashlib.sha256(content).hexdigest())
    except UnicodeDecodeError as exc:
        message = f"cannot read {path}: not UTF-8 text ({exc.reason})"
        raise EvidenceError([error("RG070", where, message)]) from None


def _ends_early(exc: json.JSONDecodeError) -> bool:
    """Whether the JSON text ended inside a value: a string runs to the end (Python
    reports an unterminated string only then), or the error is at the very end."""
    return exc.msg.startswith("Unterminated string") or exc.pos >= len(exc.doc.rstrip())


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


def parse_json_seq(report: Report, expected: str) -> JsonSeq:
    """Whitespace-separated JSON values (govulncheck's stream, JSON Lines)."""
    decoder = strict_decoder()
    values = JsonSeq()
    text, position = report.text, 0
    while True:
        while position < len(text) and text[position].isspace():
            position += 1
        if position == len(text):
            return values
        try:
            value, position = decoder.raw_decode(text, position)
        except json.JSONDecodeError as exc:
            reason = "it ends too early (truncated?)" if _ends_early(exc) else exc.msg
            raise report.fail(
                "RG071",
                f"{report.path} is not valid JSON: {reason}",
                help=f"expected {expected}",
                at=(exc.lineno, exc.colno),
            ) from None
        except JsonProblem as exc:  # a duplicate key, NaN, a number no float holds
            raise report.fail("RG071", f"{report.path} is not valid JSON: {exc}") from None
        except RecursionError:
            raise report.fail("RG071", f"{report.path} nests too deeply to be read") from None
        values.append(value)


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


def add(*all_measures: Mapping[str, Value]) -> dict[str, Value]:
    """Measures of several reports together: counts are added up (a measure one report
    lacks counts as absent).  Only counts repeat: a quality gate or a provenance
    statement is one report per document (commands.py checks it)."""
    total: dict[str, Value] = {}
    for measures in all_measures:
        for name, value in measures.items():
            previous = total.get(name)
            if isinstance(previous, int) and isinstance(value, int):
                total[name] = previous + value
            else:
                total[name] = value
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
        """An error about this value, at its line and column in the report."""
        return self.format.not_this(self.report, detail, locate(self.report.text, self.where))

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


_STEP = re.compile(r"message (\d+)|\[(\d+)\]|\.?([^.\[\]]+)")
_DECODER = json.JSONDecoder()


def _skip_space(text: str, position: int) -> int:
    while position < len(text) and text[position] in " \t\r\n":
        position += 1
    return position


def _member(text: str, start: int, step: str | int) -> int | None:
    """Where the value of member `step` (a key or an index) of the value at `start` begins."""
    opening = text[start : start + 1]
    if opening not in ("{", "[") or (opening == "{") != isinstance(step, str):
        return None
    position, index = _skip_space(text, start + 1), 0
    while position < len(text) and text[position] not in "}]":
        key: str | int = index
        if opening == "{":
            key, position = json.decoder.scanstring(text, position + 1)  # type: ignore[attr-defined]
            position = _skip_space(text, _skip_space(text, position) + 1)  # past ":"
        if key == step:
            return position
        position = _skip_space(text, _DECODER.raw_decode(text, position)[1])
        position = (
            _skip_space(text, position + 1) if text[position : position + 1] == "," else position
        )
        index += 1
    return None


def locate(text: str, where: str) -> tuple[int, int] | None:
    """The line and column of the value at a path ("Results[1].Severity", "message 3.osv")
    of a JSON report, as far down the path as the text goes: where a member is
    missing, its owner.  Only called for an error, on a report already parsed."""
    position = _skip_space(text, 0)
    try:
        steps = [
            (int(m[1]) - 1, True) if m[1] else (int(m[2]), False) if m[2] else (m[3], False)
            for m in _STEP.finditer(where)
        ]
        pending = ""
        for step, in_stream in steps:
            if in_stream:  # the n-th value of a stream of JSON values
                for _ in range(int(step)):
                    position = _skip_space(text, _DECODER.raw_decode(text, position)[1])
                continue
            key = f"{pending}.{step}" if pending else step
            found = _member(text, position, key)
            if found is None and isinstance(key, str):
                pending = key  # a key with a dot in it ("@gatsbyjs/x.y"): join the next step
                continue
            if found is None:
                break
            position, pending = found, ""
    except (ValueError, RecursionError):
        pass
    if position >= len(text):
        return None
    line = text.count("\n", 0, position) + 1
    return line, position - text.rfind("\n", 0, position)


def _shown(value: Any) -> str:
    text = json.dumps(value)
    return text if len(text) <= 40 else text[:37] + "..."


def coverage_counts(
    lines: int, covered: int, branches: int = 0, branches_covered: int = 0
) -> Measured:
    """Line counts, and branch counts when the report measured any branch."""
    counts: dict[str, Value] = {"lines.total": lines, "lines.covered": covered}
    if branches:
        counts |= {"branches.total": branches, "branches.covered": branches_covered}
    return Measured(values=counts)


def xml_count(element: StdET.Element, name: str, where: str, format: Format, report: Report) -> int:
    """A non-negative integer attribute of an XML element, which the format requires."""
    value = element.get(name)
    if value is None:
        raise format.not_this(report, f'{where} has no "{name}" attribute')
    if not value.isdigit():
        raise format.not_this(report, f'{where} has {name}="{value}"; expected a count')
    return int(value)
