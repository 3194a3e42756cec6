"""Finding and reading source files.

A source argument is a file or a directory.  A directory contributes every
`*.rg` file below it and every `*.json` file that holds API payloads (JSON
files of other shapes, such as schemas and sample requests, are left alone).
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

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


def file_span(path: str) -> Span:
    return Span(path, 1, 1, 1, 1)


def read_text(path: str, shown_as: str, span: Span | None = None) -> str | Diagnostic:
    """A file's text, or a diagnostic saying why it cannot be read."""
    where = span or file_span(shown_as)
    try:
        size = os.path.getsize(path)
        if size > MAX_SOURCE_BYTES:
            return error(
                "RG001",
                where,
                f"{shown_as} is {size} bytes; source files are limited to {MAX_SOURCE_BYTES}",
            )
        with open(path, encoding="utf-8") as handle:
            return handle.read()
    except FileNotFoundError:
        return error("RG001", where, f"cannot read {shown_as}: no such file")
    except IsADirectoryError:
        return error("RG001", where, f"cannot read {shown_as}: it is a directory")
    except UnicodeDecodeError as exc:
        return error("RG001", where, f"cannot read {shown_as}: not UTF-8 text ({exc.reason})")
    except OSError as exc:
        return error("RG001", where, f"cannot read {shown_as}: {exc.strerror or exc}")
    except ValueError:  # os functions refuse a path with a NUL character
        return error("RG001", where, f"cannot read {shown_as!r}: not a valid file name")


def _scan(directory: Path) -> list[Path]:
    found: list[Path] = []
    for current, dirs, files in os.walk(directory):
        dirs[:] = sorted(d for d in dirs if not d.startswith("."))
        found.extend(Path(current, f) for f in files if f.endswith(SOURCE_SUFFIXES))
    return sorted(found, key=lambda p: p.as_posix())


def load(arguments: list[str]) -> tuple[list[Source], list[Diagnostic]]:
    """Read every source named by the arguments, in a deterministic order."""
    sources: list[Source] = []
    diagnostics: list[Diagnostic] = []
    seen: set[str] = set()
    for argument in arguments:
        given = Path(argument)
        if given.is_dir():
            root, files, explicit = given, _scan(given), False
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
            if shown in seen:
                continue
            seen.add(shown)
            text = read_text(shown, shown)
            if isinstance(text, Diagnostic):
                diagnostics.append(text)
                continue
            name = file.relative_to(root).as_posix()
            sources.append(Source(shown, name, text, explicit))
    return sources, diagnostics
