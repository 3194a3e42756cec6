"""Terraform text, laid out as `terraform fmt` lays it out: two-space indentation, the
`=` of consecutive one-line attributes aligned, strings escaped so that Terraform
reads back exactly the value written."""

from __future__ import annotations

import json
import re
from collections.abc import Sequence

from compiler.ast import JsonValue

INDENT = "  "
IDENTIFIER = re.compile(r"[A-Za-z_][A-Za-z0-9_-]*")
# Words HCL reads as something else where a bare key stands.
KEYWORDS = frozenset({"true", "false", "null", "for", "in", "if", "else", "endif", "endfor"})
_ESCAPES = {'"': '\\"', "\\": "\\\\", "\n": "\\n", "\r": "\\r", "\t": "\\t"}


def string(text: str) -> str:
    escaped = []
    for character in text:
        if character in _ESCAPES:
            escaped.append(_ESCAPES[character])
        elif ord(character) < 0x20 or ord(character) == 0x7F:
            escaped.append(f"\\u{ord(character):04x}")
        else:
            escaped.append(character)
    # `${` and `%{` would start a template: `\u007b` is the brace, read as text.
    return '"' + "".join(escaped).replace("${", "$\\u007b").replace("%{", "%\\u007b") + '"'


def key(text: str) -> str:
    return text if IDENTIFIER.fullmatch(text) and text not in KEYWORDS else string(text)


def value(item: JsonValue, depth: int = 0) -> str:
    """A JSON value as an HCL expression (objects one member per line)."""
    if item is None:
        return "null"
    if isinstance(item, bool):
        return "true" if item else "false"
    if isinstance(item, int | float):
        return json.dumps(item)
    if isinstance(item, str):
        return string(item)
    inner = INDENT * (depth + 1)
    if isinstance(item, list):
        parts = [value(element, depth + 1) for element in item]
        flat = "[" + ", ".join(parts) + "]"
        if "\n" not in flat and len(flat) + len(inner) <= 100:
            return flat
        return "[\n" + "".join(f"{inner}{part},\n" for part in parts) + INDENT * depth + "]"
    if not item:
        return "{}"
    members = [(key(k), value(v, depth + 1)) for k, v in item.items()]
    # A small object of scalars on one line, as `{ "$gte" = 80 }`.
    flat = "{ " + ", ".join(f"{k} = {v}" for k, v in members) + " }"
    scalars = not any(isinstance(v, dict | list) for v in item.values())
    if scalars and len(item) <= 2 and len(flat) + len(inner) <= 80:
        return flat
    return "{\n" + attributes(members, depth + 1) + INDENT * depth + "}"


def attributes(pairs: Sequence[tuple[str, str]], depth: int) -> str:
    """`name = value` lines; the `=` of each run of one-line values aligned."""
    lines: list[str] = []
    run: list[tuple[str, str]] = []

    def flush() -> None:
        width = max((len(name) for name, _ in run), default=0)
        lines.extend(f"{INDENT * depth}{name.ljust(width)} = {text}\n" for name, text in run)
        run.clear()

    # A multi-line value ends its run: the next line is not the next attribute's.
    for name, text in pairs:
        run.append((name, text))
        if "\n" in text:
            flush()
    flush()
    return "".join(lines)


def block(header: str, pairs: Sequence[tuple[str, str]], inner: Sequence[str] = ()) -> str:
    """`header {` the attributes, then nested blocks, `}`."""
    body = attributes(pairs, 1)
    for nested in inner:
        body += "\n" + "".join(
            f"{INDENT}{line}\n" if line else "\n" for line in nested.rstrip("\n").split("\n")
        )
    return f"{header} {{\n{body}}}\n"
