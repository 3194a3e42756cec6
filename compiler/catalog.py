"""data.regate.catalog as the bundle holds it: the actions indexed for direct lookup.

The lowered program's catalog (compiler/lower.py) holds the actions by approval
action and NRN.  A decision must find, among possibly hundreds of actions at one
NRN (the same NRN, other approval actions and dimensions), the few whose
dimensions the request has, and read nothing else: with OPA's default store
every value a decision reads is converted anew, so a decision must only ever
read small leaves of the catalog by their full path.  So the bundle holds

- `entries`: each action's entry (what templates/decision.rego.j2 reports and
  decides it by), in id order;
- `index[action][nrn][key]`: the positions in `entries` of the actions at that
  NRN whose dimensions have that key (`dimension_key`);
- `dimension_names`: each set of dimension names some action has, sorted, from
  which a request's keys are made (one per set it has values for), and
  `names_at[action][nrn]`: the positions in it of the sets the actions at that
  NRN have, so that a request makes and looks up only those keys;
"""

from __future__ import annotations

from collections import defaultdict
from typing import Any

from compiler.ast import JsonValue
from compiler.rego import id_order


def dimension_key(dimensions: dict[str, str]) -> str:
    """An action's dimensions as one string: each name and value, names sorted,
    prefixed with their lengths, so that no two sets of dimensions share a key
    (`11:environment10:production`; "" for none).  Lengths count characters, as
    Rego's `count` does."""
    return "".join(
        f"{len(name)}:{name}{len(value)}:{value}" for name, value in sorted(dimensions.items())
    )


def runtime(catalog: dict[str, Any]) -> dict[str, JsonValue]:
    """The bundle's catalog, from the lowered one (without its revision)."""
    entries = sorted(
        (entry for by_nrn in catalog["actions"].values() for at in by_nrn.values() for entry in at),
        key=lambda entry: id_order(entry["id"]),
    )
    position = {id(entry): n for n, entry in enumerate(entries)}
    index: dict[str, dict[str, dict[str, list[JsonValue]]]] = defaultdict(
        lambda: defaultdict(lambda: defaultdict(list))
    )
    names_of = {
        tuple(sorted(entry["dimensions"]))
        for by_nrn in catalog["actions"].values()
        for at in by_nrn.values()
        for entry in at
    }
    names = sorted(names_of, key=lambda n: (len(n), n))
    names_position = {n: i for i, n in enumerate(names)}
    names_at: dict[str, dict[str, set[int]]] = defaultdict(lambda: defaultdict(set))
    for action, by_nrn in catalog["actions"].items():
        for nrn, at in by_nrn.items():
            for entry in at:
                key = dimension_key(entry["dimensions"])
                index[action][nrn][key].append(position[id(entry)])
                names_at[action][nrn].add(names_position[tuple(sorted(entry["dimensions"]))])
    return {
        "entries": entries,
        "index": {
            action: {nrn: dict(by_key) for nrn, by_key in by_nrn.items()}
            for action, by_nrn in index.items()
        },
        "dimension_names": [list(n) for n in names],
        "names_at": {
            action: {nrn: sorted(found) for nrn, found in by_nrn.items()}
            for action, by_nrn in names_at.items()
        },
        # The finding exceptions, by NRN, as lowered (templates/exceptions.rego.j2).
        **({"exceptions": catalog["exceptions"]} if "exceptions" in catalog else {}),
    }


def actions(runtime_catalog: dict[str, Any]) -> dict[str, dict[str, list[dict[str, Any]]]]:
    """The bundle's actions by approval action and NRN, each entry as the bundle holds
    it: what a reader of a bundle (or of a sidecar's data) looks up."""
    entries = runtime_catalog.get("entries", [])
    return {
        action: {
            nrn: [entries[i] for positions in by_key.values() for i in positions]
            for nrn, by_key in by_nrn.items()
        }
        for action, by_nrn in runtime_catalog.get("index", {}).items()
    }
