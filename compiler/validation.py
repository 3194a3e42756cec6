"""JSON Schemas a request's documents must fit, as Rego the bundle runs directly.

OPA's `json.match_schema` compiles its schema on every call: for the few documents
of a request, that is most of what validating a good request costs
(docs/performance.md).  A schema made only of the keywords below is written out
as Rego instead (templates/request.rego.j2, `_fits`): a tree of checks, one per
value, that holds exactly where OPA's validator (gojsonschema) finds no fault.
Any other schema is left to `json.match_schema`.  Either way, what is wrong with a
document that does not fit is said by `json.match_schema`'s own faults: the
compiled checks only decide, fast, that a good request is good.

Supported: `type` (one type, or several with no keyword that depends on the type),
`enum` (of strings, booleans, null and integers within ±2^53), `minimum`,
`maximum`, `minLength`, `maxLength`, `minItems`, `maxItems`, `minProperties`,
`maxProperties`, `properties`, `required`, `additionalProperties` (a boolean or a
schema), `items` (one schema) and `$ref` to the schema's own `$defs` or
`definitions` (written out in place, alone beside annotations, as draft 7 reads it;
never recursive); annotations are ignored.  A keyword that only
applies to one type (`minimum` to numbers) needs `type` to be that type alone, so
that the check never has to ask which type a value is.

An optional property that is absent is read as a *witness*: a value its schema
accepts (Python's jsonschema checks it), so that the same checks hold for it
without a branch (`object.get(value, "lines", 0)`).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import jsonschema

from compiler.ast import JsonValue

JSON_TYPES = ("object", "array", "string", "number", "integer", "boolean", "null")
ANNOTATIONS = frozenset(
    {"title", "description", "$comment", "examples", "default", "deprecated", "readOnly"}
)
# Keywords that constrain values of one type only, and that type.
TYPED = {
    "minimum": "number",
    "maximum": "number",
    "minLength": "string",
    "maxLength": "string",
    "minItems": "array",
    "maxItems": "array",
    "items": "array",
    "minProperties": "object",
    "maxProperties": "object",
    "properties": "object",
    "required": "object",
    "additionalProperties": "object",
}
SUPPORTED = frozenset({"type", "enum", *TYPED}) | ANNOTATIONS
MAX_EXACT = 2**53
# `$ref`s written out in place: how deep they may nest, how many in all (a schema
# that references a definition many times at many levels would multiply).
MAX_REF_DEPTH = 8
MAX_REFS = 1_000


@dataclass(frozen=True)
class Bound:
    """`<function>(value) <operator> <limit>`: `count` or the value itself (`function` "")."""

    function: str
    operator: str
    limit: int | float


@dataclass(frozen=True)
class Property:
    """A named property's checks: read as `value.name` when it is required, else with
    `object.get` and its witness."""

    name: str
    required: bool
    witness: JsonValue
    checks: Checks


@dataclass(frozen=True)
class Checks:
    """What one value (the Rego variable `variable`) must be."""

    variable: str
    types: tuple[str, ...] = ()  # JSON Schema types, any of them; () for any type
    enum: tuple[JsonValue, ...] | None = None
    bounds: tuple[Bound, ...] = ()
    present: tuple[str, ...] = ()  # required properties without checks of their own
    properties: tuple[Property, ...] = ()
    declared: tuple[str, ...] = ()  # every property `properties` names, checked or not
    # additionalProperties: false (`closed`: no other name), or a schema (`others`).
    closed: bool = False
    others: Checks | None = None
    items: Checks | None = None

    @property
    def empty(self) -> bool:
        return not (
            self.types
            or self.enum is not None
            or self.bounds
            or self.present
            or self.properties
            or self.closed
        ) and (self.others, self.items) == (None, None)

    @property
    def type_test(self) -> str | None:
        """The one type test its types need, or None when several types are allowed."""
        if len(self.types) != 1:
            return None
        return {"number": "is_number", "integer": "is_number"}.get(
            self.types[0], f"is_{self.types[0]}"
        )


class NotCompiled(Exception):
    """A schema (or a part of it) outside the subset: json.match_schema applies it."""


class _Variables:
    def __init__(self) -> None:
        self.count = 0

    def next(self) -> str:
        self.count += 1
        return f"value_{self.count}"


def compile_schema(schema: Any) -> Checks | None:
    """The checks of a whole schema, on the variable `value`; None outside the subset."""
    try:
        return _checks(_without_refs(schema), "value", _Variables())
    except NotCompiled:
        return None


def _without_refs(schema: Any) -> Any:
    """The schema with each `$ref` to its own definitions written out in place, and
    the definitions dropped (they validate nothing by themselves).  Compiling Rego
    for it keeps a bundle off `json.match_schema` (which rego-cpp lacks:
    docs/portability.md) for the common shared-definition schemas."""
    if not isinstance(schema, dict):
        return schema
    definitions = {
        f"#/{key}/{name}": target
        for key in ("$defs", "definitions")
        if isinstance(schema.get(key), dict)
        for name, target in schema[key].items()
    }
    written = [0]

    def inline(node: Any, depth: int) -> Any:
        if not isinstance(node, dict):
            return node
        if "$ref" in node:
            target = definitions.get(node["$ref"]) if isinstance(node["$ref"], str) else None
            written[0] += 1
            if (
                target is None
                or set(node) - {"$ref"} - ANNOTATIONS
                or depth >= MAX_REF_DEPTH
                or written[0] > MAX_REFS
            ):
                raise NotCompiled
            return inline(target, depth + 1)
        inlined = dict(node)
        if isinstance(node.get("properties"), dict):
            inlined["properties"] = {k: inline(v, depth) for k, v in node["properties"].items()}
        for keyword in ("additionalProperties", "items"):
            if isinstance(node.get(keyword), dict):
                inlined[keyword] = inline(node[keyword], depth)
        return inlined

    return inline({k: v for k, v in schema.items() if k not in ("$defs", "definitions")}, 0)


def _enum_member(value: Any) -> bool:
    if isinstance(value, bool) or value is None or isinstance(value, str):
        return True
    return isinstance(value, int) and abs(value) < MAX_EXACT


def _number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def _count(value: Any) -> int:
    if isinstance(value, int) and not isinstance(value, bool) and value >= 0:
        return value
    raise NotCompiled


def _checks(schema: Any, variable: str, names: _Variables) -> Checks:
    if not isinstance(schema, dict) or set(schema) - SUPPORTED:
        raise NotCompiled
    written = schema.get("type")
    types = (written,) if isinstance(written, str) else tuple(written or ())
    if not all(isinstance(t, str) and t in JSON_TYPES for t in types) or len(set(types)) < len(
        types
    ):
        raise NotCompiled
    if len(types) > 1 and "integer" in types:  # an integer is a number of one kind
        raise NotCompiled
    for keyword, needs in TYPED.items():
        if keyword in schema and (
            len(types) != 1 or (types[0] != needs and {types[0], needs} != {"integer", "number"})
        ):
            raise NotCompiled
    enum = schema.get("enum")
    if enum is not None and (
        not isinstance(enum, list) or not enum or not all(map(_enum_member, enum))
    ):
        raise NotCompiled
    bounds = []
    for keyword, function, operator in (
        ("minimum", "", ">="),
        ("maximum", "", "<="),
        ("minLength", "count", ">="),
        ("maxLength", "count", "<="),
        ("minItems", "count", ">="),
        ("maxItems", "count", "<="),
        ("minProperties", "count", ">="),
        ("maxProperties", "count", "<="),
    ):
        if keyword in schema:
            limit = schema[keyword]
            if function:
                limit = _count(limit)
            elif not _number(limit) or (isinstance(limit, int) and abs(limit) >= MAX_EXACT):
                raise NotCompiled
            bounds.append(Bound(function, operator, limit))
    required = schema.get("required", [])
    if not isinstance(required, list) or not all(isinstance(r, str) for r in required):
        raise NotCompiled
    written_properties = schema.get("properties", {})
    if not isinstance(written_properties, dict):
        raise NotCompiled
    properties: list[Property] = []
    present = [name for name in dict.fromkeys(required) if name not in written_properties]
    for name, subschema in written_properties.items():
        checks = _checks(subschema, names.next(), names)
        if checks.empty:
            if name in required:
                present.append(name)
            continue
        witness = None if name in required else _witness(subschema)
        properties.append(Property(name, name in required, witness, checks))
    closed, others = False, None
    additional = schema.get("additionalProperties", True)
    if additional is False:
        closed = True
    elif isinstance(additional, dict):
        others = _checks(additional, names.next(), names)
        others = None if others.empty else others
    elif additional is not True:
        raise NotCompiled
    items = None
    if "items" in schema:
        items = _checks(schema["items"], names.next(), names)
        items = None if items.empty else items
    return Checks(
        variable,
        types,
        tuple(enum) if enum is not None else None,
        tuple(bounds),
        tuple(present),
        tuple(properties),
        tuple(written_properties),
        closed,
        others,
        items,
    )


def _witness(schema: dict[str, Any]) -> JsonValue:
    """A value the schema accepts, as JSON Schema (draft 7) reads it."""
    validator = jsonschema.Draft7Validator(schema)
    for candidate in _candidates(schema):
        if validator.is_valid(candidate):
            return candidate
    raise NotCompiled


def _candidates(schema: dict[str, Any]) -> list[JsonValue]:
    found: list[JsonValue] = list(schema.get("enum", []))
    written = schema.get("type")
    types = [written] if isinstance(written, str) else list(written or [])
    for type_ in types:
        if type_ == "object":
            found.append(
                {
                    name: _witness(schema.get("properties", {}).get(name, {}))
                    for name in schema.get("required", [])
                }
            )
        elif type_ == "array":
            item = _witness(schema["items"]) if isinstance(schema.get("items"), dict) else None
            found.append([item] * schema.get("minItems", 0))
        elif type_ == "string":
            found.append("a" * schema.get("minLength", 0))
        elif type_ in ("number", "integer"):
            low, high = schema.get("minimum"), schema.get("maximum")
            if low is not None:
                found.append(-(-low // 1) if type_ == "integer" else low)
            elif high is not None:
                found.append(high // 1 if type_ == "integer" else high)
            else:
                found.append(0)
        elif type_ == "boolean":
            found.append(False)
        else:
            found.append(None)
    if not types:
        found.append(None)
    return found
