"""Reads a MongoDB query document (a value node) into condition nodes.

Part of the parse pass: it decides what each key means (a field path, a
logical operator, a field operator) and rejects what MongoDB would reject or
regate does not support yet.  Types are the checker's business.
"""

from __future__ import annotations

from typing import cast

from compiler.ast import (
    Array,
    Call,
    Comparison,
    ComparisonOp,
    Exists,
    FieldCondition,
    FieldOperator,
    Identifier,
    JsonValue,
    Logical,
    LogicalOp,
    Member,
    Node,
    NotOp,
    Object,
    Path,
    Query,
    Scalar,
    Span,
)
from compiler.diagnostics import Diagnostic, did_you_mean, error
from compiler.limits import MAX_CLAUSES, MAX_EXACT_INTEGER, MAX_PATH_SEGMENTS, MAX_QUERY_DEPTH

COMPARISON_OPS = ("$eq", "$ne", "$gt", "$gte", "$lt", "$lte", "$in", "$nin")
FIELD_OPS = (*COMPARISON_OPS, "$exists", "$not")
LOGICAL_OPS = ("$and", "$or", "$nor")
# MongoDB operators that regate does not compile yet.
UNSUPPORTED_OPS = (
    "$regex",
    "$options",
    "$type",
    "$mod",
    "$all",
    "$elemMatch",
    "$size",
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
                "RG025",
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
            operator = self.operator(member, depth)
            if operator is None:
                return None
            found.append(operator)
        return tuple(found)

    def operator(self, member: Member, depth: int) -> FieldOperator | None:
        key, value = member.key, member.value
        if key not in FIELD_OPS:
            self.unknown_operator(member, FIELD_OPS)
            return None
        if key == "$exists":
            if isinstance(value, Scalar) and isinstance(value.value, bool):
                return Exists(value.value, member.key_span)
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
        ok, literal = self.literal(value)
        if not ok:
            return None
        if key in ("$in", "$nin") and not isinstance(literal, list):
            self.fail("RG022", value.span, f"{key} takes an array of values")
            return None
        return Comparison(cast(ComparisonOp, key), literal, member.key_span, value.span)


def read_query(node: Object) -> tuple[Query | None, list[Diagnostic]]:
    reader = _Reader()
    try:
        found = reader.query(node, 0)
    except RecursionError:
        reader.fail("RG023", node.span, "conditions nest too deeply to be read")
        found = None
    return found, reader.diagnostics
