"""Runs the passes in order: sources → parse → check → lower → share → emit → bundle."""

from __future__ import annotations

import gc
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, TypeVar

import click

from compiler import catalog
from compiler.ast import Program, Span
from compiler.bundle import bundle_files
from compiler.check import MAX_EXCEPTION_DAYS, check
from compiler.check import gating as check_gating
from compiler.diagnostics import Diagnostic, has_errors
from compiler.emit import emit
from compiler.entities import program_model
from compiler.fleet.tenants import SplitBundle, split_bundles
from compiler.input_schema import INPUT_SCHEMA, input_schema_bytes
from compiler.lower import lower
from compiler.parse import parse
from compiler.share import share
from compiler.sources import Source, file_span, load
from compiler.tests_gen import BundleTests, bundle_tests, check_tests, emit_tests

Command = TypeVar("Command", bound=Any)


def max_exception_days_option(command: Command) -> Command:
    """`--max-exception-days N`, for the commands that check sources."""
    option = click.option(
        "--max-exception-days",
        type=click.IntRange(min=1),
        default=MAX_EXCEPTION_DAYS,
        show_default=True,
        help="Refuse finding exceptions that expire further out than this (RG147).",
    )
    return option(command)


@dataclass
class Compilation:
    sources: list[Source] = field(default_factory=list)
    diagnostics: list[Diagnostic] = field(default_factory=list)
    program: Program | None = None
    files: dict[str, bytes] | None = None  # the bundle's files; None when there are errors
    tests: BundleTests | None = None  # the tests in the bundle, and where each comes from
    split: list[SplitBundle] | None = None  # tenant-sized bundles, from compile_split

    @property
    def ok(self) -> bool:
        return not has_errors(self.diagnostics)

    @property
    def texts(self) -> dict[str, str]:
        """Source path → text, for diagnostic snippets."""
        return {s.path: s.text for s in self.sources}


@contextmanager
def _cycle_collector_paused() -> Iterator[None]:
    """The passes build millions of small objects that hold no reference cycles, and
    reference counting frees them.  The cycle collector finds nothing among them, yet its
    full passes over the growing heap cost a third of a large build."""
    enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if enabled:
            gc.enable()


# What a file that did not read or parse (or a declaration dropped for its errors) may
# have declared: these diagnostics would be noise then, so they wait for the next run.
NEEDS_EVERY_DECLARATION = frozenset({"RG005", "RG032", "RG050", "RG053", "RG081"})


@_cycle_collector_paused()
def check_sources(
    arguments: list[str],
    now: datetime | None = None,
    gating: bool = True,
    max_exception_days: int = MAX_EXCEPTION_DAYS,
) -> Compilation:
    """Parse and check; stop before lowering.  `now` dates the waivers and exceptions,
    which may expire at most `max_exception_days` after it; `gating` False leaves out
    what only a bundle needs (an approval action), for reading the specifications of
    sources alone.

    Everything that parsed is checked, so that one run reports every error; what only
    the whole program can tell (a name declared nowhere, no action) waits for a program
    whose files all parsed."""
    sources, diagnostics = load(arguments)
    where = file_span(arguments[0] if arguments else ".") if gating else None
    return check_loaded(sources, diagnostics, now, where, max_exception_days)


def check_loaded(
    sources: list[Source],
    diagnostics: list[Diagnostic],
    now: datetime | None = None,
    gating_at: Span | None = None,
    max_exception_days: int = MAX_EXCEPTION_DAYS,
) -> Compilation:
    """Parse and check sources already read (an editor's unsaved texts among them);
    `diagnostics` are those of reading them.  `gating_at` locates what makes a bundle of
    the sources approve without checking (RG005); None leaves it out."""
    program, found = parse(sources)
    diagnostics.extend(found)
    complete = not has_errors(diagnostics)
    checked = [*check(program, now, max_exception_days), *check_tests(program)]
    if gating_at is not None:
        checked.extend(check_gating(program, gating_at))
    diagnostics.extend(d for d in checked if complete or d.code not in NEEDS_EVERY_DECLARATION)
    return Compilation(sources, sorted(diagnostics), program)


@_cycle_collector_paused()
def compile_sources(
    arguments: list[str], with_tests: bool = False, max_exception_days: int = MAX_EXCEPTION_DAYS
) -> Compilation:
    """Every pass; `files` holds the bundle when the sources have no errors.

    `with_tests` adds the sources' test blocks and the generated boundary tests
    and data, so that `opa test` on the bundle alone proves it.  A bundle a
    sidecar serves leaves them out: they cost OPA memory and load time and
    decide nothing."""
    result = check_sources(arguments, max_exception_days=max_exception_days)
    if result.ok and result.program is not None:
        where = {s.path: s.name for s in result.sources}
        ir = share(lower(result.program, where))
        result.files = bundle_files(emit(ir), catalog.runtime(ir.catalog))
        # Added after the revision is taken: tests and the input schema (for
        # `opa check --schema`) do not change a decision.
        if with_tests:
            result.tests = bundle_tests(result.program, where)
            result.files.update(emit_tests(result.tests))
        model = program_model(result.program)
        result.files[INPUT_SCHEMA] = input_schema_bytes(result.program, model)
    return result


@_cycle_collector_paused()
def compile_split(
    arguments: list[str], split_by: str, max_exception_days: int = MAX_EXCEPTION_DAYS
) -> Compilation:
    """Every pass, the bundle split into tenant-sized bundles (`split`, see
    compiler/fleet/tenants.py); nothing when the sources have errors."""
    result = check_sources(arguments, max_exception_days=max_exception_days)
    if result.ok and result.program is not None:
        where = {s.path: s.name for s in result.sources}
        model = program_model(result.program)
        schema = {INPUT_SCHEMA: input_schema_bytes(result.program, model)}
        result.split = split_bundles(lower(result.program, where), split_by, schema)
    return result
