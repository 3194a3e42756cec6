"""`regate import`: a nullplatform organisation's Terraform (configurations, variables,
state) and API payloads → regate sources.

SRC is a file or a directory.  In a directory, every directory holding `.tf` files is
one Terraform configuration, read with the variables and the state beside it; a state
without `.tf` files is imported alone; JSON files are payloads, states or variable
files, by their shape.  Nothing is dropped without a word: what is not written is
reported per object (and commented in the sources), and what might change a decision
and has no place in regate stops the import unless --allow-lossy."""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

import click

from compiler.ast import Node, to_json
from compiler.bundle import STANDARD_OUTPUT
from compiler.diagnostics import Diagnostic, error, has_errors
from compiler.nullplatform.hcl import Block, merge_overrides, read_blocks
from compiler.nullplatform.model import Imported, Link, link, once_each, settle
from compiler.nullplatform.output import report, write_files
from compiler.nullplatform.payloads import import_payloads, payload_objects
from compiler.nullplatform.render import render_sources
from compiler.nullplatform.state import State, read_state, state_kind
from compiler.nullplatform.terraform import Found, import_terraform
from compiler.nullplatform.variables import (
    CommandLine,
    declared_variables,
    undeclared,
    variable_values,
)
from compiler.parse import not_numbers, parse_json_document, payload_kind
from compiler.sources import Source, file_span, read_text


@dataclass
class _Configuration:
    """The `.tf` files of one directory, and the state beside them."""

    directory: Path
    shown: str  # the directory as file names in messages show it
    sources: list[Source] = field(default_factory=list)
    states: list[State] = field(default_factory=list)


@dataclass
class _Found:
    """Everything one run found."""

    objects: list[Imported] = field(default_factory=list)
    links: list[Link] = field(default_factory=list)
    report: list[str] = field(default_factory=list)
    diagnostics: list[Diagnostic] = field(default_factory=list)
    texts: dict[str, str] = field(default_factory=dict)
    failed: set[str] = field(default_factory=set)

    def add(self, found: Found) -> None:
        self.failed |= found.failed
        self.objects.extend(found.objects)
        self.links.extend(found.links)
        self.report.extend(found.report)
        self.diagnostics.extend(found.diagnostics)


class _Inputs:
    def __init__(
        self,
        argument: str,
        state: str | None,
        command_line: CommandLine,
        environment: Mapping[str, str],
        allow_lossy: bool,
    ) -> None:
        self.argument = argument
        self.state_argument = state
        self.command_line = command_line
        self.environment = environment
        self.allow_lossy = allow_lossy
        self.result = _Found()
        self.configurations: dict[Path, _Configuration] = {}
        self.payloads: list[tuple[Source, Node]] = []

    def fail(self, diagnostic: Diagnostic) -> None:
        self.result.diagnostics.append(diagnostic)

    def read(self, path: Path, root: Path, explicit: bool) -> Source | None:
        shown = path.as_posix()
        text = read_text(shown, shown)
        if isinstance(text, Diagnostic):
            self.fail(text)
            return None
        name = path.name if explicit else path.relative_to(root).as_posix()
        self.result.texts[shown] = text
        return Source(shown, name, text, explicit)

    def configuration(self, directory: Path, root: Path) -> _Configuration:
        if directory not in self.configurations:
            relative = directory.relative_to(root).as_posix() if directory != root else ""
            self.configurations[directory] = _Configuration(directory, relative)
        return self.configurations[directory]

    def scan(self) -> None:
        given = Path(self.argument)
        if not given.exists():
            self.fail(
                error(
                    "RG001",
                    file_span(self.argument),
                    f"cannot read {self.argument}: no such file or directory",
                )
            )
        elif given.is_dir():
            files = _files(given)
            for path in files:
                self.file(path, given, explicit=False)
            if not files:
                self.fail(
                    error(
                        "RG094",
                        file_span(self.argument),
                        f"no .tf, .tfstate or .json files in {self.argument}",
                    )
                )
        else:
            self.file(given, given.parent, explicit=True)
            beside = given.parent / "terraform.tfstate"
            if given.name.endswith(".tf") and self.state_argument is None and beside.is_file():
                self.json_file(beside, given.parent, explicit=True)
        if self.state_argument is not None:
            self.explicit_state(Path(self.state_argument), given)

    def file(self, path: Path, root: Path, explicit: bool) -> None:
        name = path.name
        where = path.as_posix() if explicit else path.relative_to(root).as_posix()
        if name.endswith(".tf.json"):
            self.result.report.append(
                f"{where}: not read; regate reads Terraform written in HCL (.tf), not JSON"
            )
        elif name.endswith(".tf"):
            source = self.read(path, root, explicit)
            if source is not None:
                self.configuration(path.parent, root).sources.append(source)
        elif name.endswith((".tfstate.backup", ".tfstate.json.backup")):
            self.result.report.append(f"{where}: skipped, a backup of an earlier state")
        elif name.endswith(".tfvars") or name.endswith(".tfvars.json"):
            automatic = name in ("terraform.tfvars", "terraform.tfvars.json") or name.endswith(
                (".auto.tfvars", ".auto.tfvars.json")
            )
            if not automatic and not explicit:
                self.result.report.append(
                    f"{where}: not read; Terraform reads it only when named: pass -var-file {where}"
                )
            elif explicit:
                self.fail(
                    error(
                        "RG094",
                        file_span(path.as_posix()),
                        f"{where} holds variable values, not nullplatform objects",
                        help=f"import the configuration with -var-file {where}",
                    )
                )
        elif name.endswith((".json", ".tfstate")):
            self.json_file(path, root, explicit)
        elif explicit:
            self.fail(
                error(
                    "RG094",
                    file_span(path.as_posix()),
                    f"{path.as_posix()} is not Terraform (.tf, .tfstate) or JSON",
                )
            )

    def json_file(self, path: Path, root: Path, explicit: bool) -> None:
        source = self.read(path, root, explicit)
        if source is None:
            return
        node, problems = parse_json_document(source)
        # A bare NaN or Infinity would become the string "NaN": the file is refused.
        problems = [*problems, *(not_numbers(node) if node is not None else [])]
        if node is None or has_errors(problems):
            self.result.diagnostics.extend(problems)
            return
        if state_kind(to_json(node)) is not None:
            self.result.diagnostics.extend(problems)
            state, found = read_state(source, node)
            self.result.diagnostics.extend(found)
            if state is not None:
                self.configuration(path.parent, root).states.append(state)
            return
        if not explicit and not _holds_payloads(node):
            self.result.report.append(
                f"{source.name}: skipped, not a nullplatform payload or Terraform state"
            )
            return
        self.payloads.append((source, node))

    def explicit_state(self, path: Path, given: Path) -> None:
        source = self.read(path, path.parent, explicit=True)
        if source is None:
            return
        node, problems = parse_json_document(source)
        self.result.diagnostics.extend(problems)
        if node is None:
            return
        if state_kind(to_json(node)) is None:
            self.fail(
                error(
                    "RG095",
                    node.span,
                    f"{path.as_posix()} is not a Terraform state",
                    help="give terraform.tfstate, or the output of terraform show -json",
                )
            )
            return
        state, found = read_state(source, node)
        self.result.diagnostics.extend(found)
        if state is None:
            return
        directory = given if given.is_dir() else given.parent
        configuration = self.configuration(directory, directory)
        configuration.states.insert(0, state)
        if len(configuration.states) > 1:
            others = ", ".join(s.name for s in configuration.states[1:])
            self.result.report.append(f"{path.as_posix()}: the state used, not {others}")
            del configuration.states[1:]

    def run(self) -> _Found:
        self.scan()
        declared_anywhere: set[str] = set()
        for configuration in self.configurations.values():
            declared_anywhere |= self.terraform(configuration)
        self.result.diagnostics.extend(undeclared(self.command_line, declared_anywhere))
        for source, node in self.payloads:
            self.result.add(import_payloads(source, node, self.allow_lossy))
        return self.result

    def terraform(self, configuration: _Configuration) -> set[str]:
        """Import one configuration; the names of the variables it declares."""
        if len(configuration.states) > 1:
            names = ", ".join(s.name for s in configuration.states)
            self.fail(
                error(
                    "RG095",
                    file_span(configuration.states[1].path),
                    f"two Terraform states in {configuration.shown or '.'}: {names}",
                    help="import one configuration with its one state (--state FILE names it)",
                )
            )
            return set()
        blocks: list[Block] = []
        overrides: list[Block] = []
        for source in sorted(configuration.sources, key=lambda s: s.path):
            found, problems = read_blocks(source.path, source.name, source.text)
            is_override = Path(source.path).name in ("override.tf",) or source.path.endswith(
                "_override.tf"
            )
            (overrides if is_override else blocks).extend(found)
            self.result.diagnostics.extend(problems)
        blocks, problems = merge_overrides(blocks, overrides)
        self.result.diagnostics.extend(problems)
        declared = declared_variables(blocks)
        variables, problems = variable_values(
            declared,
            configuration.directory,
            self.command_line if configuration.sources else [],
            self.environment,
        )
        self.result.diagnostics.extend(problems)
        state = configuration.states[0] if configuration.states else None
        self.result.add(
            import_terraform(blocks, state, variables, self.allow_lossy, configuration.shown)
        )
        return set(declared)


def _files(directory: Path) -> list[Path]:
    found: list[Path] = []
    for current, directories, files in os.walk(directory):
        directories[:] = sorted(d for d in directories if not d.startswith("."))
        found.extend(Path(current, f) for f in files if not f.startswith("."))
    return sorted(found, key=lambda p: p.as_posix())


def _holds_payloads(node: Node) -> bool:
    return any(payload_kind(item) not in (None, "list") for item in payload_objects(node))


@dataclass
class ImportResult:
    files: dict[str, str]  # name → regate source; empty when there are errors
    report: list[str]
    diagnostics: list[Diagnostic]
    texts: dict[str, str]


def import_sources(
    argument: str,
    state: str | None = None,
    command_line: CommandLine | None = None,
    environment: Mapping[str, str] | None = None,
    allow_lossy: bool = False,
) -> ImportResult:
    """Regate sources from nullplatform Terraform and API payloads; no files when
    there are errors."""
    found = _Inputs(
        argument,
        state,
        command_line or [],
        os.environ if environment is None else environment,
        allow_lossy,
    ).run()
    objects = once_each(found.objects)
    settle(objects)
    found.diagnostics.extend(link(objects, found.links, found.failed))
    diagnostics = sorted(set(found.diagnostics))
    if not objects and not has_errors(diagnostics):
        diagnostics.append(
            error(
                "RG094",
                file_span(argument),
                f"{argument} holds no nullplatform approval object (specification, policy, "
                "checklist or action)",
                help="import the Terraform configuration, state or API payloads that hold them",
            )
        )
    report = [f"{item.origin}: {line}" for item in objects for line in _report_lines(item)]
    report = sorted(report + found.report, key=_by_place)
    if has_errors(diagnostics):
        return ImportResult({}, report, diagnostics, found.texts)
    return ImportResult(render_sources(objects), report, diagnostics, found.texts)


def _by_place(line: str) -> tuple[str, int, str]:
    """Report lines by file, then line number (`main.tf:12 ...`)."""
    place = line.split(" ", 1)[0].rstrip(":")
    file, _colon, number = place.partition(":")
    return file, int(number) if number.isdigit() else 0, line


def _report_lines(item: Imported) -> list[str]:
    lines = []
    if item.ignored:
        lines.append("ignored: " + ", ".join(item.ignored))
    if item.lossy:
        lines.append("not imported (--allow-lossy): " + "; ".join(item.lossy))
    lines += [f"note: {note}" for note in item.notes]
    return lines


class _VariableOrder(click.Command):
    """Keeps the order of -var and -var-file, which Terraform applies in turn."""

    def parse_args(self, ctx: click.Context, args: list[str]) -> list[str]:
        _opts, _args, order = self.make_parser(ctx).parse_args(args=list(args))
        ctx.meta["regate.variables"] = [
            p.name for p in order if p.name in ("variables", "variable_files")
        ]
        return super().parse_args(ctx, args)


def ordered_command_line(
    ctx: click.Context, variables: tuple[str, ...], variable_files: tuple[str, ...]
) -> CommandLine:
    values = {"variables": list(variables), "variable_files": list(variable_files)}
    order = ctx.meta.get("regate.variables", [])
    command_line: CommandLine = []
    for name in order:
        command_line.append(("var" if name == "variables" else "file", values[name].pop(0)))
    return command_line


@click.command("import", cls=_VariableOrder)
@click.argument("source")
@click.option(
    "-o", "--output", required=True, help="The directory to write regate sources to (- : stdout)."
)
@click.option("--state", help="The Terraform state: terraform.tfstate or `terraform show -json`.")
@click.option(
    "-var", "--var", "variables", multiple=True, help="NAME=VALUE, as terraform takes it."
)
@click.option(
    "-var-file",
    "--var-file",
    "variable_files",
    multiple=True,
    help="A .tfvars or .tfvars.json file.",
)
@click.option(
    "--allow-lossy",
    is_flag=True,
    help="Import even what loses attributes that may change a decision (commented in the sources).",
)
@click.pass_context
def import_command(
    ctx: click.Context,
    source: str,
    output: str,
    state: str | None,
    variables: tuple[str, ...],
    variable_files: tuple[str, ...],
    allow_lossy: bool,
) -> None:
    """Turn nullplatform Terraform (.tf, state) or API JSON payloads into regate sources."""
    command_line = ordered_command_line(ctx, variables, variable_files)
    result = import_sources(source, state, command_line, None, allow_lossy)
    report(result.diagnostics, result.texts, result.report, output)
    write_sources(result.files, output)


def write_sources(files: Mapping[str, str], output: str) -> None:
    """The sources into the directory, or all of them to stdout for `-o -`."""
    if output == STANDARD_OUTPUT:
        click.echo("\n".join(files[name] for name in files), nl=False)
    else:
        write_files(files, output)
