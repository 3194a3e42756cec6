"""Talking to a real OPA: the local binary (`opa eval`) or a sidecar (opa-python-client)."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from compiler.request import RequestDocument, request_json

DECISION_QUERY = "data.regate.decision"


class OpaError(Exception):
    """OPA could not be found, started or asked; the message says what to do."""


def find_opa() -> str:
    """The OPA binary: $REGATE_OPA, then `opa` on PATH, then the checkout's .tools/bin/opa."""
    configured = os.environ.get("REGATE_OPA")
    if configured:
        return configured
    on_path = shutil.which("opa")
    if on_path:
        return on_path
    checkout = Path(__file__).resolve().parent.parent / ".tools" / "bin" / "opa"
    if checkout.is_file():
        return str(checkout)
    raise OpaError("OPA not found: run scripts/bootstrap.sh, put opa on PATH or set REGATE_OPA")


def run(
    arguments: list[str], stdin: str | None = None, cwd: str | None = None
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [find_opa(), *arguments], input=stdin, capture_output=True, text=True, check=False, cwd=cwd
    )


def eval_bundle(bundle: str, request: Any, query: str = DECISION_QUERY) -> Any:
    """Evaluate `query` over a bundle with `request` as input, in a local OPA.  A
    request read from a file (compiler/request.py) is handed over as its text."""
    if not os.path.exists(bundle):
        raise OpaError(f"cannot read bundle {bundle}: no such file")
    done = run(
        ["eval", "--bundle", bundle, "--stdin-input", "--format", "json", query],
        stdin=request_json(request),
    )
    if done.returncode != 0:
        raise OpaError(f"opa eval failed: {done.stderr.strip() or done.stdout.strip()}")
    results = json.loads(done.stdout).get("result", [])
    if not results:
        raise OpaError(f"{query} is undefined in {bundle}: is it a regate bundle?")
    return results[0]["expressions"][0]["value"]


def _client(url: str) -> Any:
    """An opa-python-client for a sidecar's URL."""
    from opa_client import OpaClient  # imported here: only sidecar users pay for requests

    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise OpaError(f"--opa-url must look like http://127.0.0.1:8181, not {url!r}")
    port = parts.port or (443 if parts.scheme == "https" else 80)
    return OpaClient(host=parts.hostname, port=port, ssl=parts.scheme == "https", timeout=10)


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
    except Exception as exc:  # requests' errors vary by failure; all mean the same to a user
        raise OpaError(f"cannot ask the OPA at {url}: {exc}") from exc
    finally:
        client.close_connection()
    if "result" not in response:
        raise OpaError(f"the OPA at {url} has no {DECISION_QUERY}: is the regate bundle loaded?")
    return response["result"]


def ask_data(url: str, path: str) -> Any:
    """A document of a running OPA's data API (`GET /v1/data/<path>`)."""
    client = _client(url)
    try:
        return client.get_data(path)["result"]
    except Exception as exc:  # as in ask_sidecar: every failure means the same to a user
        raise OpaError(f"cannot read {path} from the OPA at {url}: {exc}") from exc
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
    assert isinstance(decisions, dict)
    return decisions
