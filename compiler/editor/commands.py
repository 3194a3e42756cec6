"""The editor's commands.  Their libraries (pygls, the HTTP server) are imported when
the command runs, so that every other command starts as quickly as before."""

from __future__ import annotations

import click


@click.command("lsp")
def lsp_command() -> None:
    """Run the language server on stdin and stdout (for editors; see docs/editor.md)."""
    from compiler.editor.lsp import server

    server.start_io()


@click.command("playground")
@click.argument("source", required=False, type=click.Path(exists=True, file_okay=False))
@click.option(
    "--port",
    type=click.IntRange(0, 65535),
    default=8400,
    show_default=True,
    help="The port on 127.0.0.1 (0: any free one).",
)
def playground_command(source: str | None, port: int) -> None:
    """Serve a local page to edit SOURCE (default: the example bundle) and a request, and
    see the decision, its explanation and the emitted Rego (docs/editor.md)."""
    from pathlib import Path

    from compiler.editor.playground import EXAMPLE, Refused, serve

    root = Path(source) if source else EXAMPLE
    if source and not root.is_dir():  # a FIFO or a device passes click's file_okay=False
        raise click.UsageError(f"{source} is not a directory: give a source directory")
    if not root.is_dir():
        raise click.UsageError("give a source directory (the example bundle is not installed)")
    try:
        serve(root, port)
    except Refused as exc:
        raise click.UsageError(str(exc)) from None
    except OSError as exc:
        click.echo(f"regate: error: cannot serve on 127.0.0.1:{port}: {exc.strerror}", err=True)
        raise SystemExit(1) from None
