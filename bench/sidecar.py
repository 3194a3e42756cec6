"""A real `opa run --server` on 127.0.0.1, served and asked as the README runs a sidecar:
HTTP POSTs of `{"input": ...}` on one kept-alive connection.

The client writes each request's bytes, prepared once, to a plain socket and reads
the answer by its Content-Length: the time it measures is OPA's (parsing the body,
deciding, encoding the answer) and the loopback's, with as little of Python's as
possible, so that two sidecars compare by what they do.  Every OPA started here
is stopped here; nothing leaves 127.0.0.1.
"""

from __future__ import annotations

import json
import os
import re
import socket
import subprocess
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from compiler.opa import find_opa  # the OPA regate itself would use

# OPA keeps bundle data as Rego values (the README's sidecar), or as Go values it
# converts on every read (OPA's default store).
STORES = {"optimized": ("--optimize-store-for-read-speed",), "default": ()}
# The README's body limits (a request is at most 256 KiB).
BODY_LIMITS = (
    "--set",
    "server.decoding.max_length=524288",
    "--set",
    "server.decoding.gzip.max_length=524288",
)
ACTIVATION_TIMEOUT_S = 120


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


class Connection:
    """One kept-alive HTTP/1.1 connection to the sidecar."""

    def __init__(self, port: int, timeout: float = 30) -> None:
        self.socket = socket.create_connection(("127.0.0.1", port), timeout=timeout)
        self.socket.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.buffer = b""

    def close(self) -> None:
        self.socket.close()

    @staticmethod
    def post_bytes(path: str, body: bytes) -> bytes:
        """A POST of `body` to `path`, as bytes to send (prepared once, sent many times)."""
        head = (
            f"POST {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
            f"Content-Length: {len(body)}\r\n\r\n"
        )
        return head.encode() + body

    def send(self, message: bytes) -> tuple[int, bytes]:
        """Send a prepared request; the answer's status and body."""
        self.socket.sendall(message)
        return self._answer()

    def get(self, path: str) -> tuple[int, bytes]:
        return self.send(f"GET {path} HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n".encode())

    def _answer(self) -> tuple[int, bytes]:
        while b"\r\n\r\n" not in self.buffer:
            self._read()
        head, self.buffer = self.buffer.split(b"\r\n\r\n", 1)
        lines = head.decode("latin-1").split("\r\n")
        status = int(lines[0].split()[1])
        headers = {k.lower(): v.strip() for k, _, v in (line.partition(":") for line in lines[1:])}
        if headers.get("transfer-encoding") == "chunked":
            return status, self._chunked()
        length = int(headers.get("content-length", "0"))
        while len(self.buffer) < length:
            self._read()
        body, self.buffer = self.buffer[:length], self.buffer[length:]
        return status, body

    def _chunked(self) -> bytes:
        body = b""
        while True:
            while b"\r\n" not in self.buffer:
                self._read()
            size_line, self.buffer = self.buffer.split(b"\r\n", 1)
            size = int(size_line.split(b";")[0], 16)
            while len(self.buffer) < size + 2:
                self._read()
            body += self.buffer[:size]
            self.buffer = self.buffer[size + 2 :]
            if size == 0:
                return body

    def _read(self) -> None:
        chunk = self.socket.recv(1 << 16)
        if not chunk:
            raise ConnectionError("the sidecar closed the connection")
        self.buffer += chunk


@dataclass
class Sidecar:
    process: subprocess.Popen[bytes]
    port: int
    connection: Connection
    activation_s: float  # from starting OPA to /health?bundles=true answering 200
    activation_cpu_s: float  # OPA's own CPU time until then

    def decide(self, path: str, request: object) -> Any:
        """`POST /v1/data/<path>` with the request as input: the result."""
        body = json.dumps({"input": request}).encode()
        status, answer = self.connection.send(Connection.post_bytes(f"/v1/data/{path}", body))
        found = json.loads(answer)
        if status != 200 or "result" not in found:
            raise SystemExit(f"OPA answered {status} to {path}: {answer[:500]!r}")
        return found["result"]

    def eval_ns(self, path: str, request: object) -> float:
        """OPA's own evaluation time of one decision (`?metrics=true`)."""
        body = json.dumps({"input": request}).encode()
        message = Connection.post_bytes(f"/v1/data/{path}?metrics=true", body)
        status, answer = self.connection.send(message)
        if status != 200:
            raise SystemExit(f"OPA answered {status} to {path}: {answer[:500]!r}")
        return float(json.loads(answer)["metrics"]["timer_rego_query_eval_ns"])

    def resident_mb(self) -> float:
        return resident_mb(self.process.pid)


def cpu_seconds(pid: int) -> float:
    """User + system CPU time of a running process (Linux /proc; NaN elsewhere)."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return float("nan")
    # utime and stime are fields 14 and 15 of stat(5); fields[0] here is field 3.
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def resident_mb(pid: int) -> float:
    """The process's resident set size now (Linux /proc; NaN elsewhere)."""
    try:
        status = Path(f"/proc/{pid}/status").read_text()
    except OSError:
        return float("nan")
    match = re.search(r"^VmRSS:\s+(\d+) kB$", status, re.M)
    return int(match.group(1)) / 1024 if match else float("nan")


@contextmanager
def sidecar(
    *bundles: Path, store: str = "optimized", environment: dict[str, str] | None = None
) -> Iterator[Sidecar]:
    """`opa run --server` on a free 127.0.0.1 port serving `bundles`, once active."""
    port = free_port()
    served = [a for bundle in bundles for a in ("--bundle", str(bundle))]
    command = [find_opa(), "run", "--server", *STORES[store], *BODY_LIMITS]
    started = time.perf_counter()
    process = subprocess.Popen(
        [*command, "--addr", f"127.0.0.1:{port}", *served],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        env={**os.environ, **(environment or {})},
    )
    connection: Connection | None = None
    try:
        deadline = started + ACTIVATION_TIMEOUT_S
        while True:
            try:
                connection = connection or Connection(port)
                if connection.get("/health?bundles=true")[0] == 200:
                    break
            except OSError:
                if connection is not None:
                    connection.close()
                connection = None
            if process.poll() is not None or time.perf_counter() > deadline:
                raise SystemExit(f"OPA did not activate {', '.join(map(str, bundles))}")
            time.sleep(0.005)
        activated = time.perf_counter() - started
        yield Sidecar(process, port, connection, activated, cpu_seconds(process.pid))
    finally:
        if connection is not None:
            connection.close()
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
