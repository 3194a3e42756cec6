"""Reads a MongoDB query document (a value node) into condition nodes.

Part of the parse pass: it decides what each key means (a field path, a
logical operator, a field operator) and rejects what MongoDB would reject or
regate does not support yet.  Types are the checker's business.
"""

from __future__ import annotations

import json
import math
from typing import cast

from compiler.ast import (
    All,
    Array,
    Call,
    Comparison,
    ComparisonOp,
    ElemMatch,
    Exists,
    FieldCondition,
    FieldOperator,
    Identifier,
    JsonValue,
    Logical,
    LogicalOp,
    Member,
    Mod,
    Node,
    NotOp,
    Object,
    Path,
    Query,
    Regex,
    Scalar,
    Size,
    Span,
    TypeOp,
)
from compiler.diagnostics import Diagnostic, did_you_mean, error
from compiler.limits import (
    MAX_CLAUSES,
    MAX_EXACT_INTEGER,
    MAX_PATH_SEGMENTS,
    MAX_QUERY_DEPTH,
    MAX_REGEX_LENGTH,
)
from compiler.regex import OPTIONS, Unsupported, is_valid_syntax, translate

COMPARISON_OPS = ("$eq", "$ne", "$gt", "$gte", "$lt", "$lte", "$in", "$nin")
FIELD_OPS = (
    *COMPARISON_OPS,
    "$exists",
    "$not",
    "$type",
    "$regex",
    "$options",
    "$mod",
    "$all",
    "$elemMatch",
    "$size",
)
LOGICAL_OPS = ("$and", "$or", "$nor")
# `$type` aliases with a meaning for JSON values, by BSON type code.  `number`
# stands for all four numeric types.
TYPE_ALIASES = {
    1: "double",
    2: "string",
    3: "object",
    4: "array",
    8: "bool",
    10: "null",
    16: "int",
    18: "long",
    19: "decimal",
}
NUMBER_ALIASES = ("double", "int", "long", "decimal")
# MongoDB operators that regate does not compile yet.
UNSUPPORTED_OPS = (
    "$where",
    "$expr",
    "$text",
    "$jsonSchema",
    "$comment",
    "$geoWithin",
    "$geoIntersects",
    "$near",
    "$nearSphere",
    "$bitsAllSet",
    "$bitsAnySet",
    "$bitsAllClear",
    "$bitsAnyClear",
)


class _Reader:
    def __init__(self) -> None:
        self.diagnostics: list[Diagnostic] = []
        self.clauses = 0

    def within_clause_limit(self, span: Span) -> bool:
        """Count one more clause; past the limit, report it once."""
        self.clauses += 1
        if self.clauses == MAX_CLAUSES + 1:
            self.fail(
                "RG026",
                span,
                f"conditions have more than {MAX_CLAUSES} clauses",
                help="split the policy into several policies bound to the same action",
            )
        return self.clauses <= MAX_CLAUSES

    def fail(self, code: str, span: Span, message: str, help: str | None = None) -> None:
        self.diagnostics.append(error(code, span, message, help))

    def unknown_operator(self, member: Member, allowed: tuple[str, ...]) -> None:
        if member.key in UNSUPPORTED_OPS:
            self.fail(
                "RG021",
                member.key_span,
                f"operator {member.key} is not supported yet",
                help=f"supported here: {' '.join(allowed)}",
            )
        else:
            self.fail(
                "RG020",
                member.key_span,
                f"unknown operator {member.key}",
                help=did_you_mean(member.key, allowed),
            )

    def literal(self, node: Node) -> tuple[bool, JsonValue]:
        """A JSON literal operand; bare words and calls are not values here."""
        match node:
            case Scalar(value=int() as value, span=span) if (
                not isinstance(value, bool) and abs(value) > MAX_EXACT_INTEGER
            ):
                self.fail(
                    "RG016",
                    span,
                    f"integer {value} is beyond ±2^53, where 64-bit floats stop being exact",
                    help="JSON tools that carry metadata round such integers; "
                    "compare a smaller number or a string",
                )
                return False, None
            case Scalar(value=value):
                return True, value
            case Identifier(name=name, span=span):
                self.fail(
                    "RG022",
                    span,
                    f"bare word `{name}` is not a value",
                    help=f'quote it: "{name}"',
                )
                return False, None
            case Call(span=span):
                self.fail("RG022", span, "a call is not a value in conditions")
                return False, None
            case Array(items=items):
                values = [self.literal(item) for item in items]
                return all(ok for ok, _ in values), [v for _, v in values]
            case Object(members=members):
                entries = [(m.key, self.literal(m.value)) for m in members]
                return all(ok for _, (ok, _) in entries), {k: v for k, (_, v) in entries}

    def query(self, node: Object, depth: int) -> Query | None:
        if depth > MAX_QUERY_DEPTH:
            self.fail(
                "RG023",
                node.span,
                f"conditions nest deeper than {MAX_QUERY_DEPTH} levels",
                help="flatten nested $and/$or, or split the policy",
            )
            return None
        conditions: list[FieldCondition | Logical] = []
        ok = True
        for member in node.members:
            if not self.within_clause_limit(member.key_span):
                return None
            if member.key.startswith("$"):
                logical = self.logical(member, depth)
                if logical is None:
                    ok = False
                else:
                    conditions.append(logical)
            else:
                field = self.field(member, depth)
                if field is None:
                    ok = False
                else:
                    conditions.append(field)
        return Query(tuple(conditions), node.span) if ok else None

    def logical(self, member: Member, depth: int) -> Logical | None:
        if member.key not in LOGICAL_OPS:
            self.unknown_operator(member, LOGICAL_OPS)
            return None
        value = member.value
        if not isinstance(value, Array) or not value.items:
            self.fail(
                "RG022",
                value.span,
                f"{member.key} takes a non-empty array of query documents",
                help=f'e.g. {{"{member.key}": [{{"a": 1}}, {{"b": 2}}]}}',
            )
            return None
        clauses: list[Query] = []
        for item in value.items:
            if not isinstance(item, Object):
                self.fail("RG022", item.span, f"each {member.key} clause must be a query document")
                return None
            clause = self.query(item, depth + 1)
            if clause is None:
                return None
            clauses.append(clause)
        return Logical(cast(LogicalOp, member.key), tuple(clauses), member.key_span)

    def path(self, member: Member) -> Path | None:
        segments = tuple(member.key.split("."))
        if len(segments) > MAX_PATH_SEGMENTS:
            self.fail(
                "RG024",
                member.key_span,
                f"path has {len(segments)} segments; at most {MAX_PATH_SEGMENTS} are supported",
            )
            return None
        if any(not s for s in segments):
            self.fail("RG022", member.key_span, f'empty segment in path "{member.key}"')
            return None
        for index, segment in enumerate(segments):
            if segment.startswith("$"):
                path = Path(member.key, segments, member.key_span, member.key_text_offset)
                self.fail(
                    "RG020",
                    path.segment_span(index),
                    f'path segment "{segment}" cannot start with $',
                    help='operators go in the value: {"path": {"$op": value}}',
                )
                return None
        return Path(member.key, segments, member.key_span, member.key_text_offset)

    def field(self, member: Member, depth: int) -> FieldCondition | None:
        path = self.path(member)
        if path is None:
            return None
        value = member.value
        if isinstance(value, Object) and value.members and value.members[0].key.startswith("$"):
            operators = self.operators(value, depth + 1)
            if operators is None:
                return None
            return FieldCondition(path, operators, member.key_span)
        ok, literal = self.literal(value)
        if not ok:
            return None
        equality = Comparison("$eq", literal, value.span, value.span)
        return FieldCondition(path, (equality,), member.key_span)

    def operators(self, node: Object, depth: int) -> tuple[FieldOperator, ...] | None:
        if depth > MAX_QUERY_DEPTH:
            self.fail("RG023", node.span, f"conditions nest deeper than {MAX_QUERY_DEPTH} levels")
            return None
        found: list[FieldOperator] = []
        options = node.get("$options")
        for member in node.members:
            if not self.within_clause_limit(member.key_span):
                return None
            if not member.key.startswith("$"):
                self.fail(
                    "RG022",
                    member.key_span,
                    f'"{member.key}" mixes a field into an operator expression',
                    help="an object either lists operators ($gte, ...) or is a document "
                    "to compare for equality (wrap it in $eq)",
                )
                return None
            if member.key == "$options":
                if node.get("$regex") is None:
                    self.fail("RG022", member.key_span, "$options needs a $regex beside it")
                    return None
                continue
            operator = self.operator(member, depth, options)
            if operator is None:
                return None
            found.append(operator)
        return tuple(found)

    def operator(self, member: Member, depth: int, options: Member | None) -> FieldOperator | None:
        key, value = member.key, member.value
        if key not in FIELD_OPS:
            self.unknown_operator(member, FIELD_OPS)
            return None
        if key == "$exists":
            # MongoDB takes any value here and uses its truth: 1 and 0 are common.
            if isinstance(value, Scalar) and isinstance(value.value, bool | int | float):
                return Exists(bool(value.value), member.key_span)
            self.fail("RG022", value.span, "$exists takes true or false")
            return None
        if key == "$not":
            if not isinstance(value, Object) or not value.members:
                self.fail(
                    "RG022",
                    value.span,
                    "$not takes an operator expression",
                    help='e.g. {"$not": {"$gte": 80}}',
                )
                return None
            inner = self.operators(value, depth + 1)
            return NotOp(inner, member.key_span) if inner is not None else None
        if key == "$elemMatch":
            return self.elem_match(member, depth)
        if key == "$regex":
            return self.regex(member, options)
        ok, literal = self.literal(value)
        if not ok:
            return None
        match key:
            case "$type":
                return self.type_op(member, literal)
            case "$mod":
                return self.mod(member, literal)
            case "$size":
                return self.size(member, literal)
            case "$all":
                return self.all(member, depth)
        if key in ("$in", "$nin") and not isinstance(literal, list):
            self.fail("RG022", value.span, f"{key} takes an array of values")
            return None
        return Comparison(cast(ComparisonOp, key), literal, member.key_span, value.span)

    def elem_match(self, member: Member, depth: int) -> ElemMatch | None:
        value = member.value
        if not isinstance(value, Object):
            self.fail(
                "RG022",
                value.span,
                "$elemMatch takes a query document or an operator expression",
                help='e.g. {"$elemMatch": {"name": "x", "score": {"$gte": 8}}} '
                'or {"$elemMatch": {"$gte": 8}}',
            )
            return None
        # MongoDB's rule: an operator (other than a logical one) first means the
        # operator form, applied to each element itself.
        first = value.members[0].key if value.members else ""
        if first.startswith("$") and first not in LOGICAL_OPS:
            operators = self.operators(value, depth + 1)
            return ElemMatch(None, operators, member.key_span) if operators is not None else None
        query = self.query(value, depth + 1)
        return ElemMatch(query, (), member.key_span) if query is not None else None

    def regex(self, member: Member, options: Member | None) -> Regex | None:
        value = member.value
        if not (isinstance(value, Scalar) and isinstance(value.value, str)):
            self.fail("RG022", value.span, "$regex takes a pattern string")
            return None
        if len(value.value) > MAX_REGEX_LENGTH:
            self.fail(
                "RG022",
                value.span,
                f"$regex pattern is {len(value.value)} characters; "
                f"at most {MAX_REGEX_LENGTH} are supported",
                help="split it into several conditions under $or",
            )
            return None
        flags = ""
        if options is not None:
            option_value = options.value
            if not (isinstance(option_value, Scalar) and isinstance(option_value.value, str)):
                self.fail("RG022", option_value.span, "$options takes a string of option letters")
                return None
            flags = option_value.value
            unknown = sorted(set(flags) - set(OPTIONS))
            if unknown:
                self.fail(
                    "RG022",
                    option_value.span,
                    f"unknown $options letter {unknown[0]!r}",
                    help="regate supports i (case), m (multi-line), s (dot matches newline), "
                    "x (extended), u (UTF-8, always on)",
                )
                return None
        translated = translate(value.value, flags)
        if isinstance(translated, Unsupported):
            self.fail(
                "RG025",
                value.span,
                f"$regex uses a {translated.construct}, which RE2 (OPA's regex engine) "
                "does not support",
                help=f"at character {translated.offset + 1} of the pattern; rewrite it without "
                "look-around, back-references, possessive quantifiers or atomic groups",
            )
            return None
        if not is_valid_syntax(translated):
            self.fail("RG022", value.span, f"$regex {value.value!r} is not a valid pattern")
            return None
        return Regex(value.value, flags, translated, member.key_span)

    def type_op(self, member: Member, literal: JsonValue) -> TypeOp | None:
        names = literal if isinstance(literal, list) else [literal]
        aliases: list[str] = []
        for name in names:
            if name == "number":
                aliases.extend(NUMBER_ALIASES)
            elif name in TYPE_ALIASES.values():
                aliases.append(name)
            elif _is_integral(name) and int(name) in TYPE_ALIASES:
                aliases.append(TYPE_ALIASES[int(name)])
            else:
                self.fail(
                    "RG022",
                    member.value.span,
                    f"$type {json.dumps(name)} is not a type a JSON value can have",
                    help="use one of: double string object array bool null int long decimal "
                    "number, or their codes 1 2 3 4 8 10 16 18 19",
                )
                return None
        if not aliases:
            self.fail("RG022", member.value.span, "$type takes at least one type")
            return None
        return TypeOp(tuple(sorted(set(aliases))), member.key_span)

    def mod(self, member: Member, literal: JsonValue) -> Mod | None:
        if not (
            isinstance(literal, list)
            and len(literal) == 2
            and all(_is_number(n) and math.isfinite(n) for n in literal)
        ):
            self.fail(
                "RG022",
                member.value.span,
                "$mod takes exactly two numbers: [divisor, remainder]",
                help='e.g. {"$mod": [4, 0]}',
            )
            return None
        # MongoDB truncates both towards zero, into 64-bit integers: a number
        # beyond them is an error (BadValue), as MongoDB's mod_special_values.js expects.
        divisor, remainder = (int(n) for n in literal)
        for name, value in (("divisor", divisor), ("remainder", remainder)):
            if not -(2**63) <= value < 2**63:
                self.fail(
                    "RG022",
                    member.value.span,
                    f"$mod {name} {value} is beyond the 64-bit integers MongoDB truncates it to",
                )
                return None
        if divisor == 0:
            self.fail("RG022", member.value.span, "$mod divisor cannot be 0")
            return None
        return Mod(divisor, remainder, member.key_span)

    def size(self, member: Member, literal: JsonValue) -> Size | None:
        if not (_is_integral(literal) and literal >= 0):
            self.fail("RG022", member.value.span, "$size takes a whole number of elements, >= 0")
            return None
        return Size(int(literal), member.key_span)

    def all(self, member: Member, depth: int) -> All | None:
        value = member.value
        if not isinstance(value, Array):
            self.fail("RG022", value.span, "$all takes an array of values")
            return None
        elem_matches = [
            item for item in value.items if isinstance(item, Object) and item.get("$elemMatch")
        ]
        if not elem_matches:
            ok, values = self.literal(value)
            return All(tuple(values), (), member.key_span) if ok else None
        found: list[ElemMatch] = []
        for item in value.items:
            if not (isinstance(item, Object) and len(item.members) == 1 and item in elem_matches):
                self.fail(
                    "RG022",
                    item.span,
                    "$all mixes $elemMatch documents with other values",
                    help="all of them are {$elemMatch: ...}, or none",
                )
                return None
            elem_match = self.elem_match(item.members[0], depth + 1)
            if elem_match is None:
                return None
            found.append(elem_match)
        return All((), tuple(found), member.key_span)


def _is_number(value: JsonValue) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def _is_integral(value: JsonValue) -> bool:
    return _is_number(value) and math.isfinite(value) and value == int(value)


def read_query(node: Object) -> tuple[Query | None, list[Diagnostic]]:
    reader = _Reader()
    try:
        found = reader.query(node, 0)
    except RecursionError:
        reader.fail("RG023", node.span, "conditions nest too deeply to be read")
        found = None
    return found, reader.diagnostics
