"""The one way text reaches Rego.

Every value a template prints must be `RegoText`, and only the functions here
make it: the emitter's Jinja environment refuses anything else.  So a policy
name, a path or a value from a source can only reach Rego as an escaped literal,
a checked identifier or a comment that cannot end early.
"""

from __future__ import annotations

import json
import re
import unicodedata

from markupsafe import Markup

from compiler.ast import JsonValue

# Rego v1 keywords and names a rule must not take.
RESERVED = frozenset(
    [
        "as",
        "contains",
        "data",
        "default",
        "else",
        "every",
        "false",
        "if",
        "import",
        "in",
        "input",
        "not",
        "null",
        "package",
        "some",
        "true",
        "with",
        "future",
        "rego",
    ]
)
# \Z, not $: `$` also matches before a final newline ("if\n").
IDENTIFIER = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*\Z")
# The keywords `opa fmt` keeps in brackets when they key a ref (`x["if"]`); the
# other reserved names it writes with a dot (`x.data`).
REF_KEYWORDS = RESERVED - {"data", "input", "future", "rego"}


class RegoText(Markup):
    """Text already safe to place in Rego source.

    A `Markup` so that Jinja, with autoescape on, treats it and the output of
    macros built from it as final; compiler/emit.py refuses every other value."""


# Regal's style/line-length allows 120 characters; a composite literal longer than
# this on one line is written over several when its indentation is known, one element
# or member per line with trailing commas (`opa fmt` keeps them so).
INLINE_WIDTH = 60


def literal(value: JsonValue, depth: int | None = None) -> RegoText:
    """A JSON value as a Rego term: strings escaped, non-ASCII as \\u escapes; at
    indentation `depth`, an array or object too long for a line over several."""
    one_line = _one_line(value)
    if depth is None or len(one_line) <= INLINE_WIDTH or not value:
        return RegoText(one_line)
    if isinstance(value, list):
        return _lines("[", [literal(item, depth + 1) for item in value], "]", depth)
    if isinstance(value, dict):
        members = [f"{_one_line(key)}: {literal(value[key], depth + 1)}" for key in sorted(value)]
        return _lines("{", members, "}", depth)
    return RegoText(one_line)


def _one_line(value: JsonValue) -> str:
    return json.dumps(value, ensure_ascii=True, sort_keys=True, allow_nan=False)


def _lines(opening: str, items: list[str], closing: str, depth: int) -> RegoText:
    inner = "\t" * (depth + 1)
    return RegoText(
        "\n".join([opening, *(f"{inner}{item}," for item in items), "\t" * depth + closing])
    )


def identifier(name: str) -> RegoText:
    """A name regate generated (rule or helper name), checked to be a plain identifier."""
    if not IDENTIFIER.match(name) or name in RESERVED:
        raise ValueError(f"not a safe Rego identifier: {name!r}")
    return RegoText(name)


def is_field_name(key: str) -> bool:
    """A key a ref names with a dot (`input.entities.build`), as `opa fmt` writes it."""
    return bool(IDENTIFIER.match(key)) and key not in REF_KEYWORDS


def fields(keys: tuple[str, ...]) -> RegoText:
    """`.a.b`: a ref's suffix of plain field names (is_field_name), checked."""
    if not all(is_field_name(key) for key in keys):
        raise ValueError(f"not plain field names: {keys!r}")
    return RegoText("".join(f".{key}" for key in keys))


def member(key: str) -> RegoText:
    """A ref's step to `key`, as `opa fmt` writes it: `.key`, or `["a-b"]`."""
    return RegoText(f".{key}" if is_field_name(key) else f"[{literal(key)}]")


def set_of(values: list[JsonValue] | tuple[JsonValue, ...], depth: int | None = None) -> RegoText:
    """A Rego set of JSON values: `{"a", "b"}`, or `set()` when empty; at indentation
    `depth`, one value per line when too long for one."""
    if not values:
        return RegoText("set()")
    one_line = "{" + ", ".join(literal(value) for value in values) + "}"
    if depth is None or len(one_line) <= INLINE_WIDTH:
        return RegoText(one_line)
    return _lines("{", [literal(value, depth + 1) for value in values], "}", depth)


def tabs(depth: int) -> RegoText:
    """Indentation, as `opa fmt` writes it."""
    return RegoText("\t" * depth)


def comment(text: str) -> RegoText:
    """Text for a `#` comment: one line, every unprintable character a space."""
    cleaned = "".join(
        ch if ch.isprintable() and ch not in "\u2028\u2029" else " " for ch in str(text)
    )
    return RegoText(cleaned)


def slug(name: str) -> str:
    """A policy name as a rule name: `Code Coverage` → `code_coverage`."""
    ascii_name = unicodedata.normalize("NFKD", name).encode("ascii", "ignore").decode()
    words = re.sub(r"[^a-z0-9]+", "_", ascii_name.lower()).strip("_")
    if not words or words[0].isdigit() or words in RESERVED:
        words = f"policy_{words}".rstrip("_")
    return words


def id_order(value: int | str) -> tuple[bool, int, str]:
    """Ids in the order Rego's `sort` puts them: numbers (by value) before strings."""
    if isinstance(value, str):
        return True, 0, value
    return False, value, ""
