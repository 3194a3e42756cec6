"""Parse pass: source text → value nodes → declarations (the AST).

regate sources (`*.rg`) hold blocks; JSON files hold API payloads.  Both are
read by the grammar in grammar/regate.lark, so every value keeps its span, and
both become the same declarations.
"""

from __future__ import annotations

import json
import math
import os
import re
import sys
from collections import defaultdict
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta
from functools import cache
from typing import Any, TypeGuard, TypeVar, cast

from lark import Lark, Token
from lark.exceptions import UnexpectedCharacters, UnexpectedEOF, UnexpectedInput, UnexpectedToken

from compiler import query
from compiler.ast import (
    Action,
    Array,
    Association,
    Call,
    Checklist,
    ChecklistItem,
    ChecklistOutcome,
    ChecklistRef,
    Enforcement,
    EntityDeclaration,
    ExecutionTrigger,
    FindingException,
    Identifier,
    ItemBehavior,
    ItemType,
    JsonValue,
    Member,
    Named,
    Node,
    Nrn,
    Object,
    ObjectId,
    Outcome,
    Policy,
    PolicyRef,
    PolicyTest,
    Program,
    Query,
    Result,
    Scalar,
    SourceFile,
    Span,
    Specification,
    Waiver,
    to_json,
)
from compiler.diagnostics import Diagnostic, alternatives, did_you_mean, error, warning
from compiler.limits import MAX_NESTING_DEPTH
from compiler.limits import NRN_ID as NRN_ID_PATTERN
from compiler.resources import resource_dir
from compiler.schema import json_type
from compiler.sources import Source, read_text

# A nullplatform NRN: `organization=<id>[:account=<id>[:namespace=<id>[:application=<id>
# [:scope=<id>]]]]`, these keys in this order, each id a number as nullplatform writes it.
NRN_KEYS = ("organization", "account", "namespace", "application", "scope")
NRN_ID = re.compile(NRN_ID_PATTERN)  # the same ids requests may carry
NRN_EXAMPLE = '"organization=1:account=2:namespace=3:application=4:scope=5"'
# The first of each is the default.
OUTCOMES_ON_SUCCESS = ("manual", "approve")
OUTCOMES_ON_FAIL = ("manual", "deny")
ENFORCEMENTS = ("enforce", "audit")


@cache
def _parser() -> Lark:
    """The grammar as Lark reads it: the definition of what parses, and the source of
    every syntax error (the reader below hands text it cannot read over to it)."""
    return Lark.open(
        str(resource_dir("grammar") / "regate.lark"),
        parser="lalr",
        start=["module", "value"],
        propagate_positions=True,
        maybe_placeholders=False,
    )


def number_value(text: str) -> int | float | None:
    """A number literal's value; None when no float holds it (it overflows to
    infinity, or has more digits than Python converts)."""
    if any(c in text for c in ".eE"):
        value = float(text)
        return None if math.isinf(value) else value
    try:
        whole = int(text)
    except ValueError:  # more than sys.get_int_max_str_digits() digits
        return None
    return whole if abs(whole) <= sys.float_info.max else None


def _shorten(text: str, keep: int = 24) -> str:
    return text if len(text) <= keep else f"{text[:keep]}... ({len(text)} characters)"


def _token_span(file: str, token: Token) -> Span:
    return Span(
        file,
        token.line or 1,
        token.column or 1,
        token.end_line or token.line or 1,
        token.end_column or token.column or 1,
    )


@dataclass(frozen=True)
class Attribute:
    name: str
    span: Span
    value: Node


@dataclass(frozen=True)
class Block:
    kind: str
    kind_span: Span
    label: Scalar | None
    attributes: tuple[Attribute, ...]
    span: Span


# --- Source text → value nodes and blocks ---
#
# Lark's LALR parser and the transformer over its tree cost about 0.5 ms per policy,
# half of a large build.  The grammar is small and needs one token of lookahead, so a
# recursive descent over the grammar's own terminals reads it about six times faster,
# building the nodes as it goes.  Lark stays the definition: text the reader cannot
# read is handed to Lark, whose exception becomes the syntax error (tests/test_parse.py
# checks the two agree).

_KEYWORDS: dict[str, JsonValue] = {"true": True, "false": False, "null": None}
_KEY_TERMINALS = ("STRING", "NAME", "OPERATOR")
_SURROGATE = re.compile("[\ud800-\udfff]")
# A string whose characters up to a raw control character (which JSON strings cannot hold)
# are plain or escaped: the control character is what stops the string.
_CONTROL_IN_STRING = re.compile(r'"(?:[^"\\\x00-\x1f]|\\.)*([\x00-\x09\x0b-\x1f])')

# A token: its terminal's name, its text, and the line and column it starts at.
_Token = tuple[str, str, int, int]


class _Unreadable(Exception):
    """Text the grammar does not derive."""


class _TooDeep(Exception):
    """Objects and arrays nested deeper than MAX_NESTING_DEPTH."""


@cache
def _terminals() -> tuple[re.Pattern[str], frozenset[str]]:
    """One pattern for all the grammar's terminals, each a group named after it, and the
    names of the ignored ones.  The keywords are left out: the grammar's contextual lexer
    reads `true` as a NAME wherever no value may stand (a key, a block kind), and the
    reader decides the same by where it stands.  No two terminals match at the same
    place (the comments differ in their second character), so their order does not matter."""
    parser = _parser()
    alternatives = [
        f"(?P<{terminal.name}>{terminal.pattern.to_regexp()})"
        for terminal in parser.terminals
        if terminal.pattern.value not in _KEYWORDS
    ]
    return re.compile("|".join(alternatives)), frozenset(parser.ignore_tokens)


def _tokens(text: str) -> list[_Token]:
    """The text's tokens, comments and white space left out, ending with `$END`.  Lines
    and columns are counted as Lark counts them: lines end at \\n, columns are characters."""
    pattern, ignored = _terminals()
    tokens: list[_Token] = []
    line, line_start, position = 1, 0, 0
    for match in pattern.finditer(text):
        start = match.start()
        if start != position:
            raise _Unreadable  # a character that starts no terminal
        position = match.end()
        kind = cast(str, match.lastgroup)
        if kind in ignored:
            newlines = text.count("\n", start, position)
            if newlines:
                line += newlines
                line_start = text.rindex("\n", start, position) + 1
            continue
        tokens.append((kind, match.group(), line, start - line_start + 1))
    if position != len(text):
        raise _Unreadable
    tokens.append(("$END", "", line, position - line_start + 1))
    return tokens


class _Reader:
    """The grammar's `module` and `value` read from tokens, one method per rule.  Nodes
    are built as their last token is read, so the diagnostics come in the order the
    tree's transformer met them: a member's key after its value, a block's label after
    its attributes, an object's duplicate keys after its members."""

    def __init__(self, file: str, text: str) -> None:
        self.file = file
        self.tokens = _tokens(text)
        self.next = 0  # the index of the next token
        self.depth = 0
        self.diagnostics: list[Diagnostic] = []

    def take(self, kind: str) -> _Token:
        token = self.tokens[self.next]
        if token[0] != kind:
            raise _Unreadable
        self.next += 1
        return token

    def span(self, token: _Token) -> Span:
        _kind, text, line, column = token
        return Span(self.file, line, column, line, column + len(text))

    def span_from(self, first: _Token, last: _Token) -> Span:
        return Span(self.file, first[2], first[3], last[2], last[3] + len(last[1]))

    def module(self) -> list[Block]:
        blocks = []
        while self.tokens[self.next][0] == "NAME":
            blocks.append(self.block())
        self.take("$END")
        return blocks

    def document(self) -> Node:
        value = self.value()
        self.take("$END")
        return value

    def block(self) -> Block:
        kind = self.take("NAME")
        label = self.tokens[self.next]
        if label[0] == "STRING":
            self.next += 1
        self.take("LBRACE")
        attributes = []
        while self.tokens[self.next][0] == "NAME":
            name = self.take("NAME")
            self.take("EQUAL")
            attributes.append(Attribute(name[1], self.span(name), self.value()))
        closing = self.take("RBRACE")
        return Block(
            kind[1],
            self.span(kind),
            Scalar(self.decode(label), self.span(label)) if label[0] == "STRING" else None,
            tuple(attributes),
            self.span_from(kind, closing),
        )

    def value(self) -> Node:
        token = self.tokens[self.next]
        self.next += 1
        kind = token[0]
        if kind == "STRING":
            return Scalar(self.decode(token), self.span(token))
        if kind == "LBRACE":
            return self.object(token)
        if kind == "LSQB":
            return self.array(token)
        if kind == "SIGNED_NUMBER":
            return self.number(token)
        if kind == "NAME":
            if token[1] in _KEYWORDS:
                return Scalar(_KEYWORDS[token[1]], self.span(token))
            if self.tokens[self.next][0] == "LPAR":
                return self.call(token)
            return Identifier(token[1], self.span(token))
        raise _Unreadable

    def object(self, opening: _Token) -> Object:
        self.enter()
        tokens = self.tokens
        members = []
        while tokens[self.next][0] != "RBRACE":
            key = tokens[self.next]
            if key[0] not in _KEY_TERMINALS:
                raise _Unreadable
            self.next += 1
            self.take("COLON")
            members.append(self.member(key, self.value()))
            if tokens[self.next][0] != "COMMA":
                break
            self.next += 1
        closing = self.take("RBRACE")
        self.depth -= 1
        if len(members) > 1:
            self.report_duplicates(members)
        return Object(tuple(members), self.span_from(opening, closing))

    def array(self, opening: _Token) -> Array:
        self.enter()
        tokens = self.tokens
        items = []
        while tokens[self.next][0] != "RSQB":
            items.append(self.value())
            if tokens[self.next][0] != "COMMA":
                break
            self.next += 1
        closing = self.take("RSQB")
        self.depth -= 1
        return Array(tuple(items), self.span_from(opening, closing))

    def enter(self) -> None:
        self.depth += 1
        if self.depth > MAX_NESTING_DEPTH:
            raise _TooDeep

    def member(self, key: _Token, value: Node) -> Member:
        if key[0] == "STRING":
            decoded = self.decode(key)
            offset = 1 if len(decoded) + 2 == len(key[1]) else None
        else:
            decoded, offset = key[1], 0
        return Member(decoded, self.span(key), value, offset)

    def report_duplicates(self, members: list[Member]) -> None:
        seen: dict[str, Member] = {}
        for member in members:
            if member.key in seen:
                first = seen[member.key].key_span
                self.diagnostics.append(
                    error(
                        "RG015",
                        member.key_span,
                        f'duplicate key "{member.key}" in an object (first at line {first.line})',
                        help="JSON objects keep one value per key; merge the two entries",
                    )
                )
            seen[member.key] = member

    def call(self, function: _Token) -> Call:
        self.take("LPAR")
        argument = self.take("STRING")
        closing = self.take("RPAR")
        return Call(function[1], self.decode(argument), self.span_from(function, closing))

    def number(self, token: _Token) -> Scalar:
        span = self.span(token)
        value = number_value(token[1])
        if value is None:
            self.diagnostics.append(
                error(
                    "RG016",
                    span,
                    f"number {_shorten(token[1])} is out of range",
                    help="numbers must fit a 64-bit float (about ±1.8e308)",
                )
            )
        return Scalar(value, span)

    def decode(self, token: _Token) -> str:
        """A STRING token's text.  JSON lets `\\ud800` name half a UTF-16 pair, which
        is no character: no file (or bundle) can hold it, so it is an error."""
        text = token[1]
        # Without a backslash the text between the quotes is the string itself.
        decoded: str = json.loads(text) if "\\" in text else text[1:-1]
        if _SURROGATE.search(decoded):
            self.diagnostics.append(
                error(
                    "RG002",
                    self.span(token),
                    "string holds half of a UTF-16 surrogate pair, which is not a character",
                    help='write the character itself, or both halves: "\\ud83d\\ude00"',
                )
            )
            return decoded.encode("utf-8", "replace").decode()
        return decoded


_TERMINAL_NAMES = {
    "STRING": "a string",
    "NAME": "a name",
    "SIGNED_NUMBER": "a number",
    "OPERATOR": "an operator such as $gte",
    "TRUE": "true",
    "FALSE": "false",
    "NULL": "null",
    "$END": "the end of the file",
}


def _describe_terminal(name: str) -> str:
    if name in _TERMINAL_NAMES:
        return _TERMINAL_NAMES[name]
    try:
        pattern = _parser().get_terminal(name).pattern
    except KeyError:
        return name
    return f'"{pattern.value}"'


def syntax_error(file: str, text: str, exc: UnexpectedInput) -> Diagnostic:
    line, col = exc.line if exc.line > 0 else 1, exc.column if exc.column > 0 else 1
    span = Span(file, line, col, line, col + 1)
    expected: Iterable[str] = ()
    if isinstance(exc, UnexpectedToken):
        token = exc.token
        if token.type == "$END":
            found = "end of file"
            span = _end_span(file, text)
        else:
            found = f'"{token}"'
            span = _token_span(file, token)
        expected = exc.expected
    elif isinstance(exc, UnexpectedCharacters):
        position = exc.pos_in_stream or 0
        found = f'character "{text[position]}"' if position < len(text) else "input"
        expected = exc.allowed or ()
        control = _CONTROL_IN_STRING.match(text, position)
        if control is not None:  # the string holds a raw control character
            code = f"\\u{ord(control[1]):04x}"
            help = f"a string cannot hold control characters: write this one as {code}"
            at = span.at(control.start(1) - position, 1)
            return error("RG002", at, "a string holds a control character", help=help)
    elif isinstance(exc, UnexpectedEOF):
        found, span = "end of file", _end_span(file, text)
        expected = exc.expected
    else:  # pragma: no cover - lark raises only the three above
        found = "input"
    wanted = sorted({_describe_terminal(t) for t in expected})
    message = f"unexpected {found}"
    if wanted:
        message += f"; expected {', '.join(wanted[:-1])}{' or ' if len(wanted) > 1 else ''}"
        message += wanted[-1]
    return error("RG002", span, message, help=_syntax_hint(found, set(expected)))


def _syntax_hint(found: str, expected: set[str]) -> str | None:
    if found == '":"' and "EQUAL" in expected:
        return "block attributes are written `name = value`"
    if found == '"="' and "COLON" in expected:
        return 'inside `{...}` values, members are written `"key": value`'
    if "COMMA" in expected and found.startswith('"'):
        return "a comma may be missing between two members or items"
    if found.startswith('character "\'"'):
        return "strings use double quotes"
    return None


def _end_span(file: str, text: str) -> Span:
    lines = text.splitlines() or [""]
    return Span(file, len(lines), len(lines[-1]) + 1, len(lines), len(lines[-1]) + 2)


T = TypeVar("T")


def _read(
    source: Source, start: str, read: Callable[[_Reader], T]
) -> tuple[T | None, list[Diagnostic]]:
    """What `read` reads from the source (the grammar's `start`), with the diagnostics met
    on the way; or None and why the text cannot be read."""
    try:
        reader = _Reader(source.path, source.text)
        return read(reader), reader.diagnostics
    except _Unreadable:
        too_deep = False
    except _TooDeep:
        too_deep = True
    try:  # A syntax error, even one past the nesting limit, is the grammar's to report.
        _parser().parse(source.text, start=start)
    except UnexpectedInput as exc:
        return None, [syntax_error(source.path, source.text, exc)]
    assert too_deep, f"the reader and the grammar disagree on {source.path}"
    span = Span(source.path, 1, 1, 1, 1)
    return None, [error("RG023", span, "the file nests too deeply to be read")]


def read_blocks(source: Source) -> tuple[list[Block] | None, list[Diagnostic]]:
    """A regate source's blocks, before they become declarations."""
    return _read(source, "module", _Reader.module)


# --- Fields: one reader for block attributes and payload members ---


@dataclass
class Fields:
    """The named values of a block or payload object, read one by one."""

    kind: str
    span: Span
    values: dict[str, tuple[Span, Node]]
    diagnostics: list[Diagnostic]
    is_payload: bool
    known: tuple[str, ...] = ()

    def take(self, name: str, required: bool = True) -> tuple[Span, Node] | None:
        found = self.values.pop(name, None)
        if found is None and required:
            self.diagnostics.append(
                error(
                    "RG011",
                    self.span,
                    f"{self.kind} is missing `{name}`",
                    help=f'add `"{name}": ...`' if self.is_payload else f"add `{name} = ...`",
                )
            )
        return found

    def wrong(self, name: str, node: Node, wanted: str) -> None:
        self.diagnostics.append(
            error("RG012", node.span, f"`{name}` of a {self.kind} must be {wanted}")
        )

    def text(
        self, name: str, required: bool = True, words: bool = False
    ) -> tuple[str, Span] | None:
        """A string value (or, with words=True, also a bare identifier)."""
        found = self.take(name, required)
        if found is None:
            return None
        node = found[1]
        if isinstance(node, Scalar) and isinstance(node.value, str):
            return node.value, node.span
        if words and isinstance(node, Identifier):
            return node.name, node.span
        self.wrong(name, node, "a string" if not words else "a name or a string")
        return None

    def object(self, name: str, required: bool = True) -> Object | None:
        found = self.take(name, required)
        if found is None:
            return None
        if isinstance(found[1], Object):
            return found[1]
        self.wrong(name, found[1], "an object")
        return None

    def finish(self, allowed_extra: Iterable[str] = ()) -> None:
        """Report attributes nobody took."""
        extra = set(allowed_extra)
        for name, (span, _node) in sorted(self.values.items(), key=lambda kv: kv[1][0]):
            if name in extra:
                continue
            self.diagnostics.append(
                (warning if self.is_payload else error)(
                    "RG010",
                    span,
                    f"unknown attribute `{name}` in a {self.kind}",
                    help=did_you_mean(name, self.known),
                )
            )


def nrn_problem(text: str) -> tuple[int, int, str, str | None] | None:
    """What makes `text` no nullplatform NRN: (offset, length) of the culprit in the
    text, what is wrong and a suggestion; None for a well-formed NRN."""
    if not text:
        return 0, 0, "it is empty", f"an NRN starts at the organization: {NRN_EXAMPLE}"
    blank = re.search(r"\s", text)
    if blank:
        return (
            blank.start(),
            1,
            "it holds white space",
            f'write it without: "{"".join(text.split())}"',
        )
    offset = 0
    for index, segment in enumerate(text.split(":")):
        wanted = NRN_KEYS[index] if index < len(NRN_KEYS) else None
        key, equals, value = segment.partition("=")
        problem = _nrn_segment_problem(index, segment, key, equals, value, wanted, text)
        if problem is not None:
            return (offset, max(len(segment), 1), *problem)
        offset += len(segment) + 1
    return None


def _nrn_segment_problem(
    index: int, segment: str, key: str, equals: str, value: str, wanted: str | None, text: str
) -> tuple[str, str | None] | None:
    order = f"its keys are {', '.join(NRN_KEYS)}, in this order: {NRN_EXAMPLE}"
    if not segment:
        return "it has an empty segment", 'segments are joined by a single ":"'
    if wanted is None:
        return f'"{segment}" follows the scope, the deepest level', order
    if not equals:
        pairs = text.split(":")
        if len(pairs) % 2 == 0 and all(NRN_ID.fullmatch(v) for v in pairs[1::2]):
            fixed = ":".join(f"{k}={v}" for k, v in zip(pairs[::2], pairs[1::2], strict=True))
            return f'"{segment}" is not `key=id`', f'did you mean "{fixed}"?'
        return f'"{segment}" is not `key=id`', order
    if key != wanted:
        if key in NRN_KEYS:
            return f'"{key}" where the NRN needs "{wanted}"', order
        return f'unknown key "{key}"', did_you_mean(key, NRN_KEYS) or order
    if NRN_ID.fullmatch(value):
        return None
    if not value:
        return f"{key} has no id", f"e.g. {key}=1"
    if value.isascii() and value.isdigit():
        if set(value) == {"0"}:
            return f"the {key} id is 0; nullplatform ids are positive", None
        if len(value) > 1 and value.startswith("0"):
            return (
                f'the {key} id "{value}" has a leading zero, which nullplatform never writes',
                f'did you mean "{key}={int(value)}"?',
            )
        return f"the {key} id has {len(value)} digits; nullplatform ids have at most 19", None
    return f'the {key} id "{value}" is not a number, as nullplatform ids are', f"e.g. {key}=1"


def _nrn(fields: Fields) -> Nrn | None:
    found = fields.text("nrn")
    if found is None:
        return None
    text, span = found
    problem = nrn_problem(text)
    if problem is not None:
        offset, length, what, hint = problem
        # Point at the culprit when the string's characters are its text (no escapes).
        exact = span.line == span.end_line and span.end_col - span.col == len(text) + 2
        fields.diagnostics.append(
            error(
                "RG014",
                span.at(1 + offset, length) if exact else span,
                f'malformed NRN "{_shorten(text, 80)}": {what}',
                help=hint,
            )
        )
        return None
    return Nrn(text, span)


def _choice(fields: Fields, name: str, allowed: tuple[str, ...]) -> str:
    """One of `allowed` (a word or a string); the first is the default."""
    found = fields.text(name, required=False, words=True)
    if found is None:
        return allowed[0]
    value, span = found
    if value not in allowed:
        fields.diagnostics.append(
            error(
                "RG012",
                span,
                f'`{name}` must be {" or ".join(allowed)}, not "{value}"',
                help=did_you_mean(value, allowed),
            )
        )
        return allowed[0]
    return value


def _dimensions(fields: Fields) -> tuple[tuple[str, str], ...]:
    """`dimensions = {"environment": "production"}`, sorted by key."""
    found: list[tuple[str, str]] = []
    node = fields.object("dimensions", required=False)
    for member in node.members if node else ():
        if isinstance(member.value, Scalar) and isinstance(member.value.value, str):
            found.append((member.key, member.value.value))
        else:
            fields.wrong(f"dimensions.{member.key}", member.value, "a string")
    return tuple(sorted(found))


def _strings(fields: Fields, name: str, wanted: str) -> list[Scalar]:
    """A list of strings, each with its span."""
    found = fields.take(name, required=False)
    if found is None:
        return []
    node = found[1]
    if not isinstance(node, Array):
        fields.wrong(name, node, wanted)
        return []
    items: list[Scalar] = []
    for item in node.items:
        if isinstance(item, Scalar) and isinstance(item.value, str):
            items.append(item)
        else:
            fields.wrong(name, item, wanted)
    return items


def _expiry(fields: Fields, name: str = "expires") -> tuple[datetime, Span] | None:
    """`expires = "2026-12-31"` (through the end of that day, UTC) or an RFC 3339 time."""
    found = fields.text(name)
    if found is None:
        return None
    return _moment(fields, name, *found)


def _moment(fields: Fields, name: str, text: str, span: Span) -> tuple[datetime, Span] | None:
    try:
        if re.fullmatch(r"\d{4}-\d{2}-\d{2}", text):
            day = datetime.fromisoformat(text).replace(tzinfo=UTC)
            return day + timedelta(days=1), span
        moment = datetime.fromisoformat(text)
        if moment.tzinfo is not None:
            return moment.astimezone(UTC), span
    except ValueError:
        pass
    fields.diagnostics.append(
        error(
            "RG012",
            span,
            f'`{name}` must be a date or an RFC 3339 time with a zone, not "{text}"',
            help='e.g. "2026-12-31" or "2026-12-31T18:00:00Z"',
        )
    )
    return None


SPECIFICATION_FIELDS = ("id", "name", "description", "entity", "metadata", "nrn", "schema")
POLICY_FIELDS = ("id", "name", "description", "nrn", "selector", "conditions")
ACTION_FIELDS = (
    "id",
    "entity",
    "action",
    "nrn",
    "dimensions",
    "on_policy_success",
    "on_policy_fail",
    "policies",
    "checklist",
    "on_checklist_fail",
    "time_to_reply",
    "allowed_time_to_execute",
    "enforcement",
)
# An action payload names its checklist by these (the second is the API's legacy mirror).
ACTION_PAYLOAD_FIELDS = (*ACTION_FIELDS, "checklist_specification_id", "checklist_template_id")
CHECKLIST_FIELDS = ("id", "name", "description", "nrn", "definition")
WAIVER_FIELDS = (
    "policy",
    "nrn",
    "dimensions",
    "owner",
    "reason",
    "compensating_controls",
    "expires",
    "review",
)
TEST_FIELDS = (
    "description",
    "request",
    "action",
    "nrn",
    "entities",
    "checklist",
    "now",
    "expect",
    "failing",
    "actions",
)
ENTITY_FIELDS = ("description", "actions", "sees", "attributes")
EXCEPTION_FIELDS = (
    "nrn",
    "rule",
    "package",
    "target",
    "owner",
    "reason",
    "compensating_controls",
    "expires",
    "review_trigger",
)
KNOWN_FIELDS = {
    "specification": SPECIFICATION_FIELDS,
    "policy": POLICY_FIELDS,
    "action": ACTION_FIELDS,
    "checklist": CHECKLIST_FIELDS,
    "waiver": WAIVER_FIELDS,
    "test": TEST_FIELDS,
    "entity": ENTITY_FIELDS,
    "exception": EXCEPTION_FIELDS,
}
# Fields the nullplatform API returns that say nothing a decision depends on: the
# object's life (`status` other than "deleted", dates, authors, versions), its
# organisation (also in its NRN), a checklist's derived expression and the actions
# a checklist lists as using it (each action payload says so itself).
PAYLOAD_IGNORED = (
    "status",
    "created_at",
    "updated_at",
    "created_by",
    "updated_by",
    "organization",
    "slug",
    "version",
    "versions",
    "current_version_id",
    "associated_actions",
    "associated_actions_count",
    "derived_expression",
)
CHECKLIST_OUTCOMES = ("deny", "pending", "manual")
RESULTS = ("approve", "manual", "pending", "deny")  # what a decision can be
EXECUTION_TRIGGERS = ("explicit", "automatic_approval", "any_approval")
ITEM_TYPES = ("condition", "manual", "external")
ITEM_BEHAVIORS = ("gate", "informational", "override")
ITEM_SEVERITIES = ("critical", "major", "minor", "info")
ITEM_FIELDS = (
    "id",
    "type",
    "behavior",
    "severity",
    "title",
    "description",
    "query",
    "applies_when",
    "external",
    "inputs",
    "validations",
)
ITEM_ID = re.compile(r"[a-z][a-z0-9_]{0,63}")
RESERVED_ITEM_IDS = ("and", "or", "not", "true", "false")
# Checklist ids as the API writes them (`tmpl_` before the rename to specifications).
CHECKLIST_ID = re.compile(r"(spec|tmpl)_[A-Za-z0-9]+")


def _object_id(fields: Fields) -> ObjectId | None:
    """`id = 1001`: the object's id in nullplatform, a number or the API's string."""
    found = fields.take("id", required=False)
    if found is None:
        return None
    node = found[1]
    if isinstance(node, Scalar) and (
        (isinstance(node.value, int) and not isinstance(node.value, bool) and node.value >= 0)
        or (isinstance(node.value, str) and node.value.strip() == node.value != "")
    ):
        return node.value
    fields.wrong("id", node, "a whole number or a non-empty string without spaces")
    return None


def _milliseconds(fields: Fields, name: str) -> int | None:
    """`time_to_reply = 259200000`: a duration in milliseconds, as nullplatform takes it."""
    found = fields.take(name, required=False)
    if found is None:
        return None
    node = found[1]
    if isinstance(node, Scalar) and _is_whole(node.value):
        return node.value
    fields.wrong(name, node, "a whole number of milliseconds, >= 0")
    return None


def _optional_choice(fields: Fields, name: str, allowed: tuple[str, ...]) -> str | None:
    """One of `allowed`, or None when not given."""
    return _choice(fields, name, allowed) if name in fields.values else None


def _selector(fields: Fields) -> tuple[Query | None, JsonValue]:
    """A policy's selector: a query deciding whether the policy takes part in a
    request; `{}` (nullplatform's default) and no selector always select."""
    node = fields.object("selector", required=False)
    if node is None:
        return None, None
    if not node.members:
        return None, {}
    selector, found = query.read_query(node, "selector")
    fields.diagnostics.extend(found)
    return selector, to_json(node)


def _specification(fields: Fields, name: str, source: Source) -> Specification | None:
    object_id = _object_id(fields)
    entity = fields.text("entity", words=True)
    metadata = fields.text("metadata", words=True)
    nrn = _nrn(fields)
    description = fields.text("description", required=False)
    schema_field = fields.take("schema")
    schema = None
    schema_span = fields.span
    if schema_field is not None:
        schema_span, node = schema_field[1].span, schema_field[1]
        if isinstance(node, Object):
            schema = _schema_value(node, fields.diagnostics)
        elif isinstance(node, Call) and node.function == "file" and not fields.is_payload:
            schema = _json_file(node, source, fields.diagnostics)
            if schema is not None and not isinstance(schema, dict | bool):
                fields.diagnostics.append(
                    error(
                        "RG012",
                        node.span,
                        f"{node.argument} holds {_A_VALUE[json_type(schema)]}, not a JSON Schema",
                        help="a JSON Schema is an object (or true or false)",
                    )
                )
                schema = None
        elif isinstance(node, Scalar) and isinstance(node.value, bool):
            schema = node.value
        else:
            fields.wrong("schema", node, 'a JSON Schema object or file("path.json")')
    fields.finish(PAYLOAD_IGNORED if fields.is_payload else ())
    if entity is None or metadata is None or nrn is None or schema is None:
        return None
    return Specification(
        name=name,
        entity=entity[0],
        entity_span=entity[1],
        metadata=metadata[0],
        metadata_span=metadata[1],
        nrn=nrn,
        schema=schema,
        schema_span=schema_span,
        span=fields.span,
        description=description[0] if description else "",
        id=object_id,
    )


# How a message names a JSON value by its type.
_A_VALUE = {
    "null": "null",
    "boolean": "a boolean",
    "integer": "a number",
    "number": "a number",
    "string": "a string",
    "array": "an array",
}


def _json_file(
    call: Call, source: Source, diagnostics: list[Diagnostic], inside: str = "a schema"
) -> object | None:
    """The JSON value of `file("path.json")`, a path relative to the source file."""
    node = _json_node(call, source, diagnostics)
    return _schema_value(node, diagnostics, inside) if node is not None else None


def _json_node(call: Call, source: Source, diagnostics: list[Diagnostic]) -> Node | None:
    """The JSON document `file("path.json")` names, as nodes."""
    import posixpath

    relative = posixpath.normpath(posixpath.join(posixpath.dirname(source.path), call.argument))
    root = source.path[: len(source.path) - len(source.name)].rstrip("/") or "."
    if not _within(relative, root):
        # A source is untrusted: it must not read (and show in a diagnostic) files of the
        # machine that checks it, such as a CI runner's keys.
        diagnostics.append(
            error(
                "RG001",
                call.span,
                f'file("{call.argument}") is outside the sources\' directory {root}',
                help="keep schemas and requests beside the sources, and name them relative "
                "to the file",
            )
        )
        return None
    text = read_text(relative, call.argument, span=call.span)
    if isinstance(text, Diagnostic):
        diagnostics.append(text)
        return None
    node, found = parse_json_document(Source(relative, relative, text, True))
    diagnostics.extend(found)
    return node


def _within(path: str, root: str) -> bool:
    """Whether `path`, links resolved, is `root` or below it."""
    try:
        real, top = os.path.realpath(path), os.path.realpath(root)
    except (OSError, ValueError):
        return False
    return real == top or real.startswith(top.rstrip(os.sep) + os.sep)


def _not_json(node: Node) -> Iterator[Call | Identifier]:
    """The calls and bare words inside a value: neither has a JSON value."""
    match node:
        case Call() | Identifier():
            yield node
        case Object(members=members):
            for member in members:
                yield from _not_json(member.value)
        case Array(items=items):
            for item in items:
                yield from _not_json(item)


# Bare words that stand for numbers JSON cannot write.
NOT_NUMBERS = frozenset({"nan", "infinity", "inf"})


def not_a_number(word: Identifier) -> Diagnostic:
    """RG016 for `NaN` or `Infinity` written as a bare word."""
    return error(
        "RG016",
        word.span,
        f"{word.name} is not a number JSON can hold",
        help="JSON numbers are finite: write a number, or leave the field out",
    )


def not_numbers(node: Node) -> list[Diagnostic]:
    """RG016 for each `NaN` or `Infinity` in a value, where a bare word would otherwise
    become the string "NaN"."""
    return [
        not_a_number(found)
        for found in _not_json(node)
        if isinstance(found, Identifier) and found.name.lower() in NOT_NUMBERS
    ]


def _schema_value(
    node: Node, diagnostics: list[Diagnostic], inside: str = "a schema"
) -> JsonValue | None:
    """Data (a schema, a test's request) as plain JSON.  A call or a bare word inside it
    has no JSON value, so each is an error: `NaN` must not become the string "NaN"."""
    problems = []
    for found in _not_json(node):
        if isinstance(found, Call):
            problems.append(
                error(
                    "RG012",
                    found.span,
                    f"`{found.function}(...)` is not a JSON value inside {inside}",
                    help=f'only the whole of {inside} may be `file("path.json")`',
                )
            )
        elif found.name.lower() in NOT_NUMBERS:
            problems.append(not_a_number(found))
        else:
            problems.append(
                error(
                    "RG012",
                    found.span,
                    f"`{found.name}` is a bare word inside {inside}, not a JSON value",
                    help=f'quote it: "{found.name}"',
                )
            )
    diagnostics.extend(problems)
    return None if problems else to_json(node)


def _policy(fields: Fields, name: str, name_span: Span) -> Policy | None:
    object_id = _object_id(fields)
    nrn = _nrn(fields)
    description = fields.text("description", required=False)
    selector, selector_value = _selector(fields)
    conditions_node = fields.object("conditions")
    fields.finish(PAYLOAD_IGNORED if fields.is_payload else ())
    if conditions_node is None:
        return None
    conditions, found = query.read_query(conditions_node)
    fields.diagnostics.extend(found)
    if nrn is None or conditions is None or (selector is None and selector_value):
        return None
    return Policy(
        name,
        nrn,
        conditions,
        to_json(conditions_node),
        name_span,
        description[0] if description else "",
        id=object_id,
        selector=selector,
        selector_value=selector_value,
    )


def derived_action_id(action: str, nrn: str, dimensions: Iterable[tuple[str, str]]) -> str:
    """The id of an action that has none, from what makes it unique in nullplatform
    (which refuses a second action with the same action, NRN and dimensions):
    `deployment:create@organization=1:account=2[environment=production]`."""
    pairs = ",".join(f"{key}={value}" for key, value in sorted(dimensions))
    return f"{action}@{nrn}" + (f"[{pairs}]" if pairs else "")


def _policy_refs(fields: Fields) -> tuple[list[PolicyRef], list[Policy]]:
    """An action's `policies`: names (resolved at its NRN and above), ids, and in an
    API response the associated policies themselves (each also declared) or
    `{"policy_id": ...}` association bodies."""
    found = fields.take("policies", required=False)
    if found is None:
        return [], []
    node = found[1]
    wanted = "a list of policy names, ids, or policy payloads"
    if not isinstance(node, Array):
        fields.wrong("policies", node, wanted)
        return [], []
    references: list[PolicyRef] = []
    embedded: list[Policy] = []
    for item in node.items:
        if isinstance(item, Scalar) and isinstance(item.value, str) and item.value:
            references.append(PolicyRef(item.value, item.span))
        elif isinstance(item, Scalar) and _is_whole(item.value):
            references.append(PolicyRef(None, item.span, id=item.value))
        elif (
            isinstance(item, Object)
            and item.get("policy_id") is not None
            and len(item.members) == 1
        ):
            target = cast(Member, item.get("policy_id")).value
            if isinstance(target, Scalar) and (
                _is_whole(target.value) or isinstance(target.value, str)
            ):
                references.append(PolicyRef(None, target.span, id=target.value))
            else:
                fields.wrong("policy_id", target, "a policy id")
        elif isinstance(item, Object) and payload_kind(item) == "policy":
            policy_fields = payload_fields("policy", item, fields.diagnostics)
            name = policy_fields.text("name")
            policy = _policy(policy_fields, *name) if name is not None else None
            if policy is None:
                continue
            embedded.append(policy)
            reference = (
                PolicyRef(None, item.span, id=policy.id)
                if policy.id is not None
                else (PolicyRef(policy.name, policy.span))
            )
            references.append(reference)
        else:
            fields.wrong("policies", item, wanted)
    return references, embedded


def _is_whole(value: object) -> TypeGuard[int]:
    return isinstance(value, int) and not isinstance(value, bool) and value >= 0


def _checklist_ref(fields: Fields) -> ChecklistRef | None:
    """`checklist = "Production readiness"` (a name, or an id `spec_...`); in a
    payload, `checklist_specification_id` or its legacy mirror `checklist_template_id`."""
    names = (
        ("checklist",)
        if not fields.is_payload
        else (
            "checklist",
            "checklist_specification_id",
            "checklist_template_id",
        )
    )
    found = [(name, fields.text(name, required=False)) for name in names]
    given = [(name, value) for name, value in found if value is not None]
    if not given:
        return None
    text, span = given[0][1]
    for name, (other, other_span) in given[1:]:
        if other != text:
            fields.diagnostics.append(
                error(
                    "RG046",
                    other_span,
                    f'`{name}` names checklist "{other}", `{given[0][0]}` "{text}"',
                    help="an action uses one checklist specification",
                )
            )
    if CHECKLIST_ID.fullmatch(text) or given[0][0] != "checklist":
        return ChecklistRef(None, span, id=text)
    return ChecklistRef(text, span)


def _action(fields: Fields, label: Scalar | None) -> tuple[Action | None, list[Policy]]:
    """An approval action, and the policies an API response embeds in it."""
    object_id = _object_id(fields)
    action = fields.text("action")
    entity = fields.text("entity", required=fields.is_payload, words=True)
    nrn = _nrn(fields)
    dimensions = _dimensions(fields)
    on_success = _choice(fields, "on_policy_success", OUTCOMES_ON_SUCCESS)
    on_fail = _choice(fields, "on_policy_fail", OUTCOMES_ON_FAIL)
    on_checklist_fail = _optional_choice(fields, "on_checklist_fail", CHECKLIST_OUTCOMES)
    enforcement = _choice(fields, "enforcement", ENFORCEMENTS)
    policies, embedded = _policy_refs(fields)
    checklist = _checklist_ref(fields)
    if fields.is_payload and checklist is not None:
        # The API still lists the policies a checklist replaced (archived on the
        # migration): nullplatform decides with the checklist.
        policies = []
    time_to_reply = _milliseconds(fields, "time_to_reply")
    time_to_execute = _milliseconds(fields, "allowed_time_to_execute")
    fields.finish(PAYLOAD_IGNORED if fields.is_payload else ())
    if action is None or nrn is None:
        return None, embedded
    name = str(label.value) if label is not None else None
    if object_id is not None:
        action_id, derived = object_id, False
    elif name is not None:
        action_id, derived, name = name, False, None
    else:
        action_id, derived = derived_action_id(action[0], nrn.text, dimensions), True
    entity_name, entity_span = entity if entity else (action[0].split(":")[0], action[1])
    declared = Action(
        id=action_id,
        entity=entity_name,
        entity_span=entity_span,
        action=action[0],
        action_span=action[1],
        nrn=nrn,
        dimensions=dimensions,
        on_policy_success=cast(Outcome, on_success),
        on_policy_fail=cast(Outcome, on_fail),
        policies=tuple(policies),
        span=label.span if label is not None else fields.span,
        id_is_derived=derived,
        enforcement=cast(Enforcement, enforcement),
        name=name,
        checklist=checklist,
        on_checklist_fail=cast(ChecklistOutcome | None, on_checklist_fail),
        time_to_reply=time_to_reply,
        allowed_time_to_execute=time_to_execute,
    )
    return declared, embedded


def _checklist(fields: Fields, name: str, name_span: Span) -> Checklist | None:
    object_id = _object_id(fields)
    nrn = _nrn(fields)
    description = fields.text("description", required=False)
    definition = fields.object("definition")
    fields.finish(PAYLOAD_IGNORED if fields.is_payload else ())
    if definition is None:
        return None
    reader = _DefinitionReader(fields.diagnostics)
    items = reader.items(definition)
    trigger = reader.trigger(definition)
    if nrn is None or items is None or trigger is None:
        return None
    return Checklist(
        name=name,
        nrn=nrn,
        items=items,
        execution_trigger=cast(ExecutionTrigger, trigger),
        definition=to_json(definition),
        span=name_span,
        description=description[0] if description else "",
        id=object_id,
    )


class _DefinitionReader:
    """A checklist specification's `definition`, as nullplatform's API validates it:
    a non-empty `items` list and an `execution_trigger`.  What regate cannot decide
    as nullplatform would (group items, a custom aggregation) is an error, never
    read as something weaker."""

    def __init__(self, diagnostics: list[Diagnostic]) -> None:
        self.diagnostics = diagnostics

    def fail(self, span: Span, message: str, help: str | None = None) -> None:
        self.diagnostics.append(error("RG045", span, message, help))

    def trigger(self, definition: Object) -> str | None:
        member = definition.get("execution_trigger")
        if member is None or (isinstance(member.value, Scalar) and member.value.value is None):
            return "explicit"
        value = member.value
        if isinstance(value, Scalar) and value.value in EXECUTION_TRIGGERS:
            return cast(str, value.value)
        self.fail(
            value.span,
            f"execution_trigger must be {alternatives(EXECUTION_TRIGGERS)}",
            help=did_you_mean(str(to_json(value)), EXECUTION_TRIGGERS),
        )
        return None

    def items(self, definition: Object) -> tuple[ChecklistItem, ...] | None:
        for member in definition.members:
            if member.key not in ("items", "execution_trigger"):
                supported = member.key == "aggregation"
                self.fail(
                    member.key_span,
                    f"`{member.key}` in a checklist definition is not supported"
                    if supported
                    else f"unknown field `{member.key}` in a checklist definition",
                    help="regate decides with nullplatform's default aggregation: every gate "
                    "item passes, or an override item passes"
                    if supported
                    else "a definition has `items` and `execution_trigger`",
                )
        listed = definition.get("items")
        if listed is None or not isinstance(listed.value, Array) or not listed.value.items:
            span = listed.value.span if listed else definition.span
            self.fail(span, "a checklist definition needs `items`, a non-empty list of items")
            return None
        items = [self.item(node) for node in listed.value.items]
        if any(item is None for item in items):
            return None
        checked = cast(list[ChecklistItem], items)
        seen: dict[str, ChecklistItem] = {}
        for item in checked:
            if item.id in seen:
                self.fail(item.span, f'a second item with id "{item.id}"', "item ids are unique")
            seen.setdefault(item.id, item)
        return tuple(checked)

    def text(self, item: Object, key: str, allowed: tuple[str, ...] | None) -> str | None:
        member = item.get(key)
        if member is None:
            return None
        value = member.value
        if (
            isinstance(value, Scalar)
            and isinstance(value.value, str)
            and (allowed is None or value.value in allowed)
        ):
            return value.value
        wanted = alternatives(allowed) if allowed else "a string"
        self.fail(
            value.span,
            f"item `{key}` must be {wanted}",
            help=did_you_mean(str(to_json(value)), allowed or ()),
        )
        return None

    def query(self, item: Object, key: str) -> tuple[Query | None, JsonValue, bool]:
        member = item.get(key)
        if member is None:
            return None, None, True
        if not isinstance(member.value, Object) or not member.value.members:
            self.fail(member.value.span, f"item `{key}` must be a non-empty query document")
            return None, None, False
        leaves_out = "applies_when" if key == "applies_when" else None
        found, problems = query.read_query(member.value, leaves_out)
        self.diagnostics.extend(problems)
        return found, to_json(member.value), found is not None

    def item(self, node: Node) -> ChecklistItem | None:
        if not isinstance(node, Object):
            self.fail(node.span, "a checklist item is an object")
            return None
        for member in node.members:
            if member.key not in ITEM_FIELDS:
                self.fail(
                    member.key_span,
                    f"unknown field `{member.key}` in a checklist item",
                    help=did_you_mean(member.key, ITEM_FIELDS),
                )
        item_id = self.text(node, "id", None)
        kind = self.text(node, "type", (*ITEM_TYPES, "group"))
        behavior = self.text(node, "behavior", ITEM_BEHAVIORS)
        severity = self.text(node, "severity", ITEM_SEVERITIES)
        title = self.text(node, "title", None)
        self.text(node, "description", None)
        condition, condition_value, condition_ok = self.query(node, "query")
        applies_when, applies_value, applies_ok = self.query(node, "applies_when")
        ok = condition_ok and applies_ok
        if item_id is None or not ITEM_ID.fullmatch(item_id) or item_id in RESERVED_ITEM_IDS:
            self.fail(
                node.span,
                "a checklist item needs an `id`: a lower-case word, at most 64 characters, "
                f"not {', '.join(RESERVED_ITEM_IDS)}",
            )
            ok = False
        if kind == "group":
            self.fail(
                cast(Member, node.get("type")).value.span,
                "group items are not supported",
                help="list the group's items in the checklist itself",
            )
            ok = False
        elif kind is None or behavior is None:
            if node.get("type") is None or node.get("behavior") is None:
                self.fail(node.span, "a checklist item needs `type` and `behavior`")
            ok = False
        elif kind == "condition" and condition is None and condition_ok:
            self.fail(node.span, "a condition item needs a `query`")
            ok = False
        elif kind != "condition" and node.get("query") is not None:
            self.fail(
                cast(Member, node.get("query")).key_span,
                f"a {kind} item has no `query`: its state comes with the request",
            )
            ok = False
        if not ok:
            return None
        return ChecklistItem(
            id=cast(str, item_id),
            type=cast(ItemType, kind),
            behavior=cast(ItemBehavior, behavior),
            span=node.span,
            severity=severity,
            title=title or "",
            query=condition,
            query_value=condition_value,
            applies_when=applies_when,
            applies_when_value=applies_value,
        )


def _waiver(fields: Fields, name: str, name_span: Span) -> Waiver | None:
    policy = fields.text("policy")
    nrn = _nrn(fields)
    dimensions = _dimensions(fields)
    owner = fields.text("owner")
    reason = fields.text("reason")
    controls = _strings(fields, "compensating_controls", "a list of strings")
    expires = _expiry(fields)
    review = fields.text("review", required=False)
    fields.finish()
    if policy is None or nrn is None or owner is None or reason is None or expires is None:
        return None
    return Waiver(
        name=name,
        policy=PolicyRef(*policy),
        nrn=nrn,
        dimensions=dimensions,
        owner=owner[0],
        reason=reason[0],
        compensating_controls=tuple(str(c.value) for c in controls),
        expires=expires[0],
        expires_span=expires[1],
        review=review[0] if review else "",
        span=name_span,
    )


# --- Entity blocks: the entity model beyond nullplatform's (docs/language.md) ---

# An entity's name is a path's first segment and an evidence key's (`ENTITY.KEY`).
ENTITY_NAME = re.compile(r"[a-z][a-z0-9_]{0,63}")
# Its actions are named as nullplatform names them: the entity, then what is done to it.
ACTION_WORD = r"[a-z][a-z0-9_-]{0,63}"


def _named_list(fields: Fields, name: str, wanted: str) -> tuple[Named, ...]:
    return tuple(Named(str(item.value), item.span) for item in _strings(fields, name, wanted))


def _entity(fields: Fields, name: str, name_span: Span) -> EntityDeclaration | None:
    description = fields.text("description", required=False)
    actions = _named_list(fields, "actions", "a list of approval action names")
    if actions and "sees" not in fields.values:
        fields.take("sees")  # RG011: what the actions' policies can read must be said
    sees = _named_list(fields, "sees", "a list of entity names")
    attributes_node = fields.object("attributes", required=False)
    fields.finish()
    if ENTITY_NAME.fullmatch(name) is None:
        fields.diagnostics.append(
            error(
                "RG012",
                name_span,
                f'an entity\'s name is a lower-case word, as paths start with it, not "{name}"',
                help='e.g. entity "merge_request" { ... }',
            )
        )
        return None
    # What is wrong is reported and left out; the rest is declared, so that the actions
    # and paths naming it are checked without noise.
    pattern = re.compile(rf"{re.escape(name)}(?::{ACTION_WORD})+")
    for action in actions:
        if pattern.fullmatch(action.text) is None:
            fields.diagnostics.append(
                error(
                    "RG141",
                    action.span,
                    f'"{action.text}" is not an approval action of "{name}": an action is the '
                    "entity's name and what is done to it, lower-case words joined by ':'",
                    help=f'e.g. "{name}:merge"',
                )
            )
    for seen in sees:
        if ENTITY_NAME.fullmatch(seen.text) is None:
            fields.wrong("sees", Scalar(seen.text, seen.span), "a list of entity names")
    attributes: dict[str, JsonValue] = {}
    spans: list[tuple[str, Span]] = []
    for member in attributes_node.members if attributes_node else ():
        if member.key in ("metadata", "dimensions") or "." in member.key or not member.key:
            fields.diagnostics.append(
                error(
                    "RG143",
                    member.key_span,
                    f'"{member.key}" cannot be a declared attribute'
                    + (
                        f": every entity has `{member.key}`"
                        if member.key in ("metadata", "dimensions")
                        else ": an attribute is one path segment"
                    ),
                    help="metadata is typed by specifications; dimensions are an object of strings",
                )
            )
        elif not isinstance(member.value, Object):
            fields.diagnostics.append(
                error(
                    "RG143",
                    member.value.span,
                    f'attribute "{member.key}" must be given a JSON Schema (an object)',
                    help='e.g. "iid": {"type": "integer"}',
                )
            )
        else:
            schema = _schema_value(member.value, fields.diagnostics)
            if schema is not None:
                attributes[member.key] = schema
                spans.append((member.key, member.value.span))
    return EntityDeclaration(
        name=name,
        actions=tuple(a for a in actions if pattern.fullmatch(a.text)),
        sees=tuple(s for s in sees if ENTITY_NAME.fullmatch(s.text)),
        attributes=attributes,
        attribute_spans=tuple(spans),
        span=name_span,
        description=description[0] if description else "",
    )


# --- Exception blocks: owned, time-bounded exceptions to findings (docs/decisions.md) ---


def _exception(fields: Fields, name: str, name_span: Span) -> FindingException | None:
    nrn = _nrn(fields)
    rule = fields.text("rule")
    package = fields.text("package", required=False)
    target = fields.text("target", required=False)
    # What makes an exception owned and time-bounded: required, with a code of its own.
    owned = {key: fields.text(key, required=False) for key in ("owner", "reason")}
    expires_text = fields.text("expires", required=False)
    controls = _strings(fields, "compensating_controls", "a list of strings")
    trigger = fields.text("review_trigger", required=False)
    fields.finish()
    missing = [key for key, found in (*owned.items(), ("expires", expires_text)) if not found]
    if missing:
        listed = ", ".join(f"`{key}`" for key in missing)
        fields.diagnostics.append(
            error(
                "RG144",
                name_span,
                f'exception "{name}" has no {listed}: an exception is owned, explained and '
                "time-bounded",
                help=" ".join(f"add `{key} = ...`;" for key in missing).rstrip(";"),
            )
        )
    for key, found in (("rule", rule), ("package", package), ("target", target)):
        if found is not None and not found[0].strip():
            fields.diagnostics.append(error("RG012", found[1], f"`{key}` is empty"))
            return None
    expires = _moment(fields, "expires", *expires_text) if expires_text else None
    owner, reason = owned["owner"], owned["reason"]
    if nrn is None or rule is None or owner is None or reason is None or expires is None:
        return None
    return FindingException(
        name=name,
        nrn=nrn,
        rule=rule[0],
        package=package[0] if package else None,
        target=target[0] if target else None,
        owner=owner[0],
        reason=reason[0],
        compensating_controls=tuple(str(c.value) for c in controls),
        expires=expires[0],
        expires_span=expires[1],
        review_trigger=trigger[0] if trigger else "",
        span=name_span,
    )


# --- Test blocks (docs/testing.md) ---


def _expand_paths(node: Object, diagnostics: list[Diagnostic]) -> dict[str, JsonValue]:
    """An object whose keys may be dotted paths, as nested objects:
    `{"build.metadata.coverage": {...}}` is `{"build": {"metadata": {"coverage": {...}}}}`."""
    expanded: dict[str, JsonValue] = {}
    for member in node.members:
        nested: JsonValue = (
            _expand_paths(member.value, diagnostics)
            if isinstance(member.value, Object)
            else to_json(member.value)
        )
        for key in reversed(member.key.split(".")):
            nested = {key: nested}
        if not _merge(expanded, nested):
            diagnostics.append(
                error(
                    "RG015",
                    member.key_span,
                    f'"{member.key}" sets a field that an earlier key of this object sets',
                    help="give each field once",
                )
            )
    return expanded


def _merge(into: dict[str, JsonValue], more: dict[str, JsonValue]) -> bool:
    """Merge `more` into `into`; False when both set the same field."""
    for key, value in more.items():
        if key not in into:
            into[key] = value
            continue
        both_objects = isinstance(into[key], dict) and isinstance(value, dict)
        if not both_objects or not _merge(into[key], value):
            return False
    return True


def _names(fields: Fields, name: str, wanted: str, ids: bool = False) -> tuple[Scalar, ...] | None:
    """A list of strings, such as `failing = ["Code Coverage"]` (with `ids`, numbers too:
    `actions = [1001]`)."""
    found = fields.take(name, required=False)
    if found is None:
        return None
    node = found[1]
    items = node.items if isinstance(node, Array) else ()
    if not isinstance(node, Array) or not all(
        isinstance(i, Scalar) and (isinstance(i.value, str) or (ids and _is_whole(i.value)))
        for i in items
    ):
        fields.wrong(name, node, wanted)
        return None
    return tuple(cast(Scalar, i) for i in items)


def _policy_test(fields: Fields, name: str, name_span: Span, source: Source) -> PolicyTest | None:
    request: JsonValue = None
    entities_node: Object | None = None
    action_span: Span | None = None
    request_field = fields.take("request", required=False)
    if request_field is not None:
        written = request_field[1]
        node: Node | None = written
        if isinstance(written, Call) and written.function == "file":
            node = _json_node(written, source, fields.diagnostics)
        elif not isinstance(written, Object):
            fields.wrong("request", written, 'a request object or file("request.json")')
            node = None
        if node is not None:
            request = _schema_value(node, fields.diagnostics, "a request")
            member = node.get("entities") if isinstance(node, Object) else None
            if member is not None and isinstance(member.value, Object):
                entities_node = member.value
        for given in ("action", "nrn", "entities", "checklist"):
            if given in fields.values:
                fields.diagnostics.append(
                    error(
                        "RG012",
                        fields.values.pop(given)[0],
                        f"a test gives either `request` or `{given}`, not both",
                        help="`request` is the whole input; `action`, `nrn` and `entities` "
                        "build one",
                    )
                )
    else:
        action = fields.text("action")
        nrn = _nrn(fields)
        entities_node = fields.object("entities", required=False)
        checklist = fields.object("checklist", required=False)
        plain = entities_node is None or (
            _schema_value(entities_node, fields.diagnostics, "a request") is not None
        )
        if action is not None and nrn is not None and plain:
            action_span = action[1]
            request = {
                "action": action[0],
                "nrn": nrn.text,
                "entities": _expand_paths(entities_node, fields.diagnostics)
                if entities_node
                else {},
                # The states of checklist items a person or another system reports.
                **({"checklist": to_json(checklist)} if checklist is not None else {}),
            }
    now_text = fields.text("now", required=False)
    now = _moment(fields, "now", *now_text) if now_text else None
    expect = fields.text("expect", words=True)
    if expect is not None and expect[0] not in RESULTS:
        fields.diagnostics.append(
            error(
                "RG012",
                expect[1],
                f'`expect` must be {alternatives(RESULTS)}, not "{expect[0]}"',
                help=did_you_mean(expect[0], RESULTS),
            )
        )
        expect = None
    fields.text("description", required=False)
    failing = _names(fields, "failing", "a list of policy names")
    applying = _names(fields, "actions", "a list of action ids", ids=True)
    fields.finish()
    if request is None or expect is None:
        return None
    return PolicyTest(
        name=name,
        request=request,
        expect=cast(Result, expect[0]),
        failing=tuple(PolicyRef(str(s.value), s.span) for s in failing)
        if failing is not None
        else None,
        applying=applying,
        span=name_span,
        entities=entities_node,
        dotted=request_field is None,
        action_span=action_span,
        now=now[0] if now else None,
    )


# --- Blocks (regate language) ---

BLOCK_KINDS = (
    "specification",
    "policy",
    "action",
    "checklist",
    "waiver",
    "exception",
    "entity",
    "test",
)


def _attributes(block: Block, diagnostics: list[Diagnostic]) -> dict[str, tuple[Span, Node]]:
    values: dict[str, tuple[Span, Node]] = {}
    for attribute in block.attributes:
        if attribute.name in values:
            diagnostics.append(
                error(
                    "RG013",
                    attribute.span,
                    f"`{attribute.name}` is given twice in this {block.kind}",
                    help=f"first given on line {values[attribute.name][0].line}",
                )
            )
            continue
        values[attribute.name] = (attribute.span, attribute.value)
    return values


def _from_blocks(blocks: list[Block], source: Source) -> tuple[SourceFile, list[Diagnostic]]:
    diagnostics: list[Diagnostic] = []
    found: dict[str, list[Any]] = {kind: [] for kind in BLOCK_KINDS}
    for block in blocks:
        if block.kind not in BLOCK_KINDS:
            diagnostics.append(
                error(
                    "RG010",
                    block.kind_span,
                    f"unknown block `{block.kind}`",
                    help=did_you_mean(block.kind, BLOCK_KINDS)
                    or f"blocks are {', '.join(BLOCK_KINDS)}",
                )
            )
            continue
        values = _attributes(block, diagnostics)
        known = KNOWN_FIELDS[block.kind]
        fields = Fields(block.kind, block.kind_span, values, diagnostics, False, known)
        declaration: object = None
        if block.kind == "action":
            declaration, embedded = _action(fields, block.label)
            found["policy"].extend(embedded)
        elif block.label is None or not block.label.value:
            diagnostics.append(
                error(
                    "RG011",
                    block.kind_span,
                    f"a {block.kind} needs a name",
                    help=f'write `{block.kind} "Name" {{ ... }}`',
                )
            )
        elif block.kind == "specification":
            declaration = _specification(fields, str(block.label.value), source)
        elif block.kind == "policy":
            declaration = _policy(fields, str(block.label.value), block.label.span)
        elif block.kind == "checklist":
            declaration = _checklist(fields, str(block.label.value), block.label.span)
        elif block.kind == "test":
            declaration = _policy_test(fields, str(block.label.value), block.label.span, source)
        elif block.kind == "entity":
            declaration = _entity(fields, str(block.label.value), block.label.span)
        elif block.kind == "exception":
            declaration = _exception(fields, str(block.label.value), block.label.span)
        else:
            declaration = _waiver(fields, str(block.label.value), block.label.span)
        if declaration is not None:
            found[block.kind].append(declaration)
    return _source_file(source.path, found), diagnostics


def _source_file(path: str, found: Mapping[str, list[Any]]) -> SourceFile:
    """A file's declarations, gathered by kind (a block's or a payload's)."""
    return SourceFile(
        path,
        **{
            field: tuple(found.get(kind, ()))
            for kind, field in (
                ("specification", "specifications"),
                ("policy", "policies"),
                ("action", "actions"),
                ("waiver", "waivers"),
                ("test", "tests"),
                ("checklist", "checklists"),
                ("association", "associations"),
                ("entity", "entities"),
                ("exception", "exceptions"),
            )
        },
    )


# --- JSON payloads ---

# The two list envelopes the API answers with: `{"paging": {...}, "results": [...]}`
# and, for checklist specifications, `{"results": [...], "total", "offset", "limit"}`.
LIST_KEYS = frozenset({"paging", "results", "total", "offset", "limit"})
ASSOCIATION_KEYS = ("approval_action_id", "approval_policy_id", "checklist_specification_id")


def payload_kind(node: Object) -> str | None:
    """Which API payload an object is, judged by the keys only that payload has."""
    keys = {m.key for m in node.members}
    if "conditions" in keys:
        return "policy"
    if "definition" in keys and "name" in keys:
        return "checklist"
    if "schema" in keys and "entity" in keys:
        return "specification"
    if "action" in keys and "entity" in keys and "entities" not in keys:
        # An entity hook action: when (before/after) an entity operation (on) a hook runs.
        return "hook" if keys & {"when", "on"} else "action"
    if "approval_action_id" in keys or keys == {"policy_id"}:
        return "association"
    if "results" in keys and keys <= LIST_KEYS:
        return "list"
    return None


def payload_fields(kind: str, node: Object, diagnostics: list[Diagnostic]) -> Fields:
    """A payload's members, to be read one by one.  The API writes `null` for what is
    not set (`"on_checklist_fail": null`); it reads as absent."""
    values = {
        m.key: (m.key_span, m.value)
        for m in node.members
        if not (isinstance(m.value, Scalar) and m.value.value is None)
    }
    return Fields(kind, node.span, values, diagnostics, True, KNOWN_FIELDS.get(kind, ()))


class _Payloads:
    """The declarations of a JSON source: payloads, lists of them and list envelopes."""

    def __init__(self, source: Source) -> None:
        self.source = source
        self.diagnostics: list[Diagnostic] = []
        self.found: dict[str, list[Any]] = defaultdict(list)

    def fail(self, code: str, span: Span, message: str, help: str | None = None) -> None:
        self.diagnostics.append(error(code, span, message, help))

    def objects(self, node: Node) -> list[Node]:
        """The payloads a document holds: itself, an array's items, a list's results."""
        if isinstance(node, Array):
            return [item for child in node.items for item in self.objects(child)]
        if isinstance(node, Object) and payload_kind(node) == "list":
            results = cast(Member, node.get("results")).value
            self.complete(node, results)
            return self.objects(results) if isinstance(results, Array) else [results]
        return [node]

    def complete(self, envelope: Object, results: Node) -> None:
        """A list holds every result, or the build would miss what later pages hold."""
        paging = envelope.get("paging")
        numbers = to_json(paging.value) if paging is not None else to_json(envelope)
        if not isinstance(numbers, dict) or not isinstance(results, Array):
            return
        total, offset = numbers.get("total"), numbers.get("offset") or 0
        if not (_is_whole(total) and _is_whole(offset)):
            return
        if offset + len(results.items) < total:
            self.fail(
                "RG059",
                envelope.span,
                f"this list holds results {offset + 1} to {offset + len(results.items)} of "
                f"{total}: the others would be missing from the bundle",
                help="fetch every page (raise `limit`, or follow `offset`) into the sources",
            )

    def deleted(self, node: Object) -> bool:
        status = node.get("status")
        if status is None or not isinstance(status.value, Scalar):
            return False
        if status.value.value != "deleted":
            return False
        self.diagnostics.append(
            warning(
                "RG017",
                status.value.span,
                "this object is deleted in nullplatform: it decides nothing, so it is not compiled",
                help="remove it from the sources",
            )
        )
        return True

    def read(self, node: Object, kind: str) -> None:
        fields = payload_fields(kind, node, self.diagnostics)
        if kind == "action":
            action, embedded = _action(fields, None)
            self.found["policy"].extend(embedded)
            if action is not None:
                self.found["action"].append(action)
            return
        if kind == "association":
            self.association(node)
            return
        name = fields.text("name")
        if name is None:
            return
        declaration: object
        if kind == "specification":
            declaration = _specification(fields, name[0], self.source)
        elif kind == "checklist":
            declaration = _checklist(fields, name[0], name[1])
        else:
            declaration = _policy(fields, name[0], name[1])
        if declaration is not None:
            self.found[kind].append(declaration)

    def association(self, node: Object) -> None:
        """`{"approval_action_id": 1001, "approval_policy_id": 2001}` (or
        `"checklist_specification_id"`), as the association resources hold them."""
        values = {m.key: m for m in node.members}
        action = values.get("approval_action_id")
        if action is None:
            self.fail(
                "RG019",
                node.span,
                "an association body names no approval action",
                help="the API takes it at /approval/action/<id>/policy; write it as "
                '{"approval_action_id": <id>, "approval_policy_id": <id>}',
            )
            return
        for key, member in values.items():
            if key not in ASSOCIATION_KEYS:
                self.fail(
                    "RG019",
                    member.key_span,
                    f"unknown field `{key}` in an association",
                    help=did_you_mean(key, ASSOCIATION_KEYS),
                )
        ids = {key: _id_value(member.value) for key, member in values.items()}
        targets = [k for k in ("approval_policy_id", "checklist_specification_id") if k in values]
        if ids["approval_action_id"] is None or len(targets) != 1 or ids[targets[0]] is None:
            self.fail(
                "RG019",
                node.span,
                "an association names one approval action and one policy or checklist, by id",
            )
            return
        target = values[targets[0]]
        span = target.value.span
        policy = (
            PolicyRef(None, span, id=ids[targets[0]]) if targets[0] == ASSOCIATION_KEYS[1] else None
        )
        checklist = None if policy else ChecklistRef(None, span, id=ids[targets[0]])
        association = Association(
            ids["approval_action_id"],
            action.value.span,
            policy,
            checklist,
            node.span,
        )
        self.found["association"].append(association)


def _id_value(node: Node) -> ObjectId | None:
    if isinstance(node, Scalar) and (_is_whole(node.value) or isinstance(node.value, str)):
        return node.value if node.value != "" else None
    return None


def _from_payloads(node: Node, source: Source) -> tuple[SourceFile | None, list[Diagnostic]]:
    payloads = _Payloads(source)
    objects = payloads.objects(node)
    kinds = [payload_kind(o) if isinstance(o, Object) else None for o in objects]
    if not any(kinds):
        if not source.explicit:
            return None, payloads.diagnostics  # a schema or a sample request met by a scan
        payloads.fail(
            "RG003",
            node.span,
            f"{source.path} is not a regate payload",
            help="a payload is a metadata specification, an approval policy, an approval "
            "action, a checklist specification or an association as the nullplatform API "
            "takes or returns it (or a JSON array or API list of them)",
        )
        return None, payloads.diagnostics
    for item, kind in zip(objects, kinds, strict=True):
        if not isinstance(item, Object) or kind is None:
            payloads.fail(
                "RG003",
                item.span,
                "not a metadata specification, approval policy, approval action, checklist "
                "specification or association payload",
            )
        elif kind == "hook":
            payloads.diagnostics.append(
                warning(
                    "RG018",
                    item.span,
                    "an entity hook action is not an approval action: it decides no approval, "
                    "so it is not compiled",
                    help="entity hooks notify a channel before or after an entity operation",
                )
            )
        elif not payloads.deleted(item):
            payloads.read(item, kind)
    return _source_file(source.path, payloads.found), payloads.diagnostics


def parse_json_document(source: Source) -> tuple[Node | None, list[Diagnostic]]:
    """A JSON document (comments and trailing commas allowed) as nodes with spans."""
    return _read(source, "value", _Reader.document)


def json_data(source: Source, inside: str) -> tuple[JsonValue, list[Diagnostic]]:
    """A JSON data file (a request, a schema) as a value; bare words, `NaN` and calls are
    errors, as duplicate keys and numbers out of range are.  The value is None when
    there are diagnostics."""
    node, diagnostics = parse_json_document(source)
    if node is None:
        return None, diagnostics
    value = _schema_value(node, diagnostics, inside)
    return (None if diagnostics else value), diagnostics


def parse_source(source: Source) -> tuple[SourceFile | None, list[Diagnostic]]:
    """One source file → its declarations and diagnostics."""
    if source.is_json:
        node, diagnostics = parse_json_document(source)
        if node is None:
            return None, diagnostics
        file, found = _from_payloads(node, source)
        return file, diagnostics + found
    blocks, diagnostics = read_blocks(source)
    if blocks is None:
        return None, diagnostics
    file, found = _from_blocks(blocks, source)
    return file, diagnostics + found


def parse(sources: Iterable[Source]) -> tuple[Program, list[Diagnostic]]:
    files: list[SourceFile] = []
    diagnostics: list[Diagnostic] = []
    for source in sources:
        file, found = parse_source(source)
        diagnostics.extend(found)
        if file is not None:
            files.append(file)
    return Program(_once_each(files)), diagnostics


def _once_each(files: list[SourceFile]) -> tuple[SourceFile, ...]:
    """The files with each policy declared once: API responses repeat a policy in
    every action that uses it.  A repeat is the same id with the same content;
    anything else is left for the checker to report (two policies, one id)."""
    seen: dict[str, Policy] = {}

    def first(policy: Policy) -> bool:
        if policy.id is None:
            return True
        earlier = seen.setdefault(str(policy.id), policy)
        return earlier is policy or not _same_policy(earlier, policy)

    return tuple(replace(f, policies=tuple(filter(first, f.policies))) for f in files)


def _same_policy(a: Policy, b: Policy) -> bool:
    return (a.name, a.nrn.text, a.conditions_value, a.selector_value or {}) == (
        b.name,
        b.nrn.text,
        b.conditions_value,
        b.selector_value or {},
    )
