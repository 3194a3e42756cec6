"""A tolerant reading of a source as it is being typed, for the language server.

The parser (compiler/parse.py) reads whole, correct files.  While an author types,
the text around the cursor is usually not correct yet (an open string, a missing
brace), yet completion must know where the cursor stands: in which block, under
which attribute and keys, at a key or at a value.  This scanner reads the same
tokens as the grammar, never fails, and records each block, object and array with
its extent, the key it is the value of, and its scalar members (`nrn`, `name`).
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Literal

_TOKEN = re.compile(
    r"""
     (?P<space>\s+)
    |(?P<comment>\#[^\n]*|//[^\n]*|/\*(?:.|\n)*?(?:\*/|\Z))
    |(?P<string>"(?:[^"\\\n]|\\.)*(?:"|(?=\n)|\Z))
    |(?P<punct>[{}\[\]:,=()])
    |(?P<operator>\$[A-Za-z]*)
    |(?P<name>[A-Za-z_][A-Za-z0-9_\-]*)
    |(?P<number>-?[0-9][0-9.eE+\-]*)
    |(?P<other>.)
    """,
    re.VERBOSE,
)

TokenKind = Literal["string", "punct", "operator", "name", "number", "other"]
FrameKind = Literal["block", "object", "array"]
Role = Literal["block", "attribute", "key", "value", "none"]


@dataclass(frozen=True)
class Token:
    kind: TokenKind
    text: str
    start: int
    end: int

    @property
    def closed(self) -> bool:
        """A string with its closing quote (an unterminated one ends the line)."""
        return self.kind != "string" or (len(self.text) > 1 and self.text.endswith('"'))

    @property
    def value(self) -> str:
        """A string's characters (escapes decoded where they can be), or the token's text."""
        if self.kind != "string":
            return self.text
        inner = self.text[1:-1] if self.closed else self.text[1:]
        try:
            return str(json.loads(f'"{inner}"'))
        except json.JSONDecodeError:
            return inner


def tokens(text: str) -> Iterator[Token]:
    for match in _TOKEN.finditer(text):
        kind = match.lastgroup
        if kind not in ("space", "comment"):
            yield Token(kind, match.group(), match.start(), match.end())  # type: ignore[arg-type]


@dataclass
class Frame:
    """A block, object or array: where it is and whose value it is."""

    kind: FrameKind
    start: int  # its opening brace or bracket
    key: str | None  # the attribute or member key it is the value of (None: an array item)
    parent: Frame | None
    block: str | None = None  # a block's kind: policy, action, ...
    label: Token | None = None  # a block's label
    end: int | None = None  # past its closing bracket; None while open
    members: dict[str, Token] = field(default_factory=dict)  # its scalar members by key
    children: list[Frame] = field(default_factory=list)  # the containers directly inside
    # Where the reader stands inside it: expecting an attribute or key, `=` or `:`,
    # a value, or a comma; and the key being read.
    state: str = "key"
    pending: str | None = None

    def chain(self) -> list[Frame]:
        """This frame and its ancestors, outermost first."""
        found: list[Frame] = []
        frame: Frame | None = self
        while frame is not None:
            found.append(frame)
            frame = frame.parent
        return found[::-1]

    @property
    def top(self) -> Frame:
        return self.chain()[0]


class _Reader:
    """The grammar's structure read token by token, recovering from anything."""

    def __init__(self, is_json: bool) -> None:
        self.is_json = is_json
        self.stack: list[Frame] = []
        self.frames: list[Frame] = []
        self.header: list[Token] = []  # a block's kind and label, before its "{"

    @property
    def frame(self) -> Frame | None:
        return self.stack[-1] if self.stack else None

    def open(self, kind: FrameKind, token: Token, key: str | None) -> None:
        frame = Frame(
            kind, token.start, key, self.frame, state="value" if kind == "array" else "key"
        )
        if kind == "block":
            frame.block = self.header[0].text if self.header else None
            frame.label = self.header[1] if len(self.header) > 1 else None
            self.header = []
        if frame.parent is not None:
            frame.parent.children.append(frame)
        self.frames.append(frame)
        self.stack.append(frame)

    def close(self, token: Token) -> None:
        closing = {"}": ("object", "block"), "]": ("array",)}[token.text]
        if not any(f.kind in closing for f in self.stack):
            return  # a stray closer: ignored
        while self.stack:
            frame = self.stack.pop()
            frame.end = token.end
            if frame.kind in closing:
                break
        if self.frame is not None:
            self.frame.state = "attribute" if self.frame.kind == "block" else "comma"
            self.frame.pending = None

    def feed(self, token: Token) -> None:
        frame = self.frame
        if token.text in ("}", "]") and token.kind == "punct":
            self.close(token)
        elif frame is None:
            self._top(token)
        elif frame.kind == "block":
            self._in_block(frame, token)
        else:
            self._in_container(frame, token)

    def _top(self, token: Token) -> None:
        if self.is_json:
            if token.text in ("{", "["):
                self.open("object" if token.text == "{" else "array", token, None)
        elif token.kind == "name":
            self.header = [token]
        elif token.kind == "string" and len(self.header) == 1:
            self.header.append(token)
        elif token.text == "{":
            self.open("block", token, None)

    def _value(self, frame: Frame, token: Token) -> None:
        """A value where `frame` expects one: a container opens, a scalar is recorded."""
        if token.text == "{":
            self.open("object", token, frame.pending)
            return
        if token.text == "[":
            self.open("array", token, frame.pending)
            return
        if frame.pending is not None and token.kind in ("string", "name", "number"):
            frame.members[frame.pending] = token
        frame.state = "attribute" if frame.kind == "block" else "comma"
        if frame.kind != "array":
            frame.pending = None

    def _in_block(self, frame: Frame, token: Token) -> None:
        if frame.state == "value":
            self._value(frame, token)
        elif token.kind == "name" and frame.state in ("key", "attribute"):
            frame.pending, frame.state = token.text, "equals"
        elif token.text == "=" and frame.state == "equals":
            frame.state = "value"

    def _in_container(self, frame: Frame, token: Token) -> None:
        if token.text == ",":
            frame.state = "value" if frame.kind == "array" else "key"
            frame.pending = frame.key if frame.kind == "array" else None
        elif frame.kind == "array":
            if frame.state == "value":
                frame.pending = None
                self._value(frame, token)
        elif frame.state == "key" and token.kind in ("string", "name", "operator"):
            frame.pending, frame.state = token.value, "colon"
        elif token.text == ":" and frame.state == "colon":
            frame.state = "value"
        elif frame.state == "value":
            self._value(frame, token)


@dataclass(frozen=True)
class Scan:
    """A whole document read tolerantly: its tokens and frames."""

    text: str
    is_json: bool
    tokens: tuple[Token, ...]
    frames: tuple[Frame, ...]

    def token_at(self, offset: int, typing: bool = False) -> Token | None:
        """The token under the cursor.  `typing`: the one the cursor is typing into (a
        string the cursor is inside, or a word it ends), as completion wants."""
        for token in self.tokens:
            if token.start > offset:
                break
            if token.kind == "punct" or token.kind == "other":
                continue
            if typing:
                inside = token.start < offset < token.end or (
                    offset == token.end and (not token.closed or token.kind != "string")
                )
            else:
                inside = token.start <= offset <= token.end
            if inside:
                return token
        return None

    def cursor(self, offset: int, typing: bool = False) -> Cursor:
        """Where the cursor stands: the frames around it, and whether it is at a key or a value."""
        current = self.token_at(offset, typing)
        limit = current.start if current is not None else offset
        reader = _Reader(self.is_json)
        for token in self.tokens:
            if token.end > limit:
                break
            reader.feed(token)
        frame = reader.frame
        if frame is None:
            role: Role = "none" if self.is_json else "block"
        elif frame.kind == "array" or frame.state == "value":
            role = "value"
        elif frame.kind == "block" and frame.state in ("key", "attribute"):
            role = "attribute"
        elif frame.state == "key":
            role = "key"
        else:
            role = "none"
        # The prefix reader's frames are open; the whole scan knows their extents and members.
        known = {f.start: f for f in self.frames}
        chain = [known.get(f.start, f) for f in frame.chain()] if frame else []
        key = frame.pending if frame is not None and role == "value" else None
        if frame is not None and frame.kind == "array":
            key = frame.key
        return Cursor(offset, current, chain, role, key)


@dataclass(frozen=True)
class Cursor:
    offset: int
    token: Token | None
    frames: list[Frame]  # outermost first
    role: Role
    key: str | None  # at a value: the attribute or member key it is the value of

    @property
    def frame(self) -> Frame | None:
        return self.frames[-1] if self.frames else None

    def typed(self) -> str:
        """What the token under the cursor holds before the cursor (its quote left out)."""
        token = self.token
        if token is None:
            return ""
        skip = 1 if token.kind == "string" else 0
        return token.text[skip : max(skip, self.offset - token.start)]


def scan(text: str, is_json: bool) -> Scan:
    reader = _Reader(is_json)
    found = tuple(tokens(text))
    for token in found:
        reader.feed(token)
    for frame in reader.stack:  # left open: they run to the end
        frame.end = len(text)
    return Scan(text, is_json, found, tuple(reader.frames))
