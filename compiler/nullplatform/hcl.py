"""Terraform configuration as regate reads it: python-hcl2's parse tree made into
blocks and attributes that keep their places, and expressions evaluated as Terraform
evaluates them when their value is known without running Terraform — literals,
variables that have a value, locals, `jsonencode`, string templates, and what a
Terraform state records.  Anything else raises `Unknown`, which names the expression
and how to make it known; nothing is guessed."""

from __future__ import annotations

import json
import math
import re
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any, cast

import hcl2
from lark import Token, Tree
from lark.exceptions import UnexpectedCharacters, UnexpectedInput, UnexpectedToken

from compiler.ast import JsonValue, Span
from compiler.diagnostics import Diagnostic, error
from compiler.sources import strict_json

STATE_HELP = "import with the Terraform state (terraform.tfstate, or `terraform show -json` output)"


class JsonText(str):
    """What `jsonencode(...)` gives: JSON text, which also keeps the value it encodes,
    so that a JSON attribute keeps the key order its author wrote."""

    value: JsonValue

    def __new__(cls, value: JsonValue) -> JsonText:
        text = super().__new__(cls, json.dumps(value, separators=(",", ":"), ensure_ascii=False))
        text.value = value
        return text


class Unknown(Exception):
    """A value only Terraform (or nullplatform) knows, and how the user can provide it."""

    def __init__(self, span: Span, what: str, how: str) -> None:
        super().__init__(what)
        self.span = span
        self.what = what
        self.how = how


@dataclass(frozen=True)
class Expression:
    tree: Tree[Token]
    span: Span
    source: str = field(repr=False)  # the whole file's text, for the expression's own

    @property
    def text(self) -> str:
        """The expression as written, for messages."""
        return _text(self.source, self.tree)


@dataclass(frozen=True)
class Attribute:
    name: str
    span: Span  # the name
    value: Expression


@dataclass(frozen=True)
class Block:
    type: str
    labels: tuple[str, ...]
    attributes: Mapping[str, Attribute]  # in the order written
    blocks: tuple[Block, ...]
    span: Span  # the block's type word
    file: str  # as the origin comments name it (relative to the imported directory)

    @property
    def line(self) -> int:
        return self.span.line


def _span(file: str, item: Tree[Token] | Token) -> Span:
    if isinstance(item, Token):
        line, column = item.line or 1, item.column or 1
        return Span(file, line, column, item.end_line or line, item.end_column or column + 1)
    meta = item.meta
    if getattr(meta, "empty", True):
        return Span(file, 1, 1, 1, 2)
    return Span(file, meta.line, meta.column, meta.end_line, meta.end_column)


def _text(source: str, item: Tree[Token] | Token) -> str:
    """An item's text as written, on one line."""
    if isinstance(item, Token):
        return str(item)
    start, end = item.meta.start_pos, item.meta.end_pos
    return " ".join(source[start:end].split())


def _is_code(item: Tree[Token] | Token) -> bool:
    return not (isinstance(item, Tree) and item.data == "new_line_or_comment")


def _children(tree: Tree[Token]) -> list[Tree[Token] | Token]:
    return [child for child in tree.children if _is_code(child)]


def syntax_error(path: str, text: str, exc: UnexpectedInput) -> Diagnostic:
    line, column = max(exc.line, 1), max(exc.column, 1)
    if isinstance(exc, UnexpectedToken) and str(exc.token).strip():
        found = f'"{str(exc.token).strip().splitlines()[0]}"'
    elif isinstance(exc, UnexpectedCharacters):
        position = exc.pos_in_stream or 0
        found = f'character "{text[position]}"' if position < len(text) else "end of file"
    else:
        found = "end of line"
    span = Span(path, line, column, line, column + 1)
    return error("RG002", span, f"Terraform syntax error: unexpected {found}")


def _too_deep(path: str) -> Diagnostic:
    return error("RG023", Span(path, 1, 1, 1, 2), f"{path} nests deeper than regate reads")


def read_blocks(path: str, name: str, text: str) -> tuple[list[Block], list[Diagnostic]]:
    """The top-level blocks of a `.tf` or `.tfvars` file (a `.tfvars` file has
    attributes only: they come back as one block of type "")."""
    try:
        tree = hcl2.parses_to_tree(text)
    except UnexpectedInput as exc:
        return [], [syntax_error(path, text, exc)]
    except RecursionError:
        return [], [_too_deep(path)]
    diagnostics: list[Diagnostic] = []
    body = cast(Tree[Token], tree.children[0])
    try:
        top = _body(path, name, text, body, "", (), _span(path, body), diagnostics)
    except UnicodeDecodeError:
        span = Span(path, 1, 1, 1, 2)
        return [], [error("RG002", span, "a label holds half of a UTF-16 surrogate pair")]
    except ValueError as exc:
        return [], [error("RG002", Span(path, 1, 1, 1, 2), f"a label holds {exc}")]
    except RecursionError:
        return [], [_too_deep(path)]
    found = list(top.blocks)
    if top.attributes:
        found.insert(0, Block("", (), top.attributes, (), top.span, name))
    return found, diagnostics


def _body(
    path: str,
    name: str,
    text: str,
    body: Tree[Token],
    kind: str,
    labels: tuple[str, ...],
    span: Span,
    diagnostics: list[Diagnostic],
) -> Block:
    attributes: dict[str, Attribute] = {}
    blocks: list[Block] = []
    for item in _children(body):
        assert isinstance(item, Tree)
        if item.data == "attribute":
            key, _equals, value = _children(item)
            attribute_name = _name(key)
            key_span = _span(path, key)
            if attribute_name in attributes:
                first = attributes[attribute_name].span.line
                diagnostics.append(
                    error(
                        "RG013",
                        key_span,
                        f"`{attribute_name}` is given twice (first on line {first})",
                        help="Terraform refuses an attribute given twice",
                    )
                )
                continue
            expression = Expression(cast(Tree[Token], value), _span(path, value), text)
            attributes[attribute_name] = Attribute(attribute_name, key_span, expression)
        elif item.data == "block":
            parts = _children(item)
            opening = next(i for i, p in enumerate(parts) if isinstance(p, Token))
            head = parts[:opening]
            inner = cast(Tree[Token], parts[opening + 1])
            block_labels = tuple(_label(part) for part in head[1:])
            type_span = _span(path, head[0])
            blocks.append(
                _body(path, name, text, inner, _name(head[0]), block_labels, type_span, diagnostics)
            )
    return Block(kind, labels, attributes, tuple(blocks), span, name)


def _name(item: Tree[Token] | Token) -> str:
    """An attribute name or block type: identifier, keyword or literal word."""
    if isinstance(item, Token):
        return str(item)
    return _name(item.children[0])


def _label(item: Tree[Token] | Token) -> str:
    if isinstance(item, Tree) and item.data == "string":
        return "".join(_plain_string_parts(item))
    return _name(item)


def _plain_string_parts(tree: Tree[Token]) -> Iterator[str]:
    for part in _children(tree):
        if isinstance(part, Tree) and part.data == "string_part":
            token = part.children[0]
            if isinstance(token, Token):
                yield _string_chars(token)


def merge_overrides(
    blocks: list[Block], overrides: list[Block]
) -> tuple[list[Block], list[Diagnostic]]:
    """The configuration with its override files (`override.tf`, `*_override.tf`)
    merged in as Terraform merges them: an override block's attributes replace the
    original's, its nested blocks replace the original's of the same type, and
    `locals` add to or replace local values."""
    merged = list(blocks)
    diagnostics: list[Diagnostic] = []
    for override in overrides:
        if override.type == "locals":
            merged.append(override)
            continue
        found = next(
            (
                i
                for i, b in enumerate(merged)
                if (b.type, b.labels) == (override.type, override.labels)
            ),
            None,
        )
        if found is None:
            header = " ".join((override.type, *(json.dumps(label) for label in override.labels)))
            diagnostics.append(
                error(
                    "RG091",
                    override.span,
                    f"the override of `{header}` has no block to override",
                    help="Terraform refuses it too: an override file changes blocks other "
                    "files define",
                )
            )
            continue
        base = merged[found]
        replaced = {nested.type for nested in override.blocks}
        merged[found] = Block(
            base.type,
            base.labels,
            {**base.attributes, **override.attributes},
            tuple(b for b in base.blocks if b.type not in replaced) + override.blocks,
            base.span,
            base.file,
        )
    return merged, diagnostics


# --- Strings ---

_ESCAPES = {"n": "\n", "r": "\r", "t": "\t", '"': '"', "\\": "\\"}
_ESCAPE = re.compile(r"\\(u[0-9A-Fa-f]{4}|U[0-9A-Fa-f]{8}|.)")


def _string_chars(token: Token) -> str:
    """A literal piece of a quoted string, its escapes decoded; `$${` and `%%{`
    stand for `${` and `%{`."""
    text = str(token)
    if token.type == "ESCAPED_INTERPOLATION":
        return text[1:]
    if token.type == "ESCAPED_DIRECTIVE":
        return text[1:]

    def decode(found: re.Match[str]) -> str:
        escape = found.group(1)
        if escape[0] in "uU" and len(escape) > 1:
            code = int(escape[1:], 16)
            if code > 0x10FFFF:
                raise ValueError(f"\\{escape} is beyond Unicode")
            return chr(code)
        if escape not in _ESCAPES:  # Terraform refuses it rather than reading the letter
            raise ValueError(f"\\{escape} is not an escape Terraform knows")
        return _ESCAPES[escape]

    decoded = _ESCAPE.sub(decode, text)
    # \uD83D\uDE00 is one character; half a pair is none (ValueError).
    return decoded.encode("utf-16", "surrogatepass").decode("utf-16")


def _heredoc(token: Token) -> str:
    """A heredoc's text; `<<-` removes the lines' common indentation."""
    text = str(token)
    first_newline = text.index("\n")
    body_lines = text[first_newline + 1 :].split("\n")
    # The last two items are the closing marker's line and what follows its newline.
    lines = body_lines[:-2]
    if text.startswith("<<-"):
        indents = [len(line) - len(line.lstrip(" \t")) for line in lines if line.strip()]
        cut = min(indents, default=0)
        lines = [line[cut:] for line in lines]
    return "".join(line.rstrip("\r") + "\n" for line in lines)


# --- Evaluation ---


@dataclass(frozen=True)
class Variable:
    """A declared input variable and its value, or why it has none."""

    name: str
    value: JsonValue = None
    known: bool = False


@dataclass
class Scope:
    """What names mean in one configuration: its variables and locals, and a lookup of
    resource and data source attributes in a Terraform state."""

    variables: Mapping[str, Variable]
    locals: Mapping[str, Expression]
    # (mode, type, name, key) → the instance's attributes, or None when not in a state.
    lookup: Callable[[str, str, str, JsonValue], Mapping[str, JsonValue] | None]
    has_state: bool
    _locals: dict[str, JsonValue] = field(default_factory=dict)
    _evaluating: set[str] = field(default_factory=set)


def decode_json(text: str) -> JsonValue:
    """JSON text (a JSON attribute's string) as a value regate can write: strict JSON
    (no duplicate key, NaN, infinity or bare word; compiler/sources.py) and no half of
    a UTF-16 pair.  Raises ValueError."""
    value = strict_json(text)
    json.dumps(value, ensure_ascii=False).encode()  # UnicodeEncodeError: half a pair
    return value


def number(token: Token) -> int | float:
    text = str(token)
    value: int | float = float(text) if any(c in text for c in ".eE") else int(text)
    if isinstance(value, float) and not math.isfinite(value):
        raise ValueError(text)
    return value


def evaluate(expression: Expression, scope: Scope) -> JsonValue:
    """The expression's value, or Unknown."""
    try:
        return _Evaluator(expression, scope).value(expression.tree)
    except RecursionError:
        raise Unknown(
            expression.span, "the expression nests deeper than regate reads", "nest it less"
        ) from None


@dataclass(frozen=True)
class Reference:
    """`nullplatform_approval_policy.coverage.id`: a resource (or data source) instance
    and the attribute read from it."""

    mode: str  # managed | data
    type: str
    name: str
    key: JsonValue  # count index or for_each key; None without one
    attribute: str | None
    span: Span

    @property
    def address(self) -> str:
        prefix = "data." if self.mode == "data" else ""
        index = "" if self.key is None else f"[{json.dumps(self.key)}]"
        return f"{prefix}{self.type}.{self.name}{index}"


def reference(expression: Expression, scope: Scope) -> Reference | None:
    """The resource attribute an expression reads, when it is one (such as
    `nullplatform_approval_action.gate.id`), else None."""
    evaluator = _Evaluator(expression, scope)
    traversal = evaluator.traversal(_unwrap(expression.tree))
    if traversal is None:
        return None
    root, steps = traversal
    if root in ("var", "local", "count", "each", "self", "path", "terraform", "module"):
        return None
    return evaluator.resource(root, steps, expression.span, read=False)


def tuple_elements(expression: Expression) -> list[Expression] | None:
    """The elements of a tuple expression `[a, b]` as expressions, else None."""
    tree = _unwrap(expression.tree)
    if not (isinstance(tree, Tree) and tree.data == "tuple"):
        return None
    file = expression.span.file
    return [
        Expression(cast(Tree[Token], item), _span(file, item), expression.source)
        for item in _children(tree)[1:-1]
        if item != ","
    ]


def _unwrap(tree: Tree[Token] | Token) -> Tree[Token] | Token:
    """An expression without the `expr_term` and parentheses around it."""
    while isinstance(tree, Tree) and tree.data == "expr_term":
        parts = _children(tree)
        if len(parts) == 1:
            tree = parts[0]
        elif len(parts) == 3 and isinstance(parts[0], Token) and parts[0] == "(":
            tree = parts[1]
        else:
            break
    return tree


Step = tuple[str, Any]  # ("attr", name) or ("index", tree)


class _Evaluator:
    def __init__(self, expression: Expression, scope: Scope) -> None:
        self.file = expression.span.file
        self.source = expression.source
        self.scope = scope

    def span(self, item: Tree[Token] | Token) -> Span:
        return _span(self.file, item)

    def text(self, item: Tree[Token] | Token) -> str:
        return _text(self.source, item)

    def unsupported(self, item: Tree[Token] | Token, what: str) -> Unknown:
        return Unknown(self.span(item), what, "write its value instead")

    def value(self, tree: Tree[Token] | Token) -> JsonValue:
        tree = _unwrap(tree)
        if isinstance(tree, Token):
            raise self.unsupported(tree, f"`{tree}` is not a value")
        kind = tree.data
        if kind == "string":
            return self.template(tree)
        if kind in ("int_lit", "float_lit"):
            try:
                return number(cast(Token, tree.children[0]))
            except ValueError as exc:
                raise self.unsupported(
                    tree, f"the number {tree.children[0]} is out of range"
                ) from exc
        if kind == "literal_value":
            return {"true": True, "false": False, "null": None}[str(tree.children[0])]
        if kind == "tuple":
            return [self.value(item) for item in _children(tree)[1:-1] if item != ","]
        if kind == "object":
            return self.object(tree)
        if kind in ("heredoc_template", "heredoc_template_trim"):
            text = _heredoc(cast(Token, tree.children[0]))
            if re.search(r"(?<!\$)\$\{|(?<!%)%\{", text):
                raise self.unsupported(tree, "a heredoc with interpolations or directives")
            return text.replace("$${", "${").replace("%%{", "%{")
        if kind == "function_call":
            return self.call(tree)
        if kind == "unary_op":
            operator, operand = _children(tree)
            value = self.value(operand)
            if operator == "-" and isinstance(value, int | float) and not isinstance(value, bool):
                return -value
            if operator == "!" and isinstance(value, bool):
                return not value
            raise self.unsupported(tree, f"`{operator}` applied to {json.dumps(value)}")
        traversal = self.traversal(tree)
        if traversal is not None:
            return self.read(tree, *traversal)
        what = {
            "conditional": "a conditional expression",
            "binary_op": "an operator expression",
            "for_tuple_expr": "a for expression",
            "for_object_expr": "a for expression",
            "attr_splat_expr_term": "a splat expression",
            "full_splat_expr_term": "a splat expression",
            "template_string": "a template directive",
        }.get(kind, f"a {kind.replace('_', ' ')}")
        raise self.unsupported(
            tree, f"{what} (`{self.text(tree)}`), which regate does not evaluate"
        )

    def template(self, tree: Tree[Token]) -> str:
        pieces: list[str] = []
        for part in _children(tree)[1:-1]:
            assert isinstance(part, Tree)
            inner = part.children[0]
            if isinstance(inner, Token):
                try:
                    pieces.append(_string_chars(inner))
                except UnicodeDecodeError as exc:
                    raise self.unsupported(inner, "half of a UTF-16 surrogate pair") from exc
                except ValueError as exc:
                    raise self.unsupported(inner, str(exc)) from exc
            elif inner.data == "interpolation":
                pieces.append(self.interpolated(_children(inner)[1]))
            else:
                raise self.unsupported(inner, "a template directive (%{...})")
        return "".join(pieces)

    def interpolated(self, tree: Tree[Token] | Token) -> str:
        value = self.value(tree)
        text = _scalar_text(value)
        if text is not None:
            return text
        raise Unknown(
            self.span(tree),
            f"`{self.text(tree)}` is {json.dumps(value)}, which a string cannot hold",
            "interpolate a string, a number or a bool",
        )

    def object(self, tree: Tree[Token]) -> dict[str, JsonValue]:
        result: dict[str, JsonValue] = {}
        for element in _children(tree):
            if not (isinstance(element, Tree) and element.data == "object_elem"):
                continue
            key_tree, _separator, value_tree = _children(element)
            key = self.key(cast(Tree[Token], key_tree))
            if key in result:
                # Terraform refuses it; keeping the last would loosen a condition silently.
                raise Unknown(
                    self.span(cast(Tree[Token], key_tree)),
                    f"the key {json.dumps(key)} is given twice in one object",
                    "give each key once",
                )
            result[key] = self.value(value_tree)
        return result

    def key(self, tree: Tree[Token]) -> str:
        inner = _unwrap(_children(tree)[0])
        if isinstance(inner, Tree) and inner.data == "identifier":
            return str(inner.children[0])
        if isinstance(inner, Tree) and inner.data == "keyword":
            return str(inner.children[0])
        if isinstance(inner, Tree) and inner.data == "literal_value":
            return str(inner.children[0])
        text = _scalar_text(self.value(inner))
        if text is not None:
            return text
        raise self.unsupported(tree, "an object key that is not a string")

    def call(self, tree: Tree[Token]) -> JsonValue:
        parts = _children(tree)
        function = _name(parts[0])
        arguments = [
            item
            for part in parts
            if isinstance(part, Tree) and part.data == "arguments"
            for item in _children(part)
            if item != ","
        ]
        if function == "jsonencode" and len(arguments) == 1:
            return JsonText(self.value(arguments[0]))
        raise Unknown(
            self.span(tree),
            f"`{function}(...)`: regate evaluates no function but jsonencode",
            "write its value instead",
        )

    def traversal(self, tree: Tree[Token] | Token) -> tuple[str, list[Step]] | None:
        """`a.b[0].c` as its root name and its steps; None for other expressions."""
        steps: list[Step] = []
        while isinstance(tree, Tree) and tree.data in ("get_attr_expr_term", "index_expr_term"):
            inner, step = _children(tree)
            assert isinstance(step, Tree)
            if step.data == "get_attr":
                steps.append(("attr", _name(_children(step)[1])))
            elif step.data == "short_index":
                steps.append(("index", int(str(_children(step)[1]))))
            else:
                steps.append(("index", _children(step)[1]))
            tree = _unwrap(inner)
        if isinstance(tree, Tree) and tree.data == "identifier":
            return str(tree.children[0]), steps[::-1]
        return None

    def index(self, step: Any) -> JsonValue:
        return step if isinstance(step, int) else self.value(step)

    def read(self, tree: Tree[Token], root: str, steps: list[Step]) -> JsonValue:
        span = self.span(tree)
        text = self.text(tree)
        if root == "var" and steps and steps[0][0] == "attr":
            return self.apply(self.variable(steps[0][1], span), steps[1:], text, span)
        if root == "local" and steps and steps[0][0] == "attr":
            return self.apply(self.local(steps[0][1], span), steps[1:], text, span)
        if root in ("count", "each", "self"):
            raise Unknown(
                span,
                f"{text} is known only as Terraform expands the resource",
                f"{STATE_HELP}, which holds every instance",
            )
        if root in ("path", "terraform"):
            raise Unknown(span, f"{text} depends on how Terraform runs", "write its value instead")
        if root == "module":
            raise Unknown(
                span,
                f"{text} is a module's output, which only Terraform computes",
                "write its value instead",
            )
        found = self.resource(root, steps, span, read=True)
        assert found is not None
        attributes = self.scope.lookup(found.mode, found.type, found.name, found.key)
        if attributes is None:
            what = (
                f"{text} is read from nullplatform by Terraform"
                if found.mode == "data"
                else f"{text} is known only once Terraform has applied {found.address}"
            )
            if self.scope.has_state:
                raise Unknown(
                    span,
                    f"{what}, and the state holds no {found.address}",
                    "run terraform apply (or refresh), then import with the new state",
                )
            raise Unknown(span, what, STATE_HELP)
        rest = steps[1 if found.mode == "managed" else 2 :]
        if found.key is not None:
            rest = rest[1:]
        return self.apply(dict(attributes), rest, text, span)

    def resource(self, root: str, steps: list[Step], span: Span, read: bool) -> Reference | None:
        """The resource or data source instance a traversal names."""
        mode, rest = ("data", steps) if root == "data" else ("managed", [("attr", root), *steps])
        if len(rest) < 2 or rest[0][0] != "attr" or rest[1][0] != "attr":
            if not read:
                return None
            raise Unknown(span, f"`{root}` names nothing regate knows", "write its value instead")
        key: JsonValue = None
        after = rest[2:]
        if after and after[0][0] == "index":
            key = self.index(after[0][1])
            after = after[1:]
        attribute = after[0][1] if after and after[0][0] == "attr" else None
        return Reference(mode, rest[0][1], rest[1][1], key, attribute, span)

    def apply(self, value: JsonValue, steps: list[Step], text: str, span: Span) -> JsonValue:
        for kind, step in steps:
            key = step if kind == "attr" else self.index(step)
            in_object = isinstance(value, dict) and isinstance(key, str) and key in value
            in_list = isinstance(value, list) and isinstance(key, int) and 0 <= key < len(value)
            if in_object or in_list:
                value = value[key]
            else:
                raise Unknown(
                    span, f"{text}: {json.dumps(key)} is not in its value", "check the reference"
                )
        return value

    def variable(self, name: str, span: Span) -> JsonValue:
        variable = self.scope.variables.get(name)
        if variable is None:
            raise Unknown(
                span,
                f"var.{name} is not declared",
                f'declare it (variable "{name}" {{}}) and give it a value',
            )
        if not variable.known:
            how = (
                f"pass -var {name}=VALUE or a -var-file, set it in terraform.tfvars beside "
                "the .tf" + ("" if self.scope.has_state else ", or import with the Terraform state")
            )
            raise Unknown(span, f"var.{name} has no value", how)
        return variable.value

    def local(self, name: str, span: Span) -> JsonValue:
        scope = self.scope
        if name in scope._locals:
            return scope._locals[name]
        expression = scope.locals.get(name)
        if expression is None:
            raise Unknown(span, f"local.{name} is not defined", "define it in a locals block")
        if name in scope._evaluating:
            raise Unknown(span, f"local.{name} refers to itself", "break the cycle")
        scope._evaluating.add(name)
        try:
            value = _Evaluator(expression, scope).value(expression.tree)
        finally:
            scope._evaluating.discard(name)
        scope._locals[name] = value
        return value


def _scalar_text(value: JsonValue) -> str | None:
    """A bool, number or string as Terraform writes it into a string; None otherwise."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return _number_text(value)
    if isinstance(value, str):
        return value
    return None


def _number_text(value: int | float) -> str:
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value)


def literal(expression: Expression) -> JsonValue:
    """An expression that may hold literals only (a variable's default, a .tfvars value)."""
    scope = Scope({}, {}, lambda *_: None, has_state=False)
    return evaluate(expression, scope)
