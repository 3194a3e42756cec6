"""`regate playground`: sources, a request and the decision side by side, in a local page.

The server binds 127.0.0.1 only and does two things: it serves the page, and it evaluates
the edited sources and request as the command line would (compile_sources, then the real
OPA, `opa eval`, on the bundle).  It runs nothing else: a source may only replace one of
the files the playground started with, so no name from the page reaches the file system,
and bodies are bounded.  It fails closed: sources with errors, a request that is not JSON
or an OPA that fails give diagnostics and no decision, never the last one.
"""

from __future__ import annotations

import contextlib
import difflib
import json
import os
import sys
import tempfile
import threading
from dataclasses import dataclass, replace
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

from compiler import explain
from compiler.ast import Span
from compiler.bundle import tar_gz
from compiler.diagnostics import Diagnostic, as_json, error, render_all_text
from compiler.driver import compile_sources
from compiler.editor.html import decision_view, render_page
from compiler.opa import OpaError, eval_bundle
from compiler.resources import resource_dir

MAX_BODY = 1 << 20  # bytes of one evaluation's sources and request
MAX_SOURCES_SIZE = MAX_BODY // 2  # bytes of the sources the playground starts with
REQUESTS_DIRECTORY = "requests"  # a source project's sample requests (bundles/quality-gates)
EXAMPLE = Path(__file__).resolve().parent.parent.parent / "bundles" / "quality-gates"
HOST = "127.0.0.1"
SECURITY_HEADERS = {
    "Content-Security-Policy": "default-src 'none'; script-src 'self'; style-src 'unsafe-inline'; "
    "connect-src 'self'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'",
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    "Cache-Control": "no-store",
}


class Refused(Exception):
    """A request the server will not evaluate; the message says why."""


@dataclass(frozen=True)
class Project:
    """The files the playground started with: editable sources and sample requests."""

    root: Path
    sources: dict[str, str]  # relative name → text, *.rg and *.json outside requests/
    requests: dict[str, str]  # relative name → text, requests/*.json

    @staticmethod
    def read(root: Path) -> Project:
        sources: dict[str, str] = {}
        requests: dict[str, str] = {}
        for file in sorted(root.rglob("*")):
            relative = file.relative_to(root).as_posix()
            if not file.is_file() or file.suffix not in (".rg", ".json"):
                continue
            if any(part.startswith(".") for part in file.relative_to(root).parts):
                continue
            text = file.read_text(encoding="utf-8")
            is_request = relative.startswith(REQUESTS_DIRECTORY + "/") and file.suffix == ".json"
            (requests if is_request else sources)[relative] = text
        size = sum(len(t.encode()) for t in sources.values())
        if size > MAX_SOURCES_SIZE:
            raise Refused(f"{root} holds {size} bytes of sources, more than {MAX_SOURCES_SIZE}")
        if not sources:
            raise Refused(f"no *.rg or *.json sources in {root}")
        # The regate sources first, then the JSON beside them (schemas, payloads).
        ordered = dict(sorted(sources.items(), key=lambda item: not item[0].endswith(".rg")))
        return Project(root, ordered, requests)


def _rego(files: dict[str, bytes]) -> dict[str, str]:
    return {name: data.decode() for name, data in sorted(files.items()) if name.endswith(".rego")}


def _rego_diff(before: dict[str, str], after: dict[str, str]) -> str:
    lines: list[str] = []
    for name in sorted(before.keys() | after.keys()):
        lines.extend(
            difflib.unified_diff(
                before.get(name, "").splitlines(keepends=True),
                after.get(name, "").splitlines(keepends=True),
                f"example/{name}",
                f"edited/{name}",
            )
        )
    return "".join(lines)


class Playground:
    def __init__(self, project: Project) -> None:
        self.project = project
        self.lock = threading.Lock()  # one compilation and one OPA at a time
        self.baseline: dict[str, str] | None = None  # the example's Rego, once compiled
        first = self.evaluate(project.sources, next(iter(project.requests.values()), "{}"))
        self.baseline = first["rego"]
        self.first = first

    def evaluate(self, edited: dict[str, str], request_text: str) -> dict[str, Any]:
        """Compile the sources, decide the request with a real OPA: the decision, its
        explanation (text and HTML), the diagnostics and the emitted Rego."""
        unknown = sorted(set(edited) - set(self.project.sources))
        if unknown:
            raise Refused(f"not a source of this playground: {unknown[0]}")
        with self.lock, tempfile.TemporaryDirectory(prefix="regate-playground-") as scratch:
            root = Path(scratch) / "sources"
            files = {**self.project.requests, **self.project.sources, **edited}
            for name, text in files.items():
                (root / name).parent.mkdir(parents=True, exist_ok=True)
                (root / name).write_text(text, encoding="utf-8")
            return self._decide(root, request_text, scratch)

    def _decide(self, root: Path, request_text: str, scratch: str) -> dict[str, Any]:
        result = compile_sources([str(root)])
        prefix = root.as_posix() + "/"
        texts = {k.removeprefix(prefix): v for k, v in result.texts.items()}
        diagnostics = [
            {**d, "file": d["file"].removeprefix(prefix)} for d in as_json(result.diagnostics)
        ]
        shown = [_relative(d, prefix) for d in result.diagnostics]
        answer: dict[str, Any] = {
            "diagnostics": diagnostics,
            "diagnostics_text": render_all_text(shown, texts),
            "decision": None,
            "explanation": "",
            "rego": _rego(result.files or {}),
        }
        answer["rego_diff"] = _rego_diff(self.baseline or answer["rego"], answer["rego"])
        if result.files is None:
            return _no_decision(answer, "the sources have errors: see the diagnostics")
        try:
            request = json.loads(request_text)
        except json.JSONDecodeError as exc:
            span = Span("request", exc.lineno, exc.colno, exc.lineno, exc.colno + 1)
            found = error("RG002", span, f"the request is not valid JSON: {exc.msg}")
            answer["diagnostics"].extend(as_json([found]))
            answer["diagnostics_text"] += render_all_text([found], {"request": request_text})
            return _no_decision(answer, "the request is not valid JSON: see the diagnostics")
        bundle = os.path.join(scratch, "bundle.tar.gz")
        Path(bundle).write_bytes(tar_gz(result.files))
        try:
            decision = eval_bundle(bundle, request)
        except OpaError as exc:
            return _no_decision(answer, f"OPA failed: {exc}")
        answer["decision"] = decision
        answer["explanation"] = explain.render(decision)
        answer["html"] = render_page("decision_fragment.html.j2", decision=decision_view(decision))
        return answer


def _relative(diagnostic: Diagnostic, prefix: str) -> Diagnostic:
    span = diagnostic.span
    return replace(diagnostic, span=replace(span, file=span.file.removeprefix(prefix)))


def _no_decision(answer: dict[str, Any], reason: str) -> dict[str, Any]:
    answer["decision"] = None
    answer["explanation"] = f"no decision: {reason}\n"
    answer["html"] = render_page("no_decision.html.j2", reason=reason)
    return answer


class Handler(BaseHTTPRequestHandler):
    server: PlaygroundServer
    protocol_version = "HTTP/1.1"
    timeout = 30  # seconds a client may take to send a request

    def log_message(self, format: str, *args: Any) -> None:
        pass  # quiet: the terminal shows the URL and errors only

    def _send(self, status: HTTPStatus, body: bytes, content_type: str) -> None:
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        for name, value in SECURITY_HEADERS.items():
            self.send_header(name, value)
        self.end_headers()
        self.wfile.write(body)

    def _refuse(self, status: HTTPStatus, reason: str) -> None:
        self.close_connection = True
        self._send(status, json.dumps({"error": reason}).encode(), "application/json")

    def _local(self) -> bool:
        """The Host names this server (a page elsewhere cannot reach it by a DNS name
        that resolves to 127.0.0.1), and an Origin, when sent, is this page's."""
        port = self.server.server_address[1]
        hosts = {f"{HOST}:{port}", f"localhost:{port}"}
        origin = self.headers.get("Origin")
        return self.headers.get("Host") in hosts and (
            origin is None or origin in {f"http://{h}" for h in hosts}
        )

    def do_GET(self) -> None:
        if not self._local():
            return self._refuse(HTTPStatus.FORBIDDEN, "not a request from this machine's page")
        path = self.path.split("?", 1)[0]
        if path == "/":
            page = self.server.page()
            return self._send(HTTPStatus.OK, page.encode(), "text/html; charset=utf-8")
        if path == "/playground.js":
            script = (resource_dir("templates") / "html" / "playground.js").read_bytes()
            return self._send(HTTPStatus.OK, script, "text/javascript; charset=utf-8")
        return self._refuse(HTTPStatus.NOT_FOUND, "no such page")

    def do_POST(self) -> None:
        if not self._local():
            return self._refuse(HTTPStatus.FORBIDDEN, "not a request from this machine's page")
        if self.path != "/api/evaluate":
            return self._refuse(HTTPStatus.NOT_FOUND, "no such endpoint")
        if self.headers.get_content_type() != "application/json":
            return self._refuse(HTTPStatus.UNSUPPORTED_MEDIA_TYPE, "send application/json")
        try:
            length = int(self.headers.get("Content-Length", ""))
        except ValueError:
            return self._refuse(HTTPStatus.LENGTH_REQUIRED, "Content-Length is required")
        if not 0 <= length <= MAX_BODY:
            return self._refuse(HTTPStatus.REQUEST_ENTITY_TOO_LARGE, f"at most {MAX_BODY} bytes")
        try:
            body = json.loads(self.rfile.read(length))
            sources, request = body["sources"], body["request"]
            if not isinstance(sources, dict) or not isinstance(request, str):
                raise TypeError
            if not all(isinstance(v, str) for v in sources.values()):
                raise TypeError
        except (ValueError, KeyError, TypeError):
            return self._refuse(
                HTTPStatus.BAD_REQUEST, 'send {"sources": {name: text}, "request": text}'
            )
        try:
            answer = self.server.playground.evaluate(sources, request)
        except Refused as exc:
            return self._refuse(HTTPStatus.BAD_REQUEST, str(exc))
        except Exception as exc:  # a regate bug must not leave the page with an old decision
            answer = _no_decision(
                {"diagnostics": [], "diagnostics_text": "", "rego": {}, "rego_diff": ""},
                f"regate failed: {type(exc).__name__}: {exc}",
            )
        self._send(HTTPStatus.OK, json.dumps(answer).encode(), "application/json")


class PlaygroundServer(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self, playground: Playground, port: int) -> None:
        super().__init__((HOST, port), Handler)
        self.playground = playground

    def page(self) -> str:
        project = self.playground.project
        first = self.playground.first
        requests = project.requests or {"request.json": "{}"}
        return render_page(
            "playground.html.j2",
            title="regate playground",
            sources=project.sources,
            requests=requests,
            request=next(iter(requests.values())),
            first=first,
            decision=decision_view(first["decision"]) if first["decision"] else None,
            root=project.root.name,
        )


def serve(root: Path, port: int) -> None:
    """Serve until interrupted; the URL goes to stderr once the port is bound."""
    playground = Playground(Project.read(root))
    with PlaygroundServer(playground, port) as server:
        print(f"regate playground: http://{HOST}:{server.server_address[1]}/", file=sys.stderr)
        sys.stderr.flush()
        with contextlib.suppress(KeyboardInterrupt):
            server.serve_forever()
