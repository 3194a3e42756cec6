"""Fuzzing the front end: any source project ends as a bundle or as diagnostics.

Never a traceback, never a hang.  The suite runs a bounded pass; a long one is
`REGATE_FUZZ_EXAMPLES=4000 pytest tests/test_fuzz.py --hypothesis-show-statistics`
(docs/hardening.md, "Fuzzing").
"""

from __future__ import annotations

import os
import signal
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

from compiler.bundle import tar_gz
from compiler.diagnostics import render
from compiler.driver import compile_sources
from tests.conftest import QUALITY_GATES, write_sources
from tests.strategies import mutated, source_projects

EXAMPLES = int(os.environ.get("REGATE_FUZZ_EXAMPLES", "150"))
# A hang is a bug too: an example that runs this long fails instead of blocking the suite.
HANG_SECONDS = 10

FUZZ = settings(
    max_examples=EXAMPLES,
    deadline=None,  # the alarm below bounds each example; timing noise on a shared machine is not a bug
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)


class Hang(Exception):
    pass


@contextmanager
def no_hang(seconds: int) -> Iterator[None]:
    def alarm(_signal: int, _frame: object) -> None:
        raise Hang(f"compilation ran longer than {seconds} s")

    previous = signal.signal(signal.SIGALRM, alarm)
    signal.alarm(seconds)
    try:
        yield
    finally:
        signal.alarm(0)
        signal.signal(signal.SIGALRM, previous)


def compile_project(files: dict[str, str]) -> None:
    """Compile a project written to a fresh directory; check the outcome is one of the two."""
    with tempfile.TemporaryDirectory() as directory, no_hang(HANG_SECONDS):
        write_sources(Path(directory), files)
        result = compile_sources([directory])
        for fmt in ("text", "json", "sarif"):
            render(result.diagnostics, result.texts, fmt, "test")
        if result.ok:
            assert result.files is not None
            assert tar_gz(result.files)
            event("a bundle")
        else:
            assert result.files is None
            event(f"diagnostics, first {min(d.code for d in result.diagnostics)}")
            assert all(d.span.file.startswith(directory) for d in result.diagnostics)


@FUZZ
@given(source_projects())
def test_generated_sources_give_a_bundle_or_diagnostics(files):
    compile_project(files)


# The whole example project (tests.rg reads requests/*.json); mutations hit its
# sources and schemas.
QUALITY_GATE_FILES = {
    path.relative_to(QUALITY_GATES).as_posix(): path.read_text()
    for path in sorted(QUALITY_GATES.rglob("*"))
    if path.is_file()
}
MUTATED = sorted(p for p in QUALITY_GATE_FILES if p.endswith(".rg") or p.startswith("schemas/"))


@FUZZ
@given(st.data())
def test_mutated_example_sources_give_a_bundle_or_diagnostics(data):
    files = dict(QUALITY_GATE_FILES)
    name = data.draw(st.sampled_from(MUTATED))
    files[name] = data.draw(mutated(files[name]))
    compile_project(files)
