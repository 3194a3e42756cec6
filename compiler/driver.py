"""Runs the passes in order: sources → parse → check → lower → share → emit → bundle."""

from __future__ import annotations

import gc
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime

from compiler import catalog
from compiler.ast import Program, Span
from compiler.bundle import bundle_files
from compiler.check import check
from compiler.check import gating as check_gating
from compiler.diagnostics import Diagnostic, has_errors
from compiler.emit import emit
from compiler.entities import entity_model
from compiler.fleet.tenants import SplitBundle, split_bundles
from compiler.input_schema import INPUT_SCHEMA, input_schema_bytes
from compiler.lower import lower
from compiler.parse import parse
from compiler.share import share
from compiler.sources import Source, file_span, load
from compiler.tests_gen import BundleTests, bundle_tests, check_tests, emit_tests


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
    arguments: list[str], now: datetime | None = None, gating: bool = True
) -> Compilation:
    """Parse and check; stop before lowering.  `now` dates the waivers; `gating`
    False leaves out what only a bundle needs (an approval action), for reading the
    specifications of sources alone.

    Everything that parsed is checked, so that one run reports every error; what only
    the whole program can tell (a name declared nowhere, no action) waits for a program
    whose files all parsed."""
    sources, diagnostics = load(arguments)
    where = file_span(arguments[0] if arguments else ".") if gating else None
    return check_loaded(sources, diagnostics, now, where)


def check_loaded(
    sources: list[Source],
    diagnostics: list[Diagnostic],
    now: datetime | None = None,
    gating_at: Span | None = None,
) -> Compilation:
    """Parse and check sources already read (an editor's unsaved texts among them);
    `diagnostics` are those of reading them.  `gating_at` locates what makes a bundle of
    the sources approve without checking (RG005); None leaves it out."""
    program, found = parse(sources)
    diagnostics.extend(found)
    complete = not has_errors(diagnostics)
    checked = [*check(program, now), *check_tests(program)]
    if gating_at is not None:
        checked.extend(check_gating(program, gating_at))
    diagnostics.extend(d for d in checked if complete or d.code not in NEEDS_EVERY_DECLARATION)
    return Compilation(sources, sorted(diagnostics), program)


@_cycle_collector_paused()
def compile_sources(arguments: list[str], with_tests: bool = False) -> Compilation:
    """Every pass; `files` holds the bundle when the sources have no errors.

    `with_tests` adds the sources' test blocks and the generated boundary tests
    and data, so that `opa test` on the bundle alone proves it.  A bundle a
    sidecar serves leaves them out: they cost OPA memory and load time and
    decide nothing."""
    result = check_sources(arguments)
    if result.ok and result.program is not None:
        where = {s.path: s.name for s in result.sources}
        ir = share(lower(result.program, where))
        result.files = bundle_files(emit(ir), catalog.runtime(ir.catalog))
        # Added after the revision is taken: tests and the input schema (for
        # `opa check --schema`) do not change a decision.
        if with_tests:
            result.tests = bundle_tests(result.program, where)
            result.files.update(emit_tests(result.tests))
        result.files[INPUT_SCHEMA] = input_schema_bytes(result.program, entity_model())
    return result


@_cycle_collector_paused()
def compile_split(arguments: list[str], split_by: str) -> Compilation:
    """Every pass, the bundle split into tenant-sized bundles (`split`, see
    compiler/fleet/tenants.py); nothing when the sources have errors."""
    result = check_sources(arguments)
    if result.ok and result.program is not None:
        where = {s.path: s.name for s in result.sources}
        schema = {INPUT_SCHEMA: input_schema_bytes(result.program, entity_model())}
        result.split = split_bundles(lower(result.program, where), split_by, schema)
    return result
