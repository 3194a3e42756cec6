"""Talking to a real OPA: the local binary (`opa eval`) or a sidecar (opa-python-client).

Whatever goes wrong on the way (no OPA, a file that is not a bundle, a sidecar that
does not answer, an answer that is not a regate decision) is an `OpaError` whose
message says what failed and what to do, in regate's words: OPA's and the HTTP
library's own texts are for debugging, and appear only where nothing better is known.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import stat
import subprocess
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from compiler.ast import Span
from compiler.diagnostics import COMMAND_LINE, Diagnostic, error
from compiler.limits import OPA_TIMEOUT_SECONDS, SIDECAR_TIMEOUT_SECONDS
from compiler.request import RequestDocument, request_json

DECISION_QUERY = "data.regate.decision"
RESULTS = ("approve", "manual", "pending", "deny")
BUILD_HELP = "build it with `regate build SRC... -o BUNDLE.tar.gz`"


class OpaError(Exception):
    """OPA could not be found, started or asked; the message says what to do.

    `code` is the diagnostic code: RG062 (OPA itself), RG063 (a sidecar), RG064 (the
    bundle)."""

    def __init__(
        self, message: str, code: str = "RG062", help: str | None = None, file: str = ""
    ) -> None:
        super().__init__(message)
        self.message = message
        self.code = code
        self.help = help
        self.file = file  # the file it is about (a bundle), or "" for the command line

    @property
    def diagnostic(self) -> Diagnostic:
        span = Span(self.file, 1, 1, 1, 1) if self.file else COMMAND_LINE
        return error(self.code, span, self.message, self.help)


def find_opa() -> str:
    """The OPA binary: $REGATE_OPA, then `opa` on PATH, then the checkout's .tools/bin/opa."""
    configured = os.environ.get("REGATE_OPA")
    if configured:
        problem = _not_a_program(configured)
        if problem:
            raise OpaError(
                f"REGATE_OPA={configured} {problem}",
                help="point REGATE_OPA at the opa binary, or unset it to use opa on PATH",
            )
        return configured
    on_path = shutil.which("opa")
    if on_path:
        return on_path
    checkout = Path(__file__).resolve().parent.parent / ".tools" / "bin" / "opa"
    if checkout.is_file():
        return str(checkout)
    raise OpaError(
        "OPA not found",
        help="run scripts/bootstrap.sh, put opa on PATH or set REGATE_OPA to the opa binary",
    )


def _not_a_program(path: str) -> str | None:
    """Why `path` cannot be run, or None."""
    try:
        mode = os.stat(path).st_mode
    except FileNotFoundError:
        return "does not exist"
    except (OSError, ValueError) as exc:
        return f"cannot be read: {getattr(exc, 'strerror', None) or exc}"
    if stat.S_ISDIR(mode):
        return "is a directory, not the opa binary"
    if not stat.S_ISREG(mode) or not os.access(path, os.X_OK):
        return "is not an executable file"
    return None


def run(
    arguments: list[str], stdin: str | None = None, cwd: str | None = None
) -> subprocess.CompletedProcess[str]:
    """`opa ARGUMENTS...`, bounded in time; failing to start it is an OpaError."""
    binary = find_opa()
    try:
        return subprocess.run(
            [binary, *arguments],
            input=stdin,
            capture_output=True,
            text=True,
            errors="replace",
            check=False,
            cwd=cwd,
            timeout=OPA_TIMEOUT_SECONDS,
        )
    except subprocess.TimeoutExpired:
        raise OpaError(
            f"opa {arguments[0]} did not finish within {OPA_TIMEOUT_SECONDS} s",
            help="a regate bundle decides in milliseconds: is the machine overloaded?",
        ) from None
    except OSError as exc:  # not an executable of this machine, permission denied, ...
        raise OpaError(
            f"cannot run OPA ({binary}): {exc.strerror or exc}",
            help="point REGATE_OPA at the opa binary for this machine, or run scripts/bootstrap.sh",
        ) from None


def _opa_json(done: subprocess.CompletedProcess[str]) -> Any:
    """OPA's JSON answer on stdout; anything else means the binary is not OPA."""
    try:
        return json.loads(done.stdout)
    except json.JSONDecodeError:
        said = (done.stderr.strip() or done.stdout.strip()).splitlines()[:1]
        raise OpaError(
            f"{find_opa()} did not answer as OPA does{': ' + said[0][:200] if said else ''}",
            help="point REGATE_OPA at the opa binary, or run scripts/bootstrap.sh",
        ) from None


# OPA's words for a bundle it cannot load → what they mean to someone holding the file.
_LOAD_FAILURES = (
    (re.compile(r"no such file or directory"), "no such file"),
    (re.compile(r"permission denied"), "permission denied"),
    (
        re.compile(r"archive read failed|gzip: invalid header|unexpected EOF|: EOF$"),
        "it is not a .tar.gz bundle, or it is truncated",
    ),
    (
        re.compile(r"rego_(parse|compile|type)_error|rego_unsafe_var_error"),
        "its Rego does not compile: it was not built by this version of regate",
    ),
    (re.compile(r"manifest|roots"), "its manifest is not a regate bundle's"),
)


def _bundle_error(bundle: str, errors: list[str]) -> OpaError:
    """OPA's errors for a bundle that `opa eval` could not load or evaluate."""
    text = "; ".join(errors)
    if "loading error" in text or "bundle" in text:
        for pattern, meaning in _LOAD_FAILURES:
            if pattern.search(text):
                return _bundle(bundle, f"cannot use bundle {bundle}: {meaning}")
        shown = text if len(text) <= 200 else text[:200] + "..."
        return _bundle(bundle, f"cannot use bundle {bundle}: OPA cannot load it ({shown})")
    return _bundle(
        bundle,
        f"OPA could not decide the request with bundle {bundle}: {text[:200]}",
        "rebuild the bundle with this regate; if it persists, report it with the bundle "
        "and the request",
    )


def _bundle(bundle: str, message: str, help: str = BUILD_HELP) -> OpaError:
    """RG064: a problem with the bundle file."""
    return OpaError(message, "RG064", help, file=bundle)


def check_bundle(bundle: str) -> OpaError | None:
    """Why `bundle` cannot be handed to OPA, before anything runs, or None."""
    try:
        mode = os.stat(bundle).st_mode
    except FileNotFoundError:
        return _bundle(bundle, f"cannot read bundle {bundle}: no such file")
    except (OSError, ValueError) as exc:
        reason = getattr(exc, "strerror", None) or exc
        return _bundle(bundle, f"cannot read bundle {bundle}: {reason}")
    if stat.S_ISDIR(mode):
        return None  # a bundle directory, as OPA reads it
    if not stat.S_ISREG(mode):
        return _bundle(bundle, f"cannot read bundle {bundle}: not a regular file")
    if not os.access(bundle, os.R_OK):
        return _bundle(bundle, f"cannot read bundle {bundle}: permission denied")
    return None


def preflight(bundle: str | None, opa_url: str | None) -> list[OpaError]:
    """What stops a decision before the request is read: no OPA or no bundle for a
    local decision, a malformed --opa-url for a sidecar."""
    found: list[OpaError] = []
    try:
        if opa_url is not None:
            _sidecar_address(opa_url)
        else:
            find_opa()
    except OpaError as exc:
        found.append(exc)
    problem = check_bundle(bundle) if bundle is not None else None
    if problem is not None:
        found.append(problem)
    return found


def eval_bundle(bundle: str, request: Any, query: str = DECISION_QUERY) -> Any:
    """Evaluate `query` over a bundle with `request` as input, in a local OPA.  A
    request read from a file (compiler/request.py) is handed over as its text."""
    problem = check_bundle(bundle)
    if problem is not None:
        raise problem
    done = run(
        ["eval", "--bundle", bundle, "--stdin-input", "--format", "json", query],
        stdin=request_json(request),
    )
    answer = _opa_json(done)
    if done.returncode != 0 or not isinstance(answer, dict) or "errors" in answer:
        errors = answer.get("errors") if isinstance(answer, dict) else None
        found = [str(e.get("message", e)) if isinstance(e, dict) else str(e) for e in errors or []]
        raise _bundle_error(bundle, found or [done.stderr.strip() or "no answer"])
    results = answer.get("result", [])
    if not results:
        raise _bundle(bundle, f"{query} is undefined in {bundle}: it is not a regate bundle")
    value = results[0]["expressions"][0]["value"]
    return regate_decision(value, f"bundle {bundle}") if query == DECISION_QUERY else value


def regate_decision(value: Any, where: str) -> Any:
    """`value` if it is a regate decision (an object whose result is approve, manual or
    deny); an error otherwise: nothing else may pass for a decision."""
    if isinstance(value, dict) and value.get("result") in RESULTS:
        return value
    raise OpaError(f"the {DECISION_QUERY} of {where} is not a regate decision", "RG064", BUILD_HELP)


def _sidecar_address(url: str) -> tuple[str, int, bool]:
    """(host, port, https) of `--opa-url`; anything but scheme://host[:port][/] is an error."""
    wanted = "--opa-url takes the sidecar's address, such as http://127.0.0.1:8181"
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError as exc:
        raise OpaError(f"--opa-url {url!r} is not a URL: {exc}", "RG063", wanted) from None
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise OpaError(f"--opa-url {url!r} is not an http(s) URL", "RG063", wanted)
    if parts.path not in ("", "/") or parts.query or parts.fragment or parts.username:
        raise OpaError(
            f"--opa-url {url!r} has a path, query or user: regate asks "
            f"/v1/data/regate/decision itself",
            "RG063",
            wanted,
        )
    host = f"[{parts.hostname}]" if ":" in parts.hostname else parts.hostname
    return host, port or (443 if parts.scheme == "https" else 80), parts.scheme == "https"


def _unreachable(url: str, exc: Exception) -> OpaError:
    """A requests failure, in words: what happened and what to check."""
    import requests  # the sidecar client's HTTP library

    text = str(exc)
    if isinstance(exc, requests.exceptions.Timeout):
        return OpaError(
            f"the OPA sidecar at {url} did not answer within {SIDECAR_TIMEOUT_SECONDS} s",
            "RG063",
            "is it overloaded, or is something else listening there?",
        )
    if isinstance(exc, requests.exceptions.SSLError):
        return OpaError(
            f"cannot talk TLS with {url}: the certificate or the protocol was refused",
            "RG063",
            "use http:// for a sidecar without TLS, or give it a certificate this machine trusts",
        )
    if isinstance(exc, requests.exceptions.ConnectionError):
        if "resolve" in text or "Name or service not known" in text:
            why = "its host name does not resolve"
        elif "refused" in text:
            why = "nothing listens there (connection refused)"
        else:
            why = "the connection failed"
        return OpaError(
            f"cannot reach the OPA sidecar at {url}: {why}",
            "RG063",
            "start it (`opa run --server --bundle BUNDLE`) or fix --opa-url",
        )
    if isinstance(exc, requests.exceptions.HTTPError) and exc.response is not None:
        return _http_error(url, exc.response)
    if isinstance(exc, ValueError):  # the answer is not JSON
        return OpaError(
            f"{url} did not answer as an OPA sidecar does (not JSON)",
            "RG063",
            "is --opa-url the address of `opa run --server`?",
        )
    return OpaError(f"cannot ask the OPA sidecar at {url} ({type(exc).__name__})", "RG063")


def _http_error(url: str, response: Any) -> OpaError:
    status = response.status_code
    try:
        said = response.json().get("message")
    except (ValueError, AttributeError):
        said = None
    reason = f": {str(said)[:200]}" if said else ""
    if status in (401, 403):
        return OpaError(
            f"the OPA sidecar at {url} refused the request (HTTP {status}{reason})",
            "RG063",
            "it requires authentication regate does not send; ask it from where it allows",
        )
    if status == 404:
        return OpaError(
            f"{url} has no OPA data API (HTTP 404)",
            "RG063",
            "is --opa-url the address of `opa run --server`?",
        )
    return OpaError(
        f"the OPA sidecar at {url} could not decide the request (HTTP {status}{reason})",
        "RG063",
        "check the sidecar's log and that it serves a bundle regate built",
    )


def _client(url: str) -> Any:
    """An opa-python-client for a sidecar's URL (checked: _sidecar_address)."""
    from opa_client import OpaClient  # imported here: only sidecar users pay for requests

    host, port, https = _sidecar_address(url)
    return OpaClient(host=host, port=port, ssl=https, timeout=SIDECAR_TIMEOUT_SECONDS)


def ask_sidecar(url: str, request: Any) -> Any:
    """POST the request to a running OPA's /v1/data/regate/decision, as `opa eval`
    gets it: a request read from a file is sent as its text, not re-encoded."""
    client = _client(url)
    body = f'{{"input": {request_json(request)}}}'.encode()
    try:
        # The client's own session (its TLS, retries and headers): its query_rule
        # would encode the input again, from Python's reading of it.
        posted = client._session.post(
            f"{client.root_url}/data/regate/decision",
            data=body,
            headers={"Content-Type": "application/json"},
            timeout=client.timeout,
        )
        posted.raise_for_status()
        response = posted.json()
    except Exception as exc:  # requests' errors vary by failure; _unreachable words them
        raise _unreachable(url, exc) from exc
    finally:
        client.close_connection()
    if not isinstance(response, dict):
        raise OpaError(
            f"{url} did not answer as an OPA sidecar does",
            "RG063",
            "is --opa-url the address of `opa run --server`?",
        )
    if "result" not in response:
        raise OpaError(
            f"the OPA sidecar at {url} has no {DECISION_QUERY}",
            "RG064",
            "start it with the regate bundle: `opa run --server --bundle BUNDLE.tar.gz`",
        )
    return regate_decision(response["result"], f"the OPA sidecar at {url}")


def ask_data(url: str, path: str) -> Any:
    """A document of a running OPA's data API (`GET /v1/data/<path>`)."""
    client = _client(url)
    try:
        return client.get_data(path)["result"]
    except Exception as exc:  # as in ask_sidecar
        raise _unreachable(url, exc) from exc
    finally:
        client.close_connection()


# Every request decided in one `opa eval`, keyed by name: one process for a whole directory.
BATCH_QUERY = f"{{name: d | some name, r in input.requests; d := {DECISION_QUERY} with input as r}}"


def decide_all(bundle: str, requests: dict[str, Any]) -> dict[str, Any]:
    """The decision for each named request, by a local OPA; a name is missing when its
    decision is undefined."""
    # Each request as its own text, so that a batch decides what one at a time would.
    entries = ", ".join(f"{json.dumps(name)}: {request_json(r)}" for name, r in requests.items())
    batch = RequestDocument(f'{{"requests": {{{entries}}}}}', None)
    decisions = eval_bundle(bundle, batch, BATCH_QUERY)
    if not isinstance(decisions, dict):
        raise _bundle(bundle, f"{bundle} is not a regate bundle")
    return decisions
