"""`regate metadata from FORMAT REPORT` and `regate gate` (docs/evidence.md)."""

from __future__ import annotations

import json
import sys
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, NoReturn

import click

from compiler import __version__, explain
from compiler.bundle import (
    STANDARD_OUTPUT,
    check_output,
    overwrites,
    write_atomically,
    write_failed,
)
from compiler.diagnostics import render
from compiler.evidence import formats
from compiler.evidence.mapping import DEFAULT_TEMPLATES, fill, load_mapping, measures
from compiler.evidence.report import EvidenceError, Format, Kind, add, read_text
from compiler.evidence.specification import Declared, Target, from_schema_file, validate
from compiler.opa import OpaError, ask_sidecar, eval_bundle
from compiler.parse import nrn_problem

# `regate gate` exit statuses; 1 (errors) and 2 (usage) are every command's.
EXIT_STATUS = {"approve": 0, "manual": 3, "deny": 4}


@dataclass(frozen=True)
class ReportArgument:
    """`[FORMAT:]PATH`: a report, with its format or to be recognised."""

    format: Format | None
    path: str

    @staticmethod
    def parse(text: str) -> ReportArgument:
        name, colon, path = text.partition(":")
        if colon and name in formats.FORMATS:
            return ReportArgument(formats.FORMATS[name], path)
        return ReportArgument(None, text)


@dataclass(frozen=True)
class Metadata:
    """A metadata document built from reports, and the kinds of report it came from."""

    document: Any
    kinds: tuple[Kind, ...]
    paths: tuple[str, ...]


def build_metadata(reports: Sequence[ReportArgument], mapping: str | None) -> Metadata:
    """Read every report, add up their counts, and shape them by the mapping or the default.
    Every report and the mapping are read before an error is raised: one run says all."""
    all_counts = []
    kinds: list[Kind] = []
    problems: list[EvidenceError] = []
    for argument in reports:
        try:
            report = read_text(argument.path)
            format = argument.format or formats.detect(report)
            all_counts.append(formats.measure(report, format))
        except EvidenceError as exc:
            problems.append(exc)
            continue
        if format.kind not in kinds:
            kinds.append(format.kind)
    try:
        template = (
            load_mapping(mapping)
            if mapping
            else {key: value for kind in kinds for key, value in DEFAULT_TEMPLATES[kind].items()}
        )
    except EvidenceError as exc:
        problems.append(exc)
    if problems:
        raise EvidenceError(
            [d for p in problems for d in p.diagnostics],
            {path: text for p in problems for path, text in p.texts.items()},
        )
    document = fill(template, measures(add(*all_counts))) or {}
    return Metadata(document, tuple(kinds), tuple(r.path for r in reports))


def _fail(exc: EvidenceError) -> NoReturn:
    sys.stderr.write(render(exc.diagnostics, exc.texts, "text", __version__))
    sys.exit(1)


@click.group("metadata")
def metadata_group() -> None:
    """Metadata documents from evidence: scanner and coverage reports."""


@metadata_group.command("from")
@click.argument("format_name", metavar="FORMAT", type=click.Choice(list(formats.FORMATS)))
@click.argument("report")
@click.option(
    "--merge",
    "more",
    multiple=True,
    metavar="[FORMAT:]REPORT",
    help="Another report counted into the same document (repeatable).",
)
@click.option("--mapping", help="A mapping file: the document's shape for another specification.")
@click.option("--schema", help="Validate the document against this JSON Schema file.")
@click.option(
    "--sources",
    multiple=True,
    help="Validate against the specification declared in these sources (repeatable).",
)
@click.option("--entity", default="build", show_default=True, help="The entity, with --sources.")
@click.option("--metadata", "key", help="The metadata key, with --sources [default: the kind].")
@click.option("--nrn", help="Pick the specification in force at this NRN, with --sources.")
@click.option(
    "-o", "--output", help="Write the document here instead of standard output (-: stdout)."
)
def metadata_from_command(
    format_name: str,
    report: str,
    more: tuple[str, ...],
    mapping: str | None,
    schema: str | None,
    sources: tuple[str, ...],
    entity: str,
    key: str | None,
    nrn: str | None,
    output: str | None,
) -> None:
    """A scanner or coverage REPORT in FORMAT → a metadata document (JSON)."""
    if schema and sources:
        raise click.UsageError("give --schema or --sources, not both")
    malformed = nrn_problem(nrn) if nrn is not None else None
    if malformed is not None:
        raise click.BadParameter(f"{nrn!r} is not an NRN: {malformed[2]}", param_hint="--nrn")
    arguments = [ReportArgument(formats.FORMATS[format_name], report)]
    arguments += [ReportArgument.parse(m) for m in more]
    # Every problem in one run: the output, the reports and mapping, the specification.
    given = [a.path for a in arguments] + [p for p in (mapping, schema) if p]
    unwritable = (check_output(output) or overwrites(output, given)) if output is not None else None
    problems = EvidenceError([unwritable] if unwritable else [])
    metadata: Metadata | None = None
    try:
        metadata = build_metadata(arguments, mapping)
    except EvidenceError as exc:
        problems = _joined(problems, exc)
    target: Target | None = None
    try:
        if schema:
            target = from_schema_file(schema)
        elif sources:
            kind = metadata.kinds[0] if metadata else formats.FORMATS[format_name].kind
            target = Declared.load(sources).target(entity, key or kind, nrn)
        if target is not None and metadata is not None:
            validate(metadata.document, target, metadata.paths)
    except EvidenceError as exc:
        problems = _joined(problems, exc)
    if problems.diagnostics or metadata is None:
        _fail(problems)
    text = json.dumps(metadata.document, indent=2) + "\n"
    if output is not None and output != STANDARD_OUTPUT:
        try:
            write_atomically(output, text.encode("utf-8"))
        except OSError as exc:
            _fail(EvidenceError([write_failed(output, exc)]))
    else:
        click.echo(text, nl=False)


def _joined(first: EvidenceError, second: EvidenceError) -> EvidenceError:
    return EvidenceError([*first.diagnostics, *second.diagnostics], {**first.texts, **second.texts})


def _pair(text: str, option: str, shape: str) -> tuple[str, str]:
    left, equals, right = text.partition("=")
    if not equals or not left or not right:
        raise click.BadParameter(f"expected {shape}, got {text!r}", param_hint=option)
    return left, right


def _target(text: str, option: str) -> tuple[str, str]:
    entity, dot, key = text.partition(".")
    if not dot or not entity or not key or "." in key:
        raise click.BadParameter(
            f"expected ENTITY.KEY such as build.security, got {text!r}", param_hint=option
        )
    return entity, key


@click.command("gate")
@click.option("--bundle", help="A bundle built by `regate build`, evaluated by a local OPA.")
@click.option("--opa-url", help="A running OPA sidecar serving the bundle.")
@click.option(
    "--action", "action", required=True, help="The approval action, e.g. deployment:create."
)
@click.option("--nrn", required=True, help="The NRN of the request.")
@click.option(
    "--dimension",
    "dimensions",
    multiple=True,
    metavar="KEY=VALUE",
    help="A scope dimension (repeatable).",
)
@click.option(
    "--evidence",
    multiple=True,
    required=True,
    metavar="ENTITY.KEY=[FORMAT:]REPORT",
    help="A report for a metadata key (repeatable; reports for one key are added up).",
)
@click.option(
    "--mapping",
    "mappings",
    multiple=True,
    metavar="ENTITY.KEY=FILE",
    help="A mapping file for one metadata key.",
)
@click.option(
    "--sources",
    multiple=True,
    help="Validate the evidence against the specifications in these sources.",
)
def gate_command(
    bundle: str | None,
    opa_url: str | None,
    action: str,
    nrn: str,
    dimensions: tuple[str, ...],
    evidence: tuple[str, ...],
    mappings: tuple[str, ...],
    sources: tuple[str, ...],
) -> None:
    """Assemble a request from evidence, decide it, explain; exit 0 approve, 3 manual, 4 deny."""
    if (bundle is None) == (opa_url is None):
        raise click.UsageError("give exactly one of --bundle and --opa-url")
    reports: dict[tuple[str, str], list[ReportArgument]] = {}
    for item in evidence:
        target, path = _pair(item, "--evidence", "ENTITY.KEY=[FORMAT:]REPORT")
        reports.setdefault(_target(target, "--evidence"), []).append(ReportArgument.parse(path))
    mapping_of: dict[tuple[str, str], str] = {}
    for item in mappings:
        target, path = _pair(item, "--mapping", "ENTITY.KEY=FILE")
        mapping_of[_target(target, "--mapping")] = path
    scope = dict(_pair(d, "--dimension", "KEY=VALUE") for d in dimensions)
    entities: dict[str, Any] = {"scope": {"dimensions": scope}}
    try:
        declared = Declared.load(sources) if sources else None
        for (entity, key), arguments in reports.items():
            metadata = build_metadata(arguments, mapping_of.get((entity, key)))
            if declared is not None:
                validate(metadata.document, declared.target(entity, key, nrn), metadata.paths)
            entities.setdefault(entity, {}).setdefault("metadata", {})[key] = metadata.document
    except EvidenceError as exc:
        _fail(exc)
    request = {"action": action, "nrn": nrn, "entities": entities}
    try:
        decision = ask_sidecar(opa_url, request) if opa_url else eval_bundle(str(bundle), request)
    except OpaError as exc:
        click.echo(f"regate: error: {exc}", err=True)
        sys.exit(1)
    click.echo(explain.render(decision), nl=False)
    sys.exit(EXIT_STATUS.get(decision.get("result"), 1))
