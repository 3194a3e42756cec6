"""`regate audit`: the summary of decision logs (compiler/fleet/audit.py) as text,
JSON or a self-contained HTML page."""

from __future__ import annotations

import json
import sys
from functools import cache
from typing import Any

import click
import jinja2

from compiler import __version__
from compiler.bundle import check_output, overwrites, write_failed, write_output
from compiler.diagnostics import render
from compiler.fleet.audit import LISTED, read_logs
from compiler.fleet.publish import reference_of, registry_failure
from compiler.fleet.reference import Reference
from compiler.fleet.registry import RegistryError, published_revision
from compiler.resources import resource_dir


def text(summary: dict[str, Any]) -> str:
    out = [
        f"{summary['decisions']} decisions in {summary['lines']} lines "
        f"({summary['opa_log_lines']} of OPA's own log, {len(summary['unreadable'])} unreadable)"
    ]

    def section(title: str, rows: list[str]) -> None:
        if rows:
            out.extend(["", title, *(f"  {row}" for row in rows)])

    def counts(counter: dict[str, int]) -> str:
        return ", ".join(f"{n} {key}" for key, n in counter.items())

    section("results:", [counts(summary["results"])] if summary["results"] else [])
    if summary["undefined"]:
        out.append(f"  {summary['undefined']} undefined (no bundle active when asked)")
    section("by requested action:", [f"{a}: {counts(c)}" for a, c in summary["by_action"].items()])
    section(
        "by approval action:",
        [f"{a}: {counts(c)}" for a, c in summary["by_approval_action"].items()],
    )
    section(
        "policies that fail most:",
        [f'{p["failed"]:>6}  "{p["policy"]}" ({p["source"]})' for p in summary["failed_policies"]],
    )
    section(
        "conditions that fail most:",
        [
            f"{c['failed']:>6}  {c['path'] or '(the element)'} {c['operator']} "
            f'{json.dumps(c["expected"])} ("{c["policy"]}", {c["source"]})'
            for c in summary["failed_conditions"]
        ],
    )
    section(
        "waivers used:",
        [
            f'{w["used"]:>6}  "{w["waiver"]}" for "{w["policy"]}" (owner {w["owner"]}, '
            f"expires {w['expires']})"
            for w in summary["waivers"]
        ],
    )
    section(
        "finding exceptions used:",
        [_exception_row(e, expired=False) for e in summary["exceptions"]],
    )
    section(
        "expired finding exceptions still hit (their findings count again):",
        [_exception_row(e, expired=True) for e in summary["expired_exceptions"]],
    )
    section(
        "audit actions that would have blocked:",
        [
            f"{a['decisions']:>6}  {a['action']} would be {a['would_be']}"
            for a in summary["audit_would_block"]
        ],
    )
    section(
        "malformed requests (denied):",
        [f"{n:>6}  {e}" for e, n in summary["malformed_requests"].items()],
    )
    section(
        "bundle revisions:",
        [
            f"{name} {revision}: {n} decisions"
            + (" (newest)" if revision in summary["newest"].get(name, []) else "")
            for name, revisions in summary["bundles"].items()
            for revision, n in revisions.items()
        ],
    )
    stale = summary["stale"]
    if stale["decisions"]:
        rows = [f"{n} by sidecar {sidecar}" for sidecar, n in stale["by_sidecar"].items()]
        rows += [
            f"{s['file']}:{s['line']} {s['timestamp']} {s['action']} at {s['nrn']}: "
            + ", ".join(f"{b} {r}" for b, r in s["bundles"].items())
            for s in stale["list"][:LISTED]
        ]
        if len(stale["list"]) > LISTED:
            rows.append(f"... and {len(stale['list']) - LISTED} more (--format json lists all)")
        section(
            f"{stale['decisions']} decisions made with an older revision than the newest:", rows
        )
    section(
        "erased or masked by the sidecars:", [f"{n:>6}  {p}" for p, n in summary["masked"].items()]
    )
    section(
        "decisions at other paths (not counted above):",
        [f"{n:>6}  {p}" for p, n in summary["other_paths"].items()],
    )
    section(
        "unreadable lines:",
        [
            f"{u['file']}{':' + str(u['line']) if u['line'] else ''}: {u['reason']}"
            for u in summary["unreadable"]
        ],
    )
    return "\n".join(out) + "\n"


def _exception_row(exception: dict[str, Any], expired: bool) -> str:
    """One finding exception of the summary, in the words of `regate explain`."""
    named = exception["rule"] + "".join(
        f" in {exception[key]}" for key in ("package", "target") if key in exception
    )
    findings, decisions = exception["findings"], exception["decisions"]
    verb, state = ("would have excepted", "expired") if expired else ("excepted", "expires")
    return (
        f'{decisions:>6}  "{exception["exception"]}" at {exception["nrn"]} {verb} {findings} '
        f"finding{'s' if findings != 1 else ''} of {named} in {decisions} "
        f"decision{'s' if decisions != 1 else ''} (owner {exception['owner']}, "
        f"{state} {exception['expires']})"
    )


@cache
def _html_environment() -> jinja2.Environment:
    return jinja2.Environment(
        loader=jinja2.FileSystemLoader(str(resource_dir("templates"))),
        undefined=jinja2.StrictUndefined,
        autoescape=True,  # every value from a log is text, never markup
    )


def html(summary: dict[str, Any]) -> str:
    template = _html_environment().get_template("audit.html.j2")
    return template.render(s=summary, listed=LISTED, dumps=json.dumps)


@click.command("audit")
@click.argument("logs", nargs=-1, required=True)
@click.option(
    "--newest",
    multiple=True,
    metavar="REVISION",
    help="The newest published revision (repeatable); default: the last to appear in the logs.",
)
@click.option(
    "--published",
    multiple=True,
    metavar="REF",
    callback=lambda _c, _p, texts: tuple(reference_of(t, False, "--published") for t in texts),
    help="Read the newest revision from the registry: the tag the fleet polls (repeatable).",
)
@click.option("--plain-http", is_flag=True, help="With --published: the registry speaks HTTP.")
@click.option(
    "--format", "fmt", type=click.Choice(["text", "json", "html"]), default="text",
    show_default=True,
)  # fmt: skip
@click.option("-o", "--output", help="Write the report here instead of standard output.")
def audit_command(
    logs: tuple[str, ...],
    newest: tuple[str, ...],
    published: tuple[Reference, ...],
    plain_http: bool,
    fmt: str,
    output: str | None,
) -> None:
    """Summarise OPA decision logs (JSON lines: OPA's console output, or events a
    decision log service received; - for standard input).

    Exit status: 0 every line read, 1 some lines or files could not be read (listed
    with their line numbers; the report covers the rest), 2 usage, 3 the registry
    could not be asked (--published)."""
    # Before reading anything: `-o` one of the logs would destroy it.
    unwritable = (check_output(output) or overwrites(output, logs)) if output is not None else None
    if unwritable is not None:
        sys.stderr.write(render([unwritable], {}, "text", __version__))
        sys.exit(1)
    current = list(newest)
    for reference in published:
        try:
            current.append(published_revision(reference, plain_http))
        except RegistryError as exc:
            registry_failure("RG121", f"cannot read {reference}: {exc}", exc.help)
    audit = read_logs(logs)
    summary = audit.summary(current)
    report = {"text": text, "html": html}.get(fmt, lambda s: json.dumps(s, indent=2) + "\n")(
        summary
    )
    if output is None:
        click.echo(report, nl=False)
    else:
        try:
            write_output(output, report.encode())
        except OSError as exc:
            sys.stderr.write(render([write_failed(output, exc)], {}, "text", __version__))
            sys.exit(1)
    sys.stderr.write(render(audit.diagnostics(), {}, "text", __version__))
    sys.exit(1 if audit.unreadable else 0)
