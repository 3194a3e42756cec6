"""Portable Rego: a bundle decides alike on OPA and on a second engine, rego-cpp
(PyPI `regopy`), for the example bundles and a small generated corpus.

Each bundle's modules and data are loaded into rego-cpp, compiled once for the query
`data.regate.decision`, and asked for the bundle's own test requests, its boundary
requests (a sample) and malformed ones; OPA decides the same requests from the same
bundle (`opa eval`).  A decision is compared whole, except where rego-cpp 1.5.2
cannot say the same thing (docs/portability.md):

- it cannot print a string that holds a value written by `json.marshal` (the
  `_shown` values of error messages): its answer is then not JSON;
- it has no `json.match_schema`, so the faults of a document that does not fit its
  specification (RQ013, RQ015) are OPA's alone.

Those decisions, which all deny, are compared by result, actions and error codes (each once).
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

import pytest
import regopy
from regopy.rego_shared import rego_bundle_query, rego_output_string, rego_query

from compiler.driver import Compilation, compile_sources
from compiler.opa import decide_all
from tests.conftest import REPO, build

sys.path.insert(0, str(REPO / "bench"))
from corpus import REQUESTS as CORPUS_REQUESTS
from corpus import SIZES, sampled_requests, write_corpus

# The codes of faults that only json.match_schema finds (RQ017: "more faults").
SCHEMA_FAULTS = {"RQ013", "RQ015", "RQ017"}

# Requests regate cannot read or decide: each must deny, alike on both engines.
MALFORMED: dict[str, Any] = {
    "not an object": "deploy",
    "null": None,
    "empty": {},
    "no NRN": {"action": "deployment:create", "entities": {}},
    "bad NRN": {"action": "deployment:create", "nrn": "organization=x", "entities": {}},
    "unknown action": {"action": "nope:create", "nrn": "organization=1", "entities": {}},
    "unknown field": {
        "action": "deployment:create",
        "nrn": "organization=1:account=2:namespace=3:application=4:scope=5",
        "entities": {"scope": {"dimensions": {"environment": "production"}}},
        "approved": True,
    },
    "entities not an object": {
        "action": "deployment:create",
        "nrn": "organization=1:account=2:namespace=3:application=4:scope=5",
        "entities": ["scope"],
    },
    "metadata of the wrong type": {
        "action": "deployment:create",
        "nrn": "organization=1:account=2:namespace=3:application=4:scope=5",
        "entities": {
            "scope": {"dimensions": {"environment": "production"}},
            "build": {"metadata": {"coverage": {"code": {"coverage": "85"}}}},
        },
    },
}

# A checklist of one external gate: the state a request reports decides approve
# (passed), deny (failed) or pending (not reported).
CHECKLIST_SOURCE = """
checklist "Release" {
  nrn        = "organization=1"
  definition = {
    "execution_trigger": "explicit",
    "items": [
      {"id": "qa", "type": "external", "behavior": "gate", "severity": "major", "title": "QA passes"}
    ]
  }
}

action "release" {
  action         = "deployment:create"
  nrn            = "organization=1"
  on_policy_fail = deny
  checklist      = "Release"
}
"""


class RegoCpp:
    """A bundle's modules and data in rego-cpp, compiled once for the decision."""

    def __init__(self, files: dict[str, bytes]) -> None:
        self.interpreter = regopy.Interpreter()
        data: dict[str, Any] = {}
        for path, content in sorted(files.items()):
            if path.startswith("regate/tests/"):  # `opa test`'s modules, not the decision's
                continue
            if path.endswith(".rego"):
                self.interpreter.add_module(path, content.decode())
            elif path.endswith("/data.json"):
                *parents, leaf = path.split("/")[:-1]
                node = data
                for name in parents:
                    node = node.setdefault(name, {})
                node[leaf] = json.loads(content)
        self.interpreter.add_data(data)
        self.compiled = self.interpreter.build("data.regate.decision", [])
        assert self.compiled.ok()

    def _answer(self, request: Any, query: str | None = None) -> str:
        # regopy's own Output parses the answer as JSON, which fails on the strings
        # rego-cpp cannot print: the answer's text, then, and json.loads it here.
        self.interpreter.set_input(regopy.Input(request))
        if query is None:
            return str(
                rego_output_string(rego_bundle_query(self.interpreter._impl, self.compiled._impl))
            )
        return str(rego_output_string(rego_query(self.interpreter._impl, query)))

    def decision(self, request: Any) -> Any:
        """The decision, or None when rego-cpp's answer is not JSON."""
        try:
            return json.loads(self._answer(request))["expressions"][0]
        except (json.JSONDecodeError, KeyError, TypeError):
            return None

    def outcome(self, request: Any) -> Any:
        answer = self._answer(
            request,
            "x := {"
            '"result": data.regate.decision.result, '
            '"actions": data.regate.decision.actions, '
            '"codes": sort([code | some code in {e.code | some e in object.get(data.regate.decision, "errors", [])}])}',
        )
        return json.loads(answer)["bindings"]["x"]


def outcome(decision: dict[str, Any]) -> dict[str, Any]:
    """What a decision says without its error messages: result, actions, error codes."""
    codes = sorted({e["code"] for e in decision.get("errors", [])})
    return {"result": decision["result"], "actions": decision["actions"], "codes": codes}


def compiled(sources: list[str | Path]) -> Compilation:
    result = compile_sources([str(s) for s in sources], with_tests=True)
    assert result.files is not None, [d.message for d in result.diagnostics]
    return result


def own_requests(result: Compilation, boundary_sample: int) -> dict[str, Any]:
    """The bundle's test requests, every `boundary_sample`-th boundary request, and
    the malformed ones."""
    assert result.tests is not None
    requests: dict[str, Any] = {
        f"test {t.name}": t.request for m in result.tests.authored for t in m.tests
    }
    boundary = [
        (f"boundary {p.key} {n}", case.input)
        for m in result.tests.generated
        for p in m.policies
        for n, case in enumerate(p.cases)
    ]
    requests.update(boundary[::boundary_sample])
    requests.update({f"malformed {name}": r for name, r in MALFORMED.items()})
    return requests


def differences(result: Compilation, requests: dict[str, Any], tmp_path: Path) -> dict[str, str]:
    """Each request rego-cpp decides otherwise than OPA: its name → both decisions."""
    assert result.files is not None
    bundle = tmp_path / "bundle.tar.gz"
    from compiler.bundle import tar_gz

    bundle.write_bytes(tar_gz(result.files))
    by_opa = decide_all(str(bundle), requests)
    engine = RegoCpp(result.files)
    found = {}
    for name, request in requests.items():
        wanted = by_opa[name]
        got = engine.decision(request)
        codes = {e["code"] for e in wanted.get("errors", [])}
        if got is None or codes & SCHEMA_FAULTS:
            assert wanted["result"] == "deny", name  # only denials say why in words
            wanted, got = outcome(wanted), engine.outcome(request)
        if got != wanted:
            found[name] = f"OPA {json.dumps(wanted)}\nrego-cpp {json.dumps(got)}"
    return found


# rego-cpp's regular expressions have no `\z`, which ends regate's RE2 for MongoDB's
# `$` (compiler/regex.py: `(?:\n?\z)`): a `$regex` or `$dynamicPattern` with `$`
# matches nothing there.  These requests meet one; any other difference is a fault.
NO_END_OF_TEXT = {
    "platform-org": {
        "test a colleague may ask a person for a secret",
        "test a service named after its application is created",
    },
}


@pytest.mark.opa
@pytest.mark.parametrize(("name", "boundary_sample"), [("quality-gates", 1), ("platform-org", 3)])
def test_an_example_bundle_decides_alike_on_rego_cpp(opa, tmp_path, name, boundary_sample):
    result = compiled([REPO / "bundles" / name])
    requests = own_requests(result, boundary_sample)
    assert set(differences(result, requests, tmp_path)) == NO_END_OF_TEXT.get(name, set())


@pytest.mark.opa
def test_a_generated_corpus_decides_alike_on_rego_cpp(opa, tmp_path):
    corpus = write_corpus(SIZES["tiny"], tmp_path / "corpus")
    result = compiled([tmp_path / "corpus"])
    requests = {f"sample {n}": r for n, r in enumerate(sampled_requests(corpus, 12))}
    requests.update({f"pinned {name}": r for name, r in CORPUS_REQUESTS.items()})
    requests.update({f"malformed {name}": r for name, r in MALFORMED.items()})
    decided = decide_all(str(build([tmp_path / "corpus"], tmp_path)), requests)
    assert {d["result"] for d in decided.values()} == {"approve", "deny"}
    assert differences(result, requests, tmp_path) == {}


@pytest.mark.opa
def test_a_checklist_decides_alike_on_rego_cpp(opa, tmp_path):
    (tmp_path / "release.rg").write_text(CHECKLIST_SOURCE)
    result = compiled([tmp_path / "release.rg"])
    base = {
        "action": "deployment:create",
        "nrn": "organization=1:account=2:namespace=3:application=4:scope=5",
        "entities": {"scope": {"dimensions": {}}},
    }
    requests = {
        "not reported": base,
        "passed": {**base, "checklist": {"qa": "passed"}},
        "failed": {**base, "checklist": {"qa": "failed"}},
        "unknown state": {**base, "checklist": {"qa": "maybe"}},
    }
    decided = decide_all(str(build([tmp_path / "release.rg"], tmp_path)), requests)
    assert {name: d["result"] for name, d in decided.items()} == {
        "not reported": "pending",
        "passed": "approve",
        "failed": "deny",
        "unknown state": "deny",
    }
    assert differences(result, requests, tmp_path) == {}
