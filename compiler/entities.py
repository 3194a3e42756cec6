"""The nullplatform entity model, read from compiler/entities.json."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path
from typing import Any

from compiler.schema import Resolved, Unresolved, resolve


@dataclass(frozen=True)
class EntityModel:
    attributes: dict[str, dict[str, Any]]  # entity → attribute → JSON Schema
    actions: dict[str, tuple[str, ...]]  # approval action → entities its policies may read
    nrn_keys: tuple[str, ...] = ()  # an NRN's segment keys, outermost first
    _resolved: dict[tuple[str, tuple[str, ...]], Resolved | Unresolved] = field(
        default_factory=dict, init=False, repr=False, compare=False
    )

    @property
    def entities(self) -> tuple[str, ...]:
        return tuple(self.attributes)

    def required_entities(self, action: str) -> tuple[str, ...]:
        """The entities a request for `action` must carry: the scope, when the action
        sees one, since its dimensions decide which approval actions apply."""
        return ("scope",) if "scope" in self.actions.get(action, ()) else ()

    def resolve_attribute(self, entity: str, segments: tuple[str, ...]) -> Resolved | Unresolved:
        """A path below an entity, outside `metadata`: its attributes form a closed object."""
        key = (entity, segments)
        if key not in self._resolved:
            schema = {"type": "object", "properties": self.attributes[entity]}
            self._resolved[key] = resolve(schema, segments)
        return self._resolved[key]


@cache
def entity_model() -> EntityModel:
    raw = json.loads((Path(__file__).parent / "entities.json").read_text(encoding="utf-8"))
    return EntityModel(
        attributes={name: spec["attributes"] for name, spec in raw["entities"].items()},
        actions={action: tuple(entities) for action, entities in raw["actions"].items()},
        nrn_keys=tuple(raw["nrn"]),
    )
