"""The bad-input corpus for requests: tests/fixtures/bad-input/requests/*.json.

Each file holds cases in the manner of OPA's and cel-spec's conformance files: a
request (whole, or the file's `base` with `set`/`delete` at JSON pointers, or raw
`input_text`) and what must become of it: the decision the bundle makes (`want`:
`deny` with its errors' codes and paths, or a well-formed request's result and
applying actions), or `"refused"` when no JSON reader takes it; and `cli`, the
diagnostics `regate decide` gives reading it (none: it hands it to OPA as read).

Every case runs against bundles/quality-gates (with exceptions.rg here: a finding exception,
so that the bundle checks findings lists too) three ways: one `opa eval` over the
built bundle, a real `opa run --server` sidecar, and the command line's reader.
A fault found anywhere becomes a case here.
"""

from __future__ import annotations

import copy
import json
import re
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import requests

from compiler.limits import MAX_REQUEST_ERRORS
from compiler.opa import decide_all, eval_bundle, run
from compiler.request import RequestDocument, parse_request
from tests.conftest import QUALITY_GATES, REPO, build, run_cli

pytestmark = pytest.mark.opa

CORPUS = REPO / "tests" / "fixtures" / "bad-input" / "requests"


@dataclass(frozen=True)
class Case:
    file: str
    note: str
    text: str | None  # the request's JSON text; None: no input at all
    want: Any  # {"result", "errors" | "actions"}, or "refused"
    cli: tuple[str, ...]  # diagnostic codes `regate decide` gives reading it

    @property
    def id(self) -> str:
        return f"{self.file}: {self.note}"


def _pointer(pointer: str) -> list[str]:
    return [p.replace("~1", "/").replace("~0", "~") for p in pointer.split("/")[1:]]


def _text(case: dict[str, Any], base: Any) -> str | None:
    if case.get("no_input"):
        return None
    if "input_text" in case:
        text = str(case["input_text"])
        for repeat in case.get("repeat", []):
            text = text.replace(repeat["marker"], repeat["text"] * repeat["times"])
        return text
    if "input" in case:
        return json.dumps(case["input"])
    document = copy.deepcopy(base)
    for pointer in case.get("delete", []):
        *parents, key = _pointer(pointer)
        parent = document
        for part in parents:
            parent = parent[part]
        del parent[key]
    for pointer, value in case.get("set", {}).items():
        *parents, key = _pointer(pointer)
        parent = document
        for part in parents:
            parent = parent.setdefault(part, {})
        parent[key] = value
    return json.dumps(document)


def load_cases() -> Iterator[Case]:
    for path in sorted(CORPUS.glob("*.json")):
        corpus = json.loads(path.read_text(encoding="utf-8"))
        for case in corpus["cases"]:
            text = _text(case, corpus.get("base"))
            yield Case(path.stem, case["note"], text, case["want"], tuple(case.get("cli", ())))


CASES = list(load_cases())


@pytest.fixture(scope="module")
def bundle(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return build([QUALITY_GATES, CORPUS / "exceptions.rg"], tmp_path_factory.mktemp("corpus"))


def mismatch(case: Case, decision: Any) -> str | None:
    """What is wrong with a decision for a case, or None."""
    want, got = case.want, decision
    errors = got.get("errors", [])
    if [(e["path"], e["code"]) for e in errors] != sorted((e["path"], e["code"]) for e in errors):
        return f"errors not sorted by path and code: {errors}"
    if any(not isinstance(e.get("message"), str) or not e["message"] for e in errors):
        return f"an error without a message: {errors}"
    if got["result"] != want["result"]:
        return f"result {got['result']}, wanted {want['result']} ({errors})"
    if "errors" in want:
        found = Counter((e["code"], e["path"]) for e in errors)
        wanted = Counter(tuple(e) for e in want["errors"])
        if found != wanted or got["actions"] != []:
            return f"errors {sorted(found.elements())}, wanted {sorted(wanted.elements())}"
        return None
    if errors:
        return f"a well-formed request has errors: {errors}"
    applying = sorted(a["id"] for a in got["actions"])
    return None if applying == want["actions"] else f"actions {applying}, wanted {want['actions']}"


def test_every_error_code_is_documented_and_in_the_corpus():
    templates = [REPO / "templates" / t for t in ("request.rego.j2", "request_errors.rego.j2")]
    emitted = {code for t in templates for code in re.findall(r'"(RQ\d{3})"', t.read_text())}
    emitted |= {"RQ013", "RQ014"}  # written as data by compiler/request.py
    hardening = (REPO / "docs/hardening.md").read_text()
    assert set(re.findall(r"^\| (RQ\d{3}) \|", hardening, re.M)) == emitted
    wanted = {e[0] for c in CASES if c.want != "refused" for e in c.want.get("errors", [])}
    assert emitted - wanted == {"RQ017"}  # 33 errors make a long case: the test below


def test_the_corpus_is_well_made():
    assert len(CASES) >= 150
    assert len({c.id for c in CASES}) == len(CASES), "two cases with the same note"
    for case in CASES:
        assert case.want == "refused" or case.want["result"] in ("approve", "manual", "deny")
        if case.want == "refused":
            assert case.cli, f"{case.id}: what no JSON reader takes, the command line refuses"


def test_opa_eval_decides_every_case(bundle):
    readable = [c for c in CASES if c.want != "refused" and c.text is not None]
    decisions = decide_all(str(bundle), {c.id: RequestDocument(c.text, None) for c in readable})
    failures = {c.id: mismatch(c, decisions.get(c.id)) for c in readable}
    assert {k: v for k, v in failures.items() if v} == {}


# For each request: whether the bundle finds it valid, and how many errors it finds.
CONSISTENCY = (
    "{name: [valid, count(errors)] | some name, r in input.requests; "
    "valid := data.regate.request.valid with input as r; "
    "errors := data.regate.request.errors with input as r}"
)


def test_valid_and_errors_agree_on_every_case(bundle):
    """The decision decides a request `valid` finds well formed and lists `errors` for
    any other: the two are written apart (the first is the fast path), so they are
    held to each other here."""
    readable = [c for c in CASES if c.want != "refused" and c.text is not None]
    batch = RequestDocument(
        '{"requests": {' + ", ".join(f"{json.dumps(c.id)}: {c.text}" for c in readable) + "}}",
        None,
    )
    found = eval_bundle(str(bundle), batch, CONSISTENCY)
    disagreeing = {name: v for name, v in found.items() if v[0] != (v[1] == 0)}
    assert disagreeing == {}
    assert len(found) == len(readable)


def test_errors_past_the_limit_are_counted_not_listed(bundle):
    request = {
        "action": "deployment:create",
        "nrn": "organization=1",
        "entities": {
            "scope": {"dimensions": {}},
            "application": {"tags": {f"t{i:02}": i for i in range(MAX_REQUEST_ERRORS + 8)}},
        },
        **{f"x{i:02}": 1 for i in range(MAX_REQUEST_ERRORS + 3)},
    }
    (decision,) = decide_all(str(bundle), {"r": request}).values()
    errors = decision["errors"]
    assert len(errors) == MAX_REQUEST_ERRORS + 1
    # Each source is cut at the limit and says how many more it had ...
    assert {"code": "RQ017", "path": "input",
            "message": "3 more unknown fields not listed"} in errors  # fmt: skip
    # ... and the list, how many errors it leaves out: 32 + 1 + 32 + 1 found.
    assert errors[-1] == {
        "code": "RQ017",
        "path": "input",
        "message": f"{MAX_REQUEST_ERRORS + 2} more errors not listed",
    }


def test_a_document_with_many_faults_says_how_many_are_not_listed(bundle):
    extra = {f"x{i:02}": 1 for i in range(MAX_REQUEST_ERRORS + 5)}
    request = {
        "action": "deployment:create",
        "nrn": "organization=1",
        "entities": {
            "scope": {"dimensions": {}},
            "build": {"metadata": {"coverage": {"code": {"coverage": 1}, **extra}}},
        },
    }
    errors = eval_bundle(str(bundle), request, "data.regate.request.errors")
    path = "input.entities.build.metadata.coverage"
    assert sum(e["code"] == "RQ015" and e["path"] == path for e in errors) == MAX_REQUEST_ERRORS
    assert {"code": "RQ017", "path": path, "message": "5 more faults not listed"} in errors


def test_opa_eval_without_input_denies(bundle):
    done = run(["eval", "--bundle", str(bundle), "--format", "json", "data.regate.decision"])
    decision = json.loads(done.stdout)["result"][0]["expressions"][0]["value"]
    for case in (c for c in CASES if c.text is None):
        assert mismatch(case, decision) is None


def test_a_sidecar_decides_every_case(bundle, sidecar):
    server = sidecar(bundle)
    failures = {}
    with requests.Session() as session:
        for case in CASES:
            body = b"{}" if case.text is None else b'{"input": ' + case.text.encode() + b"}"
            response = session.post(
                f"{server.url}/v1/data/regate/decision",
                data=body,
                headers={"Content-Type": "application/json"},
                timeout=10,
            )
            if case.want == "refused":
                problem = None if response.status_code == 400 else f"HTTP {response.status_code}"
            else:
                problem = mismatch(case, response.json()["result"])
            if problem:
                failures[case.id] = problem
    assert failures == {}


@pytest.mark.parametrize("case", [c for c in CASES if c.text is not None], ids=lambda c: c.id)
def test_the_command_line_reads_each_case_as_it_must(case):
    read = parse_request(case.text, "request.json")
    if isinstance(read, list):
        assert tuple(sorted({d.code for d in read})) == case.cli
        assert all(d.span.file == "request.json" and d.span.line >= 1 for d in read)
    else:
        assert case.cli == ()
        assert read.text == case.text  # handed to OPA as read


@pytest.mark.parametrize("case", [c for c in CASES if c.cli], ids=lambda c: c.id)
def test_regate_decide_refuses_what_its_reader_refuses(case):
    result = run_cli("decide", "--bundle", "never-read.tar.gz", "--input", "-", input=case.text)
    assert (result.exit_code, result.stdout) == (1, "")
    assert all(f"error[{code}]" in result.stderr for code in case.cli)
