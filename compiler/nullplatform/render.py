"""Imported objects → regate sources: one file per kind of block, each block after a
comment naming where it came from and what of it was not written, laid out by the
formatter."""

from __future__ import annotations

import json
import re
from collections.abc import Iterable

from compiler.ast import JsonValue
from compiler.fmt import format_text
from compiler.nullplatform.model import ATTRIBUTES, KINDS, OUTPUT_FILES, Imported

BARE_WORDS = (
    "entity",
    "metadata",
    "on_policy_success",
    "on_policy_fail",
    "on_checklist_fail",
    "enforcement",
)
WORD = re.compile(r"^[A-Za-z_][A-Za-z0-9_\-]*$")


def _comment(text: str) -> str:
    return "# " + " ".join(text.split())


def _value(attribute: str, value: JsonValue) -> str:
    if attribute in BARE_WORDS and isinstance(value, str) and WORD.match(value):
        return value
    if attribute == "dimensions" and isinstance(value, dict):
        value = dict(sorted(value.items()))  # a map: the parser sorts it too
    return json.dumps(value, ensure_ascii=False)


def _attribute(item: Imported, attribute: str, value: JsonValue) -> list[str]:
    """`name = value`; ids of policies and checklists carry the name as a comment."""
    if attribute == "policies" and isinstance(value, list) and item.named:
        lines = [f"  {attribute} = ["]
        for element in value:
            name = item.named.get(json.dumps(element))
            lines.append(f"    {_value(attribute, element)},")
            if name is not None and name.strip():
                lines[-1] += " " + _comment(name)
        return [*lines, "  ]"]
    line = f"  {attribute} = {_value(attribute, value)}"
    name = item.named.get(json.dumps(value)) if attribute == "checklist" else None
    # A name of white space only says nothing (and would leave a bare `#`).
    return [line + (" " + _comment(name) if name is not None and name.strip() else "")]


def block_text(item: Imported) -> str:
    lines = [_comment(f"imported from {item.origin}")]
    lines += [_comment(f"note: {note}") for note in item.notes]
    lines += [_comment(f"ignored: {ignored}") for ignored in item.ignored]
    lines += [_comment(f"not imported (--allow-lossy): {lost}") for lost in item.lossy]
    label = f" {json.dumps(item.label, ensure_ascii=False)}" if item.label is not None else ""
    lines.append(f"{item.kind}{label} {{")
    for attribute in ATTRIBUTES[item.kind]:
        if attribute in item.values:
            lines.extend(_attribute(item, attribute, item.values[attribute]))
    lines.append("}\n")
    return "\n".join(lines)


def render_sources(objects: Iterable[Imported]) -> dict[str, str]:
    """File name → formatted regate source, one file per kind of block."""
    blocks: dict[str, list[str]] = {}
    for item in objects:
        blocks.setdefault(item.kind, []).append(block_text(item))
    rendered: dict[str, str] = {}
    for kind in KINDS:
        if kind not in blocks:
            continue
        name = OUTPUT_FILES[kind]
        formatted = format_text("\n".join(blocks[kind]), name, False)
        assert isinstance(formatted, str), (
            f"import wrote a source the formatter cannot read: {formatted}"
        )
        rendered[name] = formatted
    return rendered
