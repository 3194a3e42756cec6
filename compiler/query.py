"""Reads a MongoDB query document (a value node) into condition nodes.

Part of the parse pass: it decides what each key means (a field path, a
logical operator, a field operator, `$expr` and its aggregation expression)
and rejects what MongoDB would reject or regate does not support yet.  Types
are the checker's business.
"""

from __future__ import annotations

import json
import math
import re
from typing import cast

from compiler import aggregation
from compiler.ast import (
    All,
    Array,
    Call,
    Comparison,
    ComparisonOp,
    Constant,
    DynamicPattern,
    ElemMatch,
    Exists,
    Expr,
    Expression,
    FieldCondition,
    FieldOperator,
    FieldRef,
    Identifier,
    JsonValue,
    Logical,
    LogicalOp,
    Member,
    Mod,
    Node,
    NotOp,
    Object,
    Operation,
    Path,
    Placeholder,
    Query,
    Regex,
    Scalar,
    Size,
    Span,
    TypeOp,
    to_json,
)
from compiler.diagnostics import Diagnostic, did_you_mean, error
from compiler.entities import entity_model
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
    "$dynamicPattern",
)
LOGICAL_OPS = ("$and", "$or", "$nor")
# A `$dynamicPattern` placeholder: `{name}`; `{2}` and `{2,3}` stay quantifiers.
PLACEHOLDER = re.compile(r"\{([A-Za-z_][A-Za-z0-9_]*)\}")
# Stand-ins for placeholders while a template is translated: private-use characters,
# which no RE2 construct gives a meaning.
FIRST_STAND_IN = 0xF0000
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
        # Where the reader is: the entity of the field condition being read (relative
        # $dynamicPattern paths start there), inside how many $elemMatch, and under
        # which negations ($not, $nor, a selector), innermost last.
        self.entity: str | None = None
        self.elem_matches = 0
        self.negations: list[str] = []

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
        conditions: list[FieldCondition | Logical | Expr] = []
        ok = True
        for member in node.members:
            if not self.within_clause_limit(member.key_span):
                return None
            if member.key == "$expr":
                found_expr = self.expr(member, depth, None)
                if found_expr is None:
                    ok = False
                else:
                    conditions.append(found_expr)
            elif member.key.startswith("$"):
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
        negation = member.key == "$nor"
        if negation:
            self.negations.append("$nor")
        try:
            for item in value.items:
                if not isinstance(item, Object):
                    self.fail(
                        "RG022", item.span, f"each {member.key} clause must be a query document"
                    )
                    return None
                clause = self.query(item, depth + 1)
                if clause is None:
                    return None
                clauses.append(clause)
        finally:
            if negation:
                self.negations.pop()
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

    def field(self, member: Member, depth: int) -> FieldCondition | Expr | None:
        path = self.path(member)
        if path is None:
            return None
        value = member.value
        if isinstance(value, Object) and value.members and value.members[0].key == "$expr":
            # nullplatform's form: {"application": {"$expr": ...}}; the key is not read.
            if len(value.members) > 1:
                self.misplaced_expr(value.members[1].key_span)
                return None
            return self.expr(value.members[0], depth + 1, path)
        if isinstance(value, Object) and value.members and value.members[0].key.startswith("$"):
            if not self.elem_matches:
                self.entity = path.segments[0]
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
        if key == "$expr":
            self.misplaced_expr(member.key_span)
            return None
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
            self.negations.append("$not")
            inner = self.operators(value, depth + 1)
            self.negations.pop()
            return NotOp(inner, member.key_span) if inner is not None else None
        if key == "$elemMatch":
            return self.elem_match(member, depth)
        if key == "$regex":
            return self.regex(member, options)
        if key == "$dynamicPattern":
            return self.dynamic_pattern(member)
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
        self.elem_matches += 1
        try:
            if first.startswith("$") and first not in (*LOGICAL_OPS, "$expr"):
                operators = self.operators(value, depth + 1)
                return (
                    ElemMatch(None, operators, member.key_span) if operators is not None else None
                )
            query = self.query(value, depth + 1)
            return ElemMatch(query, (), member.key_span) if query is not None else None
        finally:
            self.elem_matches -= 1

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

    # --- $expr: an aggregation expression (compiler/aggregation.py) ---

    def misplaced_expr(self, span: Span) -> None:
        self.fail(
            "RG027",
            span,
            "$expr goes at the top of a query document, or alone under a field key "
            "(nullplatform's form), not among other operators",
            help='e.g. {"$expr": {"$lte": ["$application.metadata.finops.cost", 100]}}',
        )

    def expr(self, member: Member, depth: int, key: Path | None) -> Expr | None:
        if self.elem_matches:
            self.fail(
                "RG027",
                member.key_span,
                "$expr inside $elemMatch: MongoDB applies $expr to the whole document only",
                help="move it out of the $elemMatch",
            )
            return None
        if self.negations:
            where = self.negations[-1]
            self.fail(
                "RG027",
                member.key_span,
                f"$expr {NEGATED[where][0]}: an expression that fails to evaluate would "
                f"{NEGATED[where][1]}, and regate never lets a failure pass",
                help=NEGATED[where][2]
                or 'negate inside the expression: {"$expr": {"$not": [...]}}',
            )
            return None
        if not self.within_clause_limit(member.key_span):
            return None
        expression = self.expression(member.value, depth + 1)
        if expression is None:
            return None
        return Expr(expression, to_json(member.value), key, member.key_span)

    def expression(self, node: Node, depth: int) -> Expression | None:
        if depth > MAX_QUERY_DEPTH:
            self.fail("RG023", node.span, f"conditions nest deeper than {MAX_QUERY_DEPTH} levels")
            return None
        match node:
            case Scalar(value=str() as text, span=span) if text.startswith("$"):
                return self.field_ref(text, span)
            case Array():
                return self.array_expression(node)
            case Object(members=members) if members and members[0].key.startswith("$"):
                if len(members) > 1:
                    self.fail(
                        "RG022",
                        members[1].key_span,
                        "an expression object holds exactly one operator",
                        help=f"nest them: {{{members[0].key}: [...]}} inside $and, $add, ...",
                    )
                    return None
                return self.operation(members[0], depth)
            case Object():
                self.fail(
                    "RG027",
                    node.span,
                    "an object expression (a document built from expressions) is not "
                    "supported in $expr",
                    help='write a literal document as {"$literal": {...}}',
                )
                return None
        ok, value = self.literal(node)
        return Constant(value, node.span) if ok else None

    def field_ref(self, text: str, span: Span) -> FieldRef | None:
        if text.startswith("$$"):
            self.fail(
                "RG027",
                span,
                f"aggregation variable {text.split('.')[0]} is not supported in $expr",
                help='refer to a field of the request\'s entities: "$application.slug"',
            )
            return None
        segments = tuple(text[1:].split("."))
        if any(not segment or segment.startswith("$") for segment in segments):
            self.fail(
                "RG022",
                span,
                f'"{text}" is not a field path',
                help='e.g. "$application.metadata.finops.budget_assigned"',
            )
            return None
        if len(segments) > MAX_PATH_SEGMENTS:
            self.fail(
                "RG024",
                span,
                f"path has {len(segments)} segments; at most {MAX_PATH_SEGMENTS} are supported",
            )
            return None
        # The path's characters start after `"$`, unless escapes moved them.
        plain = span.end_line == span.line and span.end_col - span.col == len(text) + 2
        return FieldRef(Path(text[1:], segments, span, 2 if plain else None))

    def array_expression(self, node: Array) -> Constant | None:
        """An array of literal values; MongoDB would evaluate expressions inside it."""
        pending: list[Node] = [node]
        while pending:
            item = pending.pop()
            if isinstance(item, Array):
                pending.extend(item.items)
            elif isinstance(item, Object) or (
                isinstance(item, Scalar) and isinstance(item.value, str) and item.value[:1] == "$"
            ):
                self.fail(
                    "RG027",
                    item.span,
                    "an array holding an expression or a field reference is not supported "
                    "in $expr: arrays hold literal values only",
                    help='write a literal array as {"$literal": [...]}',
                )
                return None
        ok, value = self.literal(node)
        return Constant(value, node.span) if ok else None

    def operation(self, member: Member, depth: int) -> Expression | None:
        op = member.key
        if not self.within_clause_limit(member.key_span):
            return None
        if op == "$literal":
            ok, value = self.literal(member.value)
            return Constant(value, member.key_span) if ok else None
        arity = aggregation.ARITY.get(op, -1)
        if arity == -1:
            supported = " ".join(aggregation.SUPPORTED)
            if op in aggregation.OTHER_OPERATORS:
                message = f"aggregation operator {op} is not supported in $expr"
                hint: str | None = f"supported: {supported}"
            else:
                message = f"unknown aggregation operator {op}"
                hint = did_you_mean(op, aggregation.SUPPORTED) or f"supported: {supported}"
            self.fail("RG027", member.key_span, message, help=hint)
            return None
        value = member.value
        items = value.items if isinstance(value, Array) else (value,)
        if arity is not None and len(items) != arity:
            plural = "s" if arity > 1 else ""
            self.fail(
                "RG022",
                value.span,
                f"{op} takes exactly {arity} argument{plural}, not {len(items)}",
                help=f'e.g. {{"{op}": {"[a, b]" if arity == 2 else "[a]"}}}',
            )
            return None
        args: list[Expression] = []
        for item in items:
            found = self.expression(item, depth + 1)
            if found is None:
                return None
            args.append(found)
        return self.folded(Operation(op, tuple(args), member.key_span))

    def folded(self, operation: Operation) -> Expression | None:
        """The operation, or the constant MongoDB's optimizer makes of it: an $and with
        a false constant is false, an $or with a true one true, and an operation of
        constants their value; one that fails is a compile error, as it fails the
        query in MongoDB whatever the documents."""
        op, args, span = operation.op, operation.args, operation.span
        if op in ("$and", "$or"):
            deciding = op == "$or"
            if any(
                isinstance(a, Constant) and aggregation.truthy(a.value) == deciding for a in args
            ):
                return Constant(deciding, span)
        if not all(isinstance(a, Constant) for a in args):
            return operation
        try:
            value = aggregation.evaluate(operation, {})
        except aggregation.EvaluationError as failure:
            self.fail(
                "RG022",
                span,
                f"{op} fails whatever the request: {failure}",
                help="MongoDB evaluates an expression of constants when it reads the query, "
                "and fails the query",
            )
            return None
        return Constant(aggregation.as_json(value), span)

    # --- $dynamicPattern (nullplatform) ---

    def dynamic_pattern(self, member: Member) -> DynamicPattern | None:
        value = member.value
        if self.negations:
            where = self.negations[-1]
            self.fail(
                "RG029",
                member.key_span,
                f"$dynamicPattern {NEGATED[where][0]}: a placeholder that cannot be filled "
                f"would {NEGATED[where][1]}, and regate never lets it pass",
                help=NEGATED[where][2] or "state what must match instead, e.g. with $or",
            )
            return None
        shape = (
            'e.g. {"$dynamicPattern": {"template": "^{app}-", "fields": {"app": {"path": "..."}}}}'
        )
        if not isinstance(value, Object):
            self.fail("RG022", value.span, "$dynamicPattern takes {template, fields}", help=shape)
            return None
        for extra in value.members:
            if extra.key not in ("template", "fields"):
                self.fail(
                    "RG022",
                    extra.key_span,
                    f'unknown key "{extra.key}" in $dynamicPattern',
                    help="it takes template and fields",
                )
                return None
        template_member, fields_member = value.get("template"), value.get("fields")
        if template_member is None or not (
            isinstance(template_member.value, Scalar)
            and isinstance(template_member.value.value, str)
        ):
            self.fail("RG022", value.span, "$dynamicPattern needs a template string", help=shape)
            return None
        if fields_member is None or not isinstance(fields_member.value, Object):
            self.fail("RG022", value.span, "$dynamicPattern needs fields: an object", help=shape)
            return None
        template_node = template_member.value
        template = template_node.value
        if len(template) > MAX_REGEX_LENGTH:
            self.fail(
                "RG022",
                template_node.span,
                f"$dynamicPattern template is {len(template)} characters; "
                f"at most {MAX_REGEX_LENGTH} are supported",
            )
            return None
        fields = self.placeholder_fields(fields_member.value)
        if fields is None:
            return None
        return self.template(template, template_node.span, fields, member.key_span)

    def placeholder_fields(self, node: Object) -> dict[str, tuple[Placeholder, Span]] | None:
        """Each field's placeholder, by name, and where its name is written."""
        found: dict[str, tuple[Placeholder, Span]] = {}
        for member in node.members:
            path_member = member.value.get("path") if isinstance(member.value, Object) else None
            if (
                path_member is None
                or len(cast(Object, member.value).members) != 1
                or not isinstance(path_member.value, Scalar)
                or not isinstance(path_member.value.value, str)
            ):
                self.fail(
                    "RG022",
                    member.value.span,
                    f'field "{member.key}" takes {{"path": "<dotted path>"}}',
                    help='e.g. {"path": "tags.application"} (relative to the entity of the '
                    'condition\'s path) or {"path": "application.slug"}',
                )
                return None
            text, span = path_member.value.value, path_member.value.span
            plain = span.end_line == span.line and span.end_col - span.col == len(text) + 2
            written = self.path(Member(text, span, path_member.value, 1 if plain else None))
            if written is None:
                return None
            found[member.key] = (self.placeholder(member.key, written), member.key_span)
        return found

    def placeholder(self, name: str, written: Path) -> Placeholder:
        """The placeholder's path, whole: a path whose first segment is no entity is
        relative to the entity of the condition's path."""
        if written.segments[0] in entity_model().entities or self.entity is None:
            return Placeholder(name, written, relative=False)
        offset = None if written.text_offset is None else written.text_offset - len(self.entity) - 1
        whole = Path(
            f"{self.entity}.{written.text}", (self.entity, *written.segments), written.span, offset
        )
        return Placeholder(name, whole, relative=True)

    def template(
        self,
        template: str,
        span: Span,
        fields: dict[str, tuple[Placeholder, Span]],
        operator_span: Span,
    ) -> DynamicPattern | None:
        names = list(fields)
        used = [m for m in PLACEHOLDER.finditer(template) if _unescaped(template, m.start())]
        for match in used:
            if match.group(1) not in fields:
                self.fail(
                    "RG029",
                    span,
                    f"placeholder {match.group(0)} has no entry in fields",
                    help=f'add "fields": {{"{match.group(1)}": {{"path": "..."}}}}',
                )
                return None
        for name, (_, key_span) in fields.items():
            if all(m.group(1) != name for m in used):
                self.fail(
                    "RG029",
                    key_span,
                    f'field "{name}" is not used by the template',
                    help=f"remove it, or write {{{name}}} in the template",
                )
                return None
        if any(ord(c) >= FIRST_STAND_IN for c in template):
            self.fail("RG022", span, "$dynamicPattern template uses private-use characters")
            return None
        written: list[str] = []
        stand_ins: list[str] = []
        start = 0
        for match in used:
            written.append(template[start : match.start()])
            stand_ins.append(chr(FIRST_STAND_IN + names.index(match.group(1))))
            start = match.end()
        written.append(template[start:])
        marked = "".join(w + s for w, s in zip(written, [*stand_ins, ""], strict=True))
        translated = translate(marked, "")
        if isinstance(translated, Unsupported):
            # Back from the marked template (a character per placeholder) to the template.
            offset = translated.offset
            for match in used:
                if match.start() < offset:
                    offset += len(match.group(0)) - 1
            self.fail(
                "RG025",
                span,
                f"$dynamicPattern template uses a {translated.construct}, which RE2 (OPA's "
                "regex engine) does not support",
                help=f"at character {offset + 1} of the template",
            )
            return None
        inside = _stand_in_in_class(translated)
        if inside is not None:
            self.fail(
                "RG029",
                span,
                f"placeholder {{{names[inside]}}} inside a character class",
                help="a placeholder stands for its field's value as literal text: put it "
                "outside [...]",
            )
            return None
        pieces = re.split(f"[{chr(FIRST_STAND_IN)}-{chr(FIRST_STAND_IN + len(names))}]", translated)
        if not is_valid_syntax("x".join(pieces)):
            self.fail(
                "RG022", span, f"$dynamicPattern template {template!r} is not a valid pattern"
            )
            return None
        gaps = tuple(ord(c) - FIRST_STAND_IN for c in translated if ord(c) >= FIRST_STAND_IN)
        placeholders = tuple(placeholder for placeholder, _ in fields.values())
        return DynamicPattern(
            template, placeholders, tuple(written), tuple(pieces), gaps, operator_span
        )

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


def _unescaped(text: str, index: int) -> bool:
    """Whether the character at `index` follows an even number of backslashes."""
    backslashes = len(text[:index]) - len(text[:index].rstrip("\\"))
    return backslashes % 2 == 0


def _stand_in_in_class(pattern: str) -> int | None:
    """The placeholder whose stand-in sits inside a character class of an RE2
    pattern, or None."""
    in_class = False
    i = 0
    while i < len(pattern):
        ch = pattern[i]
        if ch == "\\":
            i += 2
            continue
        if ord(ch) >= FIRST_STAND_IN and in_class:
            return ord(ch) - FIRST_STAND_IN
        if in_class and ch == "]":
            in_class = False
        elif not in_class and ch == "[":
            in_class = True
            rest = pattern[i + 1 :]
            i += 1 + (2 if rest.startswith("^]") else 1 if rest.startswith("]") else 0)
            continue
        i += 1
    return None


def _is_number(value: JsonValue) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def _is_integral(value: JsonValue) -> bool:
    return _is_number(value) and math.isfinite(value) and value == int(value)


# Where a condition that fails to evaluate would let a request through: the
# negation, what a failure there would do, and a way out (None: the operator's own).
NEGATED: dict[str, tuple[str, str, str | None]] = {
    "$nor": ("under $nor", "make the $nor hold", None),
    "$not": ("under $not", "make the $not hold", None),
    "selector": (
        "in a selector",
        "leave the policy out of the decision",
        "put it in the policy's conditions",
    ),
    "applies_when": (
        "in a checklist item's applies_when",
        "leave the item out of the checklist",
        "put it in the item's query",
    ),
}


def read_query(
    node: Object, leaves_out: str | None = None
) -> tuple[Query | None, list[Diagnostic]]:
    """A query document's conditions.  `leaves_out` names a query whose not matching
    leaves something out of the decision ("selector", "applies_when"): a condition
    that can fail to evaluate is refused there, as under a negation."""
    reader = _Reader()
    if leaves_out is not None:
        reader.negations.append(leaves_out)
    try:
        found = reader.query(node, 0)
    except RecursionError:
        reader.fail("RG023", node.span, "conditions nest too deeply to be read")
        found = None
    return found, reader.diagnostics
