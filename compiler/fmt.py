"""Formatter: one canonical layout for regate sources and JSON payload files.

The layout depends on the content only, never on how the input was laid out:
blocks one after another with one blank line between them, one attribute per
line with the `=` signs aligned as `terraform fmt` aligns them, object keys as
JSON strings, and a value on one line when it fits in WIDTH columns and holds no
comment (else one member or item per line).  `conditions` and `schema` objects
are always one member per line, as is the top value of a JSON file.  Comments
are kept where they were relative to the code, and a blank line between two
lines of the input is kept (one at most).

The grammar %ignores comments, so the formatter's own parser collects them with
Lark lexer callbacks and places each one before, after or inside the nearest
item by its offset.  Formatting never changes meaning: the result is parsed
again and compared with the input before anyone writes it.
"""

from __future__ import annotations

import difflib
import json
import sys
from bisect import bisect_right
from collections.abc import Iterator
from dataclasses import dataclass, field
from functools import cache
from typing import Literal

import click
from lark import Lark, Token, Tree
from lark.exceptions import UnexpectedInput

from compiler import __version__
from compiler.ast import Span
from compiler.bundle import write_atomically, write_failed
from compiler.diagnostics import Diagnostic, error, render
from compiler.parse import syntax_error
from compiler.resources import resource_dir

WIDTH = 100
INDENT = "  "
ALWAYS_EXPANDED = frozenset({"conditions", "schema"})

ItemKind = Literal["block", "attribute", "member", "element"]


@dataclass(frozen=True)
class Comment:
    text: str
    start: int
    end: int


@dataclass(frozen=True)
class Atom:
    """A scalar, bare word or call, already in canonical spelling."""

    text: str
    start: int
    end: int


@dataclass(frozen=True)
class Container:
    """An object, an array or a block body: items between brackets."""

    open: str
    close: str
    items: tuple[Item, ...]
    start: int  # offset of the opening bracket
    end: int  # offset just past the closing bracket


@dataclass(frozen=True)
class Item:
    """One line-level element: a block, an attribute, an object member or an array element."""

    kind: ItemKind
    head: str  # as printed: `policy "Name"`, `nrn`, `"$gte"`; empty for an array element
    name: str  # the decoded attribute name or member key (decides ALWAYS_EXPANDED)
    value: Atom | Container
    start: int
    end: int


@dataclass
class Placement:
    """Where each comment goes, by the offset of the item or container it belongs to."""

    leading: dict[int, list[Comment]] = field(default_factory=dict)
    trailing: dict[int, list[Comment]] = field(default_factory=dict)
    dangling: dict[int, list[Comment]] = field(default_factory=dict)  # before a closing bracket


class _CommentCollector:
    """Lexer callback target: Lark takes callbacks when the parser is built, so one
    collector lives beside the cached parser and is emptied before each parse."""

    def __init__(self) -> None:
        self.tokens: list[Token] = []

    def __call__(self, token: Token) -> Token:
        self.tokens.append(token)
        return token


@cache
def _parser() -> tuple[Lark, _CommentCollector]:
    collector = _CommentCollector()
    parser = Lark.open(
        str(resource_dir("grammar") / "regate.lark"),
        parser="lalr",
        start=["module", "value"],
        propagate_positions=True,
        maybe_placeholders=False,
        lexer_callbacks={"LINE_COMMENT": collector, "BLOCK_COMMENT": collector},
    )
    return parser, collector


def _canonical_string(token: str) -> str:
    return json.dumps(json.loads(token), ensure_ascii=False)


# --- Lark tree (all tokens kept) → items ---


def _value(tree: Tree[Token]) -> Atom | Container:
    meta = tree.meta  # its positions include the brackets and parentheses the tree leaves out
    if tree.data in ("object", "array"):
        children = [c for c in tree.children if isinstance(c, Tree)]
        items = tuple(_member(c) if tree.data == "object" else _element(c) for c in children)
        brackets = "{}" if tree.data == "object" else "[]"
        return Container(brackets[0], brackets[1], items, meta.start_pos, meta.end_pos)
    tokens = [c for c in tree.children if isinstance(c, Token)]
    if tree.data == "string":
        text = _canonical_string(tokens[0])
    elif tree.data == "call":
        text = f"{tokens[0]}({_canonical_string(tokens[1])})"
    else:  # number, true, false, null, identifier: kept as written
        text = str(tokens[0])
    return Atom(text, meta.start_pos, meta.end_pos)


def _start(token: Token) -> int:
    return token.start_pos or 0


def _end(token: Token) -> int:
    return token.end_pos or 0


def _member(tree: Tree[Token]) -> Item:
    key, value_tree = tree.children
    assert isinstance(key, Token) and isinstance(value_tree, Tree)
    name = json.loads(key) if key.type == "STRING" else str(key)
    value = _value(value_tree)
    head = json.dumps(name, ensure_ascii=False)
    return Item("member", head, name, value, _start(key), value.end)


def _element(tree: Tree[Token]) -> Item:
    value = _value(tree)
    return Item("element", "", "", value, value.start, value.end)


def _attribute(tree: Tree[Token]) -> Item:
    name, value_tree = tree.children
    assert isinstance(name, Token) and isinstance(value_tree, Tree)
    value = _value(value_tree)
    return Item("attribute", str(name), str(name), value, _start(name), value.end)


def _block(tree: Tree[Token], text: str, comment_ends: dict[int, int]) -> Item:
    header = [c for c in tree.children if isinstance(c, Token)]
    kind = header[0]
    head = str(kind)
    if len(header) > 1:
        head += " " + _canonical_string(header[1])
    attributes = tuple(_attribute(c) for c in tree.children if isinstance(c, Tree))
    opening = _next_code(text, _end(header[-1]), comment_ends)  # the "{" the tree leaves out
    body = Container("{", "}", attributes, opening, tree.meta.end_pos)
    return Item("block", head, str(kind), body, _start(kind), body.end)


def _next_code(text: str, position: int, comment_ends: dict[int, int]) -> int:
    """The offset of the next character that is neither white space nor in a comment."""
    while True:
        while position < len(text) and text[position].isspace():
            position += 1
        if position not in comment_ends:
            return position
        position = comment_ends[position]


# --- Comments → places ---


def _place(
    items: tuple[Item, ...], key: int, comment: Comment, text: str, placement: Placement
) -> None:
    """Put one comment before, after or inside one of `items` (a container keyed `key`).

    Items are in source order and do not overlap, so the one at or before the comment is
    found by bisection (a file of thousands of commented blocks stays quick)."""
    index = bisect_right(items, comment.start, key=lambda i: i.start) - 1
    nearest = items[index] if index >= 0 else None
    if nearest is not None and comment.start < nearest.end:  # inside it
        body = nearest.value
        if isinstance(body, Container) and body.start < comment.start < body.end:
            _place(body.items, body.start, comment, text, placement)
        else:  # between a name and its value: it moves before the item
            placement.leading.setdefault(nearest.start, []).append(comment)
        return
    after = items[index + 1] if index + 1 < len(items) else None
    if nearest is not None and "\n" not in text[nearest.end : comment.start]:
        placement.trailing.setdefault(nearest.start, []).append(comment)
    elif after is not None:
        placement.leading.setdefault(after.start, []).append(comment)
    else:
        placement.dangling.setdefault(key, []).append(comment)


# --- Printing ---


def _always_expanded(item: Item) -> bool:
    return item.name in ALWAYS_EXPANDED and item.kind in ("attribute", "member")


ROOT = -1  # the key of the file's top level in Placement


class _Printer:
    def __init__(self, text: str, placement: Placement) -> None:
        self.text = text
        self.placement = placement
        self.commented: dict[int, bool] = {}  # container start → has_comments, computed once

    def _blank_between(self, end: int, start: int) -> bool:
        return self.text[end:start].count("\n") >= 2

    def has_comments(self, container: Container) -> bool:
        if container.start not in self.commented:
            self.commented[container.start] = bool(
                self.placement.dangling.get(container.start)
            ) or any(
                item.start in self.placement.leading
                or item.start in self.placement.trailing
                or (isinstance(item.value, Container) and self.has_comments(item.value))
                for item in container.items
            )
        return self.commented[container.start]

    def inline(self, value: Atom | Container) -> str:
        if isinstance(value, Atom):
            return value.text
        parts = [
            (f"{i.head}: " if i.kind == "member" else "") + self.inline(i.value)
            for i in value.items
        ]
        return value.open + ", ".join(parts) + value.close

    def value(
        self, value: Atom | Container, indent: str, column: int, expand: bool, levels: int = 0
    ) -> str:
        """The value's text: its first line starts at `column`, later lines carry `indent`.

        `levels` > 0 expands this array's elements too (a JSON file's top-level array).
        """
        if isinstance(value, Atom):
            return value.text
        is_body = value.open == "{" and any(i.kind == "attribute" for i in value.items)
        if not value.items and not self.has_comments(value):
            return value.open + value.close
        if not (expand or is_body or self.has_comments(value)):
            flat = self.inline(value)
            if column + len(flat) <= WIDTH:
                return flat
        lines = [value.open]
        inner = levels if value.open == "[" else 0
        lines.extend(self.items(value.items, value.start + 1, indent + INDENT, value.start, inner))
        lines.append(indent + value.close)
        return "\n".join(lines)

    def gaps(self, item: Item, previous: int) -> list[bool]:
        """Whether the input has a blank line before each of the item's leading comments and
        before the item itself, each measured from the end of what is printed before it."""
        found = []
        for comment in self.placement.leading.get(item.start, []):
            found.append(self._blank_between(previous, comment.start))
            previous = comment.end
        return [*found, self._blank_between(previous, item.start)]

    def end(self, item: Item) -> int:
        """Where the item's line ends in the input: after its trailing comments."""
        trailing = self.placement.trailing.get(item.start)
        return trailing[-1].end if trailing else item.end

    def alignment(self, items: tuple[Item, ...], indent: str) -> dict[int, int]:
        """The width of each attribute's name, so the `=` signs line up as `terraform fmt`
        aligns them: in runs of consecutive attributes, ended by a blank line (as printed)
        and after a value that takes several lines."""
        widths: dict[int, int] = {}
        run: list[Item] = []

        def close() -> None:
            width = max((len(i.head) for i in run), default=0)
            widths.update((i.start, width) for i in run)
            run.clear()

        for item in (i for i in items if i.kind == "attribute"):
            if run and any(self.gaps(item, self.end(run[-1]))):
                close()
            run.append(item)
            column = len(indent) + len(item.head) + len(" = ")
            if "\n" in self.value(item.value, indent, column, _always_expanded(item)):
                close()
        close()
        return widths

    def items(
        self,
        items: tuple[Item, ...],
        after: int,
        indent: str,
        key: int,
        levels: int = 0,
        blank_between_items: bool = False,
    ) -> Iterator[str]:
        """The lines of a container's items, from source offset `after` on; `levels` > 0
        expands every item's value, and `levels` - 1 levels of arrays below."""
        widths = self.alignment(items, indent)
        previous = after
        first = True
        for index, item in enumerate(items):
            *comment_gaps, item_gap = self.gaps(item, previous)
            forced = blank_between_items and not first
            leading = self.placement.leading.get(item.start, [])
            for comment, gap in zip(leading, comment_gaps, strict=True):
                if not first and (forced or gap):
                    yield ""
                yield indent + comment.text
                first, forced = False, False
            if not first and (forced or item_gap):
                yield ""
            first = False
            if item.kind == "attribute":
                head = item.head.ljust(widths[item.start]) + " = "
            elif item.kind == "member":
                head = item.head + ": "
            elif item.kind == "block":
                head = item.head + " "
            else:
                head = ""
            expand = levels > 0 or _always_expanded(item)
            line = indent + head
            line += self.value(item.value, indent, len(line), expand, max(levels - 1, 0))
            if index < len(items) - 1 and item.kind in ("member", "element"):
                line += ","
            line += "".join(" " + c.text for c in self.placement.trailing.get(item.start, []))
            previous = self.end(item)
            yield line
        for comment in self.placement.dangling.get(key, []):
            if not first and self._blank_between(previous, comment.start):
                yield ""
            yield indent + comment.text
            previous, first = comment.end, False


def _shape(value: Atom | Container) -> object:
    """What formatting must keep: every item and atom, without positions."""
    if isinstance(value, Atom):
        return value.text
    return [(i.head, _shape(i.value)) for i in value.items]


@dataclass(frozen=True)
class _Parsed:
    items: tuple[Item, ...]
    comments: tuple[Comment, ...]


def _read(text: str, is_json: bool) -> _Parsed:
    parser, collector = _parser()
    collector.tokens.clear()
    tree = parser.parse(text, start="value" if is_json else "module")
    # rstrip: a `#` comment in a CRLF file would otherwise carry its "\r" along.
    comments = tuple(Comment(str(t).rstrip(), _start(t), _end(t)) for t in collector.tokens)
    if is_json:
        return _Parsed((_element(tree),), comments)
    comment_ends = {c.start: c.end for c in comments}
    blocks = tuple(_block(b, text, comment_ends) for b in tree.children if isinstance(b, Tree))
    return _Parsed(blocks, comments)


def _print(parsed: _Parsed, text: str, is_json: bool) -> str:
    placement = Placement()
    for comment in parsed.comments:
        _place(parsed.items, ROOT, comment, text, placement)
    printer = _Printer(text, placement)
    if is_json:
        # A JSON file's top value, and each payload in a top-level array, is expanded.
        lines = list(printer.items(parsed.items, 0, "", ROOT, levels=2))
    else:
        lines = list(printer.items(parsed.items, 0, "", ROOT, blank_between_items=True))
    return "\n".join(lines) + "\n" if lines else ""


def format_text(text: str, path: str, is_json: bool) -> str | Diagnostic:
    """The canonical layout of a source file, or the diagnostic that stops formatting."""
    try:
        parsed = _read(text, is_json)
        formatted = _print(parsed, text, is_json)
        again = _read(formatted, is_json)
    except UnexpectedInput as exc:
        return syntax_error(path, text, exc)
    except RecursionError:
        return error("RG023", Span(path, 1, 1, 1, 1), "the file nests too deeply to be read")
    kept = [_shape(i.value) for i in parsed.items] == [_shape(i.value) for i in again.items]
    if not kept or [c.text for c in parsed.comments] != [c.text for c in again.comments]:
        return error(
            "RG090",
            Span(path, 1, 1, 1, 1),
            "regate fmt could not keep this file's meaning, so it left the file untouched",
            help="this is a regate bug; please report it with the file",
        )
    return formatted


# --- Files and the command line ---


@dataclass(frozen=True)
class FormatResult:
    path: str
    original: str
    formatted: str | None  # None when a diagnostic stopped formatting

    @property
    def changed(self) -> bool:
        return self.formatted is not None and self.formatted != self.original


def format_sources(arguments: list[str]) -> tuple[list[FormatResult], list[Diagnostic]]:
    """Format every source the arguments name: `*.rg` files, and JSON payload files (a
    directory's other JSON files, such as schemas and requests, are left alone; a JSON
    file named on the command line is formatted whatever it holds)."""
    from compiler.parse import parse_source
    from compiler.sources import load

    sources, diagnostics = load(arguments)
    results: list[FormatResult] = []
    for source in sources:
        if source.is_json and not source.explicit and parse_source(source) == (None, []):
            continue
        formatted = format_text(source.text, source.path, source.is_json)
        if isinstance(formatted, Diagnostic):
            diagnostics.append(formatted)
            results.append(FormatResult(source.path, source.text, None))
        else:
            results.append(FormatResult(source.path, source.text, formatted))
    return results, diagnostics


@click.command("fmt")
@click.argument("sources", nargs=-1, required=True)
@click.option("--check", is_flag=True, help="Change nothing; exit 1 if a file would change.")
@click.option(
    "--diff",
    "show_diff",
    is_flag=True,
    help="Change nothing; print the changes as a unified diff and exit 1 if there are any.",
)
def fmt_command(sources: tuple[str, ...], check: bool, show_diff: bool) -> None:
    """Rewrite SOURCES (files or directories) in the canonical layout."""
    results, diagnostics = format_sources(list(sources))
    texts = {r.path: r.original for r in results}
    check = check or show_diff
    for result in results:
        if not result.changed:
            continue
        if show_diff:
            _echo_diff(result)
            continue
        if check:
            click.echo(f"would reformat {result.path}", err=True)
            continue
        assert result.formatted is not None
        try:  # through a symbolic link, keeping the file's mode (write_atomically)
            write_atomically(result.path, result.formatted.encode())
        except OSError as exc:
            diagnostics.append(write_failed(result.path, exc))
            continue
        click.echo(f"reformatted {result.path}", err=True)
    if diagnostics:
        click.echo(render(diagnostics, texts, "text", __version__), err=True, nl=False)
    changed = any(r.changed for r in results)
    sys.exit(1 if diagnostics or (check and changed) else 0)


def _echo_diff(result: FormatResult) -> None:
    """The change formatting makes to one file, as `diff -u` shows it (coloured on a
    terminal; see compiler/editor/terminal.py)."""
    from compiler.editor import terminal

    assert result.formatted is not None
    text = "".join(
        difflib.unified_diff(
            result.original.splitlines(keepends=True),
            result.formatted.splitlines(keepends=True),
            f"{result.path} (as written)",
            f"{result.path} (formatted)",
        )
    )
    settings = click.get_current_context().find_root().obj
    if isinstance(settings, terminal.Terminal) and settings.colour_stdout:
        click.echo(terminal.paint_diff(text), nl=False, color=True)
    else:
        click.echo(text, nl=False)
