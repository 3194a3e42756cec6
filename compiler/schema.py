"""Resolving a dotted path against a JSON Schema: does it exist, and what type is it?

Rules (CONTRACT.md, "Sources"): `{}` or an object schema with neither
`properties` nor `patternProperties` types everything below it as *any*.  An
object schema that lists `properties` is closed, unless `additionalProperties`
is `true` or a schema, or a `patternProperties` pattern matches the key.  As in
MongoDB, a path segment applied to an array reaches into its items (and a
numeric segment also indexes it).
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from functools import cached_property
from typing import Any

JSON_TYPES = ("null", "boolean", "integer", "number", "string", "object", "array")
Schema = Any  # a JSON Schema: a dict or a boolean


@dataclass(frozen=True)
class Resolved:
    """The schemas a path may reach (empty tuple: unconstrained, any value).

    `through_array` is true when the path reaches into the items of an array on
    the way, so one document may hold many values at the path (MongoDB matches
    when any of them does).
    """

    schemas: tuple[Schema, ...]
    through_array: bool = False
    # The properties below are cached: the checker asks them of every operator.

    @cached_property
    def is_any(self) -> bool:
        return not self.schemas or any(types_of(s) is None for s in self.schemas)

    @cached_property
    def types(self) -> frozenset[str] | None:
        """The JSON types the value may have, or None for any."""
        if self.is_any:
            return None
        found: set[str] = set()
        for schema in self.schemas:
            types = types_of(schema)
            assert types is not None
            found |= types
        return frozenset(found)

    @cached_property
    def element_types(self) -> frozenset[str] | None:
        """The types of the value or, for an array, of its items: what an operand meets."""
        types = self.types
        if types is None or "array" not in types:
            return types
        found = set(types)
        for schema in self.schemas:
            items = schema.get("items") if isinstance(schema, dict) else None
            item_types = types_of(items) if "array" in (types_of(schema) or ()) else frozenset()
            if item_types is None:
                return None
            found |= item_types
        return frozenset(found)

    @cached_property
    def items(self) -> Resolved:
        """What the items of the field's arrays may be (unconstrained when not said)."""
        found: list[Schema] = []
        for schema in self.schemas:
            if "array" not in (types_of(schema) or ()):
                continue
            items = schema.get("items") if isinstance(schema, dict) else None
            if not isinstance(items, dict) or types_of(items) is None:
                return Resolved(())
            found.append(items)
        return Resolved(tuple(found))

    @cached_property
    def single_valued(self) -> bool:
        """One document holds at most one value here, and it is not an array."""
        types = self.types
        return types is not None and "array" not in types and not self.through_array


@dataclass(frozen=True)
class Unresolved:
    """Segment `index` does not exist; `known` lists the keys that do."""

    index: int
    known: tuple[str, ...]


def _deref(schema: Schema, root: Schema) -> Schema:
    seen = 0
    while isinstance(schema, dict) and isinstance(schema.get("$ref"), str) and seen < 32:
        ref: str = schema["$ref"]
        if not ref.startswith("#"):
            return {}  # a remote reference: regate does not fetch it, so it is unconstrained
        target = root
        for part in [p for p in ref[1:].split("/") if p]:
            part = part.replace("~1", "/").replace("~0", "~")
            if isinstance(target, dict) and part in target:
                target = target[part]
            else:
                return {}
        schema, seen = target, seen + 1
    return schema


def _branches(schema: Schema, root: Schema) -> list[Schema]:
    """The schema's alternatives: itself, or its anyOf/oneOf branches; allOf merged."""
    schema = _deref(schema, root)
    if not isinstance(schema, dict):
        return [schema]
    for keyword in ("anyOf", "oneOf"):
        if isinstance(schema.get(keyword), list):
            return [b for branch in schema[keyword] for b in _branches(branch, root)]
    if isinstance(schema.get("allOf"), list):
        merged: dict[str, Any] = {k: v for k, v in schema.items() if k != "allOf"}
        for branch in schema["allOf"]:
            for part in _branches(branch, root):
                for key, value in part.items() if isinstance(part, dict) else ():
                    if key == "properties" and isinstance(merged.get(key), dict):
                        merged[key] = {**value, **merged[key]}
                    else:
                        merged.setdefault(key, value)
        return [merged]
    return [schema]


def types_of(schema: Schema) -> frozenset[str] | None:
    """The JSON types a schema allows, or None when it does not say."""
    if not isinstance(schema, dict):
        return None
    declared = schema.get("type")
    if isinstance(declared, str):
        declared = [declared]
    if isinstance(declared, list):
        types = set(declared)
        if "number" in types:
            types.add("integer")
        return frozenset(t for t in types if t in JSON_TYPES)
    if "const" in schema or isinstance(schema.get("enum"), list):
        values = [schema["const"]] if "const" in schema else schema["enum"]
        return frozenset(json_type(v) for v in values)
    if "properties" in schema or "patternProperties" in schema:
        return frozenset({"object"})
    if "items" in schema or "prefixItems" in schema:
        return frozenset({"array"})
    return None


def json_type(value: object) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, int):
        return "integer"
    if isinstance(value, float):
        return "integer" if value.is_integer() else "number"
    if isinstance(value, str):
        return "string"
    if isinstance(value, list):
        return "array"
    return "object"


def _children(schema: Schema, key: str, root: Schema) -> list[Schema]:
    """The schemas a value of `schema` may hold under `key` (empty: the key is not allowed)."""
    if schema is False:
        return []
    if not isinstance(schema, dict):
        return [{}]
    types = types_of(schema)
    found: list[Schema] = []
    if types is None or "object" in types:
        properties = schema.get("properties")
        patterns = schema.get("patternProperties")
        additional = schema.get("additionalProperties")
        if isinstance(properties, dict) and key in properties:
            found.append(properties[key])
        if isinstance(patterns, dict):
            found.extend(s for p, s in patterns.items() if _pattern_matches(p, key))
        open_object = not isinstance(properties, dict) and not isinstance(patterns, dict)
        # Listed properties close the object for path checking (CONTRACT.md), unless
        # additionalProperties opens it explicitly.
        if not found and (open_object or additional is True or isinstance(additional, dict)):
            found.append(additional if isinstance(additional, dict) else {})
    if types is None or "array" in types:
        items = schema.get("items")
        prefix = schema.get("prefixItems")
        if key.isdigit() and isinstance(prefix, list) and int(key) < len(prefix):
            found.append(prefix[int(key)])
        elif key.isdigit():
            found.append(items if isinstance(items, dict) else {})
        if items is None and prefix is None:
            found.append({})
        elif isinstance(items, dict):  # MongoDB reaches into the items of an array
            found.extend(_step([items], key, root))
    return found


def _pattern_matches(pattern: str, key: str) -> bool:
    try:
        return re.search(pattern, key) is not None
    except re.error:
        return True


def _step(schemas: list[Schema], key: str, root: Schema) -> list[Schema]:
    children = [
        child
        for schema in schemas
        for branch in _branches(schema, root)
        for child in _children(branch, key, root)
    ]
    # Without this, a schema that may be an object or an array ({} does) doubles
    # the list at each segment: a 32-segment path took 2^30 steps.
    unique = {json.dumps(child, sort_keys=True): child for child in children}
    return list(unique.values())


def _known_keys(schemas: list[Schema], root: Schema) -> list[str]:
    """The declared property names at this level, for did-you-mean suggestions."""
    known: list[str] = []
    for schema in schemas:
        for branch in _branches(schema, root):
            if not isinstance(branch, dict):
                continue
            if isinstance(branch.get("properties"), dict):
                known.extend(branch["properties"])
            if isinstance(branch.get("items"), dict):
                known.extend(_known_keys([branch["items"]], root))
    return known


def _may_be_array(schemas: list[Schema], root: Schema) -> bool:
    return any("array" in (types_of(b) or ()) for s in schemas for b in _branches(s, root))


def resolve(schema: Schema, segments: tuple[str, ...]) -> Resolved | Unresolved:
    """Follow `segments` down `schema`."""
    current: list[Schema] = [schema]
    through_array = False
    for index, key in enumerate(segments):
        found = _step(current, key, schema)
        if not found:
            return Unresolved(index, tuple(sorted(set(_known_keys(current, schema)))))
        through_array = through_array or (not key.isdigit() and _may_be_array(current, schema))
        current = found
    return Resolved(tuple(b for s in current for b in _branches(s, schema)), through_array)


def is_required(schema: Schema, segments: tuple[str, ...]) -> bool:
    """Whether every object that can hold the last segment lists it in `required`."""
    if not segments:
        return False
    parent = resolve(schema, segments[:-1])
    if isinstance(parent, Unresolved) or parent.through_array or not parent.schemas:
        return False
    return all(
        isinstance(branch, dict)
        and isinstance(branch.get("required"), list)
        and segments[-1] in branch["required"]
        for branch in parent.schemas
    )


# Keywords whose value is a schema, an object of schemas, or a list of schemas: where a
# `$ref` may stand.  Other keywords hold data (`enum`, `const`, `default`, ...).
_SCHEMA_VALUED = (
    "items",
    "additionalItems",
    "additionalProperties",
    "not",
    "if",
    "then",
    "else",
    "contains",
    "propertyNames",
    "unevaluatedItems",
    "unevaluatedProperties",
)
_SCHEMA_MAPS = ("properties", "patternProperties", "$defs", "definitions", "dependentSchemas")
_SCHEMA_LISTS = ("allOf", "anyOf", "oneOf", "prefixItems", "items")
MAX_REF_CHAIN = 32  # as _deref follows them


@dataclass(frozen=True)
class RefProblem:
    """A reference regate cannot follow: where it is (a JSON Pointer), and why."""

    pointer: str
    keyword: str  # $ref, $dynamicRef or $recursiveRef
    ref: str
    dangling: bool  # True: local, but to nothing (or a cycle); False: not a local pointer
    reason: str
    cycle: bool = False


def _subschemas(schema: Schema, pointer: str) -> list[tuple[Schema, str]]:
    if not isinstance(schema, dict):
        return []
    found: list[tuple[Schema, str]] = []
    for keyword, value in schema.items():
        here = f"{pointer}/{_escape(keyword)}"
        if keyword in _SCHEMA_MAPS and isinstance(value, dict):
            found.extend((child, f"{here}/{_escape(key)}") for key, child in value.items())
        elif keyword in _SCHEMA_LISTS and isinstance(value, list):
            found.extend((child, f"{here}/{index}") for index, child in enumerate(value))
        elif keyword in _SCHEMA_VALUED and isinstance(value, dict):
            found.append((value, here))
    return found


def _escape(key: str) -> str:
    return key.replace("~", "~0").replace("/", "~1")


def _target(root: Schema, ref: str) -> tuple[bool, Schema]:
    """(found, schema) for a local JSON Pointer reference `#/...`."""
    target = root
    for part in [p for p in ref[1:].split("/") if p]:
        part = part.replace("~1", "/").replace("~0", "~")
        if isinstance(target, dict) and part in target:
            target = target[part]
        elif isinstance(target, list) and part.isdigit() and int(part) < len(target):
            target = target[int(part)]
        else:
            return False, None
    return True, target


def ref_problems(root: Schema) -> list[RefProblem]:
    """Every `$ref` in a schema that regate cannot follow to a schema: remote or relative
    ones (regate fetches nothing), anchors and dynamic references, and local pointers
    to nothing or into a cycle.  Typing such a field as *any* would let every condition
    on it through unchecked."""
    problems: list[RefProblem] = []
    pending: list[tuple[Schema, str]] = [(root, "")]
    while pending:
        schema, pointer = pending.pop()
        pending.extend(_subschemas(schema, pointer))
        if not isinstance(schema, dict):
            continue
        for keyword in ("$dynamicRef", "$recursiveRef"):
            if isinstance(schema.get(keyword), str):
                reason = f"regate does not follow {keyword}"
                problems.append(RefProblem(pointer or "/", keyword, schema[keyword], False, reason))
        ref = schema.get("$ref")
        if isinstance(ref, str):
            problem = _ref_problem(root, ref)
            if problem is not None:
                dangling, reason = problem
                cycle = "cycle" in reason
                problems.append(RefProblem(pointer or "/", "$ref", ref, dangling, reason, cycle))
    return sorted(problems, key=lambda p: p.pointer)


def _ref_problem(root: Schema, ref: str) -> tuple[bool, str] | None:
    if not ref.startswith("#"):
        return False, "regate does not fetch schemas: a reference outside the schema"
    if ref != "#" and not ref.startswith("#/"):
        return False, "regate follows JSON Pointers (#/...), not anchors"
    seen = {ref}
    current = ref
    for _ in range(MAX_REF_CHAIN):
        found, target = _target(root, current)
        if not found:
            where = "it" if current == ref else f"{current}, which it leads to,"
            return True, f"{where} points to nothing in the schema"
        following = target.get("$ref") if isinstance(target, dict) else None
        if not isinstance(following, str) or not following.startswith("#/"):
            return None
        if following in seen:
            return True, "it leads to a cycle of references that never reaches a schema"
        seen.add(following)
        current = following
    return True, f"it leads through more than {MAX_REF_CHAIN} references"
