"""Evaluates many (condition, document) pairs through the emitted Rego with ONE OPA run.

Each condition becomes a policy whose paths are rooted at one metadata key
(`build.metadata.doc.<path>`), so MongoDB's paths over a document read the same
document placed at `input.entities.build.metadata.doc`.  One generated module
evaluates every policy, and its explanation, against its own document (`with
input as`), and a single `opa eval` returns the verdicts.
"""

from __future__ import annotations

import json
import subprocess
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from compiler.bundle import write_directory
from compiler.driver import compile_sources
from compiler.lower import rule_names

ROOT = "build.metadata.doc"
LOGICAL = ("$and", "$or", "$nor")


@dataclass(frozen=True)
class Verdict:
    matched: bool
    failures: list[Any]  # explanations.failures(rule, sources): what the decision explains


def rooted(condition: dict[str, Any]) -> dict[str, Any]:
    """The condition with every top-level path, and every `$expr` field reference,
    under ROOT ($elemMatch queries stay relative)."""
    out: dict[str, Any] = {}
    for key, value in condition.items():
        if key in LOGICAL:
            out[key] = [rooted(clause) for clause in value]
        elif key == "$expr":
            out[key] = _rooted_expression(value)
        elif isinstance(value, dict) and list(value) == ["$expr"]:  # nullplatform's form
            out[f"{ROOT}.{key}"] = {"$expr": _rooted_expression(value["$expr"])}
        else:
            out[f"{ROOT}.{key}"] = value
    return out


def _rooted_expression(expression: Any) -> Any:
    if isinstance(expression, str) and expression[:1] == "$" and expression[:2] != "$$":
        return f"${ROOT}.{expression[1:]}"
    if isinstance(expression, list):
        return [_rooted_expression(item) for item in expression]
    if isinstance(expression, dict):
        return {k: v if k == "$literal" else _rooted_expression(v) for k, v in expression.items()}
    return expression


def sources(conditions: Sequence[dict[str, Any]]) -> str:
    """A regate source: one policy per condition, bound to one action."""
    policies = "\n".join(
        f'policy "case {i}" {{ nrn = "organization=1"  conditions = {json.dumps(rooted(c))} }}'
        for i, c in enumerate(conditions)
    )
    names = json.dumps([f"case {i}" for i in range(len(conditions))])
    return f"""
specification "Doc" {{ entity = build  metadata = doc  nrn = "organization=1"  schema = {{}} }}
action "all" {{ action = "deployment:create"  nrn = "organization=1"  policies = {names} }}
{policies}
"""


def verdicts(
    opa: str, directory: Path, cases: Sequence[tuple[dict[str, Any], Any]]
) -> list[Verdict]:
    """Whether each condition matches its document, as decided by OPA over the emitted
    Rego, and the failures its explanation gives."""
    source = directory / "cases.rg"
    source.write_text(sources([condition for condition, _ in cases]))
    return policy_verdicts(
        opa, directory, [source], [(f"case_{i}", _input(d)) for i, (_, d) in enumerate(cases)]
    )


def policy_verdicts(
    opa: str, directory: Path, source_files: Sequence[Path], cases: Sequence[tuple[str, Any]]
) -> list[Verdict]:
    """For each (policy rule, request), whether the policy holds for the request, as OPA
    decides it over the bundle the sources compile to, and its explanation's failures:
    one `opa eval` for them all."""
    result = compile_sources([str(s) for s in source_files])
    assert result.files is not None, [f"{d} {d.message}" for d in result.diagnostics]
    assert result.program is not None
    bundle = directory / "bundle"
    write_directory(str(bundle), result.files)
    # Each policy's rule (shared by policies with the same conditions) and its
    # conditions' sources, as the catalog names them.
    keys = rule_names(result.program.policies)
    names = {keys[p.span]: p.name for p in result.program.policies}
    catalog = json.loads(result.files["regate/catalog/data.json"])
    named = {p["name"]: p for e in catalog["entries"] for p in e.get("policies", [])}
    rules = "\n".join(
        f"results[{i}] := [verdict, failures] if {{\n"
        # A policy rule is true or undefined: the comprehension holds its value or nothing.
        f"\tverdict := [v | v := data.regate.policies[{json.dumps(named[names[key]]['rule'])}]]"
        f" == [true] with input as {json.dumps(request)}\n"
        f"\tfailures := data.regate.explanations.failures("
        f"{json.dumps(named[names[key]]['rule'])}, {json.dumps(named[names[key]]['sources'])})"
        f" with input as {json.dumps(request)}\n}}"
        for i, (key, request) in enumerate(cases)
    )
    verdict_module = directory / "conformance.rego"  # outside the bundle's roots
    verdict_module.write_text(f"package conformance\n\n{rules}\n")
    query = ["data.conformance.results"]
    run = subprocess.run(
        [opa, "eval", "--fail", "-f", "json", "-b", str(bundle), "-d", str(verdict_module), *query],
        capture_output=True,
        text=True,
        check=False,
    )
    assert run.returncode == 0, run.stderr
    found = json.loads(run.stdout)["result"][0]["expressions"][0]["value"]
    assert len(found) == len(cases)
    return [Verdict(bool(found[str(i)][0]), found[str(i)][1]) for i in range(len(cases))]


def _input(document: Any) -> Any:
    return {"entities": {"build": {"metadata": {"doc": document}}}}
