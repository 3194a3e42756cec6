"""What the editor knows about a source directory: the last program that parsed, the
specifications in force at an NRN, what a path reads and where its schema is written.

The facts come from the checker's own pieces (`Specifications`, `resolve`, the entity
model), so a completion or a hover says what `regate check` would.
"""

from __future__ import annotations

import json
import posixpath
import re
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path

from compiler.ast import Action, Nrn, Policy, Program, Span, Specification
from compiler.check import Specifications
from compiler.entities import EntityModel, program_model
from compiler.schema import Resolved, Schema, resolve, types_of

ENTITIES_JSON = Path(__file__).resolve().parent.parent / "entities.json"
_FILE_CALL = re.compile(r'file\(\s*("(?:[^"\\]|\\.)*")\s*\)')


@dataclass(frozen=True)
class Location:
    file: str
    line: int  # 1-based, as spans
    col: int
    end_line: int
    end_col: int

    @staticmethod
    def of(span: Span) -> Location:
        return Location(span.file, span.line, span.col, span.end_line, span.end_col)


@dataclass(frozen=True)
class FieldInfo:
    """What a path reads in one context: its schemas, and the specification they come
    from (None: the entity model)."""

    path: str
    resolved: Resolved
    specification: Specification | None
    nrn: str | None  # the NRN whose requests it decides

    @property
    def types(self) -> str:
        return type_text(self.resolved.schemas)

    @property
    def origin(self) -> str:
        if self.specification is None:
            return "the entity model (compiler/entities.json)"
        spec = self.specification
        return f'specification "{spec.name}" at {spec.nrn.text}'


def type_text(schemas: tuple[Schema, ...]) -> str:
    """`integer`, `string or null`, `array of object`; `any` when unconstrained."""
    if not schemas:
        return "any"
    names: list[str] = []
    for schema in schemas:
        types = types_of(schema)
        if types is None:
            return "any"
        for kind in sorted(types - {"integer"} if "number" in types else types):
            if (
                kind == "array"
                and isinstance(schema, dict)
                and isinstance(schema.get("items"), dict)
            ):
                kind = f"array of {type_text((schema['items'],))}"
            if kind not in names:
                names.append(kind)
    return " or ".join(names)


CONSTRAINTS = (
    "minimum",
    "exclusiveMinimum",
    "maximum",
    "exclusiveMaximum",
    "minLength",
    "maxLength",
    "pattern",
    "format",
    "enum",
    "const",
    "minItems",
    "maxItems",
)


def constraints(schemas: tuple[Schema, ...]) -> list[str]:
    """The schema's constraints as `minimum 0`, `enum ["a", "b"]`."""
    found: list[str] = []
    for schema in schemas:
        if not isinstance(schema, dict):
            continue
        for keyword in CONSTRAINTS:
            if keyword in schema:
                shown = f"{keyword} {json.dumps(schema[keyword], ensure_ascii=False)}"
                if shown not in found:
                    found.append(shown)
    return found


def description(schemas: tuple[Schema, ...]) -> str:
    return next(
        (s["description"] for s in schemas if isinstance(s, dict) and "description" in s), ""
    )


class Model:
    """One source directory's declarations, as last parsed."""

    def __init__(self, program: Program, texts: dict[str, str]) -> None:
        self.program = program
        self.texts = texts  # source path → text, for locating schemas
        self.entities: EntityModel = program_model(program)

    @cached_property
    def specifications(self) -> Specifications:
        return Specifications(list(self.program.specifications))

    @cached_property
    def policies(self) -> dict[str, Policy]:
        found: dict[str, Policy] = {}
        for policy in self.program.policies:
            found.setdefault(policy.name, policy)
        return found

    def bound_actions(self, policy: str) -> list[Action]:
        return [a for a in self.program.actions if any(r.name == policy for r in a.policies)]

    def contexts(self, policy: str | None, nrn: str | None) -> list[Nrn]:
        """The NRNs a policy's paths are checked at, as the checker does: those of the
        actions it is bound to, else its own."""
        actions = self.bound_actions(policy) if policy else []
        if actions:
            return sorted({a.nrn for a in actions}, key=lambda n: n.text)
        known = self.policies.get(policy) if policy else None
        if known is not None:
            return [known.nrn]
        return [Nrn(nrn, Span("", 1, 1, 1, 1))] if nrn else []

    def visible_entities(self, policy: str | None) -> tuple[str, ...]:
        """The entities every action the policy is bound to can see (all when unbound)."""
        visible = list(self.entities.entities)
        for action in self.bound_actions(policy) if policy else []:
            allowed = self.entities.actions.get(action.action)
            if allowed is not None:
                visible = [e for e in visible if e in allowed]
        return tuple(visible)

    # --- paths ---

    def checked_against(
        self, entity: str, key: str, contexts: list[Nrn]
    ) -> list[tuple[str, Specification]]:
        """Each specification a path below `entity.metadata.key` is checked against: the
        one in force at each context, and those below it."""
        found: list[tuple[str, Specification]] = []
        for nrn in contexts:
            in_force = self.specifications.in_force(entity, key, nrn)
            if in_force is None:
                continue
            for spec in [in_force, *self.specifications.below(entity, key, nrn)]:
                if all(spec is not s for _, s in found):
                    found.append((nrn.text, spec))
        return found

    def fields(self, segments: tuple[str, ...], contexts: list[Nrn]) -> list[FieldInfo]:
        """What a path reads: one entry per schema it is checked against; none when unknown."""
        path = ".".join(segments)
        entity = segments[0]
        if entity not in self.entities.attributes:
            return []
        if len(segments) == 1 or segments[1:] == ("metadata",):
            return [FieldInfo(path, Resolved(({"type": "object"},)), None, None)]
        if segments[1] != "metadata":
            found = self.entities.resolve_attribute(entity, segments[1:])
            return [FieldInfo(path, found, None, None)] if isinstance(found, Resolved) else []
        infos: list[FieldInfo] = []
        for nrn, spec in self.checked_against(entity, segments[2], contexts):
            resolved = resolve(spec.schema, segments[3:])
            if isinstance(resolved, Resolved):
                infos.append(FieldInfo(path, resolved, spec, nrn))
        return infos

    def children(
        self, segments: tuple[str, ...], contexts: list[Nrn]
    ) -> dict[str, list[FieldInfo]]:
        """The keys a path can go on with, and what each reads."""
        if not segments:
            return {}
        entity = segments[0]
        if entity not in self.entities.attributes:
            return {}
        if len(segments) == 1:
            names = [*self.entities.attributes[entity], "metadata"]
        elif segments[1:] == ("metadata",):
            names = [
                key
                for key in self.specifications.keys(entity)
                if self.checked_against(entity, key, contexts)
            ]
        else:
            names = []
            for info in self.fields(segments, contexts):
                for schema in info.resolved.schemas:
                    names.extend(n for n in _property_names(schema) if n not in names)
        found: dict[str, list[FieldInfo]] = {}
        for name in names:
            infos = self.fields((*segments, name), contexts)
            if infos:
                found[name] = infos
        return found

    # --- where things are written ---

    def schema_location(self, info: FieldInfo) -> Location | None:
        """Where the schema of a path is written: the property in the specification's
        schema (its file, or inline), or the attribute in the entity model."""
        segments = tuple(info.path.split("."))
        if info.specification is None:
            text = ENTITIES_JSON.read_text(encoding="utf-8")
            keys = [segments[0], "attributes", *segments[1:]]
            return _find_keys(str(ENTITIES_JSON), text, 0, keys)
        spec = info.specification
        source = self.texts.get(spec.schema_span.file)
        if source is None:
            return Location.of(spec.schema_span)
        start = _offset(source, spec.schema_span.line, spec.schema_span.col)
        call = _FILE_CALL.match(source, start)
        if call is None:
            found = _find_keys(spec.schema_span.file, source, start, list(segments[3:]))
            return found or Location.of(spec.schema_span)
        relative = json.loads(call.group(1))
        file = posixpath.normpath(posixpath.join(posixpath.dirname(spec.span.file), relative))
        try:
            text = Path(file).read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError):
            return Location.of(spec.schema_span)
        return _find_keys(file, text, 0, list(segments[3:])) or Location(file, 1, 1, 1, 1)


def _property_names(schema: Schema) -> list[str]:
    """The declared keys of an object schema, or of an array's items."""
    if not isinstance(schema, dict):
        return []
    names: list[str] = []
    if isinstance(schema.get("properties"), dict):
        names.extend(schema["properties"])
    if isinstance(schema.get("items"), dict):
        names.extend(n for n in _property_names(schema["items"]) if n not in names)
    return names


def _offset(text: str, line: int, col: int) -> int:
    """The offset of a 1-based line and column."""
    start = 0
    for _ in range(line - 1):
        start = text.find("\n", start) + 1
        if start == 0:
            return len(text)
    return start + col - 1


def position(text: str, offset: int) -> tuple[int, int]:
    """The 1-based line and column of an offset."""
    line = text.count("\n", 0, offset) + 1
    return line, offset - (text.rfind("\n", 0, offset) + 1) + 1


def _find_keys(file: str, text: str, start: int, keys: list[str]) -> Location | None:
    """Where the last of `keys` is written, each key found after the one before it:
    a JSON Schema's `"coverage": {... "code": {...`.  None when one is not found."""
    if not keys:
        line, col = position(text, start)
        return Location(file, line, col, line, col)
    position_found = start
    match: re.Match[str] | None = None
    for key in keys:
        pattern = re.compile(re.escape(json.dumps(key)) + r"\s*:")
        match = pattern.search(text, position_found)
        if match is None:
            return None
        position_found = match.end()
    assert match is not None
    line, col = position(text, match.start())
    return Location(file, line, col, line, col + len(json.dumps(keys[-1])))
