"""Finding and reading source files.

A source argument is a file or a directory.  A directory contributes every
`*.rg` file below it and every `*.json` file that holds API payloads (JSON
files of other shapes, such as schemas and sample requests, are left alone).
"""

from __future__ import annotations

import json
import math
import os
import stat
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from compiler.ast import Span
from compiler.diagnostics import Diagnostic, error
from compiler.limits import MAX_SOURCE_BYTES

SOURCE_SUFFIXES = (".rg", ".json")


@dataclass(frozen=True)
class Source:
    path: str  # as diagnostics show it: the path the user gave, joined with the file
    name: str  # relative to the source root given on the command line: what bundles record
    text: str
    explicit: bool  # named on the command line, not found by a directory scan

    @property
    def is_json(self) -> bool:
        return self.path.endswith(".json")


class JsonProblem(ValueError):
    """Text that is not strict JSON; the message says why, `at` where when known."""

    def __init__(self, message: str, at: tuple[int, int] | None = None) -> None:
        super().__init__(message)
        self.at = at  # (line, column)


def _no_duplicates(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    found: dict[str, Any] = {}
    for key, value in pairs:
        if key in found:
            raise JsonProblem(f'duplicate key "{key}" in an object')
        found[key] = value
    return found


def _no_constant(name: str) -> Any:
    raise JsonProblem(f"{name} is not a number JSON can hold")


def _finite(text: str) -> float:
    value = float(text)
    if math.isinf(value):
        raise JsonProblem(f"number {text[:24]} is out of range")
    return value


def _integer(text: str) -> int:
    try:
        return int(text)
    except ValueError:  # more digits than Python converts
        raise JsonProblem(f"number {text[:24]}... has {len(text)} digits") from None


def strict_decoder() -> json.JSONDecoder:
    """A JSON decoder that refuses what json.loads lets through: a duplicate key (the
    last would win silently), NaN and Infinity, numbers no float holds (JsonProblem)."""
    return json.JSONDecoder(
        object_pairs_hook=_no_duplicates,
        parse_constant=_no_constant,
        parse_float=_finite,
        parse_int=_integer,
    )


def strict_json(text: str) -> Any:
    """JSON text as a value, as `strict_decoder` reads it.  Raises JsonProblem."""
    try:
        return strict_decoder().decode(text)
    except json.JSONDecodeError as exc:
        # A string running to the end is reported unterminated only then.
        ended = exc.msg.startswith("Unterminated string") or exc.pos >= len(text.rstrip())
        reason = "it ends too early (truncated?)" if ended else exc.msg
        raise JsonProblem(reason, (exc.lineno, exc.colno)) from None
    except RecursionError:
        raise JsonProblem("it nests too deeply to be read") from None


class Unreadable(Exception):
    """A file that cannot be read; the message says why, in words."""


def open_readable(path: str, devices: bool = True) -> int:
    """A descriptor of a file to read: a regular file, a pipe (`<(command)`, /dev/stdin
    fed by a pipe), or with `devices` a character device.  Opening never waits: a FIFO
    nobody writes to reads as empty.  Raises Unreadable."""
    try:
        handle = os.open(path, os.O_RDONLY | os.O_NONBLOCK)
    except FileNotFoundError:
        dangling = os.path.islink(path)
        raise Unreadable(
            "a symbolic link to a missing file" if dangling else "no such file"
        ) from None
    except IsADirectoryError:
        raise Unreadable("it is a directory") from None
    except (OSError, ValueError) as exc:
        raise Unreadable(getattr(exc, "strerror", None) or str(exc)) from None
    try:
        mode = os.fstat(handle).st_mode
        if stat.S_ISDIR(mode):
            raise Unreadable("it is a directory")
        if os.isatty(handle):
            raise Unreadable("it is a terminal")
        if not (stat.S_ISREG(mode) or stat.S_ISFIFO(mode) or (devices and stat.S_ISCHR(mode))):
            raise Unreadable("not a regular file or a pipe")
        os.set_blocking(handle, True)
    except (Unreadable, OSError) as exc:
        os.close(handle)
        if isinstance(exc, Unreadable):
            raise
        raise Unreadable(exc.strerror or str(exc)) from None
    return handle


def read_bounded(path: str, limit: int) -> bytes:
    """A file's bytes, at most `limit` (open_readable's files).  Never a hang and never
    unbounded: an endless device stops at the limit.  Raises Unreadable."""
    handle = open_readable(path)
    try:
        chunks: list[bytes] = []
        size = 0
        while size <= limit:
            chunk = os.read(handle, min(1 << 20, limit + 1 - size))
            if not chunk:
                break
            chunks.append(chunk)
            size += len(chunk)
        if size > limit:
            raise Unreadable(f"larger than {limit} bytes")
        return b"".join(chunks)
    except OSError as exc:
        raise Unreadable(exc.strerror or str(exc)) from None
    finally:
        os.close(handle)


def file_span(path: str) -> Span:
    return Span(path, 1, 1, 1, 1)


def read_text(path: str, shown_as: str, span: Span | None = None) -> str | Diagnostic:
    """A file's text, or a diagnostic saying why it cannot be read.  Only regular files
    are read: a FIFO or a device would block, or never end."""
    where = span or file_span(shown_as)
    try:
        mode = os.stat(path).st_mode
        if stat.S_ISDIR(mode):
            return error("RG001", where, f"cannot read {shown_as}: it is a directory")
        if not stat.S_ISREG(mode):
            return error("RG001", where, f"cannot read {shown_as}: not a regular file")
        size = os.path.getsize(path)
        if size > MAX_SOURCE_BYTES:
            return error(
                "RG001",
                where,
                f"{shown_as} is {size} bytes; source files are limited to {MAX_SOURCE_BYTES}",
            )
        with open(path, encoding="utf-8-sig") as handle:  # a byte order mark is no text
            return handle.read()
    except FileNotFoundError:
        dangling = os.path.islink(path)
        reason = "a symbolic link to a missing file" if dangling else "no such file"
        return error("RG001", where, f"cannot read {shown_as}: {reason}")
    except IsADirectoryError:
        return error("RG001", where, f"cannot read {shown_as}: it is a directory")
    except UnicodeDecodeError as exc:
        return error("RG001", where, f"cannot read {shown_as}: not UTF-8 text ({exc.reason})")
    except OSError as exc:
        return error("RG001", where, f"cannot read {shown_as}: {exc.strerror or exc}")
    except ValueError:  # os functions refuse a path with a NUL character
        return error("RG001", where, f"cannot read {shown_as!r}: not a valid file name")


def _scan(directory: Path, diagnostics: list[Diagnostic]) -> list[Path]:
    """The source files below `directory`, through symbolic links to directories (each
    real directory once); a directory that cannot be listed is a diagnostic, never
    silently skipped."""
    found: list[Path] = []
    visited: set[str] = set()

    def unreadable(exc: OSError) -> None:
        shown = Path(exc.filename).as_posix() if exc.filename else directory.as_posix()
        reason = exc.strerror or str(exc)
        diagnostics.append(error("RG001", file_span(shown), f"cannot read {shown}: {reason}"))

    for current, dirs, files in os.walk(directory, onerror=unreadable, followlinks=True):
        real = os.path.realpath(current)
        if real in visited:  # a link back up the tree, or a second way to a directory
            dirs[:] = []
            continue
        visited.add(real)
        dirs[:] = sorted(d for d in dirs if not d.startswith("."))
        found.extend(Path(current, f) for f in files if f.endswith(SOURCE_SUFFIXES))
    return sorted(found, key=lambda p: p.as_posix())


def load(arguments: list[str]) -> tuple[list[Source], list[Diagnostic]]:
    """Read every source named by the arguments, in a deterministic order; a file reached
    twice (by two arguments, or through a symbolic link) is read once."""
    sources: list[Source] = []
    diagnostics: list[Diagnostic] = []
    seen: set[str] = set()
    for argument in arguments:
        if not argument:
            diagnostics.append(error("RG001", file_span(""), "an empty path names no source"))
            continue
        given = Path(argument)
        if given.is_dir():
            root, files, explicit = given, _scan(given, diagnostics), False
            if not files:
                diagnostics.append(
                    error(
                        "RG004",
                        file_span(argument),
                        f"no *.rg or *.json sources in directory {argument}",
                    )
                )
        else:
            root, files, explicit = given.parent, [given], True
        for file in files:
            shown = file.as_posix()
            try:
                identity = os.path.realpath(shown)
            except (OSError, ValueError):
                identity = shown
            if identity in seen:
                continue
            seen.add(identity)
            text = read_text(shown, shown)
            if isinstance(text, Diagnostic):
                diagnostics.append(text)
                continue
            name = file.relative_to(root).as_posix()
            sources.append(Source(shown, name, text, explicit))
    return sources, diagnostics
