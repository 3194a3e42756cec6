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

import dataclasses
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
from compiler.bundle import tar_gz
from compiler.diagnostics import Diagnostic, command_error, error, render
from compiler.driver import compile_sources
from compiler.opa import OpaError, decide_all
from compiler.request import parse_request
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


@dataclass(frozen=True)
class Version:
    """A version's sources on disk, and how to name what is in them: `REV:PATH` for
    sources extracted from git into a temporary directory, never that directory."""

    given: str  # as on the command line
    path: str  # where its sources are

    def shown(self, text: str) -> str:
        """`text` with the temporary directory written as the version the user gave."""
        if self.path == self.given:
            return text
        base = self.given if self.given.endswith(":") else self.given.rstrip("/") + "/"
        return text.replace(self.path + "/", base).replace(self.path, self.given)

    def diagnostic(self, found: Diagnostic) -> Diagnostic:
        span = dataclasses.replace(found.span, file=self.shown(found.span.file))
        help = self.shown(found.help) if found.help else None
        return dataclasses.replace(found, span=span, message=self.shown(found.message), help=help)


def _git(arguments: list[str], cwd: str, version: str) -> bytes:
    try:
        done = subprocess.run(["git", *arguments], cwd=cwd, capture_output=True, check=False)
    except OSError as exc:
        raise DiffError(
            f"cannot read {version}: git cannot be run ({exc.strerror or exc})"
        ) from None
    if done.returncode != 0:
        said = done.stderr.decode(errors="replace").strip().splitlines()
        reason = said[0].removeprefix("fatal: ") if said else f"git {arguments[0]} failed"
        raise DiffError(f"cannot read {version} from git: {reason}")
    return done.stdout


def materialize(version: str, scratch: Path) -> Version:
    """A directory or file holding `version`'s sources: the path itself, or `REV:PATH`
    extracted from git (PATH relative to the current directory, as git shows it)."""
    if os.path.exists(version):
        return Version(version, version)
    revision, colon, path = version.partition(":")
    if not colon or not revision:
        raise DiffError(f"{version} is neither a file or directory nor REV:PATH (git)")
    prefix = _git(["rev-parse", "--show-prefix"], ".", version).decode().strip()
    top = _git(["rev-parse", "--show-toplevel"], ".", version).decode().strip()
    inside = os.path.normpath(os.path.join(prefix, path or "."))
    archive = _git(["archive", "--format=tar", revision, "--", inside], top, version)
    target = Path(tempfile.mkdtemp(prefix="version-", dir=scratch))
    try:
        with tarfile.open(fileobj=io.BytesIO(archive)) as tar:
            tar.extractall(target, filter="data")
    except (OSError, tarfile.TarError) as exc:
        raise DiffError(f"cannot extract {version} from git: {exc}") from None
    return Version(version, str(target / inside))


# --- requests ---


def load_requests(directory: str) -> tuple[dict[str, Any], list[Diagnostic], dict[str, str]]:
    """Every `*.json` request below `directory`, by path; what a request may not be
    (bad JSON, a duplicate key, ...) is a diagnostic."""
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
        read = parse_request(text, shown)  # as `regate decide` reads one (compiler/request.py)
        if isinstance(read, list):
            diagnostics.extend(read)
        else:
            requests[shown] = read
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


def compile_version(version: Version, scratch: Path) -> str | DiagnosticsFound:
    """The bundle of a version's sources, written in `scratch`; or its diagnostics, which
    name the version as the user gave it."""
    result = compile_sources([version.path])
    if result.files is None:
        return DiagnosticsFound(
            [version.diagnostic(d) for d in result.diagnostics],
            {version.shown(path): text for path, text in result.texts.items()},
        )
    handle, bundle = tempfile.mkstemp(suffix=".tar.gz", dir=scratch)
    with os.fdopen(handle, "wb") as out:
        out.write(tar_gz(result.files))
    return bundle


def changes(old: str, new: str, requests: dict[str, Any]) -> list[Change]:
    """The requests the two versions decide differently.  Both versions are read and
    compiled before anything is reported: one run names every problem of both."""
    with tempfile.TemporaryDirectory(prefix="regate-diff-") as directory:
        scratch = Path(directory)
        problems: list[Diagnostic] = []
        texts: dict[str, str] = {}
        bundles: list[tuple[Version, str]] = []
        for given in (old, new):
            try:
                version = materialize(given, scratch)
            except DiffError as exc:
                problems.append(command_error("RG066", str(exc), help=VERSION_HELP))
                continue
            compiled = compile_version(version, scratch)
            if isinstance(compiled, DiagnosticsFound):
                problems.extend(compiled.diagnostics)
                texts.update(compiled.texts)
            else:
                bundles.append((version, compiled))
        if problems:
            raise DiagnosticsFound(problems, texts)
        (old_version, old_bundle), (new_version, new_bundle) = bundles
        before = _decide(old_version, old_bundle, requests)
        after = _decide(new_version, new_bundle, requests)
    found = []
    for name in requests:
        if without_revision(before.get(name)) != without_revision(after.get(name)):
            found.append(Change(name, before.get(name), after.get(name)))
    return found


VERSION_HELP = "give a file or directory of sources, or REV:PATH inside a git repository"


def _decide(version: Version, bundle: str, requests: dict[str, Any]) -> dict[str, Any]:
    """Every request decided by a version's bundle; OPA's failures name the version."""
    try:
        return decide_all(bundle, requests)
    except OpaError as exc:
        where = f"the bundle of {version.given}"
        message = exc.message.replace(f"bundle {bundle}", where).replace(bundle, where)
        raise OpaError(message, exc.code, exc.help) from None


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
        found = changes(old, new, requests)
    except DiagnosticsFound as exc:
        diagnostics.extend(exc.diagnostics)
        texts.update(exc.texts)
    except OpaError as exc:
        diagnostics.append(exc.diagnostic)
    if diagnostics:
        click.echo(render(diagnostics, texts, "text", __version__), err=True, nl=False)
        sys.exit(2)
    if fmt == "html":
        from compiler.editor.html import diff_page

        report = diff_page(found, len(requests), old, new)
    else:
        report = (report_text if fmt == "text" else report_json)(found, len(requests))
    click.echo(report, nl=False)
    sys.exit(1 if found else 0)
