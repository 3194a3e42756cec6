"""OPA faults: a real OPA sidecar polls a bundle server run by this test, which
hands it, in turn, a good revision, a corrupt archive, a bundle with a bad
signature and a newer good revision.  OPA must keep deciding with the last good
revision until the newer one arrives, and say what failed in its status reports.
"""

from __future__ import annotations

import hashlib
import json
import shutil
import subprocess
import tempfile
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest

from compiler.bundle import tar_gz
from compiler.driver import compile_sources
from compiler.signing import SIGNATURES_FILE, SigningKey, signatures
from tests.conftest import QUALITY_GATES, free_port, load_request, stop_process

SECRET = "the bundle server and OPA share this HS256 secret"
pytestmark = pytest.mark.opa


class BundleServer:
    """Serves one bundle at /bundles/regate.tar.gz (swapped by the test) and keeps
    the status reports OPA posts to /status."""

    def __init__(self) -> None:
        self.bundle = b""
        self.reports: list[dict[str, Any]] = []
        server = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                content = server.bundle
                etag = '"' + hashlib.sha256(content).hexdigest()[:16] + '"'
                if self.headers.get("If-None-Match") == etag:
                    self.send_response(304)
                    self.end_headers()
                    return
                self.send_response(200)
                self.send_header("Content-Type", "application/gzip")
                self.send_header("ETag", etag)
                self.send_header("Content-Length", str(len(content)))
                self.end_headers()
                self.wfile.write(content)

            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
                if self.path == "/status":
                    server.reports.append(json.loads(body))
                self.send_response(200)
                self.end_headers()

            def log_message(self, format: str, *args: object) -> None:
                pass  # quiet: the test says what matters

        self.http = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.http.server_address[1]}"
        self.thread = threading.Thread(target=self.http.serve_forever, daemon=True)
        self.thread.start()

    def bundle_status(self) -> dict[str, Any]:
        """The latest status report's entry for the regate bundle."""
        return dict(self.reports[-1].get("bundles", {}).get("regate", {})) if self.reports else {}

    def stop(self) -> None:
        self.http.shutdown()
        self.http.server_close()
        self.thread.join()


@dataclass
class PollingSidecar:
    process: subprocess.Popen[bytes]
    url: str

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


def start_polling_sidecar(opa: str, server: BundleServer, directory: Path) -> PollingSidecar:
    config = {
        "services": {"bundles": {"url": server.url}},
        "bundles": {
            "regate": {
                "service": "bundles",
                "resource": "bundles/regate.tar.gz",
                "polling": {"min_delay_seconds": 1, "max_delay_seconds": 1},
                "signing": {"keyid": "regate"},
            }
        },
        "keys": {"regate": {"algorithm": "HS256", "key": SECRET}},
        "status": {"service": "bundles"},
    }
    (directory / "opa.json").write_text(json.dumps(config))
    port = free_port()
    process = subprocess.Popen(
        [opa, "run", "--server", "--addr", f"127.0.0.1:{port}",
         "--config-file", str(directory / "opa.json")],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )  # fmt: skip
    return PollingSidecar(process, f"http://127.0.0.1:{port}")


@pytest.fixture
def polling(opa: str, tmp_path: Path) -> Iterator[tuple[BundleServer, PollingSidecar]]:
    server = BundleServer()
    sidecar = start_polling_sidecar(opa, server, tmp_path)
    try:
        yield server, sidecar
    finally:
        stop_process(sidecar.process)
        server.stop()


def signed_bundle(threshold: int, secret: str = SECRET) -> tuple[bytes, str]:
    """The quality gates with the coverage threshold changed, signed; and its revision."""
    with tempfile.TemporaryDirectory() as directory:
        copy = Path(directory, "quality-gates")
        shutil.copytree(QUALITY_GATES, copy)
        policies = (copy / "policies.rg").read_text()
        assert '{"$gte": 80}' in policies
        (copy / "policies.rg").write_text(
            policies.replace('{"$gte": 80}', f'{{"$gte": {threshold}}}')
        )
        result = compile_sources([str(copy)])
    assert result.files is not None
    signed = signatures(result.files, SigningKey("HS256", secret, None, "test"))
    assert isinstance(signed, bytes)
    revision = json.loads(result.files[".manifest"])["revision"]
    return tar_gz({**result.files, SIGNATURES_FILE: signed}), revision


def wait_for(what: str, condition: Callable[[], bool], seconds: float = 20) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        try:
            if condition():
                return
        except (OSError, KeyError, IndexError):
            pass  # not up yet, or nothing reported yet
        time.sleep(0.2)
    raise AssertionError(f"timed out waiting for {what}")


def test_opa_keeps_the_last_good_revision_through_bad_bundles(polling):
    server, sidecar = polling
    request = load_request("01-coverage-70.json")  # coverage 70: manual at 80, approve at 60
    good, good_revision = signed_bundle(80)
    newer, newer_revision = signed_bundle(60)
    forged, _ = signed_bundle(60, secret="a secret OPA does not trust, just as long")

    def hand(bundle: bytes, until: Callable[[], bool], what: str) -> dict[str, Any]:
        """Serve `bundle` until OPA reports on it as `until` expects; its status then."""
        reports = len(server.reports)
        server.bundle = bundle
        wait_for(what, lambda: len(server.reports) > reports and until())
        return server.bundle_status()

    def failed() -> bool:
        return server.bundle_status().get("code") == "bundle_error"

    # Before any good revision: no decision, and health says so.
    status = hand(b"not a gzip archive", failed, "the first download to fail")
    assert sidecar.get("/health?bundles=true")[0] == 500
    assert sidecar.decide(request) == {}

    status = hand(good, lambda: sidecar.decide(request).get("revision") == good_revision, "good")
    assert (status.get("code"), status["active_revision"]) == (None, good_revision)
    assert sidecar.get("/health?bundles=true") == (200, {})
    assert sidecar.decide(request)["result"] == "manual"

    # A corrupt archive, then a bundle signed with another key: OPA reports each
    # failure, and serves the last good revision meanwhile (health stays 200:
    # it says a bundle is active, not that the latest download worked).
    for bundle, message in (
        (b"not a gzip archive", "bundle read failed: archive read failed: gzip: invalid header"),
        (forged, "failed to verify JWT signature: invalid HMAC signature"),
    ):
        status = hand(bundle, lambda m=message: server.bundle_status().get("message") == m, message)
        assert (status["code"], status["active_revision"]) == ("bundle_error", good_revision)
        assert sidecar.get("/health?bundles=true") == (200, {})
        decision = sidecar.decide(request)
        assert (decision["revision"], decision["result"]) == (good_revision, "manual")

    status = hand(newer, lambda: sidecar.decide(request).get("revision") == newer_revision, "new")
    assert (status.get("code"), status["active_revision"]) == (None, newer_revision)
    assert sidecar.decide(request)["result"] == "approve"
