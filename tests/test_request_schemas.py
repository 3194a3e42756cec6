"""Metadata documents against their specification, as the bundle applies it: OPA's
validator (gojsonschema, drafts 4 to 7) agrees with JSON Schema 2020-12 (Python's
jsonschema, as `regate check` reads schemas) on the keywords of later drafts that
regate writes as draft 7 says them, and never fetches a remote `$ref`."""

from __future__ import annotations

import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, ClassVar

import jsonschema
import pytest

from compiler.driver import compile_sources
from compiler.opa import eval_bundle
from compiler.request import RequestDocument
from tests.conftest import build, write_sources

pytestmark = pytest.mark.opa


def schema(remote: str) -> dict[str, Any]:
    return {
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "$id": "https://example.com/doc.json",
        "type": "object",
        "properties": {
            "card": {"type": "string"},
            "billing": {"type": "string"},
            "point": {"type": "array", "prefixItems": [{"type": "number"}] * 2, "items": False},
            "tags": {
                "type": "array",
                "prefixItems": [{"const": "v1"}],
                "items": {"type": "string"},
            },
            "level": {"enum": ["low", "high"]},
            "counts": {"$ref": "#/$defs/counts"},
            "remote": {"$ref": remote},
        },
        "dependentRequired": {"card": ["billing"]},
        "dependentSchemas": {"level": {"required": ["counts"]}},
        "$defs": {
            "counts": {
                "type": "object",
                "properties": {"n": {"type": "integer", "minimum": 0}},
                "required": ["n"],
            }
        },
    }


DOCUMENTS = [
    {},
    {"card": "4111"},
    {"card": "4111", "billing": "Main St"},
    {"point": [1, 2]},
    {"point": [1, 2, 3]},
    {"point": ["a", 2]},
    {"tags": ["v1", "a", "b"]},
    {"tags": ["v2"]},
    {"tags": ["v1", 3]},
    {"level": "mid", "counts": {"n": 1}},
    {"level": "low", "counts": {"n": 1}},
    {"level": "low"},
    {"counts": {"n": -1}},
    {"counts": {"n": 1.5}},
    {"counts": {}},
    {"remote": 42},
    {"remote": {"anything": ["at", "all"]}},
]


class Recorder(BaseHTTPRequestHandler):
    hits: ClassVar[list[str]] = []  # the paths asked for

    def do_GET(self) -> None:
        Recorder.hits.append(self.path)
        self.send_response(404)
        self.end_headers()

    def log_message(self, format: str, *args: object) -> None:
        pass


def test_opa_applies_later_drafts_as_2020_12_says_and_fetches_nothing(tmp_path):
    server = ThreadingHTTPServer(("127.0.0.1", 0), Recorder)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        remote = f"http://127.0.0.1:{server.server_address[1]}/remote.json"
        specification = schema(remote)
        source = """
specification "Doc" {{ entity = build  metadata = doc  nrn = "organization=1"
  schema = {schema} }}
policy "Level" {{ nrn = "organization=1"  conditions = {{"build.metadata.doc.level": {{"$ne": "high"}}}} }}
action "a" {{ action = "deployment:create"  nrn = "organization=1"  policies = ["Level"] }}
"""
        # A remote reference is refused at compile time (RG043): nothing would fetch it.
        write_sources(
            tmp_path / "remote", {"doc.rg": source.format(schema=json.dumps(specification))}
        )
        refused = compile_sources([str(tmp_path / "remote")])
        assert refused.files is None
        assert {d.code for d in refused.diagnostics if d.severity == "error"} == {"RG043"}
        # The same schema with the reference left open decides as 2020-12 says.
        local = {**specification, "properties": {**specification["properties"], "remote": {}}}
        write_sources(tmp_path / "src", {"doc.rg": source.format(schema=json.dumps(local))})
        bundle = build([tmp_path / "src"], tmp_path)
        requests = {
            str(i): {
                "action": "deployment:create",
                "nrn": "organization=1",
                "entities": {"scope": {"dimensions": {}}, "build": {"metadata": {"doc": d}}},
            }
            for i, d in enumerate(DOCUMENTS)
        }
        batch = RequestDocument(json.dumps({"requests": requests}), None)
        query = (
            "{name: count(e) | some name, r in input.requests; "
            "e := data.regate.request.errors with input as r}"
        )
        found = eval_bundle(str(bundle), batch, query)
    finally:
        server.shutdown()
        server.server_close()
    assert Recorder.hits == []
    # Python's validator, given the same schema.
    python = jsonschema.Draft202012Validator(local)
    expected = {str(i): python.is_valid(d) for i, d in enumerate(DOCUMENTS)}
    assert {name: count == 0 for name, count in found.items()} == expected
    assert sorted(name for name, valid in expected.items() if not valid) == sorted(
        ["1", "4", "5", "7", "8", "9", "11", "12", "13", "14"]
    )
