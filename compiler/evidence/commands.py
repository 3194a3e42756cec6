"""`regate metadata from FORMAT REPORT` and `regate gate` (docs/evidence.md)."""

from __future__ import annotations

import json
import os
import sys
import tarfile
from collections.abc import Sequence
from dataclasses import dataclass, replace
from typing import Any, NoReturn

import click

from compiler import __version__, catalog, explain
from compiler.ast import Span
from compiler.bundle import (
    STANDARD_OUTPUT,
    check_output,
    overwrites,
    write_atomically,
    write_failed,
)
from compiler.diagnostics import Diagnostic, did_you_mean, error, render, warning
from compiler.entities import entity_model
from compiler.evidence import formats
from compiler.evidence.cyclonedx import CYCLONEDX, without_vex
from compiler.evidence.keys import PublicKey, load_public_key
from compiler.evidence.mapping import (
    FINDINGS_LIST,
    default_template,
    fill,
    load_mapping,
    measures,
)
from compiler.evidence.record import load_signer, record_options, write_record
from compiler.evidence.report import (
    EvidenceError,
    Finding,
    Format,
    Kind,
    Measured,
    Report,
    add,
    read_text,
)
from compiler.evidence.specification import Declared, Target, from_schema_file, validate
from compiler.opa import OpaError, ask_data, ask_sidecar, eval_bundle
from compiler.parse import nrn_problem
from compiler.request import nrn_fault, unmatched_help

# `regate gate` exit statuses; 1 (errors) and 2 (usage) are every command's.
EXIT_STATUS = {"approve": 0, "manual": 3, "deny": 4, "pending": 5}


@dataclass(frozen=True)
class ReportArgument:
    """`[FORMAT:]PATH`: a report, with its format or to be recognised."""

    format: Format | None
    path: str

    @staticmethod
    def parse(text: str, default: Format | None = None) -> ReportArgument:
        name, colon, path = text.partition(":")
        if colon and name in formats.FORMATS:
            return ReportArgument(formats.FORMATS[name], path)
        return ReportArgument(default, text)


@dataclass(frozen=True)
class ReadReport:
    """A report file, its format, and what it measures."""

    report: Report
    format: Format
    measured: Measured

    def described(self) -> dict[str, str]:
        """How a decision record names it: path, format and the SHA-256 of its bytes."""
        return {"path": self.report.path, "format": self.format.name, "sha256": self.report.sha256}


@dataclass(frozen=True)
class Metadata:
    """A metadata document built from reports, and what it was built from."""

    document: Any
    kinds: tuple[Kind, ...]
    reports: tuple[ReadReport, ...]
    baselines: tuple[ReadReport, ...] = ()
    vex: tuple[ReadReport, ...] = ()

    @property
    def paths(self) -> tuple[str, ...]:
        return tuple(r.report.path for r in self.reports)

    @property
    def warnings(self) -> list[Diagnostic]:
        return [w for r in (*self.reports, *self.baselines) for w in r.measured.warnings]


@dataclass(frozen=True)
class Key:
    """A public key given with --key: provenance signatures are verified with it."""

    path: str
    key: PublicKey

    @staticmethod
    def load(path: str | None) -> Key | None:
        return Key(path, load_public_key(path)) if path is not None else None


def read_report(argument: ReportArgument, key: Key | None = None) -> ReadReport:
    report = read_text(argument.path)
    format = argument.format or formats.detect(report)
    measured = formats.measure(report, format, key.key if key else None, key.path if key else None)
    return ReadReport(report, format, measured)


def read_reports(
    arguments: Sequence[ReportArgument], key: Key | None = None, mapping: str | None = None
) -> list[ReadReport]:
    """Every report read (and the mapping, if any) before an error is raised: one run
    names every report that cannot be used."""
    read: list[ReadReport] = []
    problems: list[EvidenceError] = []
    for argument in arguments:
        try:
            read.append(read_report(argument, key))
        except EvidenceError as exc:
            problems.append(exc)
    if problems and mapping:
        try:
            load_mapping(mapping)
        except EvidenceError as exc:
            problems.append(exc)
    if problems:
        raise EvidenceError(
            [d for p in problems for d in p.diagnostics],
            {path: text for p in problems for path, text in p.texts.items()},
        )
    return read


WHOLE_DOCUMENTS: tuple[Kind, ...] = ("quality", "provenance")  # one report makes the document


def _whole_alone(read: list[ReadReport]) -> None:
    whole = next((r for r in read if r.format.kind in WHOLE_DOCUMENTS), None)
    if whole is not None and len(read) > 1:
        others = ", ".join(r.report.path for r in read if r is not whole)
        raise whole.report.fail(
            "RG079",
            f"{whole.report.path} is {whole.format.title}, which makes a whole document; "
            f"it cannot be added up with {others}",
            help="give it a metadata key of its own",
        )


def _compared(read: list[ReadReport], baselines: list[ReadReport]) -> list[ReadReport]:
    """The reports, each counting only the findings its format's baselines do not have."""
    pools: dict[str, list[Finding]] = {}
    names = ", ".join(r.report.path for r in read)
    for baseline in baselines:
        if baseline.format.kind != "security":
            raise baseline.report.fail(
                "RG075",
                f"{baseline.report.path} is {baseline.format.title}, which has no findings "
                "to compare; a baseline is a scanner report",
            )
        if baseline.format.name not in {r.format.name for r in read}:
            raise baseline.report.fail(
                "RG075",
                f"{baseline.report.path} is {baseline.format.title}, but no report of that "
                f"format is compared with it ({names})",
                help="a baseline is the same tool's report on the code it is compared with",
            )
        pools.setdefault(baseline.format.name, []).extend(baseline.measured.findings)
    return [
        replace(r, measured=r.measured.without(pools[r.format.name]))
        if r.format.name in pools
        else r
        for r in read
    ]


def _with_vex(
    read: list[ReadReport], paths: Sequence[str]
) -> tuple[list[ReadReport], list[ReadReport]]:
    """The reports with the vulnerabilities VEX documents say do not affect removed,
    and the VEX documents as read."""
    if not paths:
        return read, []
    documents = [read_text(path) for path in paths]
    statements = [s for document in documents for s in formats.vex_statements(document)]
    if not any(r.format is CYCLONEDX for r in read):
        names = ", ".join(r.report.path for r in read)
        raise documents[0].fail(
            "RG075",
            f"{documents[0].path} is a VEX document, and VEX applies to CycloneDX SBOMs; "
            f"no report it would apply to is a CycloneDX SBOM ({names})",
            help="give the SBOM the VEX speaks of: cyclonedx:sbom.cdx.json",
        )
    applied = [
        replace(
            r, measured=replace(r.measured, findings=without_vex(r.measured.findings, statements))
        )
        if r.format is CYCLONEDX
        else r
        for r in read
    ]
    return applied, [ReadReport(document, CYCLONEDX, Measured()) for document in documents]


def findings_list(read: list[ReadReport]) -> list[dict[str, Any]]:
    """The counted findings with their identities (docs/evidence.md, "The findings list")."""
    listed = []
    for r in read:
        for finding in r.measured.findings:
            entry: dict[str, Any] = {"format": r.format.name, "category": finding.category}
            entry["id"] = finding.id
            optional = {
                "severity": finding.severity,
                "package": finding.package,
                "target": finding.target,
                "fingerprint": finding.fingerprint,
                "aliases": sorted(set(finding.aliases) - {finding.id}) or None,
            }
            entry |= {name: value for name, value in optional.items() if value is not None}
            listed.append(entry)
    order = ("format", "category", "id", "package", "target", "fingerprint", "severity")
    return sorted(listed, key=lambda e: tuple(str(e.get(name, "")) for name in order))


def build_metadata(
    reports: Sequence[ReportArgument],
    mapping: str | None,
    baselines: Sequence[ReportArgument] = (),
    with_findings: bool = False,
    key: Key | None = None,
    vex: Sequence[str] = (),
) -> Metadata:
    """Read every report, drop what VEX says does not affect, count what the baselines
    lack, add the counts up, and shape them by the mapping or the default."""
    read = read_reports(reports, key, mapping)
    _whole_alone(read)
    if key is not None and not any(r.format.kind == "provenance" for r in read):
        raise EvidenceError(
            [
                error(
                    "RG076",
                    Span(key.path, 1, 1, 1, 1),
                    f"{key.path} is a key provenance is verified with, but none of "
                    f"{', '.join(r.report.path for r in read)} is provenance",
                    help="give --key with a provenance envelope",
                )
            ]
        )
    read, vex_read = _with_vex(read, vex)
    base = read_reports(baselines)
    compared = _compared(read, base)
    values = measures(add(*(r.measured.measures() for r in compared)))
    if any(r.format.kind == "security" for r in compared):
        values[FINDINGS_LIST] = findings_list(compared)
    kinds: list[Kind] = []
    for r in compared:
        if r.format.kind not in kinds:
            kinds.append(r.format.kind)
    template = load_mapping(mapping) if mapping else default_template(kinds, values, with_findings)
    document = fill(template, values) or {}
    return Metadata(document, tuple(kinds), tuple(compared), tuple(base), tuple(vex_read))


def _fail(exc: EvidenceError) -> NoReturn:
    sys.stderr.write(render(exc.diagnostics, exc.texts, "text", __version__))
    sys.exit(1)


def _warn(warnings: list[Diagnostic]) -> None:
    if warnings:
        sys.stderr.write(render(warnings, {}, "text", __version__))


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
@click.option(
    "--baseline",
    "baselines",
    multiple=True,
    metavar="[FORMAT:]BASE",
    help="Count only findings this report of the same tool lacks (repeatable; default FORMAT).",
)
@click.option(
    "--vex",
    multiple=True,
    metavar="VEX",
    help="A CycloneDX VEX document: what it says does not affect is not counted (repeatable).",
)
@click.option(
    "--with-findings",
    is_flag=True,
    help='Add the counted findings, with their identities, as "findings".',
)
@click.option("--key", help="A PEM public key (or certificate) provenance is verified with.")
@click.option("--mapping", help="A mapping file: the document's shape for another specification.")
@click.option("--schema", help="Validate the document against this JSON Schema file.")
@click.option(
    "--sources",
    multiple=True,
    help="Validate against the specification declared in these sources (repeatable).",
)
@click.option("--entity", default="build", show_default=True, help="The entity, with --sources.")
@click.option(
    "--metadata", "key_name", help="The metadata key, with --sources [default: the kind]."
)
@click.option("--nrn", help="Pick the specification in force at this NRN, with --sources.")
@click.option(
    "-o", "--output", help="Write the document here instead of standard output (-: stdout)."
)
def metadata_from_command(
    format_name: str,
    report: str,
    more: tuple[str, ...],
    baselines: tuple[str, ...],
    vex: tuple[str, ...],
    with_findings: bool,
    key: str | None,
    mapping: str | None,
    schema: str | None,
    sources: tuple[str, ...],
    entity: str,
    key_name: str | None,
    nrn: str | None,
    output: str | None,
) -> None:
    """A scanner or coverage REPORT in FORMAT → a metadata document (JSON)."""
    if schema and sources:
        raise click.UsageError("give --schema or --sources, not both")
    malformed = nrn_problem(nrn) if nrn is not None else None
    if malformed is not None:
        raise click.BadParameter(f"{nrn!r} is not an NRN: {malformed[2]}", param_hint="--nrn")
    format = formats.FORMATS[format_name]
    arguments = [ReportArgument(format, report)]
    arguments += [ReportArgument.parse(m) for m in more]
    # Every problem in one run: the output, the reports and mapping, the specification.
    given = [a.path for a in arguments] + [p for p in (mapping, schema, key, *vex) if p]
    unwritable = (check_output(output) or overwrites(output, given)) if output is not None else None
    problems = EvidenceError([unwritable] if unwritable else [])
    metadata: Metadata | None = None
    try:
        metadata = build_metadata(
            arguments,
            mapping,
            [ReportArgument.parse(b, format) for b in baselines],
            with_findings,
            Key.load(key),
            vex,
        )
    except EvidenceError as exc:
        problems = _joined(problems, exc)
    target: Target | None = None
    try:
        if schema:
            target = from_schema_file(schema)
        elif sources:
            kind = metadata.kinds[0] if metadata else format.kind
            target = Declared.load(sources).target(entity, key_name or kind, nrn)
        if target is not None and metadata is not None:
            validate(metadata.document, target, metadata.paths)
    except EvidenceError as exc:
        problems = _joined(problems, exc)
    if problems.diagnostics or metadata is None:
        _fail(problems)
    _warn(metadata.warnings)
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


def _by_key(items: tuple[str, ...], option: str, shape: str) -> dict[tuple[str, str], list[str]]:
    """`ENTITY.KEY=VALUE` options grouped by key, in the order given."""
    grouped: dict[tuple[str, str], list[str]] = {}
    for item in items:
        target, value = _pair(item, option, shape)
        grouped.setdefault(_target(target, option), []).append(value)
    return grouped


def _with_evidence(
    grouped: dict[tuple[str, str], list[str]], option: str, evidence: dict[tuple[str, str], Any]
) -> dict[tuple[str, str], list[str]]:
    """Options for keys that have evidence: anything else is a mistake."""
    for entity, key in grouped:
        if (entity, key) not in evidence:
            message = f"{entity}.{key} has no --evidence to go with"
            raise click.BadParameter(message, param_hint=option)
    return grouped


def _once(grouped: dict[tuple[str, str], list[str]], option: str) -> dict[tuple[str, str], str]:
    """Options given at most once per key."""
    for (entity, key), values in grouped.items():
        if len(values) > 1:
            raise click.BadParameter(f"{entity}.{key} is given twice", param_hint=option)
    return {target: values[0] for target, values in grouped.items()}


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
    "--attribute",
    "attributes",
    multiple=True,
    metavar="ENTITY.NAME=VALUE",
    help="An entity attribute, e.g. artifact.registry=registry.example.com (repeatable; "
    "typed as the bundle's entity model types it).",
)
@click.option(
    "--checklist",
    "checklist_states",
    multiple=True,
    metavar="ITEM=STATE",
    help="A manual or external checklist item's state: passed, failed or pending (repeatable).",
)
@click.option(
    "--evidence",
    multiple=True,
    required=True,
    metavar="ENTITY.KEY=[FORMAT:]REPORT",
    help="A report for a metadata key (repeatable; reports for one key are added up).",
)
@click.option(
    "--baseline",
    "baselines",
    multiple=True,
    metavar="ENTITY.KEY=[FORMAT:]BASE",
    help="Count only the findings of a key's reports that this report lacks (repeatable).",
)
@click.option(
    "--vex",
    "vex",
    multiple=True,
    metavar="ENTITY.KEY=VEX",
    help="A CycloneDX VEX document for a key's CycloneDX SBOM (repeatable).",
)
@click.option(
    "--mapping",
    "mappings",
    multiple=True,
    metavar="ENTITY.KEY=FILE",
    help="A mapping file for one metadata key.",
)
@click.option(
    "--key",
    "keys",
    multiple=True,
    metavar="ENTITY.KEY=PEM",
    help="The public key a key's provenance is verified with.",
)
@click.option(
    "--with-findings",
    is_flag=True,
    help='Add the counted findings to each scanner document, as "findings".',
)
@click.option(
    "--sources",
    multiple=True,
    help="Validate the evidence against the specifications in these sources.",
)
@record_options
@click.option(
    "--allow-unmatched",
    is_flag=True,
    help="Decide a request no approval action of the bundle applies to (approve) "
    "instead of refusing it.",
)
def gate_command(
    bundle: str | None,
    opa_url: str | None,
    action: str,
    nrn: str,
    dimensions: tuple[str, ...],
    attributes: tuple[str, ...],
    checklist_states: tuple[str, ...],
    evidence: tuple[str, ...],
    baselines: tuple[str, ...],
    vex: tuple[str, ...],
    mappings: tuple[str, ...],
    keys: tuple[str, ...],
    with_findings: bool,
    sources: tuple[str, ...],
    record: str | None,
    signing_key: str | None,
    signing_alg: str,
    allow_unmatched: bool,
) -> None:
    """Assemble a request from evidence, decide it, explain; exit 0 approve, 3 manual, 4 deny.

    A request no approval action applies to is approved by the bundle, as nullplatform
    does; gate refuses it (exit 1) unless --allow-unmatched, since a mistyped action,
    NRN or dimension would otherwise open the gate."""
    if (bundle is None) == (opa_url is None):
        raise click.UsageError("give exactly one of --bundle and --opa-url")
    rules = request_rules(bundle, opa_url)
    actions = rules["actions"]
    _check_arguments(action, nrn, actions)
    if signing_key is not None and record is None:
        raise click.UsageError("--signing-key signs decision records: give --record DIR")
    reports = {
        target: [ReportArgument.parse(path) for path in paths]
        for target, paths in _by_key(evidence, "--evidence", "ENTITY.KEY=[FORMAT:]REPORT").items()
    }
    base_of = _with_evidence(
        _by_key(baselines, "--baseline", "ENTITY.KEY=[FORMAT:]BASE"), "--baseline", reports
    )
    vex_of = _with_evidence(_by_key(vex, "--vex", "ENTITY.KEY=VEX"), "--vex", reports)
    mapping_of = _once(_by_key(mappings, "--mapping", "ENTITY.KEY=FILE"), "--mapping")
    key_of = _once(
        _with_evidence(_by_key(keys, "--key", "ENTITY.KEY=PEM"), "--key", reports), "--key"
    )
    scope = dict(_pair(d, "--dimension", "KEY=VALUE") for d in dimensions)
    # The dimensions go where the bundle reads them: the scope's, or for an action that
    # sees no scope its own entity's (`_check_arguments` has checked the action).
    entities: dict[str, Any] = {actions[action]["dimensions"]: {"dimensions": scope}}
    for given in attributes:
        _set_attribute(entities, given, rules.get("entities", {}))
    checklist = _checklist_states(checklist_states)
    built: dict[str, Metadata] = {}
    try:
        signer = load_signer(signing_key, signing_alg)
        declared = Declared.load(sources) if sources else None
        for (entity, key), arguments in reports.items():
            metadata = build_metadata(
                arguments,
                mapping_of.get((entity, key)),
                [ReportArgument.parse(b) for b in base_of.get((entity, key), [])],
                with_findings,
                Key.load(key_of.get((entity, key))),
                vex_of.get((entity, key), []),
            )
            if declared is not None:
                validate(metadata.document, declared.target(entity, key, nrn), metadata.paths)
            entities.setdefault(entity, {}).setdefault("metadata", {})[key] = metadata.document
            built[f"{entity}.{key}"] = metadata
    except EvidenceError as exc:
        _fail(exc)
    _warn([w for metadata in built.values() for w in metadata.warnings])
    _warn(_unused_exceptions(bundle, opa_url, built))
    request: dict[str, Any] = {"action": action, "nrn": nrn, "entities": entities}
    if checklist:
        request["checklist"] = checklist
    try:
        decision = ask_sidecar(opa_url, request) if opa_url else eval_bundle(str(bundle), request)
    except OpaError as exc:
        _fail_with(exc.diagnostic, {})
    if not decision.get("actions") and not decision.get("errors") and not allow_unmatched:
        known = catalog_actions(bundle, opa_url)
        help = unmatched_help(action, nrn, scope, known) if known is not None else None
        where = f"{action} at {nrn}" + "".join(f", {k}={v}" for k, v in sorted(scope.items()))
        message = f"no approval action of the bundle applies to {where}: the gate would open"
        _fail_with(error("RG104", Span("<command line>", 1, 1, 1, 1), message, help), {})
    click.echo(explain.render(decision), nl=False)
    if record is not None:
        try:
            written = write_record(record, request, decision, _evidence_of(built), signer)
        except EvidenceError as exc:
            _fail(exc)
        click.echo(f"regate: decision recorded in {written}", err=True)
    sys.exit(EXIT_STATUS.get(decision.get("result"), 1))


def _evidence_of(built: dict[str, Metadata]) -> dict[str, list[dict[str, str]]]:
    """What a decision record says each key's document was built from."""
    return {
        "evidence": [{"key": key, **r.described()} for key, m in built.items() for r in m.reports],
        "baselines": [
            {"key": key, **r.described()} for key, m in built.items() for r in m.baselines
        ],
        "vex": [{"key": key, **r.described()} for key, m in built.items() for r in m.vex],
    }


def request_rules(bundle: str | None, opa_url: str | None) -> dict[str, Any]:
    """What the bundle checks requests against (data.regate.request.rules): the approval
    actions it decides, each with the entity whose dimensions select its actions, and
    each entity's attributes (the entity model with the sources' `entity` blocks).  The
    built-in model's actions when the bundle cannot be read (its own checks then say why)."""
    # A bundle's, or a tenant-split router's (its common bundle has the same rules).
    found = _bundle_data(bundle, opa_url, "regate/request/rules") or _bundle_data(
        bundle, opa_url, "regate_tenants/common/request/rules"
    )
    actions = found.get("actions") if isinstance(found, dict) else None
    if isinstance(actions, dict) and all(
        isinstance(rule, dict) and isinstance(rule.get("dimensions"), str)
        for rule in actions.values()
    ):
        return {"actions": actions, "entities": found.get("entities", {})}
    model = entity_model()
    built_in = {name: {"dimensions": model.dimensions_from(name)} for name in model.actions}
    return {"actions": built_in}


def _bundle_data(bundle: str | None, opa_url: str | None, path: str) -> Any:
    """A data document of the bundle (`regate/request/rules`: its data.json), or of the
    sidecar serving it; None when it cannot be had."""
    try:
        if bundle is not None:
            # Only a regular file: a pipe or a device would hang tarfile (the decision
            # itself then refuses the bundle, and says why).
            if not os.path.isfile(bundle):
                return None
            with tarfile.open(bundle) as archive:
                member = archive.extractfile(f"/{path}/data.json")
                return json.load(member) if member is not None else None
        return ask_data(str(opa_url), path)
    except (OSError, tarfile.TarError, KeyError, ValueError, OpaError):
        return None


def _set_attribute(entities: dict[str, Any], given: str, shapes: Any) -> None:
    """`--attribute ENTITY.NAME=VALUE`: the value as the bundle types the attribute (a
    string where it may be one; else a number, true or false, or JSON), a string for
    an attribute the model does not name."""
    target, value = _pair(given, "--attribute", "ENTITY.NAME=VALUE")
    entity, name = _target(target, "--attribute")
    if name in ("metadata", "dimensions"):
        option = "--evidence" if name == "metadata" else "--dimension"
        raise click.BadParameter(f"{name} is given with {option}", param_hint="--attribute")
    shape = shapes.get(entity, {}).get(name) if isinstance(shapes, dict) else None
    types = shape.get("types", ["string"]) if isinstance(shape, dict) else ["string"]
    typed: Any = value
    if "string" not in types:
        try:
            typed = json.loads(value)
        except ValueError:
            wanted = " or ".join(types)
            message = f"{entity}.{name} is {wanted} in the bundle's entity model, not {value!r}"
            raise click.BadParameter(message, param_hint="--attribute") from None
    entities.setdefault(entity, {})[name] = typed


CHECKLIST_STATES = ("passed", "failed", "pending")


def _checklist_states(given: tuple[str, ...]) -> dict[str, str]:
    states = dict(_pair(item, "--checklist", "ITEM=STATE") for item in given)
    for item, state in states.items():
        if state not in CHECKLIST_STATES:
            message = f"{item}={state}: a state is {', '.join(CHECKLIST_STATES)}"
            raise click.BadParameter(message, param_hint="--checklist")
    return states


def _unused_exceptions(
    bundle: str | None, opa_url: str | None, built: dict[str, Metadata]
) -> list[Diagnostic]:
    """RG149 when the bundle has finding exceptions and scanner documents were built
    without the findings they apply to: the counts stand as the reports give them."""
    without = [
        key
        for key, metadata in built.items()
        if "security" in metadata.kinds
        and not (isinstance(metadata.document, dict) and "findings" in metadata.document)
    ]
    if not without:
        return []
    catalog = _bundle_data(bundle, opa_url, "regate/catalog")
    exceptions = catalog.get("exceptions") if isinstance(catalog, dict) else None
    if not exceptions:
        return []
    return [
        warning(
            "RG149",
            Span("<command line>", 1, 1, 1, 1),
            f"the bundle has finding exceptions, but {', '.join(without)} carries no findings "
            "list for them to apply to: its counts stand as the reports give them",
            help='give --with-findings (docs/evidence.md, "The findings list")',
        )
    ]


def _check_arguments(action: str, nrn: str, actions: dict[str, Any]) -> None:
    """An action the bundle decides and an NRN that is one (RG103), before any report
    is read: the bundle would deny the request, and a person needs the why."""
    found: list[Diagnostic] = []
    if action not in actions:
        found.append(
            error(
                "RG103",
                Span("--action", 1, 1, 1, len(action) + 1),
                f"{json.dumps(action)} is not an approval action",
                help=did_you_mean(action, list(actions))
                or f"approval actions are {', '.join(sorted(actions))}",
            )
        )
    fault = nrn_fault(nrn, entity_model())
    if fault is not None:
        offset, length, reason = fault
        span = Span("--nrn", 1, offset + 1, 1, offset + length + 1)
        found.append(error("RG103", span, f"{json.dumps(nrn)} is not an NRN: {reason}"))
    if found:
        sys.stderr.write(render(found, {"--action": action, "--nrn": nrn}, "text", __version__))
        sys.exit(1)


def catalog_actions(bundle: str | None, opa_url: str | None) -> dict[str, Any] | None:
    """The bundle's approval actions by action and NRN (from data.regate.catalog), for
    suggestions; None when they cannot be had (the refusal stands without them)."""
    found = _bundle_data(bundle, opa_url, "regate/catalog")
    try:
        return catalog.actions(found) if isinstance(found, dict) else None
    except (TypeError, AttributeError, IndexError, KeyError):  # a catalog of another shape
        return None


def _fail_with(diagnostic: Diagnostic, texts: dict[str, str]) -> NoReturn:
    sys.stderr.write(render([diagnostic], texts, "text", __version__))
    sys.exit(1)
