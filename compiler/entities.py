"""The nullplatform entity model, read from compiler/entities.json, and extended by a
program's `entity` blocks (`program_model`): every pass that reads the model for a
compilation reads the extended one; `entity_model()` is the built-in one, for callers
that have no program.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field, replace
from functools import cache
from pathlib import Path
from typing import Any

from compiler.ast import EntityDeclaration, Program
from compiler.diagnostics import Diagnostic, did_you_mean, error
from compiler.schema import Resolved, Unresolved, resolve

# A declared entity's dimensions, as the scope's, a service's and a parameter's: they
# select the approval actions that apply to its requests when its actions see no scope.
DIMENSIONS_SCHEMA = {"type": "object", "additionalProperties": {"type": "string"}}


@dataclass(frozen=True)
class EntityModel:
    attributes: dict[str, dict[str, Any]]  # entity → attribute → JSON Schema
    actions: dict[str, tuple[str, ...]]  # approval action → entities its policies may read
    # approval action → the entity its payload names, then other spellings the
    # documentation uses for it (`parameters` for `parameter`)
    action_entities: dict[str, tuple[str, ...]] = field(default_factory=dict)
    sources: dict[str, str] = field(default_factory=dict)  # entity or action → its page
    nrn_keys: tuple[str, ...] = ()  # an NRN's segment keys, outermost first
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
        nrn_keys=tuple(raw["nrn"]),
    )


def extend_model(
    base: EntityModel, declarations: tuple[EntityDeclaration, ...]
) -> tuple[EntityModel, list[Diagnostic]]:
    """`base` with the declared entities and their actions, and what is wrong with the
    declarations: a built-in entity declared again, an entity declared twice (RG140),
    an action declared twice (RG141; an action is named after its entity, so a
    built-in one cannot be declared), an action that sees an entity neither built in
    nor declared, or not its own (RG142).  A second declaration is left out; an
    action sees the entities of its `sees` that exist."""
    diagnostics: list[Diagnostic] = []
    attributes = dict(base.attributes)
    sources = dict(base.sources)
    accepted: list[EntityDeclaration] = []
    # Built-in entities, and the other spellings the documentation uses for them.
    built_in = {*base.attributes, *(n for names in base.action_entities.values() for n in names)}
    for declaration in declarations:
        name = declaration.name
        if name in built_in:
            diagnostics.append(
                error(
                    "RG140",
                    declaration.span,
                    f'"{name}" is a built-in entity of nullplatform\'s model; it cannot be '
                    "declared again",
                    help=f"its page: {base.sources.get(name, 'compiler/entities.json')}; "
                    "give the new entity another name",
                )
            )
            continue
        first = next((d for d in accepted if d.name == name), None)
        if first is not None:
            diagnostics.append(
                error(
                    "RG140",
                    declaration.span,
                    f'a second entity "{name}"',
                    help=f"the first is declared at {first.span}",
                )
            )
            continue
        accepted.append(declaration)
        schemas = declaration.attributes if isinstance(declaration.attributes, dict) else {}
        attributes[name] = {**schemas, "dimensions": DIMENSIONS_SCHEMA}
        sources[name] = f"entity block at {declaration.span}"
    actions = dict(base.actions)
    action_entities = dict(base.action_entities)
    declared_by: dict[str, EntityDeclaration] = {}
    for declaration in accepted:
        visible = _visible(declaration, attributes, diagnostics)
        for action in declaration.actions:
            if action.text in declared_by:
                diagnostics.append(
                    error(
                        "RG141",
                        action.span,
                        f'the approval action "{action.text}" is declared twice',
                        help=f'entity "{declared_by[action.text].name}" at '
                        f"{declared_by[action.text].span} declares it first",
                    )
                )
                continue
            declared_by[action.text] = declaration
            actions[action.text] = visible
            action_entities[action.text] = (declaration.name,)
            sources[action.text] = f"entity block at {declaration.span}"
    model = replace(
        base,
        attributes=attributes,
        actions=actions,
        action_entities=action_entities,
        sources=sources,
    )
    return model, diagnostics


def _visible(
    declaration: EntityDeclaration,
    attributes: dict[str, dict[str, Any]],
    diagnostics: list[Diagnostic],
) -> tuple[str, ...]:
    """The entities the declaration's actions see (those that exist)."""
    for seen in declaration.sees:
        if seen.text not in attributes:
            diagnostics.append(
                error(
                    "RG142",
                    seen.span,
                    f'entity "{declaration.name}"\'s actions see "{seen.text}", which is '
                    "neither a built-in entity nor declared",
                    help=did_you_mean(seen.text, list(attributes))
                    or f'declare it: entity "{seen.text}" {{ ... }}',
                )
            )
    names = [seen.text for seen in declaration.sees if seen.text in attributes]
    if declaration.actions and declaration.name not in names:
        where = declaration.sees[0].span if declaration.sees else declaration.span
        diagnostics.append(
            error(
                "RG142",
                where,
                f'entity "{declaration.name}"\'s actions do not see "{declaration.name}" '
                "itself, whose request they decide",
                help=f'add "{declaration.name}" to `sees`',
            )
        )
    return tuple(dict.fromkeys(names))


def program_model(program: Program) -> EntityModel:
    """The built-in model extended by the program's `entity` blocks (those without
    errors; `regate check` reports the others)."""
    if not program.entities:
        return entity_model()
    return extend_model(entity_model(), program.entities)[0]
