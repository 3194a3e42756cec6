"""The editor's commands.  Their libraries (pygls, the HTTP server) are imported when
the command runs, so that every other command starts as quickly as before."""

from __future__ import annotations

import click


@click.command("lsp")
def lsp_command() -> None:
    """Run the language server on stdin and stdout (for editors; see docs/editor.md)."""
    from compiler.editor.lsp import server

    server.start_io()
