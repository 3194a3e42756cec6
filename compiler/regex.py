"""MongoDB (PCRE) regular expressions → RE2, the dialect of Rego's `regex.match`.

MongoDB matches `$regex` with PCRE; OPA with Go's RE2.  Most patterns mean the
same in both.  This module folds `$options` into RE2 flags, removes what the `x`
option ignores, rewrites the few constructs whose meaning differs (`$` and `\\Z`
also match before a final newline in PCRE), and rejects, with a reason, the
PCRE constructs RE2 cannot express (look-around, back-references, possessive
quantifiers, atomic groups, ...).  Unsupported constructs are found by a scan
that tracks escapes and character classes, so `[(?=]` is not a look-ahead.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

# `u` (UTF-8) is accepted since MongoDB 5.1 and changes nothing: patterns and
# strings are always UTF-8, in MongoDB as in RE2.
OPTIONS = "imsxu"
# PCRE's end-of-subject-or-before-final-newline, in RE2.
_END = r"(?:\n?\z)"
# Escapes (a backslash and a letter) that RE2 knows; digits are handled apart.
_RE2_LETTER_ESCAPES = frozenset("afnrtvxdDsSwWbBAzpP")
# Characters with a meaning in RE2, escaped when they stand for themselves.
_RE2_SPECIAL = frozenset("\\.+*?()|[]{}^$")
# `(?flags)` or `(?flags:`; RE2 knows the flags i m s U.
_INLINE_FLAGS = re.compile(r"\(\?([A-Za-z-]+)[:)]")
_GROUP_PREFIXES = (
    ("(?=", "look-ahead"),
    ("(?!", "negative look-ahead"),
    ("(?<=", "look-behind"),
    ("(?<!", "negative look-behind"),
    ("(?>", "atomic group"),
    ("(?|", "branch-reset group"),
    ("(?(", "conditional group"),
    ("(?R", "recursion"),
    ("(?&", "subroutine call"),
    ("(?P=", "named back-reference"),
    ("(?P>", "subroutine call"),
    ("(?#", "comment group"),
    ("(*", "backtracking verb"),
)
_ESCAPE_NAMES = {
    "k": "named back-reference",
    "g": "back-reference",
    "G": "\\G anchor",
    "K": "\\K match reset",
    "R": "\\R line break",
    "X": "\\X grapheme",
    "h": "\\h horizontal space",
    "H": "\\H",
    "V": "\\V",
    "N": "\\N",
    "C": "\\C single byte",
    "e": "\\e escape",
    "c": "\\c control character",
}


@dataclass(frozen=True)
class Unsupported:
    """Why a pattern cannot run on RE2: `construct` at character `offset` of the pattern."""

    construct: str
    offset: int


def translate(pattern: str, options: str) -> str | Unsupported:
    """The RE2 pattern matching what MongoDB's `{$regex: pattern, $options: options}` matches."""
    if "x" in options:
        pattern = _strip_extended(pattern)
    found = _scan(pattern, multiline="m" in options)
    if isinstance(found, Unsupported):
        return found
    flags = "".join(f for f in "ims" if f in options)
    return f"(?{flags}){found}" if flags else found


def _scan(pattern: str, multiline: bool) -> str | Unsupported:
    out: list[str] = []
    in_class = False
    i = 0
    while i < len(pattern):
        ch = pattern[i]
        if pattern.startswith("\\Q", i):
            # PCRE quoting: everything up to `\E` (or the end) is literal text.
            text, i = _quoted(pattern, i)
            out.append("".join(f"\\{c}" if c in _RE2_SPECIAL else c for c in text))
            continue
        if ch == "\\":
            escaped = pattern[i + 1 : i + 2]
            if escaped.isdigit() and escaped != "0" and not in_class:
                return Unsupported(f"back-reference \\{escaped}", i)
            if escaped == "E":  # an `\\E` without `\\Q`: PCRE ignores it
                i += 2
                continue
            if escaped == "Z" and not in_class:
                out.append(r"\z" if multiline else _END)
                i += 2
                continue
            if escaped in _ESCAPE_NAMES:
                return Unsupported(_ESCAPE_NAMES[escaped], i)
            if escaped.isalpha() and escaped not in _RE2_LETTER_ESCAPES:
                return Unsupported(f"escape \\{escaped}", i)
            out.append(pattern[i : i + 2])
            i += 2
            continue
        if in_class:
            if ch == "]":
                in_class = False
            out.append(ch)
            i += 1
            continue
        if ch == "[":
            in_class = True
            out.append(ch)
            # A `]` right after `[` or `[^` is a literal member, not the end.
            rest = pattern[i + 1 :]
            lead = "^]" if rest.startswith("^]") else "]" if rest.startswith("]") else ""
            out.append(lead)
            i += 1 + len(lead)
            continue
        for prefix, name in _GROUP_PREFIXES:
            if pattern.startswith(prefix, i):
                return Unsupported(name, i)
        flags = _INLINE_FLAGS.match(pattern, i)
        if flags and set(flags.group(1)) - set("imsU-"):
            return Unsupported(f"inline flags {flags.group(0)}", i)
        if ch in "*+?}" and pattern[i + 1 : i + 2] == "+":
            return Unsupported("possessive quantifier", i)
        if ch == "$" and not multiline:
            out.append(_END)
        else:
            out.append(ch)
        i += 1
    return "".join(out)


def _quoted(pattern: str, start: int) -> tuple[str, int]:
    """The literal text of the `\\Q...\\E` at `start`, and where the pattern goes on."""
    end = pattern.find("\\E", start + 2)
    if end < 0:
        return pattern[start + 2 :], len(pattern)
    return pattern[start + 2 : end], end + 2


def _strip_extended(pattern: str) -> str:
    """Drop what the `x` option ignores: unescaped whitespace and `#` comments
    outside character classes."""
    out: list[str] = []
    in_class = False
    i = 0
    while i < len(pattern):
        ch = pattern[i]
        if pattern.startswith("\\Q", i):
            # Quoted text keeps its whitespace and `#`.
            start = i
            _, i = _quoted(pattern, i)
            out.append(pattern[start:i])
            continue
        if ch == "\\":
            out.append(pattern[i : i + 2])
            i += 2
            continue
        if in_class:
            in_class = ch != "]"
        elif ch == "[":
            in_class = True
        elif ch.isspace():
            i += 1
            continue
        elif ch == "#":
            newline = pattern.find("\n", i)
            i = len(pattern) if newline < 0 else newline + 1
            continue
        out.append(ch)
        i += 1
    return "".join(out)


def is_valid_syntax(pattern: str) -> bool:
    """A coarse syntax check (balanced groups, valid quantifiers) before RE2 sees it,
    with Python's `re` standing in for RE2 where their syntax agrees."""
    as_python = _PYTHON_SPELLING.sub(
        lambda m: {"\\z": "\\Z", "(?<": "(?P<"}.get(m.group(0), "."), pattern
    )
    try:
        re.compile(as_python)
    except re.error:
        return False
    return True


# RE2 spellings Python's `re` lacks: `\z`, `(?<name>`, `\p{Greek}` / `\pL`.
_PYTHON_SPELLING = re.compile(r"\\z|\(\?<(?=[A-Za-z_])|\\[pP](?:\{[^}]*\}|[A-Za-z])")
