"""Fixtures of the fleet tests: a real registry, keys, bundle variants, and OPA
sidecars started from the configuration `regate sidecar-config` wrote."""

from __future__ import annotations

import json
import shutil
import subprocess
import tarfile
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

from tests.conftest import QUALITY_GATES, free_port, run_cli, stop_process
from tests.fleet.registry import Registry


@pytest.fixture
def registry(tmp_path: Path) -> Iterator[Registry]:
    directory = tmp_path / "registry"
    directory.mkdir()
    server = Registry(directory)
    yield server
    server.stop()


@dataclass(frozen=True)
class KeyPair:
    private: Path
    public: Path


def _key_pair(directory: Path, name: str) -> KeyPair:
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    pair = KeyPair(directory / f"{name}.pem", directory / f"{name}.pub")
    pair.private.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    pair.public.write_bytes(
        key.public_key().public_bytes(
            serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
        )
    )
    return pair


@pytest.fixture(scope="session")
def fleet_key(tmp_path_factory: pytest.TempPathFactory) -> KeyPair:
    """The fleet's RS256 signing key."""
    return _key_pair(tmp_path_factory.mktemp("keys"), "fleet")


@pytest.fixture(scope="session")
def stranger_key(tmp_path_factory: pytest.TempPathFactory) -> KeyPair:
    """A key the fleet does not trust."""
    return _key_pair(tmp_path_factory.mktemp("keys"), "stranger")


def quality_gates(directory: Path, threshold: int) -> Path:
    """The quality gates with the coverage threshold changed: each threshold is a revision."""
    copy = directory / f"quality-gates-{threshold}"
    if not copy.exists():
        shutil.copytree(QUALITY_GATES, copy)
        policies = (copy / "policies.rg").read_text()
        assert '{"$gte": 80}' in policies
        (copy / "policies.rg").write_text(
            policies.replace('{"$gte": 80}', f'{{"$gte": {threshold}}}')
        )
    return copy


def build_bundle(directory: Path, threshold: int, *signing: str, name: str | None = None) -> Path:
    """`regate build` of the quality gates at `threshold`, with signing options."""
    bundle = directory / (name or f"bundle-{threshold}.tar.gz")
    built = run_cli("build", str(quality_gates(directory, threshold)), "-o", str(bundle), *signing)
    assert built.exit_code == 0, built.output
    return bundle


def revision_of(bundle: Path) -> str:
    with tarfile.open(bundle) as archive:
        member = archive.extractfile("/.manifest")
        assert member is not None
        return str(json.load(member)["revision"])


class FleetSidecar:
    """`opa run --server` started as `regate sidecar-config` says, on a free
    127.0.0.1 port, its console (decision logs, status) written to a file."""

    def __init__(self, opa: str, config_dir: Path, log: Path) -> None:
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.log = log
        files = [str(config_dir / "mask.rego")] if (config_dir / "mask.rego").exists() else []
        self.process = subprocess.Popen(
            [opa, "run", "--server", "--optimize-store-for-read-speed",
             "--addr", f"127.0.0.1:{self.port}",
             "--config-file", str(config_dir / "opa-config.yaml"), *files],
            stdout=log.open("wb"), stderr=subprocess.STDOUT,
        )  # fmt: skip

    def get(self, path: str) -> tuple[int, Any]:
        try:
            with urllib.request.urlopen(self.url + path, timeout=5) as answer:
                return answer.status, json.load(answer)
        except urllib.error.HTTPError as failure:
            return failure.code, json.load(failure)

    def decide(self, request: object) -> dict[str, Any]:
        body = json.dumps({"input": request}).encode()
        with urllib.request.urlopen(self.url + "/v1/data/regate/decision", body, 5) as answer:
            return dict(json.load(answer).get("result", {}))

    def bundle_status(self, name: str) -> dict[str, Any]:
        """The status plugin's report on one bundle (GET /v1/status)."""
        status = self.get("/v1/status")[1]
        return dict(status.get("result", {}).get("bundles", {}).get(name, {}))

    def stop(self) -> None:
        stop_process(self.process)


@pytest.fixture
def fleet_sidecar(opa: str) -> Iterator[Callable[[Path, Path], FleetSidecar]]:
    started: list[FleetSidecar] = []

    def start(config_dir: Path, log: Path) -> FleetSidecar:
        sidecar = FleetSidecar(opa, config_dir, log)
        started.append(sidecar)
        return sidecar

    yield start
    for sidecar in started:
        sidecar.stop()


def wait_for(what: str, condition: Callable[[], bool], seconds: float = 20) -> float:
    """Poll `condition` until it holds; the seconds it took.  Bounded: fails after `seconds`."""
    start = time.monotonic()
    while time.monotonic() - start < seconds:
        try:
            if condition():
                return time.monotonic() - start
        except (OSError, KeyError, IndexError, ValueError):
            pass  # not up yet, or nothing reported yet
        time.sleep(0.1)
    raise AssertionError(f"timed out after {seconds} s waiting for {what}")
