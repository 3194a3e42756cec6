"""The nullplatform entity model, read from compiler/entities.json."""

from __future__ import annotations

import json
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any


@dataclass(frozen=True)
class EntityModel:
    attributes: dict[str, dict[str, Any]]  # entity → attribute → JSON Schema
    actions: dict[str, tuple[str, ...]]  # approval action → entities its policies may read

    @property
    def entities(self) -> tuple[str, ...]:
        return tuple(self.attributes)


@cache
def entity_model() -> EntityModel:
    raw = json.loads((Path(__file__).parent / "entities.json").read_text(encoding="utf-8"))
    return EntityModel(
        attributes={name: spec["attributes"] for name, spec in raw["entities"].items()},
        actions={action: tuple(entities) for action, entities in raw["actions"].items()},
    )
