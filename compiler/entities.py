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
    # approval action → the entity its payload names, then other spellings the
    # documentation uses for it (`parameters` for `parameter`)
    action_entities: dict[str, tuple[str, ...]] = field(default_factory=dict)
    sources: dict[str, str] = field(default_factory=dict)  # entity or action → its page
    _resolved: dict[tuple[str, tuple[str, ...]], Resolved | Unresolved] = field(
        default_factory=dict, init=False, repr=False, compare=False
    )

    @property
    def entities(self) -> tuple[str, ...]:
        return tuple(self.attributes)

    def entity_of(self, action: str) -> str:
        """The entity an approval action's payload names."""
        return self.action_entities[action][0]

    def needs_scope(self, action: str) -> bool:
        """Whether requests for `action` carry a scope, whose dimensions select actions."""
        return "scope" in self.actions[action]

    def dimensions_from(self, action: str) -> str:
        """The entity whose `dimensions` select the actions that apply to a request: the
        scope where the action sees one, else the action's own entity (a parameter's
        values being revealed carry their dimensions)."""
        return "scope" if self.needs_scope(action) else self.entity_of(action)

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
    entities, actions = raw["entities"], raw["actions"]
    return EntityModel(
        attributes={name: spec["attributes"] for name, spec in entities.items()},
        actions={name: tuple(spec["sees"]) for name, spec in actions.items()},
        action_entities={
            name: (spec["entity"], *spec.get("aliases", ())) for name, spec in actions.items()
        },
        sources={
            **{name: spec["source"] for name, spec in entities.items()},
            **{name: spec["source"] for name, spec in actions.items()},
        },
    )
