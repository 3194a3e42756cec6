"""Diagnostics are values: every pass collects them, one renderer prints them.

Text:   `path:line:col: error[CODE]: message`, the source line, a caret under
        the span, and `help: ...` when there is a suggestion.
JSON:   a list of objects with the same fields.
SARIF:  a SARIF 2.1.0 log, for code-scanning UIs.
"""

from __future__ import annotations

import difflib
import json
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any, Literal

from compiler.ast import Span

Severity = Literal["error", "warning"]

# Every code regate emits, with a short description (SARIF rules, docs/language.md).
CODES: dict[str, str] = {
    "RG001": "a source file cannot be read",
    "RG002": "syntax error",
    "RG003": "a JSON file is not a regate payload",
    "RG004": "no source files found",
    "RG005": "the sources declare no approval action",
    "RG007": "a policy without conditions",
    "RG010": "unknown block or attribute",
    "RG011": "a required attribute is missing",
    "RG012": "an attribute has the wrong kind of value",
    "RG013": "an attribute is given twice",
    "RG014": "malformed NRN",
    "RG015": "duplicate key in a JSON object",
    "RG016": "a number out of the range regate compares exactly",
    "RG017": "an object deleted in nullplatform is not compiled",
    "RG018": "an entity hook action is not an approval action",
    "RG019": "an association that cannot be read or bound",
    "RG020": "unknown query operator",
    "RG021": "operator not supported yet",
    "RG022": "invalid operand for an operator",
    "RG023": "conditions nest too deeply",
    "RG024": "a path has too many segments",
    "RG025": "a regular expression uses a construct RE2 lacks",
    "RG026": "conditions have too many clauses",
    "RG027": "an aggregation expression form regate does not support",
    "RG028": "an $expr comparison a missing or null operand makes hold",
    "RG029": "a $dynamicPattern whose template and fields do not fit",
    "RG030": "unknown entity",
    "RG031": "unknown field in a path",
    "RG032": "no metadata specification for a metadata key",
    "RG033": "entity not available to the action a policy is bound to",
    "RG034": "an operator that does not apply to the field's type",
    "RG035": "a value whose type the field can never have",
    "RG036": "a condition or value the field's constraints never allow",
    "RG037": "a condition the field's constraints always satisfy",
    "RG038": "contradictory conditions on one path",
    "RG039": "$exists: false on a required field",
    "RG040": "invalid JSON Schema",
    "RG041": "two specifications for the same metadata at the same NRN",
    "RG042": "a $ref whose target the schema does not have",
    "RG043": "a $ref regate cannot follow",
    "RG045": "a checklist definition regate cannot decide as nullplatform would",
    "RG046": "an action with both policies and a checklist, or two checklists",
    "RG047": "an action with neither policies nor a checklist goes to human review",
    "RG048": "unknown checklist",
    "RG049": "two policies with the same id",
    "RG050": "unknown policy",
    "RG051": "two policies with the same name at one NRN",
    "RG052": "duplicate action id",
    "RG053": "policy bound to no action",
    "RG054": "policy not visible at the action's NRN",
    "RG055": "unknown action",
    "RG056": "a policy or checklist name that is ambiguous at the referrer's NRN",
    "RG059": "an API list payload that holds only some of the results",
    # Output: signing and writing the bundle (docs/hardening.md).
    "RG060": "the signing key cannot sign",
    "RG061": "an output cannot be written",
    # The command line and its environment: OPA, sidecars, bundles, versions.
    "RG062": "OPA cannot be found or run",
    "RG063": "the OPA sidecar cannot be asked",
    "RG064": "the bundle cannot be used",
    "RG065": "no test blocks to run",
    "RG066": "a version to compare cannot be had",
    "RG057": "an expired waiver",
    "RG058": "a waiver that expires soon",
    # Evidence: reports read by `regate metadata from` and `regate gate` (docs/evidence.md).
    "RG070": "a report cannot be read",
    "RG071": "a report does not parse",
    "RG072": "a report is not in the expected format",
    "RG073": "a metadata document does not fit its specification",
    "RG074": "invalid evidence mapping",
    "RG075": "a baseline or VEX document does not fit the reports it applies to",
    "RG076": "a public key or signing key cannot be read or used",
    "RG077": "a decision record cannot be written",
    "RG078": "a decision record does not verify",
    "RG079": "a report that makes a whole document given with others",
    "RG110": "a report is incomplete",
    "RG111": "provenance not verified",
    "RG112": "dependencies the scanner did not audit",
    # Tests: test blocks and generated boundary tests, `regate test` (docs/testing.md).
    "RG080": "duplicate test name",
    "RG081": "a test names an unknown action id",
    "RG082": "a policy test failed",
    "RG083": "a generated boundary test failed",
    "RG084": "a policy no test exercised",
    "RG085": "a condition no test exercised",
    "RG090": "the formatter could not keep a file's meaning",
    "RG091": "a Terraform value regate cannot import",
    "RG092": "an association refers to an action or policy not imported",
    "RG093": "an attribute that may change a decision and cannot be carried over",
    "RG094": "nothing to import or export: no nullplatform object",
    "RG095": "a Terraform state regate cannot use",
    "RG096": "a Terraform variable value regate cannot read",
    "RG097": "the Terraform configuration and its state disagree",
    # Requests read on the command line, and `regate gate` (docs/hardening.md, "Requests").
    "RG100": "a request gives a key twice in one object",
    "RG101": "a request holds a number past the form requests may use",
    "RG102": "a request is too large",
    "RG103": "the request `regate gate` would send is malformed",
    "RG104": "the request matches no approval action of the bundle",
    # Entities beyond nullplatform's, finding exceptions (docs/language.md, docs/decisions.md).
    "RG140": "an entity declared again (built in, or twice)",
    "RG141": "an approval action declared again, or not named after its entity",
    "RG142": "an entity's actions see an entity neither built in nor declared",
    "RG143": "an entity attribute that is not a JSON Schema regate can use",
    "RG144": "an exception without owner, reason or expiry",
    "RG145": "an expired exception",
    "RG146": "an exception that expires soon",
    "RG147": "an exception that expires past the maximum horizon",
    "RG148": "two exceptions with the same name at one NRN",
    "RG149": "finding exceptions that the evidence gives no findings to apply to",
    # Fleet: publishing, sidecar configuration, decision logs (docs/deploy.md).
    "RG120": "a file is not a regate bundle",
    "RG121": "the registry could not be reached or refused a request",
    "RG122": "a verification key a sidecar cannot use",
    "RG123": "a decision log line cannot be read",
    "RG124": "a decision log file cannot be read",
}


@dataclass(frozen=True, order=True)
class Diagnostic:
    span: Span
    severity: Severity
    code: str
    message: str
    help: str | None = None

    def __post_init__(self) -> None:
        assert self.code in CODES, f"undeclared diagnostic code {self.code}"


def error(code: str, span: Span, message: str, help: str | None = None) -> Diagnostic:
    return Diagnostic(span, "error", code, message, help)


def warning(code: str, span: Span, message: str, help: str | None = None) -> Diagnostic:
    return Diagnostic(span, "warning", code, message, help)


# Where a problem of the command line itself is: no file (rendered as `regate: error[...]`).
COMMAND_LINE = Span("", 0, 0, 0, 0)


def command_error(code: str, message: str, help: str | None = None) -> Diagnostic:
    """An error about the command line or the environment (OPA, an option), in no file."""
    return Diagnostic(COMMAND_LINE, "error", code, message, help)


def has_errors(diagnostics: Iterable[Diagnostic]) -> bool:
    return any(d.severity == "error" for d in diagnostics)


def did_you_mean(word: str, candidates: Iterable[str]) -> str | None:
    """`did you mean "x"?` for the closest candidate, or None."""
    options = sorted(set(candidates))
    close = difflib.get_close_matches(word, options, n=1, cutoff=0.6)
    return f'did you mean "{close[0]}"?' if close else None


def alternatives(words: Iterable[str], last: str = "or") -> str:
    """`a, b or c` (or, with last="and", `a, b and c`)."""
    listed = list(words)
    return listed[0] if len(listed) == 1 else f"{', '.join(listed[:-1])} {last} {listed[-1]}"


# A source line longer than this is shown as a window around the span: a minified
# JSON payload or a hostile one-line file must not flood a terminal or a CI log.
MAX_SNIPPET_WIDTH = 120
SNIPPET_CONTEXT = 40  # characters kept on each side of the span
MAX_CARET_WIDTH = 60  # a longer span is underlined this far, then the line is cut
ELLIPSIS = "..."
# Control characters in a snippet would move the terminal's cursor, or worse (escape
# sequences): each is shown as one replacement character, so the caret stays aligned.
_CONTROL = re.compile("[\x00-\x08\x0b-\x1f\x7f-\x9f\u2028\u2029]")
_CONTROL_IN_TEXT = re.compile("[\x00-\x1f\x7f-\x9f\u2028\u2029]")


def _display(line: str) -> str:
    return _CONTROL.sub("\ufffd", line.replace("\t", "    "))


def _display_col(line: str, col: int) -> int:
    """The 0-based screen column of 1-based `col`, with tabs shown as 4 spaces."""
    prefix = line[: col - 1]
    return len(prefix) + 3 * prefix.count("\t")


MAX_MESSAGE_WIDTH = 600  # a message quoting a huge name is cut in its middle


def printable(text: str) -> str:
    """A message as one line of plain text: control characters written as escapes, and
    at most MAX_MESSAGE_WIDTH characters (JSON and SARIF keep it whole)."""
    if len(text) > MAX_MESSAGE_WIDTH:
        keep = MAX_MESSAGE_WIDTH // 2
        text = f"{text[:keep]}{ELLIPSIS}({len(text) - 2 * keep} characters){ELLIPSIS}{text[-keep:]}"
    return _CONTROL_IN_TEXT.sub(lambda m: json.dumps(m.group())[1:-1], text)


def snippet(line: str, start: int, end: int) -> tuple[str, int, int]:
    """The displayed line and the caret's columns, shortened around [start, end)
    (display columns) when the line is too long to show whole."""
    shown = _display(line)
    if len(shown) <= MAX_SNIPPET_WIDTH:
        return shown, start, end
    end = min(end, start + MAX_CARET_WIDTH)
    left = max(0, start - SNIPPET_CONTEXT)
    right = min(len(shown), end + SNIPPET_CONTEXT)
    head = ELLIPSIS if left > 0 else ""
    tail = ELLIPSIS if right < len(shown) else ""
    offset = len(head) - left
    return head + shown[left:right] + tail, start + offset, end + offset


def _lines(text: str | None) -> list[str]:
    """A file's lines as the parser counts them: ended by \\n alone."""
    return [line.removesuffix("\r") for line in text.split("\n")] if text is not None else []


def render_text(
    diagnostic: Diagnostic, sources: Mapping[str, str], lines: list[str] | None = None
) -> str:
    """One diagnostic as text a person reads (`lines`: its file's, when already split)."""
    span = diagnostic.span
    where = str(span) if span.file else "regate"  # no file: a command-line problem
    out = [f"{where}: {diagnostic.severity}[{diagnostic.code}]: {printable(diagnostic.message)}"]
    if lines is None:
        lines = _lines(sources.get(span.file))
    whole_file = (span.end_line, span.end_col) == (span.line, span.col)  # no snippet
    if 1 <= span.line <= len(lines) and not whole_file:
        line = lines[span.line - 1]
        number = str(span.line)
        gutter = " " * len(number)
        start = _display_col(line, span.col)
        end_col = span.end_col if span.end_line == span.line else len(line) + 1
        end = max(_display_col(line, end_col), start + 1)
        shown, start, end = snippet(line, start, end)
        out.append(f" {number} | {shown}".rstrip())
        out.append(f" {gutter} | {' ' * start}{'^' * (end - start)}")
    if diagnostic.help:
        out.append(f"help: {printable(diagnostic.help)}")
    return "\n".join(out)


def summary(diagnostics: Iterable[Diagnostic]) -> str:
    found = list(diagnostics)
    errors = sum(d.severity == "error" for d in found)
    warnings = len(found) - errors

    def plural(n: int, word: str) -> str:
        return f"{n} {word}{'' if n == 1 else 's'}"

    return f"{plural(errors, 'error')}, {plural(warnings, 'warning')}"


def render_all_text(diagnostics: Iterable[Diagnostic], sources: Mapping[str, str]) -> str:
    found = sorted(diagnostics)
    if not found:
        return ""
    split: dict[str, list[str]] = {}  # each file split once, however many diagnostics
    blocks = []
    for diagnostic in found:
        file = diagnostic.span.file
        if file not in split:
            split[file] = _lines(sources.get(file))
        blocks.append(render_text(diagnostic, sources, split[file]))
    return "\n\n".join(blocks) + f"\n\n{summary(found)}\n"


def as_json(diagnostics: Iterable[Diagnostic]) -> list[dict[str, Any]]:
    return [
        {
            "code": d.code,
            "severity": d.severity,
            "message": d.message,
            "file": d.span.file,
            "line": d.span.line,
            "column": d.span.col,
            "end_line": d.span.end_line,
            "end_column": d.span.end_col,
            "help": d.help,
        }
        for d in sorted(diagnostics)
    ]


def as_sarif(diagnostics: Iterable[Diagnostic], tool_version: str) -> dict[str, Any]:
    found = sorted(diagnostics)
    used = sorted({d.code for d in found})
    return {
        "$schema": "https://json.schemastore.org/sarif-2.1.0.json",
        "version": "2.1.0",
        "runs": [
            {
                "tool": {
                    "driver": {
                        "name": "regate",
                        "version": tool_version,
                        "informationUri": "https://github.com/regate/regate",
                        "rules": [
                            {"id": code, "shortDescription": {"text": CODES[code]}} for code in used
                        ],
                    }
                },
                "results": [
                    {
                        "ruleId": d.code,
                        "ruleIndex": used.index(d.code),
                        "level": d.severity,
                        "message": {"text": d.message + (f"\nhelp: {d.help}" if d.help else "")},
                        "locations": [
                            {
                                "physicalLocation": {
                                    "artifactLocation": {"uri": d.span.file},
                                    "region": {
                                        "startLine": d.span.line,
                                        "startColumn": d.span.col,
                                        "endLine": d.span.end_line,
                                        "endColumn": d.span.end_col,
                                    },
                                }
                            }
                        ]
                        if d.span.file
                        else [],  # a command-line problem is in no file
                    }
                    for d in found
                ],
            }
        ],
    }


def render(
    diagnostics: Iterable[Diagnostic], sources: Mapping[str, str], fmt: str, tool_version: str
) -> str:
    """All diagnostics in one of the output formats: text, json or sarif."""
    if fmt == "json":
        return json.dumps(as_json(diagnostics), indent=2) + "\n"
    if fmt == "sarif":
        return json.dumps(as_sarif(diagnostics, tool_version), indent=2) + "\n"
    return render_all_text(diagnostics, sources)
