"""A real OCI registry for the fleet tests: Debian's docker-registry (the CNCF
distribution registry, installed by scripts/bootstrap.sh), started on 127.0.0.1
with a free port and a temporary storage directory, and stopped by the test."""

from __future__ import annotations

import base64
import json
import shutil
import subprocess
import time
import urllib.error
import urllib.request
from pathlib import Path

import bcrypt

from tests.conftest import free_port, stop_process

USER, PASSWORD = "fleet", "a password for the test registry"


def registry_binary() -> str:
    found = shutil.which("docker-registry")
    assert found, "docker-registry is missing: run scripts/bootstrap.sh"
    return found


class Registry:
    """`docker-registry serve` on 127.0.0.1:PORT; `stop()` and `start()` again
    keep the port and the storage, as a registry outage would."""

    def __init__(self, directory: Path, with_auth: bool = False) -> None:
        self.directory = directory
        self.port = free_port()
        self.host = f"127.0.0.1:{self.port}"
        self.url = f"http://{self.host}"
        self.with_auth = with_auth
        config = {
            "version": 0.1,
            "log": {"level": "error", "accesslog": {"disabled": True}},
            "storage": {"filesystem": {"rootdirectory": str(directory / "storage")}},
            "http": {"addr": self.host, "secret": "a fixed secret for upload sessions"},
        }
        if with_auth:
            hashed = bcrypt.hashpw(PASSWORD.encode(), bcrypt.gensalt(rounds=4)).decode()
            (directory / "htpasswd").write_text(f"{USER}:{hashed}\n")
            config["auth"] = {
                "htpasswd": {"realm": "regate-tests", "path": str(directory / "htpasswd")}
            }
        # JSON is YAML: the registry reads it as its configuration file.
        (directory / "registry.yml").write_text(json.dumps(config))
        self.process: subprocess.Popen[bytes] | None = None
        self.start()

    def start(self) -> None:
        log = (self.directory / "registry.log").open("ab")
        self.process = subprocess.Popen(
            [registry_binary(), "serve", str(self.directory / "registry.yml")],
            stdout=log,
            stderr=subprocess.STDOUT,
        )
        deadline = time.monotonic() + 20
        while True:
            try:
                urllib.request.urlopen(f"{self.url}/v2/", timeout=2)
                return
            except urllib.error.HTTPError as answer:  # 401 with auth: up all the same
                if answer.code == 401:
                    return
            except OSError:
                pass
            if self.process.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"registry did not start: {self.log()}")
            time.sleep(0.05)

    def stop(self) -> None:
        if self.process is not None:
            stop_process(self.process)
            self.process = None

    def log(self) -> str:
        return (self.directory / "registry.log").read_text(errors="replace")

    def manifest(self, repository: str, reference: str) -> tuple[dict[str, object], str]:
        """A manifest as the registry serves it, and its digest (HTTP, as OPA reads it)."""
        request = urllib.request.Request(
            f"{self.url}/v2/{repository}/manifests/{reference}",
            headers={"Accept": "application/vnd.oci.image.manifest.v1+json"},
        )
        if self.with_auth:
            token = base64.b64encode(f"{USER}:{PASSWORD}".encode()).decode()
            request.add_header("Authorization", f"Basic {token}")
        with urllib.request.urlopen(request, timeout=5) as answer:
            return json.load(answer), answer.headers["Docker-Content-Digest"]

    def blob(self, repository: str, digest: str) -> bytes:
        with urllib.request.urlopen(f"{self.url}/v2/{repository}/blobs/{digest}", timeout=5) as a:
            return bytes(a.read())
