"""The one renderer: long lines shortened around the span, control characters shown
harmlessly, long messages bounded; JSON and SARIF keep everything exact."""

from __future__ import annotations

import json

from compiler.ast import Span
from compiler.diagnostics import (
    COMMAND_LINE,
    MAX_MESSAGE_WIDTH,
    MAX_SNIPPET_WIDTH,
    SNIPPET_CONTEXT,
    as_json,
    as_sarif,
    command_error,
    error,
    render_all_text,
    render_text,
)


def rendered(line: str, col: int, width: int, message: str = "wrong") -> list[str]:
    diagnostic = error("RG031", Span("f.rg", 1, col, 1, col + width), message)
    return render_text(diagnostic, {"f.rg": line + "\n"}).splitlines()


def caret_under(lines: list[str]) -> str:
    """The text the caret line underlines in the snippet line."""
    snippet, carets = lines[1], lines[2]
    start = carets.index("^")
    return snippet[start : start + carets.count("^")]


def test_a_short_line_is_shown_whole():
    line = 'conditions = {"build.metadata.coverage.percent": 1}'
    lines = rendered(line, 16, 5)
    assert lines[1] == f" 1 | {line}"
    assert caret_under(lines) == "build"


def test_a_long_line_is_shown_around_the_span_with_the_caret_under_it():
    line = "x" * 3_000_000 + '"build.metadata.nope"' + "y" * 3_000_000
    lines = rendered(line, 3_000_002, 5)
    assert caret_under(lines) == "build"
    assert lines[1].startswith(" 1 | ...") and lines[1].endswith("...")
    assert len(lines[1]) <= len(" 1 | ") + 2 * SNIPPET_CONTEXT + 5 + 2 * len("...")


def test_a_span_at_either_end_of_a_long_line():
    line = "start" + " " * 1000 + "end"
    first = rendered(line, 1, 5)
    assert first[1].startswith(" 1 | start") and first[1].endswith("...")
    assert caret_under(first) == "start"
    last = rendered(line, len(line) - 2, 3)
    assert last[1].startswith(" 1 | ...") and last[1].endswith("end")
    assert caret_under(last) == "end"


def test_a_long_span_is_underlined_in_part():
    line = "a" * 50 + "b" * 5000 + "c" * 50
    lines = rendered(line, 51, 5000)
    assert set(caret_under(lines)) == {"b"}
    assert len(lines[2]) < MAX_SNIPPET_WIDTH + 10


def test_tabs_and_control_characters_keep_the_caret_aligned():
    line = '\t"a\x1b[2J": 1, "target": 2'
    lines = rendered(line, line.index("target") + 1, 6)
    assert "\x1b" not in lines[1] and "\ufffd" in lines[1]
    assert caret_under(lines) == "target"


def test_a_message_is_one_bounded_line_of_plain_text():
    huge = "k" * 100_000
    (first, *_) = rendered("x", 1, 1, f'unknown field "{huge}"\x1b[2J\nnext')
    assert len(first) < MAX_MESSAGE_WIDTH + 100
    assert "\x1b" not in first and "\n" not in first and "characters)" in first


def test_json_and_sarif_keep_the_exact_span_and_message():
    message = f'unknown field "{"k" * 100_000}"'
    diagnostic = error("RG031", Span("f.rg", 1, 3_000_002, 1, 3_000_007), message)
    (found,) = as_json([diagnostic])
    assert (found["column"], found["end_column"], found["message"]) == (
        3_000_002,
        3_000_007,
        message,
    )
    region = as_sarif([diagnostic], "test")["runs"][0]["results"][0]["locations"][0]
    assert region["physicalLocation"]["region"]["startColumn"] == 3_000_002


def test_a_whole_file_diagnostic_has_no_snippet():
    diagnostic = error("RG005", Span("src", 1, 1, 1, 1), "no action")
    assert render_text(diagnostic, {"src": "first line\n"}) == "src:1:1: error[RG005]: no action"


def test_a_command_line_diagnostic_names_no_file():
    diagnostic = command_error("RG062", "OPA not found", help="install it")
    assert diagnostic.span == COMMAND_LINE
    assert render_all_text([diagnostic], {}) == (
        "regate: error[RG062]: OPA not found\nhelp: install it\n\n1 error, 0 warnings\n"
    )
    assert as_sarif([diagnostic], "test")["runs"][0]["results"][0]["locations"] == []
    assert json.dumps(as_json([diagnostic]))


def test_lines_are_counted_as_the_parser_counts_them():
    """Only \\n ends a line: a form feed or U+2028 inside a line does not shift it."""
    text = "a\x0cb\u2028c\nsecond line\n"
    diagnostic = error("RG031", Span("f.rg", 2, 1, 2, 7), "here")
    assert render_text(diagnostic, {"f.rg": text}).splitlines()[1] == " 2 | second line"
