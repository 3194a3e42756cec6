"""The anchor: hand-written Rego for the benchmark's policies (bench/anchor/anchor.rego),
served as a bundle of its own, to measure regate's bundle against.

`write_anchor` writes the bundle for a corpus from its `Model` (bench/corpus.py),
never from regate's compiler or bundle: the actions as data, indexed by approval
action, NRN and the key of their dimensions (`"country=ar,environment=production"`,
keys sorted), each with its results and its policies' checks (`{"check": kind,
...parameters}`), which the anchor's rules decide.
"""

from __future__ import annotations

import io
import json
import tarfile
from collections import defaultdict
from pathlib import Path
from typing import Any

from corpus import Model

BENCH = Path(__file__).resolve().parent
MODULE = BENCH / "anchor" / "anchor.rego"
ROOT = "anchor"
DECISION = "anchor/decision"


def dimension_key(dimensions: dict[str, str]) -> str:
    return ",".join(f"{key}={dimensions[key]}" for key in sorted(dimensions))


def anchor_data(corpus: Model) -> dict[str, Any]:
    """data.anchor: the actions by approval action, NRN and dimension key (`index`)."""
    index: dict[str, dict[str, dict[str, list[Any]]]] = defaultdict(
        lambda: defaultdict(lambda: defaultdict(list))
    )
    for action in corpus.actions:
        index[action.action][action.nrn][dimension_key(action.dimensions)].append(
            {
                "id": action.id,
                "on_success": "approve",
                "on_fail": action.on_policy_fail,
                "policies": [
                    {"check": p.check.kind, **p.check.parameters} for p in action.policies
                ],
            }
        )
    return {"index": json.loads(json.dumps(index))}


def write_anchor(corpus: Model, bundle: Path) -> None:
    """The anchor's bundle (a .tar.gz whose root is `anchor`) for the corpus."""
    files = {
        ".manifest": json.dumps({"roots": [ROOT], "rego_version": 1}).encode(),
        f"{ROOT}/anchor.rego": MODULE.read_bytes(),
        f"{ROOT}/data.json": json.dumps(anchor_data(corpus), sort_keys=True).encode(),
    }
    raw = io.BytesIO()
    with tarfile.open(fileobj=raw, mode="w:gz") as archive:
        for name, content in sorted(files.items()):
            info = tarfile.TarInfo(name)
            info.size = len(content)
            archive.addfile(info, io.BytesIO(content))
    bundle.write_bytes(raw.getvalue())


def projected(decision: Any) -> dict[str, Any]:
    """What the anchor decides of a regate decision: its result and each applying
    action's id and result."""
    return {
        "result": decision["result"],
        "actions": [{"id": a["id"], "result": a["result"]} for a in decision["actions"]],
    }


def disagreements(
    requests: list[dict[str, Any]], regate: list[Any], anchor: list[Any]
) -> list[str]:
    """Where the two decisions of each request differ, or regate found the request
    invalid (the anchor decides valid requests only): a line each."""
    found = []
    for number, (request, ours, theirs) in enumerate(zip(requests, regate, anchor, strict=True)):
        if "errors" in ours:
            found.append(f"request {number} is not valid for regate: {ours['errors']}")
        elif projected(ours) != theirs:
            found.append(
                f"request {number} ({request['action']} at {request['nrn']}): regate "
                f"{json.dumps(projected(ours))}, the anchor {json.dumps(theirs)}"
            )
    return found
