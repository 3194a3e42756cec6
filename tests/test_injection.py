"""Injection-proof emission: hostile text in names, paths, keys and values cannot
change what a bundle decides.

Each example writes one policy project twice: once with hostile text (quotes,
backslashes, newlines, braces, `#`, Rego keywords, control characters,
non-ASCII) in every place a user names something, once with plain words in
the same places.  The hostile bundle must pass `opa check --strict`, and a real
OPA must decide a batch of requests exactly as with the plain bundle.
"""

from __future__ import annotations

import json
import subprocess
import tempfile
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from compiler.bundle import tar_gz, write_directory
from compiler.driver import compile_sources
from tests.conftest import write_sources
from tests.strategies import NASTY_PIECES

# The places a user names something that reach the bundle.
ROLES = ("spec", "key", "field", "inner", "member", "value", "other", "policy", "action", "dim")


def project(names: dict[str, str]) -> dict[str, str]:
    """A policy project with `names` in every role; strings written as JSON."""
    q = {role: json.dumps(text) for role, text in names.items()}
    path = f"build.metadata.{names['key']}"

    def p(*segments: str) -> str:
        return json.dumps(".".join([path, *(names[s] for s in segments)]))

    return {
        "policies.rg": f"""
specification {q["spec"]} {{
  entity = build
  metadata = {q["key"]}
  nrn = "organization=1"
  schema = {{}}
}}

policy {q["policy"]} {{
  nrn = "organization=1"
  conditions = {{
    {p("field")}: {q["value"]},
    {p("inner")}: {{"$in": [{q["other"]}, {{{q["member"]}: {q["value"]}}}]}},
    "$or": [
      {{{p("field", "inner")}: {{"$exists": true}}}},
      {{{p("member")}: {{"$nin": [{q["value"]}]}}}}
    ]
  }}
}}

action {q["action"]} {{
  action = "deployment:create"
  nrn = "organization=1"
  dimensions = {{{q["dim"]}: {q["value"]}}}
  on_policy_success = approve
  on_policy_fail = deny
  policies = [{q["policy"]}]
}}
"""
    }


def requests(names: dict[str, str]) -> list[dict[str, Any]]:
    """Requests that pass and fail each condition, with the same names."""
    n = names
    field_values = [n["value"], n["other"], [n["other"], n["value"]]]
    inner_values = [n["other"], {n["member"]: n["value"]}, {n["member"]: n["other"]}, None]
    found = []
    for index, (field, inner) in enumerate((f, i) for f in field_values for i in inner_values):
        metadata: dict[str, Any] = {n["field"]: field, n["member"]: n["value"] if index % 2 else 1}
        if inner is not None:
            metadata[n["inner"]] = inner
        found.append(
            {
                "action": "deployment:create",
                "nrn": "organization=1:account=2",
                "entities": {
                    "scope": {"dimensions": {n["dim"]: n["value"] if index % 3 else n["other"]}},
                    "build": {"metadata": {n["key"]: metadata}},
                },
            }
        )
    return found


def decide(opa: str, files: dict[str, str], batch: list[dict[str, Any]], strict: bool) -> Any:
    """Compile, then decide every request of the batch in one `opa eval`."""
    with tempfile.TemporaryDirectory() as directory:
        sources = write_sources(Path(directory, "src"), files)
        result = compile_sources([str(sources)])
        assert result.files is not None, [d.message for d in result.diagnostics]
        if strict:
            write_directory(str(Path(directory, "bundle")), result.files)
            checked = subprocess.run(
                [opa, "check", "--strict", str(Path(directory, "bundle"))],
                capture_output=True, text=True,
            )  # fmt: skip
            assert checked.returncode == 0, checked.stdout + checked.stderr
        bundle = Path(directory, "bundle.tar.gz")
        bundle.write_bytes(tar_gz(result.files))
        done = subprocess.run(
            [opa, "eval", "--bundle", str(bundle), "--stdin-input", "--format", "json",
             "[d | some r in input; d := object.remove(data.regate.decision, [\"revision\"]) "
             "with input as r]"],
            input=json.dumps(batch), capture_output=True, text=True,
        )  # fmt: skip
        assert done.returncode == 0, done.stderr
        return json.loads(done.stdout)["result"][0]["expressions"][0]["value"]


def renamed(value: Any, names: dict[str, str]) -> Any:
    """`value` with each hostile name replaced by its plain counterpart."""
    if isinstance(value, dict):
        return {renamed(k, names): renamed(v, names) for k, v in value.items()}
    if isinstance(value, list):
        return [renamed(item, names) for item in value]
    if not isinstance(value, str):
        return value
    if value in names:
        return names[value]
    # Explanations name paths, which join names with ".": rename each segment.
    return ".".join(names.get(segment, segment) for segment in value.split("."))


# Text a decision holds besides the names (explanations included): renaming must not touch it.
DECISION_WORDS = {"", "approve", "manual", "deny", "id", "action", "nrn", "dimensions", "result",
                  "policies", "name", "passed", "actions", "errors", "deployment:create",
                  "organization=1", "failures", "clauses", "matched", "elements", "element",
                  "operator", "path", "expected", "actual", "actual_values", "missing", "source",
                  "build", "metadata", "scope", "rg:", "waived", "waiver"}  # fmt: skip
# Hostile text usable in every role: a path segment cannot hold "." or start with "$".
hostile = (
    st.lists(st.one_of(st.sampled_from(NASTY_PIECES), st.text(max_size=4)), min_size=1, max_size=6)
    .map("".join)
    .filter(lambda text: "." not in text and not text.startswith("$"))
    .filter(lambda text: text not in DECISION_WORDS)
)
EVERYTHING = "".join(p for p in NASTY_PIECES if p not in ".$")


@pytest.mark.opa
@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(hostile, min_size=len(ROLES), max_size=len(ROLES), unique=True))
@example([f"{EVERYTHING}{i}" for i in range(len(ROLES))])
@example(["default allow := true", "input", "}\nallow := true\n{", "# METADATA", "\\", '"', "\x00",
          "\u2028", "naïve 名前", "else"])  # fmt: skip
# A key with a final newline ("if\n") is no plain field name.
@example(["\t", "if\n", '"\\', "\r", "A", '"', '""', "\\", "\n", '"""'])
def test_hostile_names_decide_as_plain_names(opa, texts):
    hostile_names = dict(zip(ROLES, texts, strict=True))
    plain_names = {role: f"plain_{role}" for role in ROLES}
    to_plain = {hostile_names[role]: plain_names[role] for role in ROLES}
    hostile_decisions = decide(opa, project(hostile_names), requests(hostile_names), strict=True)
    plain_decisions = decide(opa, project(plain_names), requests(plain_names), strict=False)
    assert renamed(hostile_decisions, to_plain) == plain_decisions
    # The batch exercises both outcomes, so a broken condition cannot hide.
    assert {d["result"] for d in plain_decisions} == {"approve", "deny"}
