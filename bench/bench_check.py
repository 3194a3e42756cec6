"""Checker time for a generated project: 1,000 policies, 100 specifications, 100 actions.

    python bench/bench_check.py [--policies N] [--specifications N] [--repeat N]

Writes the project to a temporary directory, parses it once, then times the check
pass alone (`compiler.check.check`) and prints the best of `--repeat` runs.  The
project is clean apart from warnings the generator plants on purpose (always-true
conditions), so every path, operator and value is checked in full.  The schemas
differ, so each is validated against its meta-schema.
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time
from pathlib import Path

from compiler.check import _schema_problem, check
from compiler.parse import parse
from compiler.sources import load

ACCOUNTS = 10


def specification(index: int) -> str:
    """Even keys at the organization; odd keys per account (a deeper NRN overrides)."""
    nrn = "organization=1" if index % 2 == 0 else f"organization=1:account={index % ACCOUNTS + 1}"
    schema = {
        "type": "object",
        "properties": {
            # Distinct per specification, so none is validated from another's cached result.
            "score": {"type": "number", "minimum": 0, "maximum": 100 + index},
            "tool": {"enum": ["a", "b", "c"]},
            "passed": {"type": "boolean"},
            "findings": {
                "type": "array",
                "items": {
                    "type": "object",
                    "properties": {"id": {"type": "string", "pattern": "^F-"}},
                },
            },
            "owner": {"$ref": "#/$defs/owner"},
        },
        "$defs": {
            "owner": {"type": "object", "properties": {"team": {"type": ["string", "null"]}}}
        },
        "required": ["score"],
        "additionalProperties": False,
    }
    return (
        f'specification "S{index}" {{\n  entity = build\n  metadata = key{index // 2}\n'
        f'  nrn = "{nrn}"\n  schema = {json.dumps(schema)}\n}}\n'
    )


def policy(index: int, keys: int) -> str:
    """Reads one of `keys` metadata keys (each specified at the organization)."""
    key = f"build.metadata.key{index % keys}"
    conditions = {
        f"{key}.score": {"$gte": 50 + index % 40, "$lte": 200},  # always true: RG037
        f"{key}.tool": {"$in": ["a", "b"]},
        f"{key}.owner.team": {"$ne": None},
        "$or": [{f"{key}.passed": True}, {f"{key}.findings.id": {"$exists": False}}],
        "scope.dimensions.environment": "production",
    }
    return (
        f'policy "P{index}" {{\n  nrn = "organization=1"\n'
        f"  conditions = {json.dumps(conditions)}\n}}\n"
    )


def action(index: int, policies: int, actions: int) -> str:
    bound = [f'"P{p}"' for p in range(index, policies, actions)]
    return (
        f'action "A{index}" {{\n  action = "deployment:create"\n'
        f'  nrn = "organization=1:account={index % ACCOUNTS + 1}"\n'
        f"  policies = [{', '.join(bound)}]\n}}\n"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--policies", type=int, default=1000)
    parser.add_argument("--specifications", type=int, default=100)
    parser.add_argument("--actions", type=int, default=100)
    parser.add_argument("--repeat", type=int, default=5)
    arguments = parser.parse_args()
    with tempfile.TemporaryDirectory() as directory:
        root = Path(directory)
        (root / "specifications.rg").write_text(
            "".join(specification(i) for i in range(arguments.specifications))
        )
        (root / "policies.rg").write_text(
            "".join(
                policy(i, max(1, arguments.specifications // 2)) for i in range(arguments.policies)
            )
        )
        (root / "actions.rg").write_text(
            "".join(
                action(i, arguments.policies, arguments.actions) for i in range(arguments.actions)
            )
        )
        sources, problems = load([str(root)])
        program, parse_problems = parse(sources)
        assert not problems and not parse_problems, [*problems, *parse_problems]
        timings, cpu = [], []
        for _ in range(arguments.repeat):
            _schema_problem.cache_clear()  # every run validates every schema afresh
            started, started_cpu = time.perf_counter(), time.process_time()
            diagnostics = check(program)
            timings.append(time.perf_counter() - started)
            cpu.append(time.process_time() - started_cpu)
    errors = [d for d in diagnostics if d.severity == "error"]
    assert not errors, errors[:3]
    print(
        f"check: {arguments.policies} policies, {arguments.specifications} specifications, "
        f"{arguments.actions} actions: best {min(timings) * 1000:.0f} ms "
        f"(CPU {min(cpu) * 1000:.0f} ms), worst {max(timings) * 1000:.0f} ms "
        f"of {arguments.repeat} runs; {len(diagnostics)} warnings"
    )


if __name__ == "__main__":
    main()
