"""What a request (OPA's `input`) must be, and reading one from a file.

The bundle checks every request itself, so that a sidecar asked directly is as
safe as the command line: `rules` is the data its checks read
(data.regate.request, templates/decision.rego.j2), all of it derived from the
entity model and the program's metadata specifications.  A request that fails
them is decided `deny` with its errors, each `{"code": "RQ0..", "path",
"message"}` (docs/hardening.md, "Requests").

The command line reads a request file with `parse_request`, which refuses what
OPA would read silently or differently (duplicate keys, `NaN`, numbers past the
form below, RG100-RG102), and keeps the text: OPA is handed the very bytes read,
so `regate decide`, `opa eval` and a sidecar decide the same JSON.
"""

from __future__ import annotations

import json
import re
from collections import defaultdict
from dataclasses import dataclass
from typing import Any

from compiler.ast import JsonValue, Program, Span
from compiler.diagnostics import Diagnostic, did_you_mean, error
from compiler.entities import EntityModel
from compiler.limits import (
    MAX_DIMENSION_LENGTH,
    MAX_DIMENSIONS,
    MAX_ERROR_TEXT,
    MAX_NESTING_DEPTH,
    MAX_NUMBER_DIGITS,
    MAX_NUMBER_EXPONENT,
    MAX_REQUEST_ERRORS,
    MAX_REQUEST_SIZE,
    MAX_SHOWN_VALUE,
    NRN_ID,
)
from compiler.validation import Checks, compile_schema

# --- The grammar of what a request holds ---

assert MAX_NUMBER_EXPONENT == 199, "the exponent patterns below are written for 199"
# A number as a request may write it: at most MAX_NUMBER_DIGITS digits before and
# after the point, an exponent within ±199 (at most three digits).
NUMBER = (
    f"-?(?:0|[1-9][0-9]{{0,{MAX_NUMBER_DIGITS - 1}}})(?:\\.[0-9]{{1,{MAX_NUMBER_DIGITS}}})?"
    "(?:[eE][+-]?(?:[0-9]{1,2}|1[0-9]{2}))?"
)
# Where a number breaks that form: a run of more digits, or a longer exponent.  The
# bundle searches a request's JSON for it (strings included, so a hit is only a
# suspicion), then for whole numbers holding it once strings are blanked out.
NUMBER_BEYOND_FORM = f"[0-9]{{{MAX_NUMBER_DIGITS + 1}}}|[eE][+-]?(?:[02-9][0-9]{{2}}|[0-9]{{4}})"
# A whole number holding such a run, in JSON whose strings are blanked out.
NUMBER_TOKEN_BEYOND_FORM = f"-?[-+.0-9eE]*?(?:{NUMBER_BEYOND_FORM})[-+.0-9eE]*"


def nrn_pattern(model: EntityModel) -> str:
    """An NRN: `key=id` segments in the model's order, outermost first, a prefix of it
    (`organization=1:account=2`).  Anchored for Go's RE2 and Python alike."""
    pattern = ""
    for key in reversed(model.nrn_keys[1:]):
        pattern = f"(?::{key}={NRN_ID}{pattern})?"
    return f"^{model.nrn_keys[0]}={NRN_ID}{pattern}$"


# --- data.regate.request: what the bundle's checks read ---


# Keywords that say nothing about validity.
_ANNOTATIONS = frozenset({"description", "title", "$comment", "examples", "default"})


def _type_checks(schema: Any, path: list[str]) -> list[dict[str, Any]] | None:
    """A schema of `type`, `properties` and `additionalProperties` (true, or a schema of
    `type` alone) as flat checks the bundle makes in Rego, `{"path", "types", "each",
    "except"}` (`each`: of every value of the object at `path` but those `except`
    names); None for any other schema, which json.match_schema applies instead.  The
    entity model's attributes are of this kind, and validating them in Rego keeps
    OPA from converting each entity for a JSON Schema validator on every request."""
    if not isinstance(schema, dict) or "type" not in schema:
        return None
    if set(schema) - _ANNOTATIONS - {"type", "properties", "additionalProperties"}:
        return None
    types = schema["type"] if isinstance(schema["type"], list) else [schema["type"]]
    checks: list[dict[str, Any]] = [{"path": path, "types": types, "each": False}]
    properties = schema.get("properties", {})
    for name, property_schema in properties.items():
        found = _type_checks(property_schema, [*path, name])
        if found is None:
            return None
        checks.extend(found)
    others = schema.get("additionalProperties", True)
    if others is not True:
        each = _type_checks(others, path) if isinstance(others, dict) else None
        if each is None or len(each) != 1:
            return None
        checks.append({**each[0], "each": True, "except": sorted(properties)})
    return checks


def _attributes(attributes: dict[str, Any]) -> tuple[dict[str, Any], dict[str, Any] | None]:
    """An entity's attributes as the bundle validates them: for each, its `types`, the
    `checks` below it (paths relative to it) and the `code` a failure is, made in
    Rego, metadata included (an object); and a schema for the attributes they cannot
    express, or None.  Attributes the model does not name are free (nullplatform's
    entities carry more than regate models); the scope's dimensions and the
    metadata documents have checks of their own."""
    shapes: dict[str, dict[str, Any]] = {
        "metadata": {"types": ["object"], "checks": [], "code": "RQ014"}
    }
    others: dict[str, Any] = {}
    for name, schema in attributes.items():
        if name == "dimensions":
            continue
        found = _type_checks(schema, [])
        if found is None:
            others[name] = schema
        else:
            root, *below = found
            shapes[name] = {"types": root["types"], "checks": below, "code": "RQ013"}
    return shapes, {"type": "object", "properties": others} if others else None


# Keywords whose value maps names to schemas, and keywords whose value is data.
_SCHEMA_MAPS = frozenset(
    {"properties", "patternProperties", "$defs", "definitions", "dependentSchemas", "dependencies"}
)
_DATA = frozenset({"enum", "const", "examples", "default", "dependentRequired"})
_DEPENDENT = ("dependentRequired", "dependentSchemas")


def _local(schema: Any) -> Any:
    """A specification's schema as the bundle applies it, with OPA's validator
    (gojsonschema, JSON Schema drafts 4 to 7): without references outside the
    document (OPA would fetch them on every decision; regate's checker reads them as
    unconstrained, and so does this), nor `$id` or `$schema`, which could point a
    local reference or the validator elsewhere; and with the keywords of later
    drafts that draft 7 can say written as draft 7 says them, so they are enforced."""
    if isinstance(schema, list):
        return [_local(item) for item in schema]
    if not isinstance(schema, dict):
        return schema
    reference = schema.get("$ref")
    if isinstance(reference, str) and not reference.startswith("#"):
        return {}
    local: dict[str, Any] = {}
    for keyword, value in schema.items():
        if keyword in ("$id", "$schema"):
            continue
        if keyword in _SCHEMA_MAPS and isinstance(value, dict):
            local[keyword] = {name: _local(item) for name, item in value.items()}
        else:
            local[keyword] = value if keyword in _DATA else _local(value)
    return _as_draft_7(local)


def _as_draft_7(schema: dict[str, Any]) -> dict[str, Any]:
    """`dependentRequired` and `dependentSchemas` (2019-09) are draft 7's
    `dependencies`; `prefixItems`, with `items` for the rest (2020-12), are draft 7's
    array `items` and `additionalItems`."""
    dependent = {
        **schema.get("dependentRequired", {}),
        **schema.get("dependentSchemas", {}),
    }
    if dependent and "dependencies" not in schema:
        schema = {k: v for k, v in schema.items() if k not in _DEPENDENT}
        schema["dependencies"] = dependent
    prefix = schema.get("prefixItems")
    if isinstance(prefix, list) and "additionalItems" not in schema:
        rest = schema.get("items")
        schema = {k: v for k, v in schema.items() if k not in ("prefixItems", "items")}
        schema["items"] = prefix
        if rest is not None:
            schema["additionalItems"] = rest
    return schema


@dataclass(frozen=True)
class RequestChecks:
    """What templates/request.rego.j2 writes out as Rego (compiler/validation.py): each
    entity's attributes (the dimensions apart, metadata an object), and each metadata
    specification's schema that compiles, by the number its `fits` names; and, as JSON
    text for OPA's validator, each entity whose attributes do not compile (an entity
    block's attribute with a keyword outside compiler/validation.py's subset)."""

    entities: tuple[tuple[str, Checks], ...]
    schemas: tuple[tuple[int, Checks], ...]
    validated: tuple[tuple[str, str], ...] = ()


def entity_schema(attributes: dict[str, Any]) -> dict[str, Any]:
    """An entity's attributes as one schema: the model's, with metadata an object; the
    dimensions have checks of their own (limits, RQ011/RQ012)."""
    properties = {name: schema for name, schema in attributes.items() if name != "dimensions"}
    return {"type": "object", "properties": {**properties, "metadata": {"type": "object"}}}


def checks(rules: dict[str, Any], model: EntityModel) -> RequestChecks:
    """The compiled checks of `rules` (data.regate.request.rules, from `rules`)."""
    entities = []
    validated = []
    for entity, attributes in sorted(model.attributes.items()):
        compiled = compile_schema(entity_schema(attributes))
        if compiled is None:
            validated.append((entity, rules["validated_entities"][entity]))
        else:
            entities.append((entity, compiled))
    schemas: dict[int, Checks] = {}
    for specification in rules["specifications"]:
        if "fits" in specification and specification["fits"] not in schemas:
            compiled = compile_schema(json.loads(specification["schema"]))
            assert compiled is not None
            schemas[specification["fits"]] = compiled
    return RequestChecks(tuple(entities), tuple(sorted(schemas.items())), tuple(validated))


def rules(program: Program, model: EntityModel) -> dict[str, JsonValue]:
    """data.regate.request: the actions a request may name (and the entities each
    needs), the NRN grammar, each entity's attributes, the metadata specifications
    (`fits`: the number of its schema's compiled checks, when it compiles) and the
    position of each in that list by NRN, entity and key, and the limits."""
    attributes = {entity: _attributes(found) for entity, found in sorted(model.attributes.items())}
    specifications: list[JsonValue] = []
    at: dict[str, dict[str, dict[str, JsonValue]]] = defaultdict(lambda: defaultdict(dict))
    compiled: dict[str, int] = {}  # schema text → its number, for those that compile
    for specification in program.specifications:
        if specification.entity in model.attributes:
            local = _local(specification.schema)
            # As JSON text: OPA's json.match_schema reads it without converting
            # a Rego value on every decision.
            text = json.dumps(local, sort_keys=True)
            if text not in compiled and compile_schema(local) is not None:
                compiled[text] = len(compiled) + 1
            nrn = specification.nrn.text
            at[nrn][specification.entity][specification.metadata] = len(specifications)
            specifications.append(
                {
                    "name": specification.name,
                    "nrn": nrn,
                    "schema": text,
                    **({"fits": compiled[text]} if text in compiled else {}),
                }
            )
    return {
        "actions": {
            action: {
                "requires": list(model.required_entities(action)),
                "dimensions": model.dimensions_from(action),
            }
            for action in sorted(model.actions)
        },
        "nrn": nrn_pattern(model),
        "entities": {entity: checks for entity, (checks, _) in attributes.items()},
        # The entities some of whose attributes only a JSON Schema can check.
        "entity_schemas": {
            entity: schema for entity, (_, schema) in attributes.items() if schema is not None
        },
        # The entities whose attributes the checks cannot write out, as JSON text for
        # OPA's validator: data, not a literal of request.rego's `_entity_fits`.
        "validated_entities": {
            entity: json.dumps(schema, sort_keys=True)
            for entity, found in sorted(model.attributes.items())
            if compile_schema(schema := entity_schema(found)) is None
        },
        "specifications": specifications,
        # A position in `specifications`, not the specification: a deeper NRN's
        # replaces a shallower one's whole when the bundle merges them (object.union_n).
        "specifications_at": {
            nrn: {entity: dict(by_key) for entity, by_key in by_entity.items()}
            for nrn, by_entity in at.items()
        },
        "nrn_keys": list(model.nrn_keys),
        "number_beyond_form": NUMBER_BEYOND_FORM,
        "number_token_beyond_form": NUMBER_TOKEN_BEYOND_FORM,
        "limits": {
            "size": MAX_REQUEST_SIZE,
            "dimensions": MAX_DIMENSIONS,
            "dimension_length": MAX_DIMENSION_LENGTH,
            "errors": MAX_REQUEST_ERRORS,
            "shown": MAX_SHOWN_VALUE,
            "number_digits": MAX_NUMBER_DIGITS,
            "number_exponent": MAX_NUMBER_EXPONENT,
            "text": MAX_ERROR_TEXT,
        },
    }


# --- Reading a request file ---


@dataclass(frozen=True)
class RequestDocument:
    """A request as read: its text, handed to OPA as it is, and its value."""

    text: str
    value: JsonValue


def request_json(request: Any) -> str:
    """The JSON OPA is handed: a document's own text, or a value built here."""
    if isinstance(request, RequestDocument):
        return request.text
    return json.dumps(request, allow_nan=False)


# Strings (whole, escapes included), brackets, and number-like words: what locating
# a fault needs, in one left-to-right pass.
_TOKENS = re.compile(
    r'"(?:[^"\\]|\\.)*"(?P<colon>\s*:)?|(?P<bracket>[\[\]{}])'
    r"|(?P<number>-?(?:[0-9]|Infinity)[-+.0-9eE]*|NaN|Infinity)"
)
_NUMBER = re.compile(NUMBER)


class _Faults:
    """What json.loads' hooks noticed: the value is read, its location found later."""

    def __init__(self) -> None:
        self.duplicate = False
        self.number = False

    def pairs(self, pairs: list[tuple[str, Any]]) -> dict[str, Any]:
        value = dict(pairs)
        self.duplicate |= len(value) < len(pairs)
        return value

    def on_integer(self, text: str) -> int:
        # Checked before converting: Python refuses to convert 4300 digits or more.
        if _NUMBER.fullmatch(text) is None:
            self.number = True
            return 0
        return int(text)

    def on_float(self, text: str) -> float:
        self.number |= _NUMBER.fullmatch(text) is None
        return float(text)

    def on_constant(self, text: str) -> float:
        self.number = True
        return 0.0


def _position(text: str, offset: int) -> tuple[int, int]:
    line = text.count("\n", 0, offset) + 1
    return line, offset - (text.rfind("\n", 0, offset) + 1) + 1


def _span(shown: str, text: str, offset: int, length: int) -> Span:
    line, col = _position(text, offset)
    return Span(shown, line, col, line, col + max(length, 1))


def _too_deep(text: str, shown: str) -> Diagnostic | None:
    """RG023 at the first bracket past MAX_NESTING_DEPTH (json.loads would recurse)."""
    depth = 0
    for token in _TOKENS.finditer(text):
        bracket = token.group("bracket")
        if bracket is None:
            continue
        depth += 1 if bracket in "[{" else -1
        if depth > MAX_NESTING_DEPTH:
            return error(
                "RG023",
                _span(shown, text, token.start(), 1),
                f"the request nests deeper than {MAX_NESTING_DEPTH} levels",
            )
    return None


def _located_faults(text: str, shown: str) -> list[Diagnostic]:
    """Every duplicate key and every number past the form, where it is written."""
    found: list[Diagnostic] = []
    keys: list[set[str]] = []  # the keys seen in each open object, innermost last
    for token in _TOKENS.finditer(text):
        bracket, number = token.group("bracket"), token.group("number")
        if bracket in ("{", "["):
            keys.append(set())
        elif bracket in ("}", "]"):
            keys.pop()
        elif number is not None and not _NUMBER.fullmatch(number):
            found.append(
                error(
                    "RG101",
                    _span(shown, text, token.start(), len(number)),
                    f"the number {_shown(number)} is not one a request may hold",
                    help=f"write numbers with at most {MAX_NUMBER_DIGITS} digits before "
                    f"and after the point and an exponent within ±{MAX_NUMBER_EXPONENT}: "
                    "JSON tools that read 64-bit floats would read it as infinity, zero "
                    "or not at all",
                )
            )
        elif token.group("colon") and keys:
            key_text = token.group(0)[: token.start("colon") - token.start()]
            key = json.loads(key_text)
            if key in keys[-1]:
                found.append(
                    error(
                        "RG100",
                        _span(shown, text, token.start(), len(key_text)),
                        f"the key {_shown(key_text)} is given twice in one object",
                        help="OPA keeps the last one silently; give each key once",
                    )
                )
            keys[-1].add(key)
    return found


def _shown(text: str) -> str:
    return text if len(text) <= MAX_SHOWN_VALUE else text[: MAX_SHOWN_VALUE - 3] + "..."


def too_large(shown: str, size: int | None) -> Diagnostic:
    """RG102; `size` None when reading stopped past the limit."""
    measured = f"{size} bytes" if size is not None else f"more than {MAX_REQUEST_SIZE} bytes"
    return error(
        "RG102",
        Span(shown, 1, 1, 1, 1),
        f"the request is {measured}: too large",
        help=f"a request is at most {MAX_REQUEST_SIZE} bytes; a sidecar configured as "
        "docs/ci/opa-config.yaml refuses a larger one, and the bundle denies it (RQ018)",
    )


def parse_request(text: str, shown: str) -> RequestDocument | list[Diagnostic]:
    """A request file's text → the document, or located diagnostics: RG102 too large,
    RG023 nested too deeply, RG002 not JSON, RG100 a duplicate key, RG101 a number
    past the form (`1e400`, `NaN`, `Infinity`)."""
    size = len(text.encode("utf-8", "surrogatepass"))
    if size > MAX_REQUEST_SIZE:
        return [too_large(shown, size)]
    deep = _too_deep(text, shown)
    if deep is not None:
        return [deep]
    faults = _Faults()
    try:
        value = json.loads(
            text,
            object_pairs_hook=faults.pairs,
            parse_int=faults.on_integer,
            parse_float=faults.on_float,
            parse_constant=faults.on_constant,
        )
    except json.JSONDecodeError as exc:
        span = Span(shown, exc.lineno, exc.colno, exc.lineno, exc.colno + 1)
        return [error("RG002", span, f"the request is not valid JSON: {exc.msg}")]
    if faults.duplicate or faults.number:
        return _located_faults(text, shown)
    return RequestDocument(text, value)


# --- Telling a person what is wrong with an NRN or why nothing matched (`regate gate`) ---


def nrn_fault(nrn: str, model: EntityModel) -> tuple[int, int, str] | None:
    """Where an NRN breaks the grammar and why, as (offset, length, reason); None when
    it is one.  The bundle says only that it is not; a person needs the segment."""
    if re.fullmatch(nrn_pattern(model)[1:-1], nrn):
        return None
    if not nrn:
        return 0, 1, "the NRN is empty"
    space = re.search(r"\s", nrn)
    if space:
        return space.start(), 1, "whitespace is not part of an NRN"
    offset = 0
    for index, segment in enumerate(nrn.split(":")):
        key, equals, value = segment.partition("=")
        expected = model.nrn_keys[index] if index < len(model.nrn_keys) else None
        if expected is None:
            return offset, len(nrn) - offset, f"an NRN ends at {model.nrn_keys[-1]}"
        if not segment:
            return offset, 1, "an empty segment: segments are joined by a single ':'"
        if key != expected:
            known = f"an NRN's keys go {' > '.join(model.nrn_keys)}"
            return offset, len(key) or 1, f'expected "{expected}" here, not "{key}": {known}'
        if not equals or not re.fullmatch(NRN_ID, value):
            return (
                offset + len(key) + 1,
                len(value) or 1,
                f"the {key} id is {json.dumps(value)}; ids are positive integers without "
                "leading zeros",
            )
        offset += len(segment) + 1
    return len(nrn), 1, "the NRN ends here"


def unmatched_help(
    action: str, nrn: str, dimensions: dict[str, str], catalog: dict[str, Any]
) -> str:
    """Why no approval action of a bundle's catalog (by action and NRN, compiler/catalog.py)
    applies to a request, and what does exist nearest to it."""
    by_nrn: dict[str, list[dict[str, Any]]] = catalog.get(action, {})
    if not by_nrn:
        names = sorted(catalog)
        close = did_you_mean(action, names)
        listed = ", ".join(names) if names else "none"
        return f"the bundle has no {action} action (it has {listed}){'; ' + close if close else ''}"
    above = {at: entries for at, entries in by_nrn.items() if _covers(at, nrn)}
    if not above:
        listed = ", ".join(sorted(by_nrn))
        close = did_you_mean(nrn, by_nrn)
        return f"the bundle's {action} actions are at {listed}" + (f"; {close}" if close else "")
    needs = []
    for entries in above.values():
        for entry in entries:
            wanted = ", ".join(f"{k}={v}" for k, v in sorted(entry["dimensions"].items()))
            needs.append(f"{entry['id']} needs {wanted}")
    keys = {key for entries in above.values() for e in entries for key in e["dimensions"]}
    missing = sorted(keys - set(dimensions))
    hint = f"; give --dimension {missing[0]}=..." if missing else ""
    return f"at {nrn}, {'; '.join(sorted(needs))}{hint}"


def _covers(ancestor: str, nrn: str) -> bool:
    return nrn == ancestor or nrn.startswith(ancestor + ":")
