"""What the operands of an `$expr` may be, for the checker (compiler/check.py).

The checker resolves each field reference (`Reference`: its JSON types, and
why it may be missing or null); this module follows them through the
expression and reports what can never work or can pass by accident:

- RG034: arithmetic on an operand that can never be a number (MongoDB fails
  the expression, so the condition never holds);
- RG035: a comparison of operands of types that never meet (MongoDB orders
  them by type: the comparison never looks at their values);
- RG028: a comparison that a missing or null operand makes hold.  MongoDB
  orders missing below null below every other value, so `{$lte: ["$cost",
  "$budget"]}` holds when `cost` is missing.  Which operand matters depends on
  the operator and on whether the comparison sits under `$not` (its polarity).
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from dataclasses import dataclass

from compiler.aggregation import ARITHMETIC, COMPARISONS
from compiler.ast import Constant, Expression, FieldRef, Operation, Span
from compiler.diagnostics import Diagnostic, error, warning
from compiler.schema import json_type


@dataclass(frozen=True)
class Reference:
    """What a field reference may evaluate to: its JSON types (None: any; `number`
    stands for integers too), and why it may be missing, or null (None: it cannot)."""

    types: frozenset[str] | None
    missing: str | None
    null: str | None


@dataclass(frozen=True)
class _Operand:
    types: frozenset[str] | None
    # The field references that may leave it missing or null, with why.
    nullish: tuple[tuple[FieldRef, str], ...]


_VERBS = {
    "$add": "adds",
    "$subtract": "subtracts",
    "$multiply": "multiplies",
    "$divide": "divides",
    "$mod": "divides",
    "$abs": "takes the absolute value of",
}


def check_expression(
    expression: Expression, reference: Callable[[FieldRef], Reference]
) -> Iterator[Diagnostic]:
    """The diagnostics of one `$expr`'s expression."""
    yield from _Walk(reference).walk(expression, True)


class _Walk:
    def __init__(self, reference: Callable[[FieldRef], Reference]) -> None:
        self.reference = reference
        self.found: list[Diagnostic] = []

    def walk(self, node: Expression, positive: bool) -> list[Diagnostic]:
        self.operand(node, positive)
        return self.found

    def operand(self, node: Expression, positive: bool) -> _Operand:
        """What `node` may evaluate to; reports on the way.  `positive`: whether the
        condition holds when `node` is truthy (false under an odd number of $not)."""
        match node:
            case FieldRef():
                found = self.reference(node)
                reasons = [r for r in (found.missing, found.null) if r is not None]
                return _Operand(found.types, tuple((node, r) for r in reasons[:1]))
            case Constant(value=value):
                kind = json_type(value)
                return _Operand(frozenset({"number" if kind == "integer" else kind}), ())
            case Operation(op=op, args=args):
                inner = not positive if op == "$not" else positive
                operands = [self.operand(a, inner) for a in args]
                if op in COMPARISONS:
                    self.comparison(node, operands, positive)
                    return _Operand(frozenset({"number" if op == "$cmp" else "boolean"}), ())
                if op in ARITHMETIC:
                    return self.arithmetic(node, operands)
                if not inner:
                    # Its arguments are tested for truth under a negation: a missing
                    # or null one is false, so the negation holds.
                    for operand in operands:
                        self.nullish(operand.nullish, "the negation holds without it")
                return _Operand(frozenset({"boolean"}), ())
        raise AssertionError(node)

    def arithmetic(self, node: Operation, operands: list[_Operand]) -> _Operand:
        nullish: list[tuple[FieldRef, str]] = []
        for argument, operand in zip(node.args, operands, strict=True):
            kinds = operand.types
            if kinds is None or "number" in kinds or not kinds - {"null"}:
                nullish.extend(operand.nullish)
                continue
            self.found.append(
                error(
                    "RG034",
                    _span(argument),
                    f"{node.op} {_VERBS[node.op]} numbers, but {_shown(argument)} is "
                    f"{_types_text(kinds)}",
                    help="MongoDB fails the expression there, so the condition never holds",
                )
            )
        return _Operand(frozenset({"number", "null"} if nullish else {"number"}), tuple(nullish))

    def comparison(self, node: Operation, operands: list[_Operand], positive: bool) -> None:
        left, right = operands
        known = [o.types - {"null"} for o in operands if o.types is not None]
        if len(known) == 2 and known[0] and known[1] and not known[0] & known[1]:
            a, b = node.args
            self.found.append(
                error(
                    "RG035",
                    node.span,
                    f"{node.op} compares {_shown(a)} ({_types_text(known[0])}) with {_shown(b)} "
                    f"({_types_text(known[1])}): MongoDB orders values of different types by "
                    "type, so their values are never compared",
                    help="compare values of one type",
                )
            )
        # Missing and null are the least values: which operand being least makes the
        # comparison give what lets the condition hold?
        op = node.op if positive else _NEGATED.get(node.op, node.op)
        holds = f"{node.op} holds" if positive else f"$not of {node.op} holds"
        if op in ("$lt", "$lte"):
            self.nullish(left.nullish, f"{holds} without it")
        elif op in ("$gt", "$gte"):
            self.nullish(right.nullish, f"{holds} without it")
        elif op in ("$ne", "$cmp"):
            self.nullish((*left.nullish, *right.nullish), f"{holds} without it")
        elif left.nullish and right.nullish:  # $eq: both least
            self.nullish((*left.nullish, *right.nullish), f"{holds} when both are")

    def nullish(self, reasons: tuple[tuple[FieldRef, str], ...], effect: str) -> None:
        for reference, reason in reasons:
            text = reference.path.text
            guard = {"$ne": None}  # present, and not null
            self.found.append(
                warning(
                    "RG028",
                    reference.path.span,
                    f'"${text}" {reason}; MongoDB orders missing and null below every other '
                    f"value, so {effect}",
                    help=f"require it beside the $expr, e.g. {json.dumps({text: guard})}, "
                    'or list it in the specification\'s "required"',
                )
            )


# Under a negation the condition holds when the comparison is false: $lt false is $gte.
_NEGATED = {
    "$lt": "$gte",
    "$lte": "$gt",
    "$gt": "$lte",
    "$gte": "$lt",
    "$eq": "$ne",
    "$ne": "$eq",
}


def _span(node: Expression) -> Span:
    return node.path.span if isinstance(node, FieldRef) else node.span


def _shown(node: Expression) -> str:
    match node:
        case FieldRef(path=path):
            return f'"${path.text}"'
        case Constant(value=value):
            return json.dumps(value)
        case Operation(op=op):
            return f"the value of {op}"
    raise AssertionError(node)


def _types_text(types: frozenset[str]) -> str:
    return "/".join(sorted(types))
