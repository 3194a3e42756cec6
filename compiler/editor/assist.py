"""Completion, hover, go to definition and symbols over a tolerant scan of the text and
the source directory's model.  Results are plain values with text offsets; the language
server (compiler/editor/lsp.py) turns them into LSP messages."""

from __future__ import annotations

import json
from dataclasses import dataclass, replace
from typing import Literal

from compiler.ast import Policy, Span
from compiler.check import field_conditions
from compiler.editor.model import FieldInfo, Location, Model, constraints, description, type_text
from compiler.editor.scan import Cursor, Frame, Scan

# What each MongoDB operator means, and the value types it applies to (None: any), as
# the checker holds them (docs/checker.md, docs/semantics.md).
ORDERED = frozenset({"number", "integer", "string"})
NUMBERS = frozenset({"number", "integer"})
ARRAYS = frozenset({"array"})
OPERATORS: dict[str, tuple[str, frozenset[str] | None]] = {
    "$eq": ("matches values equal to the operand (an array matches when an item does)", None),
    "$ne": ("matches values not equal to the operand, and documents without the field", None),
    "$gt": ("matches values greater than the operand (numbers or strings)", ORDERED),
    "$gte": ("matches values greater than or equal to the operand (numbers or strings)", ORDERED),
    "$lt": ("matches values less than the operand (numbers or strings)", ORDERED),
    "$lte": ("matches values less than or equal to the operand (numbers or strings)", ORDERED),
    "$in": ("matches any of the values in an array", None),
    "$nin": ("matches none of the values in an array, and documents without the field", None),
    "$exists": ("true: the field is present (even if null); false: it is absent", None),
    "$type": (
        'matches values of a BSON type: "double", "int", "long", "string", "object", '
        '"array", "bool", "null" or "number"',
        None,
    ),
    "$not": ("inverts the operators inside it; also matches documents without the field", None),
    "$regex": (
        "matches strings against a regular expression (RE2; `$options`: i, m, s, x)",
        frozenset({"string"}),
    ),
    "$mod": (
        "[divisor, remainder]: matches numbers with that remainder (truncated to integers)",
        NUMBERS,
    ),
    "$size": ("matches arrays of exactly this many elements", ARRAYS),
    "$elemMatch": (
        "matches arrays with at least one element satisfying every condition inside",
        ARRAYS,
    ),
    "$all": ("matches arrays containing every listed value", ARRAYS),
}
LOGICAL = {
    "$and": "every clause in the array holds",
    "$or": "at least one clause in the array holds",
    "$nor": "no clause in the array holds",
}
OPERATORS_ON_ITEMS = frozenset({"$size", "$elemMatch", "$all"})
OUTCOMES = {
    "on_policy_success": ("approve", "manual"),
    "on_policy_fail": ("manual", "deny"),
    "expect": ("approve", "manual", "deny"),
    "enforcement": ("enforce", "audit"),
}
BLOCKS = ("specification", "policy", "action", "checklist", "waiver", "exception", "entity", "test")
# Which values of a block or payload name policies.
POLICY_LISTS = {("action", "policies"), ("test", "failing"), ("waiver", "policy")}

ItemKind = Literal["field", "operator", "entity", "action", "policy", "value", "keyword"]


@dataclass(frozen=True)
class Completion:
    label: str
    kind: ItemKind
    detail: str
    documentation: str
    insert: str
    replace: tuple[int, int]  # the offsets the insertion replaces


@dataclass(frozen=True)
class Hover:
    markdown: str
    span: tuple[int, int]


@dataclass(frozen=True)
class Symbol:
    name: str
    kind: str  # block kind
    detail: str
    span: tuple[int, int]
    selection: tuple[int, int]


# --- where the cursor stands, in the language's terms ---


@dataclass(frozen=True)
class Place:
    """`query`: at a key of a query document (a path, or $and/$or/$nor); `operators`: at a
    key of a path's operator document; `element`: inside an $elemMatch (a relative path
    or an operator); `policy`: a value naming a policy; `entity`, `action`, `outcome`:
    other values; `attribute`, `block`: names in a .rg file; `none`: nothing to offer."""

    kind: str
    path: str = ""  # the path of an operator document, or the prefix below $elemMatch
    policy: str | None = None  # the enclosing policy's name
    nrn: str | None = None  # the enclosing declaration's own NRN
    declaration: str | None = None  # block kind or payload kind
    key: str | None = None


def _declaration(frame: Frame | None) -> tuple[str | None, Frame | None]:
    """The kind of declaration a frame is: a block's kind, or a payload judged by its keys
    as the parser judges it (compiler/parse.py, payload_kind)."""
    if frame is None:
        return None, None
    if frame.kind == "block":
        return frame.block, frame
    keys = set(frame.members) | {c.key for c in frame.children if c.key}
    if "conditions" in keys:
        return "policy", frame
    if "schema" in keys and "entity" in keys:
        return "specification", frame
    if "action" in keys and "entity" in keys:
        return "action", frame
    return None, frame


def _name(frame: Frame | None) -> str | None:
    if frame is None:
        return None
    if frame.kind == "block":
        return frame.label.value if frame.label is not None else None
    token = frame.members.get("name")
    return token.value if token is not None else None


def place(scan: Scan, cursor: Cursor) -> Place:
    frames = cursor.frames
    if not frames:
        return Place("block" if cursor.role == "block" else "none")
    # The declaration: the outermost block, or the payload object (top, or in a top array).
    outer = frames[0]
    payload = outer if outer.kind != "array" else (frames[1] if len(frames) > 1 else None)
    kind, declaration = _declaration(payload)
    policy = _name(declaration) if kind == "policy" else None
    nrn_token = declaration.members.get("nrn") if declaration is not None else None
    nrn = nrn_token.value if nrn_token is not None else None
    base = Place("none", policy=policy, nrn=nrn, declaration=kind)
    if cursor.role == "attribute":
        return replace(base, kind="attribute")
    inside = frames[frames.index(declaration) + 1 :] if declaration in frames else []
    if kind == "policy" and inside and inside[0].key == "conditions":
        return _in_conditions(inside, cursor, base)
    if cursor.role == "value" and len(inside) <= 1:
        key = cursor.key
        if (kind, key) in POLICY_LISTS:
            return replace(base, kind="policy", key=key)
        if key == "entity":
            return replace(base, kind="entity", key=key)
        if key == "action" and kind in ("action", "test"):
            return replace(base, kind="action", key=key)
        if key in OUTCOMES:
            return replace(base, kind="outcome", key=key)
    return base


def _in_conditions(inside: list[Frame], cursor: Cursor, base: Place) -> Place:
    """Walk the conditions' frames: query documents, $and/$or/$nor arrays, operator
    documents (with $not and $elemMatch inside them)."""
    mode, path, prefix = "query", "", ""
    for frame in inside[1:]:
        key = frame.key
        if mode in ("query", "element") and frame.kind == "array" and key in LOGICAL:
            mode = "clauses"
        elif mode == "clauses" and frame.kind == "object":
            mode = "query" if not prefix else "element"
        elif mode in ("query", "element") and key and not key.startswith("$"):
            mode, path = "operators", f"{prefix}.{key}" if prefix else key
        elif mode in ("operators", "element") and key == "$not":
            mode = "operators"
        elif mode in ("operators", "element") and key == "$elemMatch":
            mode, prefix = "element", path
        elif mode == "operators" and key == "$all" and frame.kind == "array":
            mode = "all"
        elif mode == "all" and frame.kind == "object":
            mode = "operators"  # {$all: [{$elemMatch: ...}]}
        else:
            return base
    if cursor.role != "key" or mode == "clauses":
        return base
    return replace(base, kind=mode, path=path or prefix)


# --- completion ---


def complete(scan: Scan, cursor: Cursor, model: Model | None) -> list[Completion]:
    where = place(scan, cursor)
    token = cursor.token
    typed = cursor.typed()
    in_string = token is not None and token.kind == "string"
    start = cursor.offset - len(typed)
    if where.kind == "block":
        return [_word(b, "keyword", "block", start, cursor.offset) for b in BLOCKS]
    if model is None:
        return []
    if where.kind in ("query", "element"):
        found = _path_items(model, where, typed, in_string, cursor.offset)
        if not typed.count("."):
            found += [
                _keyed(op, "operator", "logical", meaning, start, cursor.offset, in_string)
                for op, meaning in LOGICAL.items()
                if where.kind == "query"
            ]
        if where.kind == "element":
            found += _operator_items(model, where, start, cursor.offset, in_string)
        return found
    if where.kind == "operators":
        return _operator_items(model, where, start, cursor.offset, in_string)
    # Entities and outcomes are bare words in .rg files; every other value is a JSON string.
    bare = in_string or (not scan.is_json and where.kind in ("entity", "outcome"))
    end = cursor.offset
    if where.kind == "policy":
        return [
            _keyed(
                name,
                "policy",
                f"policy at {p.nrn.text}",
                _policy_markdown(model, p),
                start,
                end,
                bare,
            )
            for name, p in sorted(model.policies.items())
        ]
    if where.kind == "entity":
        return [
            _keyed(e, "entity", "entity", "", start, end, bare) for e in model.entities.entities
        ]
    if where.kind == "action":
        return [
            _keyed(a, "action", "approval action", "sees " + ", ".join(seen), start, end, bare)
            for a, seen in model.entities.actions.items()
        ]
    if where.kind == "outcome" and where.key is not None:
        return [_keyed(v, "value", where.key, "", start, end, bare) for v in OUTCOMES[where.key]]
    return []


def _word(label: str, kind: ItemKind, detail: str, start: int, end: int) -> Completion:
    return Completion(label, kind, detail, "", label, (start, end))


def _keyed(
    label: str, kind: ItemKind, detail: str, documentation: str, start: int, end: int, bare: bool
) -> Completion:
    """An item inserted as it is (in the string being typed, or a bare word), or as a
    whole JSON string."""
    insert = label if bare else json.dumps(label, ensure_ascii=False)
    return Completion(label, kind, detail, documentation, insert, (start, end))


def _path_items(
    model: Model, where: Place, typed: str, in_string: bool, offset: int
) -> list[Completion]:
    segments = typed.split(".")
    done, partial = segments[:-1], segments[-1]
    contexts = model.contexts(where.policy, where.nrn)
    base = tuple(where.path.split(".")) if where.kind == "element" and where.path else ()
    start = offset - len(partial)
    if not base and not done:
        visible = model.visible_entities(where.policy)
        return [_keyed(e, "entity", "entity", "", start, offset, in_string) for e in visible]
    items = []
    for name, infos in model.children((*base, *done), contexts).items():
        detail = " | ".join(dict.fromkeys(i.types for i in infos))
        items.append(
            _keyed(name, "field", detail, _field_markdown(infos), start, offset, in_string)
        )
    return items


def _operator_items(
    model: Model, where: Place, start: int, end: int, in_string: bool
) -> list[Completion]:
    infos = (
        model.fields(tuple(where.path.split(".")), model.contexts(where.policy, where.nrn))
        if where.path
        else []
    )
    offered = _offered_types(infos)
    found = []
    for operator, (meaning, applies) in OPERATORS.items():
        own = _own_types(infos) if operator in OPERATORS_ON_ITEMS else offered
        if applies is None or own is None or own & applies:
            found.append(
                _keyed(operator, "operator", "MongoDB operator", meaning, start, end, in_string)
            )
    return found


def _own_types(infos: list[FieldInfo]) -> frozenset[str] | None:
    types: set[str] = set()
    for info in infos:
        if info.resolved.types is None:
            return None
        types |= info.resolved.types
        if info.resolved.through_array:
            types.add("array")
    return frozenset(types) if infos else None


def _offered_types(infos: list[FieldInfo]) -> frozenset[str] | None:
    types: set[str] = set()
    for info in infos:
        offered = info.resolved.element_types
        if offered is None:
            return None
        types |= offered
    return frozenset(types) if infos else None


# --- hover and definition ---


def _segment_at(text: str, relative: int) -> int:
    """The index of the dotted segment that character `relative` of `text` is in."""
    return text[: max(relative, 0)].count(".")


def _hovered_path(cursor: Cursor, where: Place) -> tuple[str, ...] | None:
    token = cursor.token
    if token is None or where.kind not in ("query", "element") or token.value.startswith("$"):
        return None
    segments = token.value.split(".")
    index = min(_segment_at(token.value, cursor.offset - token.start - 1), len(segments) - 1)
    base = tuple(where.path.split(".")) if where.kind == "element" and where.path else ()
    return (*base, *segments[: index + 1])


def _policy_named(cursor: Cursor, where: Place, model: Model) -> Policy | None:
    token = cursor.token
    if token is None:
        return None
    return model.policies.get(token.value) if where.kind == "policy" else None


def hover(scan: Scan, cursor: Cursor, model: Model | None) -> Hover | None:
    token = cursor.token
    if token is None or model is None:
        return None
    where = place(scan, cursor)
    span = (token.start, token.end)
    label_of = _label_policy(scan, cursor, model)
    if label_of is not None:
        return Hover(_policy_markdown(model, label_of), span)
    path = _hovered_path(cursor, where)
    if path is not None:
        infos = model.fields(path, model.contexts(where.policy, where.nrn))
        if not infos:
            return Hover(f"`{'.'.join(path)}`: unknown path (see `regate check`)", span)
        return Hover(f"`{'.'.join(path)}`\n\n" + _field_markdown(infos), span)
    if where.kind in ("query", "operators", "element") and token.value in {**OPERATORS, **LOGICAL}:
        meaning = OPERATORS[token.value][0] if token.value in OPERATORS else LOGICAL[token.value]
        return Hover(f"**{token.value}** (MongoDB): {meaning}", span)
    policy = _policy_named(cursor, where, model)
    if policy is not None:
        return Hover(_policy_markdown(model, policy), span)
    return None


def _label_policy(scan: Scan, cursor: Cursor, model: Model) -> Policy | None:
    """The policy whose own name is under the cursor (a block label, a payload's name)."""
    token = cursor.token
    if token is None:
        return None
    for frame in scan.frames:
        if frame.label is token and frame.block == "policy":
            return model.policies.get(token.value)
        if frame.members.get("name") is token and "nrn" in frame.members:
            return model.policies.get(token.value)
    return None


def definition(scan: Scan, cursor: Cursor, model: Model | None) -> list[Location]:
    if cursor.token is None or model is None:
        return []
    where = place(scan, cursor)
    policy = _policy_named(cursor, where, model)
    if policy is not None:
        return [Location.of(policy.span)]
    path = _hovered_path(cursor, where)
    if path is None:
        return []
    found: list[Location] = []
    for info in model.fields(path, model.contexts(where.policy, where.nrn)):
        location = model.schema_location(info)
        if location is not None and location not in found:
            found.append(location)
    return found


def related(model: Model, file: str, line: int, col: int) -> list[tuple[Location, str]]:
    """For a diagnostic on a condition path: the specifications that path was checked
    against, where they are declared."""
    for policy in model.program.policies:
        for condition in field_conditions(policy.conditions):
            span = condition.path.span
            start, end = (span.line, span.col), (span.end_line, span.end_col)
            if span.file != file or not start <= (line, col) <= end:
                continue
            segments = condition.path.segments
            if len(segments) < 3 or segments[1] != "metadata":
                return []
            contexts = model.contexts(policy.name, None)
            return [
                (
                    Location.of(spec.span),
                    f'checked against specification "{spec.name}" (at {spec.nrn.text}), '
                    f"in force for requests at {nrn}",
                )
                for nrn, spec in model.checked_against(segments[0], segments[2], contexts)
            ]
    return []


def _field_markdown(infos: list[FieldInfo]) -> str:
    lines = []
    for info in infos:
        schemas = info.resolved.schemas
        line = f"**{type_text(schemas)}**"
        shown = constraints(schemas)
        if shown:
            line += " — " + ", ".join(f"`{c}`" for c in shown)
        if info.resolved.through_array:
            line += " (through an array: any item may match)"
        if info.specification is not None:
            spec = info.specification
            declared = f"{spec.entity}.metadata.{spec.metadata} at {spec.nrn.text}"
            line += f'\n\nfrom specification "{spec.name}" ({declared}), {_where(spec.span)}'
            if info.nrn and info.nrn != spec.nrn.text:
                line += f", in force for requests at {info.nrn}"
        else:
            line += f"\n\nfrom {info.origin}"
        text = description(schemas)
        if text:
            line += f"\n\n{text}"
        lines.append(line)
    return "\n\n---\n\n".join(lines)


def _where(span: Span) -> str:
    return f"{span.file.rsplit('/', 1)[-1]}:{span.line}"


def _policy_markdown(model: Model, policy: Policy) -> str:
    actions = model.bound_actions(policy.name)
    bound = ", ".join(f"`{a.id}` ({a.action}, {a.on_policy_fail} on failure)" for a in actions)
    conditions = json.dumps(policy.conditions_value, indent=2, ensure_ascii=False)
    heading = f"policy **{policy.name}** at `{policy.nrn.text}` ({_where(policy.span)})"
    return f"{heading}\n\n```json\n{conditions}\n```\n\n" + (
        f"bound to {bound}" if bound else "bound to no action"
    )


# --- symbols ---


def symbols(scan: Scan) -> list[Symbol]:
    """The declarations of a file: its blocks, or its payload objects."""
    found = []
    for frame in scan.frames:
        if frame.end is None:
            continue
        if frame.kind == "block" and frame.parent is None:
            label = frame.label
            name = label.value if label is not None else frame.block or "block"
            selection = (
                (label.start, label.end) if label is not None else (frame.start, frame.start + 1)
            )
            found.append(
                Symbol(
                    name,
                    frame.block or "block",
                    frame.block or "",
                    (frame.start, frame.end),
                    selection,
                )
            )
        elif (
            scan.is_json
            and frame.kind == "object"
            and (
                frame.parent is None
                or (frame.parent.parent is None and frame.parent.kind == "array")
            )
        ):
            kind, _ = _declaration(frame)
            if kind is None:
                continue
            token = (
                frame.members.get("name") or frame.members.get("id") or frame.members.get("action")
            )
            name = token.value if token is not None else kind
            selection = (
                (token.start, token.end) if token is not None else (frame.start, frame.start + 1)
            )
            found.append(Symbol(name, kind, kind, (frame.start, frame.end), selection))
    return found
