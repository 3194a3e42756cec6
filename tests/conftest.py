"""Shared fixtures: a real OPA, compiled bundles, and a sidecar started and stopped by the test."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from click.testing import CliRunner, Result
from hypothesis import settings
from opa_client import OpaClient

from compiler.bundle import tar_gz
from compiler.cli import main
from compiler.driver import compile_sources
from compiler.limits import MAX_SIDECAR_BODY
from compiler.opa import find_opa

REPO = Path(__file__).resolve().parent.parent

# CI (CI=true) draws the same examples every run, so that a landing never depends on a
# lucky draw; a developer's runs draw new ones, which is how the generated tests find
# faults (each then becomes a fixed case).
settings.register_profile("ci", derandomize=True, database=None)
if os.environ.get("CI"):
    settings.load_profile("ci")
QUALITY_GATES = REPO / "bundles" / "quality-gates"
REQUESTS = QUALITY_GATES / "requests"


@pytest.fixture(scope="session")
def opa() -> str:
    """The real OPA binary; scripts/bootstrap.sh installs it.  Tests never mock it."""
    binary = find_opa()
    version = subprocess.run([binary, "version"], capture_output=True, text=True, check=True)
    assert version.stdout.startswith("Version: "), version.stdout
    return binary


def run_cli(*arguments: str, input: str | None = None) -> Result:
    return CliRunner().invoke(main, list(arguments), input=input, catch_exceptions=False)


def build(sources: list[str | Path], directory: Path, with_tests: bool = False) -> Path:
    """Compile sources into directory/bundle.tar.gz; fails the test on diagnostics errors."""
    result = compile_sources([str(s) for s in sources], with_tests=with_tests)
    assert result.files is not None, [str(d) + " " + d.message for d in result.diagnostics]
    bundle = directory / "bundle.tar.gz"
    bundle.write_bytes(tar_gz(result.files))
    return bundle


def write_sources(directory: Path, files: dict[str, str]) -> Path:
    for name, text in files.items():
        path = directory / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
    return directory


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


class Sidecar:
    """A real `opa run --server` serving one bundle on 127.0.0.1, run as the README
    runs a sidecar."""

    def __init__(self, opa: str, bundle: Path) -> None:
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.process = subprocess.Popen(
            [
                opa,
                "run",
                "--server",
                "--optimize-store-for-read-speed",
                "--addr",
                f"127.0.0.1:{self.port}",
                "--set",
                f"server.decoding.max_length={MAX_SIDECAR_BODY}",
                "--set",
                f"server.decoding.gzip.max_length={MAX_SIDECAR_BODY}",
                "--bundle",
                str(bundle),
            ],
            # Not a pipe: OPA logs every request, and a pipe nobody reads fills
            # up after a few hundred, and then OPA blocks.
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        self.client = OpaClient(host="127.0.0.1", port=self.port, timeout=10)
        deadline = time.monotonic() + 30
        while not self.client.check_health(query={"bundles": True}):
            if self.process.poll() is not None or time.monotonic() > deadline:
                self.stop()
                raise RuntimeError("OPA sidecar did not become healthy")
            time.sleep(0.1)

    def decide(self, request: object) -> dict[str, object]:
        response = self.client.query_rule(request, "regate", "decision")
        return dict(response["result"])

    def stop(self) -> None:
        self.client.close_connection()
        stop_process(self.process)


def stop_process(process: subprocess.Popen[bytes]) -> None:
    """Terminate a server this test run started; kill it if it does not stop."""
    process.terminate()
    try:
        process.wait(timeout=10)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()


@pytest.fixture
def sidecar(opa: str) -> Iterator[Callable[[Path], Sidecar]]:
    """Start sidecars for bundles; every one is stopped when the test ends."""
    started: list[Sidecar] = []

    def start(bundle: Path) -> Sidecar:
        server = Sidecar(opa, bundle)
        started.append(server)
        return server

    yield start
    for server in started:
        server.stop()


def load_request(name: str) -> dict[str, object]:
    return dict(json.loads((REQUESTS / name).read_text()))


def without_locations(value: object) -> object:
    """A decision minus what names the source files (policies' and failed conditions'
    `source`) and the revision: two forms of the same sources decide alike."""
    if isinstance(value, dict):
        return {
            k: without_locations(v) for k, v in value.items() if k not in ("source", "revision")
        }
    if isinstance(value, list):
        return [without_locations(item) for item in value]
    return value
