"""pytest plugin (entry point `pytest11`): snapshot checks of decisions for policy repositories.

A policy repository records requests (`*.json` OPA inputs) and configures

    [pytest]
    regate_sources = policies
    regate_requests = recorded-requests

and one test, with syrupy's `snapshot`:

    def test_decision(regate_decision, snapshot):
        assert regate_decision == snapshot

The test runs once per recorded request (`test_decision[01-coverage-70.json]`).  The
sources are compiled once per session and every request is decided by a real OPA in
one `opa eval`; the decision is compared without its `revision` (which changes with
any edit).  A policy change that flips a decision fails until the snapshots are
updated on purpose with `pytest --snapshot-update`.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import pytest

from compiler import __version__
from compiler.bundle import tar_gz
from compiler.diagnostics import render
from compiler.diff import load_requests, without_revision
from compiler.driver import compile_sources
from compiler.opa import OpaError, decide_all


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("regate", "snapshot checks of regate decisions")
    group.addoption("--regate-sources", action="append", help="regate sources (repeatable)")
    group.addoption("--regate-requests", help="directory of recorded requests (*.json)")
    parser.addini("regate_sources", "regate sources, relative to the rootdir", type="paths")
    parser.addini("regate_requests", "directory of recorded requests, relative to the rootdir")


def _requests_dir(config: pytest.Config) -> Path | None:
    given = config.getoption("regate_requests")
    if given:
        return Path(given).absolute()
    configured = config.getini("regate_requests")
    return config.rootpath / str(configured) if configured else None


def _request_names(config: pytest.Config) -> list[str]:
    directory = _requests_dir(config)
    if directory is None or not directory.is_dir():
        return []
    return sorted(p.relative_to(directory).as_posix() for p in directory.rglob("*.json"))


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    """One test per recorded request, for tests that take `regate_request`."""
    if "regate_request" in metafunc.fixturenames:
        names = _request_names(metafunc.config)
        metafunc.parametrize("regate_request", names, ids=names)


@pytest.fixture(scope="session")
def regate_bundle(pytestconfig: pytest.Config, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The configured sources compiled into a bundle; compile errors fail the tests."""
    sources = pytestconfig.getoption("regate_sources") or [
        os.path.relpath(p)
        for p in pytestconfig.getini("regate_sources")  # shorter diagnostics
    ]
    if not sources:
        pytest.fail("regate: set regate_sources (ini) or --regate-sources", pytrace=False)
    result = compile_sources(sources)
    if result.files is None:
        text = render(result.diagnostics, result.texts, "text", __version__)
        pytest.fail(f"regate: the sources do not compile:\n{text}", pytrace=False)
    bundle = tmp_path_factory.mktemp("regate") / "bundle.tar.gz"
    bundle.write_bytes(tar_gz(result.files))
    return bundle


@pytest.fixture(scope="session")
def regate_decisions(pytestconfig: pytest.Config, regate_bundle: Path) -> dict[str, Any]:
    """Every recorded request's decision (without `revision`), by name under the directory."""
    directory = _requests_dir(pytestconfig)
    if directory is None:
        pytest.fail("regate: set regate_requests (ini) or --regate-requests", pytrace=False)
    requests, diagnostics, texts = load_requests(str(directory))
    if diagnostics:
        text = render(diagnostics, texts, "text", __version__)
        pytest.fail(f"regate: the requests cannot be read:\n{text}", pytrace=False)
    by_name = {Path(path).relative_to(directory).as_posix(): r for path, r in requests.items()}
    try:
        decisions = decide_all(str(regate_bundle), by_name)
    except OpaError as exc:
        pytest.fail(f"regate: {exc}", pytrace=False)
    return {name: without_revision(decisions.get(name)) for name in by_name}


@pytest.fixture
def regate_decision(regate_request: str, regate_decisions: dict[str, Any]) -> Any:
    """The decision for this test's recorded request (`None` if undefined)."""
    return regate_decisions[regate_request]
