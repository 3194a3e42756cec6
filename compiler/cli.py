"""The `regate` command line (CONTRACT.md, "Command line")."""

from __future__ import annotations

import json
import os
import select
import stat
import sys
from collections.abc import Callable
from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, NoReturn

import click
from click.core import ParameterSource

from compiler import __version__, explain
from compiler.ast import Span
from compiler.bundle import (
    STANDARD_OUTPUT,
    check_output,
    overwrites,
    tar_gz,
    write_failed,
    write_output,
)
from compiler.diagnostics import Diagnostic, command_error, error, render
from compiler.diff import diff_command, load_requests
from compiler.driver import (
    Compilation,
    check_sources,
    compile_sources,
    compile_split,
    max_exception_days_option,
)
from compiler.editor import terminal
from compiler.editor.commands import lsp_command, playground_command
from compiler.evidence.commands import EXIT_STATUS, gate_command, metadata_group
from compiler.evidence.record import record_group
from compiler.fleet.audit_report import audit_command
from compiler.fleet.publish import publish_command
from compiler.fleet.sidecar import sidecar_config_command
from compiler.fleet.tenants import LEVELS, write_split
from compiler.fmt import fmt_command
from compiler.limits import INPUT_WAIT_SECONDS, MAX_REQUEST_BYTES, MAX_REQUEST_SIZE
from compiler.nullplatform.export import export_command
from compiler.nullplatform.importer import import_command
from compiler.opa import OpaError, ask_sidecar, decide_all, eval_bundle, preflight
from compiler.request import RequestDocument, parse_request, too_large
from compiler.signing import ALGORITHMS, SIGNATURES_FILE, SigningKey, load_key, signatures
from compiler.sources import JsonProblem, read_text, strict_json
from compiler.testing import test_command

FORMATS = click.Choice(["text", "json", "sarif"])


def _report(result: Compilation, fmt: str, before: list[Diagnostic] | None = None) -> None:
    """The compilation's diagnostics, after `before` (problems of the command line)."""
    texts = result.texts
    # Snippets from files read on the way (schemas), never from the command line's
    # files: a signing key's first line may be its secret.
    for diagnostic in result.diagnostics:
        path = diagnostic.span.file
        if path and path not in texts and Path(path).is_file():
            text = read_text(path, path)
            if isinstance(text, str):
                texts[path] = text
    output = render([*(before or []), *result.diagnostics], texts, fmt, __version__)
    if output:
        (sys.stdout if fmt != "text" else sys.stderr).write(output)


def _fail(diagnostic: Diagnostic, texts: dict[str, str] | None = None) -> NoReturn:
    sys.stderr.write(render([diagnostic], texts or {}, "text", __version__))
    sys.exit(1)


def _fail_opa(exc: OpaError) -> NoReturn:
    _fail(exc.diagnostic)


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
    help="Date waivers and exceptions as of this UTC time (default: now), e.g. "
    "2026-11-22T12:00:00Z.",
)
@max_exception_days_option
def check_command(
    sources: tuple[str, ...], fmt: str, now: datetime | None, max_exception_days: int
) -> None:
    """Parse and type-check SOURCES (files or directories)."""
    result = check_sources(
        list(sources),
        now.replace(tzinfo=UTC) if now else None,
        max_exception_days=max_exception_days,
    )
    _report(result, fmt)
    sys.exit(0 if result.ok else 1)


@main.command("build")
@click.argument("sources", nargs=-1, required=True)
@click.option(
    "-o", "--output", required=True, help="The bundle to write (.tar.gz), or - for stdout."
)
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
@max_exception_days_option
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
    max_exception_days: int,
) -> None:
    """Check SOURCES, then write an OPA bundle; nothing is written when there are errors.

    `-o -` writes the bundle to standard output."""
    if signing_key_id is not None and signing_key is None:
        raise click.UsageError("--signing-key-id names the key of a signature: give --signing-key")
    if split_by is not None and with_tests:
        raise click.UsageError("--with-tests is for one bundle (`opa test`): leave out --split-by")
    if split_by is not None and output == STANDARD_OUTPUT:
        raise click.UsageError("--split-by writes a bundle per tenant: give -o DIRECTORY")
    if signing_key is None:
        alg_given = click.get_current_context().get_parameter_source("signing_alg")
        for option, given in (
            ("--scope", scope is not None),
            ("--signing-alg", alg_given == ParameterSource.COMMANDLINE),
        ):
            if given:
                raise click.UsageError(f"{option} signs the bundle: give --signing-key too")
    if output == STANDARD_OUTPUT and fmt != "text":
        raise click.UsageError(
            f"-o - writes the bundle to standard output, where --format {fmt} would write "
            "the diagnostics: write the bundle to a file"
        )
    # Every problem of the command line is reported with the sources' diagnostics.
    problems: list[Diagnostic] = []
    key = (
        load_key(signing_key, signing_alg, scope, signing_key_id)
        if signing_key is not None
        else None
    )
    if isinstance(key, Diagnostic):
        problems.append(key)

    def signed(files: dict[str, bytes]) -> dict[str, bytes]:
        if not isinstance(key, SigningKey):
            return files
        signature = signatures(files, key)
        if isinstance(signature, Diagnostic):
            _fail(signature)
        return {**files, SIGNATURES_FILE: signature}

    if split_by is not None:
        split = compile_split(list(sources), split_by, max_exception_days)
        _report(split, fmt, problems)
        if split.split is None or problems:
            sys.exit(1)
        bundles = [replace(b, files=signed(b.files)) for b in split.split]
        try:
            click.echo("\n".join(write_split(bundles, output)))
        except OSError as exc:
            _fail(write_failed(output, exc))
        return
    unwritable_output = check_output(output)
    if unwritable_output is not None:
        problems.append(unwritable_output)
    elif output == STANDARD_OUTPUT and sys.stdout.isatty():
        problems.append(
            command_error(
                "RG061",
                "-o - writes the bundle (a .tar.gz) to standard output, which is a terminal",
                help="redirect it: regate build SRC -o - > bundle.tar.gz",
            )
        )
    result = compile_sources(list(sources), with_tests, max_exception_days)
    overwritten = overwrites(output, [s.path for s in result.sources])
    if overwritten is not None and unwritable_output is None:
        problems.append(overwritten)
    _report(result, fmt, problems)
    if result.files is None or problems:
        sys.exit(1)
    try:
        write_output(output, tar_gz(signed(result.files)))
    except OSError as exc:
        _fail(write_failed(output, exc))


def decision_options(command: Callable[..., None]) -> Callable[..., None]:
    """--bundle or --opa-url, and --input: where a decision comes from."""
    command = click.option(
        "--input", "request", required=True, help="The request (JSON), or - for stdin."
    )(command)
    command = click.option("--opa-url", help="A running OPA sidecar serving the bundle.")(command)
    return click.option(
        "--bundle", help="A bundle built by `regate build`, evaluated by a local OPA."
    )(command)


def _read_request(path: str) -> Any:
    """`read_request`, with what Python's JSON reader raises besides syntax errors."""
    shown = "<stdin>" if path == "-" else path
    try:
        return read_request(path)
    except RecursionError:
        reason = "it nests too deeply to be read"
    except ValueError:  # an integer of more digits than Python converts
        reason = "it holds a number too long to be read"
    _fail(error("RG002", Span(shown, 1, 1, 1, 1), f"the request is not valid JSON: {reason}"))


def _input_problem(path: str) -> Diagnostic | None:
    """Why `--input` would hang or read without bound, before it is read: standard input
    that is a terminal, a terminal or endless device, a pipe nobody writes to, a file
    larger than any request."""
    if path == "-":
        if not sys.stdin.isatty():
            return None
        reason = "standard input is a terminal"
        return command_error(
            "RG001",
            f"--input - cannot read the request: {reason}",
            help="pipe the request in (`... --input - < request.json`) or name its file",
        )
    span = Span(path, 1, 1, 1, 1)
    try:
        mode = os.stat(path).st_mode
    except (OSError, ValueError):
        return None  # read_request says why
    if stat.S_ISCHR(mode) or stat.S_ISBLK(mode):
        return error("RG001", span, f"cannot read {path}: it is a device, not a request file")
    if stat.S_ISREG(mode) and os.path.getsize(path) > MAX_REQUEST_BYTES:
        size = os.path.getsize(path)
        return error(
            "RG001", span, f"{path} is {size} bytes; a request is at most {MAX_REQUEST_BYTES}"
        )
    if stat.S_ISFIFO(mode) and not _arrives(path):
        return error(
            "RG001",
            span,
            f"cannot read {path}: nothing was written to the pipe within {INPUT_WAIT_SECONDS:g} s",
        )
    return None


def _arrives(pipe: str) -> bool:
    """Whether a pipe has something to read (or its writer closed it) within
    INPUT_WAIT_SECONDS; the data stays for the reader."""
    handle = os.open(pipe, os.O_RDONLY | os.O_NONBLOCK)
    try:
        poller = select.poll()
        poller.register(handle, select.POLLIN | select.POLLHUP)
        return bool(poller.poll(INPUT_WAIT_SECONDS * 1000))
    finally:
        os.close(handle)


def before_deciding(bundle: str | None, opa_url: str | None, request_path: str) -> None:
    """What stops a decision before any request is read, all reported in one run: both or
    neither of --bundle and --opa-url (usage), no OPA or no bundle, a malformed --opa-url,
    an --input that would hang or read without bound."""
    if (bundle is None) == (opa_url is None):
        raise click.UsageError("give exactly one of --bundle and --opa-url")
    problems = [exc.diagnostic for exc in preflight(bundle, opa_url)]
    unreadable = _input_problem(request_path)
    if unreadable is not None:
        problems.append(unreadable)
    if problems:
        sys.stderr.write(render(problems, {}, "text", __version__))
        if unreadable is None and read_requests(request_path) is None:
            _read_request(request_path)  # its own problems too, in the same run
        sys.exit(1)


def decide(bundle: str | None, opa_url: str | None, request: Any, many: bool = False) -> Any:
    """The decision from a local OPA or a sidecar; OPA failures end the command.  `many`:
    `request` holds requests by name, decided in one `opa eval` (a sidecar: one by one)."""
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
                requests[f"{path}:{number}"] = strict_json(line)
            except JsonProblem as exc:
                column = exc.at[1] if exc.at else 1
                span = Span(path, number, column, number, column + 1)
                diagnostics.append(error("RG002", span, f"the request is not valid JSON: {exc}"))
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
    before_deciding(bundle, opa_url, request)
    requests = read_requests(request)
    if requests is None:
        decisions = [decide(bundle, opa_url, _read_request(request))]
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
    before_deciding(bundle, opa_url, request)
    decision = decide(bundle, opa_url, _read_request(request))
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
