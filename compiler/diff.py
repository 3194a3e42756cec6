"""`regate diff OLD NEW --requests DIR`: which recorded requests a change of sources decides
differently.

Both versions are compiled, and the same requests are decided on both bundles by a
real OPA.  A version is a file or directory, or `REV:PATH`, a path at a git revision
(extracted with `git archive` into a temporary directory).  A request changes when
its decision changes in anything but `revision`: the result, which actions apply, an
action's result or a policy's passed/failed.  Both decisions are reported as
`regate explain` words them.
"""

from __future__ import annotations

import io
import json
import os
import subprocess
import sys
import tarfile
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import click

from compiler import __version__, explain
from compiler.ast import Span
from compiler.bundle import tar_gz
from compiler.diagnostics import Diagnostic, error, render
from compiler.driver import compile_sources
from compiler.opa import OpaError, decide_all
from compiler.sources import file_span, read_text


class DiffError(Exception):
    """A version or the requests cannot be had; the message says why."""


class DiagnosticsFound(Exception):
    """A version does not compile, or a request cannot be read: the diagnostics say why."""

    def __init__(self, diagnostics: list[Diagnostic], texts: dict[str, str]) -> None:
        super().__init__("diagnostics found")
        self.diagnostics = diagnostics
        self.texts = texts


@dataclass(frozen=True)
class Change:
    request: str  # the request file, as given under --requests
    old: Any  # the decision; None when undefined
    new: Any


# --- versions ---


def _git(arguments: list[str], cwd: str) -> bytes:
    try:
        done = subprocess.run(["git", *arguments], cwd=cwd, capture_output=True, check=False)
    except OSError as exc:
        raise DiffError(f"cannot run git: {exc.strerror or exc}") from exc
    if done.returncode != 0:
        reason = done.stderr.decode(errors="replace").strip()
        raise DiffError(f"git {' '.join(arguments)}: {reason}")
    return done.stdout


def materialize(version: str, scratch: Path) -> str:
    """A directory or file holding `version`'s sources: the path itself, or `REV:PATH`
    extracted from git (PATH relative to the current directory, as git shows it)."""
    if os.path.exists(version):
        return version
    revision, colon, path = version.partition(":")
    if not colon or not revision:
        raise DiffError(f"{version} is neither a file or directory nor REV:PATH (git)")
    prefix = _git(["rev-parse", "--show-prefix"], ".").decode().strip()
    top = _git(["rev-parse", "--show-toplevel"], ".").decode().strip()
    inside = os.path.normpath(os.path.join(prefix, path or "."))
    archive = _git(["archive", "--format=tar", revision, "--", inside], top)
    target = Path(tempfile.mkdtemp(prefix="version-", dir=scratch))
    with tarfile.open(fileobj=io.BytesIO(archive)) as tar:
        tar.extractall(target, filter="data")
    return str(target / inside)


# --- requests ---


def load_requests(directory: str) -> tuple[dict[str, Any], list[Diagnostic], dict[str, str]]:
    """Every `*.json` request below `directory`, by path; bad JSON is a diagnostic."""
    root = Path(directory)
    if not root.is_dir():
        return {}, [error("RG001", file_span(directory), f"{directory} is not a directory")], {}
    requests: dict[str, Any] = {}
    diagnostics: list[Diagnostic] = []
    texts: dict[str, str] = {}
    for file in sorted(root.rglob("*.json"), key=lambda p: p.as_posix()):
        shown = file.as_posix()
        text = read_text(shown, shown)
        if isinstance(text, Diagnostic):
            diagnostics.append(text)
            continue
        texts[shown] = text
        try:
            requests[shown] = json.loads(text)
        except json.JSONDecodeError as exc:
            span = Span(shown, exc.lineno, exc.colno, exc.lineno, exc.colno + 1)
            diagnostics.append(error("RG002", span, f"the request is not valid JSON: {exc.msg}"))
    if not requests and not diagnostics:
        diagnostics.append(
            error("RG004", file_span(directory), f"no *.json requests in {directory}")
        )
    return requests, diagnostics, texts


# --- deciding and comparing ---


def without_revision(decision: Any) -> Any:
    if isinstance(decision, dict):
        return {k: v for k, v in decision.items() if k != "revision"}
    return decision


def decide_with(sources: str, requests: dict[str, Any], scratch: Path) -> dict[str, Any]:
    """Compile `sources` and decide every request; compile errors raise DiagnosticsFound."""
    result = compile_sources([sources])
    if result.files is None:
        raise DiagnosticsFound(result.diagnostics, result.texts)
    handle, bundle = tempfile.mkstemp(suffix=".tar.gz", dir=scratch)
    with os.fdopen(handle, "wb") as out:
        out.write(tar_gz(result.files))
    return decide_all(bundle, requests)


def changes(old: str, new: str, requests: dict[str, Any]) -> list[Change]:
    with tempfile.TemporaryDirectory(prefix="regate-diff-") as directory:
        scratch = Path(directory)
        before = decide_with(materialize(old, scratch), requests, scratch)
        after = decide_with(materialize(new, scratch), requests, scratch)
    found = []
    for name in requests:
        if without_revision(before.get(name)) != without_revision(after.get(name)):
            found.append(Change(name, before.get(name), after.get(name)))
    return found


# --- the report ---


def _result(decision: Any) -> str:
    return str(decision.get("result")) if isinstance(decision, dict) else "undefined"


def _explained(label: str, decision: Any) -> list[str]:
    """`regate explain`'s text for one side, under `old:` or `new:`."""
    if not isinstance(decision, dict):
        return [f"  {label}: no decision (undefined)"]
    first, *rest = explain.render(decision).splitlines()
    return [f"  {label}: {first}", *(f"  {line}" for line in rest)]


def report_text(found: list[Change], total: int) -> str:
    out = []
    for change in found:
        out.append(f"{change.request}: {_result(change.old)} -> {_result(change.new)}")
        out.extend(_explained("old", change.old))
        out.extend(_explained("new", change.new))
        out.append("")
    out.append(f"{len(found)} of {total} requests changed")
    return "\n".join(out) + "\n"


def report_json(found: list[Change], total: int) -> str:
    changed = [{"request": c.request, "old": c.old, "new": c.new} for c in found]
    return json.dumps({"changed": changed, "requests": total}, indent=2, sort_keys=True) + "\n"


@click.command("diff")
@click.argument("old")
@click.argument("new")
@click.option(
    "--requests", "requests_dir", required=True, metavar="DIR", help="Recorded requests (*.json)."
)
@click.option(
    "--format",
    "fmt",
    type=click.Choice(["text", "json", "html"]),
    default="text",
    help="Report format (html: a page a person reads, docs/editor.md).",
)
def diff_command(old: str, new: str, requests_dir: str, fmt: str) -> None:
    """Decide the requests in DIR with OLD and with NEW; report those decided differently.

    OLD and NEW are files or directories of sources, or REV:PATH at a git revision.
    Exit status: 0 none changed, 1 some changed, 2 errors."""
    requests, diagnostics, texts = load_requests(requests_dir)
    try:
        if diagnostics:
            raise DiagnosticsFound(diagnostics, texts)
        found = changes(old, new, requests)
    except DiagnosticsFound as exc:
        click.echo(render(exc.diagnostics, exc.texts, "text", __version__), err=True, nl=False)
        sys.exit(2)
    except (DiffError, OpaError) as exc:
        click.echo(f"regate: error: {exc}", err=True)
        sys.exit(2)
    if fmt == "html":
        from compiler.editor.html import diff_page

        report = diff_page(found, len(requests), old, new)
    else:
        report = (report_text if fmt == "text" else report_json)(found, len(requests))
    click.echo(report, nl=False)
    sys.exit(1 if found else 0)
