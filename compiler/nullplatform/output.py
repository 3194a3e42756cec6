"""Writing what import and export produce: each file whole (write_atomically) into the
output directory, every one prepared before the first is written."""

from __future__ import annotations

import sys
from collections.abc import Mapping
from pathlib import Path

import click

from compiler import __version__
from compiler.bundle import STANDARD_OUTPUT, check_output, write_atomically, write_failed
from compiler.diagnostics import Diagnostic, has_errors, render


def write_files(files: Mapping[str, str], directory: str) -> None:
    """Each file into the directory; a file that cannot be written ends the command."""
    for name, text in files.items():
        target = Path(directory, name)
        try:
            write_atomically(str(target), text.encode())
        except OSError as exc:
            failure = write_failed(str(target), exc)
            click.echo(render([failure], {}, "text", __version__), err=True, nl=False)
            sys.exit(1)
        click.echo(f"wrote {target}", err=True)


def report(
    diagnostics: list[Diagnostic], texts: dict[str, str], lines: list[str], output: str
) -> None:
    """What import or export found, with an output it could not write, before any file
    is written; errors end the command.  Then the report's lines."""
    unwritable = None if output == STANDARD_OUTPUT else check_output(output, directory=True)
    found = [*([unwritable] if unwritable else []), *diagnostics]
    if found:
        click.echo(render(found, texts, "text", __version__), err=True, nl=False)
    if has_errors(found):
        sys.exit(1)
    for line in lines:
        click.echo(line, err=True)
