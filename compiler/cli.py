"""The `regate` command line (CONTRACT.md, "Command line")."""

from __future__ import annotations

import json
import sys
from collections.abc import Callable
from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, NoReturn

import click

from compiler import __version__, explain
from compiler.ast import Span
from compiler.bundle import tar_gz, write_atomically
from compiler.diagnostics import Diagnostic, error, render
from compiler.diff import diff_command, load_requests
from compiler.driver import Compilation, check_sources, compile_sources, compile_split
from compiler.editor import terminal
from compiler.editor.commands import lsp_command, playground_command
from compiler.evidence.commands import EXIT_STATUS, gate_command, metadata_group
from compiler.evidence.record import record_group
from compiler.fleet.audit_report import audit_command
from compiler.fleet.publish import publish_command
from compiler.fleet.sidecar import sidecar_config_command
from compiler.fleet.tenants import LEVELS, write_split
from compiler.fmt import fmt_command
from compiler.limits import MAX_REQUEST_SIZE
from compiler.nullplatform.export import export_command
from compiler.nullplatform.importer import import_command
from compiler.opa import OpaError, ask_sidecar, decide_all, eval_bundle
from compiler.request import RequestDocument, parse_request, too_large
from compiler.signing import ALGORITHMS, SIGNATURES_FILE, load_key, signatures
from compiler.sources import read_text
from compiler.testing import test_command

FORMATS = click.Choice(["text", "json", "sarif"])


def _report(result: Compilation, fmt: str) -> None:
    texts = result.texts
    for diagnostic in result.diagnostics:  # snippets from files read on the way (schemas)
        path = diagnostic.span.file
        if path not in texts and Path(path).is_file():
            texts[path] = Path(path).read_text(encoding="utf-8", errors="replace")
    output = render(result.diagnostics, texts, fmt, __version__)
    if output:
        (sys.stdout if fmt != "text" else sys.stderr).write(output)


def _fail(diagnostic: Diagnostic, texts: dict[str, str] | None = None) -> NoReturn:
    sys.stderr.write(render([diagnostic], texts or {}, "text", __version__))
    sys.exit(1)


def _fail_opa(exc: OpaError) -> NoReturn:
    click.echo(f"regate: error: {exc}", err=True)
    sys.exit(1)


def read_request(path: str) -> RequestDocument:
    """A request document from a file or `-` (stdin), read as compiler/request.py
    reads every request; what it refuses is a located diagnostic."""
    shown = "<stdin>" if path == "-" else path
    try:
        if path == "-":
            # One byte past the limit is enough to know the request is too large.
            raw = sys.stdin.buffer.read(MAX_REQUEST_SIZE + 1)
        else:
            with open(path, "rb") as handle:
                raw = handle.read(MAX_REQUEST_SIZE + 1)
        if len(raw) > MAX_REQUEST_SIZE:
            _fail(too_large(shown, None))
        text = raw.decode("utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        reason = getattr(exc, "strerror", None) or str(exc)
        _fail(error("RG001", Span(shown, 1, 1, 1, 1), f"cannot read {shown}: {reason}"))
    read = parse_request(text, shown)
    if isinstance(read, list):
        sys.stderr.write(render(read, {shown: text}, "text", __version__))
        sys.exit(1)
    return read


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="regate")
@click.option(
    "--color",
    type=click.Choice(["auto", "always", "never"]),
    default="auto",
    help="Colour diagnostics and explanations (auto: on a terminal, unless NO_COLOR is set).",
)
@click.option(
    "-q", "--quiet", is_flag=True, help="Errors only on stderr: no warnings, summaries, progress."
)
@click.pass_context
def main(ctx: click.Context, color: str, quiet: bool) -> None:
    """Compile approval policies (MongoDB conditions over metadata) into OPA bundles."""
    ctx.obj, original = terminal.install(color, quiet)
    ctx.call_on_close(lambda: terminal.uninstall(original))


def _terminal() -> terminal.Terminal:
    settings = click.get_current_context().find_root().obj
    return (
        settings
        if isinstance(settings, terminal.Terminal)
        else terminal.Terminal(False, False, False)
    )


@main.command("check")
@click.argument("sources", nargs=-1, required=True)
@click.option("--format", "fmt", type=FORMATS, default="text", help="How to print diagnostics.")
@click.option(
    "--now",
    type=click.DateTime(["%Y-%m-%dT%H:%M:%SZ", "%Y-%m-%d"]),
    help="Date waivers as of this UTC time (default: now), e.g. 2026-11-22T12:00:00Z.",
)
def check_command(sources: tuple[str, ...], fmt: str, now: datetime | None) -> None:
    """Parse and type-check SOURCES (files or directories)."""
    result = check_sources(list(sources), now.replace(tzinfo=UTC) if now else None)
    _report(result, fmt)
    sys.exit(0 if result.ok else 1)


@main.command("build")
@click.argument("sources", nargs=-1, required=True)
@click.option("-o", "--output", required=True, help="The bundle to write (.tar.gz).")
@click.option("--format", "fmt", type=FORMATS, default="text", help="How to print diagnostics.")
@click.option(
    "--with-tests",
    is_flag=True,
    help="Also carry the test blocks and generated boundary tests, for `opa test` on the bundle.",
)
@click.option(
    "--signing-key",
    help="Sign the bundle (.signatures.json): a PEM private key file, or for HS256 the secret.",
)
@click.option(
    "--signing-alg",
    type=click.Choice(ALGORITHMS),
    default="RS256",
    show_default=True,
    help="The signing algorithm.",
)
@click.option("--scope", help="The scope claim of the signature.")
@click.option(
    "--signing-key-id",
    help="The key id (`kid`) of the signature: the key's name in the OPA config's `keys`.",
)
@click.option(
    "--split-by",
    type=click.Choice(sorted(LEVELS)),
    help="Write one bundle per tenant, and the router bundle, into the directory OUTPUT "
    "(docs/deploy.md).",
)
def build_command(
    sources: tuple[str, ...],
    output: str,
    fmt: str,
    with_tests: bool,
    signing_key: str | None,
    signing_alg: str,
    scope: str | None,
    signing_key_id: str | None,
    split_by: str | None,
) -> None:
    """Check SOURCES, then write an OPA bundle; nothing is written when there are errors."""
    if signing_key_id is not None and signing_key is None:
        raise click.UsageError("--signing-key-id names the key of a signature: give --signing-key")
    if split_by is not None and with_tests:
        raise click.UsageError("--with-tests is for one bundle (`opa test`): leave out --split-by")
    key = (
        load_key(signing_key, signing_alg, scope, signing_key_id)
        if signing_key is not None
        else None
    )
    if isinstance(key, Diagnostic):
        _fail(key)

    def signed(files: dict[str, bytes]) -> dict[str, bytes]:
        if key is None:
            return files
        signature = signatures(files, key)
        if isinstance(signature, Diagnostic):
            _fail(signature)
        return {**files, SIGNATURES_FILE: signature}

    try:
        if split_by is not None:
            split = compile_split(list(sources), split_by)
            _report(split, fmt)
            if split.split is None:
                sys.exit(1)
            bundles = [replace(b, files=signed(b.files)) for b in split.split]
            click.echo("\n".join(write_split(bundles, output)))
            return
        result = compile_sources(list(sources), with_tests=with_tests)
        _report(result, fmt)
        if result.files is None:
            sys.exit(1)
        write_atomically(output, tar_gz(signed(result.files)))
    except OSError as exc:
        reason = exc.strerror or str(exc)
        _fail(error("RG061", Span(output, 1, 1, 1, 1), f"cannot write {output}: {reason}"))


def decision_options(command: Callable[..., None]) -> Callable[..., None]:
    """--bundle or --opa-url, and --input: where a decision comes from."""
    command = click.option(
        "--input", "request", required=True, help="The request (JSON), or - for stdin."
    )(command)
    command = click.option("--opa-url", help="A running OPA sidecar serving the bundle.")(command)
    return click.option(
        "--bundle", help="A bundle built by `regate build`, evaluated by a local OPA."
    )(command)


def decide(bundle: str | None, opa_url: str | None, request: Any, many: bool = False) -> Any:
    """The decision from a local OPA or a sidecar; OPA failures end the command.  `many`:
    `request` holds requests by name, decided in one `opa eval` (a sidecar: one by one)."""
    if (bundle is None) == (opa_url is None):
        raise click.UsageError("give exactly one of --bundle and --opa-url")
    try:
        if many and opa_url:
            return {name: ask_sidecar(opa_url, r) for name, r in request.items()}
        if many:
            return decide_all(str(bundle), request)
        return ask_sidecar(opa_url, request) if opa_url else eval_bundle(str(bundle), request)
    except OpaError as exc:
        _fail_opa(exc)


def read_requests(path: str) -> dict[str, Any] | None:
    """Many requests, by name: a directory's `*.json` files or a JSON Lines file's lines
    (`FILE:LINE`); None when `path` is one request.  Every unreadable one is reported,
    and then none is decided."""
    if Path(path).is_dir():
        requests, diagnostics, texts = load_requests(path)
    elif path.endswith(".jsonl"):
        text = read_text(path, path)
        if isinstance(text, Diagnostic):
            _fail(text)
        requests, diagnostics, texts = {}, [], {path: text}
        for number, line in enumerate(text.splitlines(), start=1):
            if not line.strip():
                continue
            try:
                requests[f"{path}:{number}"] = json.loads(line)
            except json.JSONDecodeError as exc:
                span = Span(path, number, exc.colno, number, exc.colno + 1)
                diagnostics.append(
                    error("RG002", span, f"the request is not valid JSON: {exc.msg}")
                )
        if not requests and not diagnostics:
            diagnostics.append(error("RG004", Span(path, 1, 1, 1, 1), f"no requests in {path}"))
    else:
        return None
    if diagnostics:
        sys.stderr.write(render(diagnostics, texts, "text", __version__))
        sys.exit(1)
    return requests


# Results from the least strict to the strictest, as a decision combines its actions'.
STRICTNESS = ("approve", "manual", "pending", "deny")


def fail_status(decisions: list[Any], fail_on: str) -> int:
    """`--fail-on`: the exit status of `regate gate` for the strictest decision when it is
    at least as strict as `fail_on`, else 0.  A decision that is missing or unreadable
    counts as a denial."""
    results = [d.get("result") if isinstance(d, dict) else None for d in decisions]
    ranked = [r if r in STRICTNESS else "deny" for r in results]
    strictest = max(ranked, key=STRICTNESS.index, default="approve")
    if STRICTNESS.index(strictest) < STRICTNESS.index(fail_on):
        return 0
    return EXIT_STATUS.get(strictest, EXIT_STATUS["deny"])


@main.command("decide")
@decision_options
@click.option(
    "--fail-on",
    type=click.Choice(["manual", "deny"]),
    help="Exit as `regate gate` does (3 manual, 4 deny) when a decision is at least this strict.",
)
def decide_command(
    bundle: str | None, opa_url: str | None, request: str, fail_on: str | None
) -> None:
    """Decide requests; print each decision as JSON.

    --input is one request (a file, or - for stdin), a directory of *.json requests or a
    JSON Lines file (*.jsonl).  Many requests are decided in one OPA run and printed as
    JSON Lines, {"request": name, "decision": ...}, in name or line order."""
    requests = read_requests(request)
    if requests is None:
        decisions = [decide(bundle, opa_url, read_request(request))]
        click.echo(json.dumps(decisions[0], indent=2, sort_keys=True))
    else:
        found = decide(bundle, opa_url, requests, many=True)
        decisions = [found.get(name) for name in requests]
        for name, decision in zip(requests, decisions, strict=True):
            click.echo(json.dumps({"request": name, "decision": decision}))
    if fail_on is not None:
        sys.exit(fail_status(decisions, fail_on))


@main.command("explain")
@decision_options
@click.option(
    "--format",
    "fmt",
    type=click.Choice(["text", "html"]),
    default="text",
    help="Text for a log, or a self-contained HTML page (docs/editor.md).",
)
def explain_command(bundle: str | None, opa_url: str | None, request: str, fmt: str) -> None:
    """Decide one request; print the decision as text or HTML a person reads."""
    decision = decide(bundle, opa_url, read_request(request))
    if fmt == "html":
        from compiler.editor.html import decision_page

        click.echo(decision_page(decision, None if request == "-" else request), nl=False)
    else:
        text = explain.render(decision)
        if _terminal().colour_stdout:
            click.echo(terminal.paint_explanation(text), nl=False, color=True)
        else:
            click.echo(text, nl=False)


# Commands that live in their own modules.
for command in (
    metadata_group,
    gate_command,
    record_group,
    test_command,
    fmt_command,
    import_command,
    export_command,
    diff_command,
    lsp_command,
    playground_command,
    publish_command,
    sidecar_config_command,
    audit_command,
):
    main.add_command(command)
