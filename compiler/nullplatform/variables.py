"""Input variables, valued as Terraform values them.  From lowest to highest
precedence: a `variable` block's `default`, `TF_VAR_<name>` environment variables,
`terraform.tfvars`, `terraform.tfvars.json`, `*.auto.tfvars` and `*.auto.tfvars.json`
beside the configuration (in lexical order), then `-var` and `-var-file` in the order
given on the command line.  A value given on the command line or in the environment
is a string unless the variable's type is a collection or object, whose value is
written in HCL; declared `number` and `bool` variables convert as Terraform does."""

from __future__ import annotations

import json
import math
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path

from lark.exceptions import UnexpectedInput

from compiler.ast import JsonValue, Span
from compiler.diagnostics import Diagnostic, error, warning
from compiler.nullplatform.hcl import Block, Expression, Unknown, Variable, literal, read_blocks
from compiler.sources import JsonProblem, file_span, read_text, strict_json

COMMAND_LINE = Span("command line", 1, 1, 1, 1)
# -var NAME=VALUE and -var-file FILE, in the order given.
CommandLine = list[tuple[str, str]]


@dataclass(frozen=True)
class Declared:
    """A `variable "name" { ... }` block."""

    name: str
    default: Expression | None
    type: str  # string | number | bool | any | complex
    span: Span


def declared_variables(blocks: Iterable[Block]) -> dict[str, Declared]:
    found: dict[str, Declared] = {}
    for block in blocks:
        if block.type != "variable" or len(block.labels) != 1:
            continue
        default = block.attributes.get("default")
        given_type = block.attributes.get("type")
        found[block.labels[0]] = Declared(
            block.labels[0],
            default.value if default else None,
            _type_name(given_type.value) if given_type else "any",
            block.span,
        )
    return found


def _type_name(expression: Expression) -> str:
    text = expression.text
    return text if text in ("string", "number", "bool", "any") else "complex"


class _Values:
    def __init__(self, declared: Mapping[str, Declared]) -> None:
        self.declared = declared
        self.values: dict[str, JsonValue] = {}
        self.diagnostics: list[Diagnostic] = []

    def fail(self, span: Span, message: str, help: str | None = None) -> None:
        self.diagnostics.append(error("RG096", span, message, help))

    def set(self, name: str, value: JsonValue, span: Span, from_file: bool) -> None:
        variable = self.declared.get(name)
        if variable is None:
            # Terraform warns of a file's value for no variable, and goes on; a -var
            # for no variable of any configuration is an error (undeclared()).
            if from_file:
                self.diagnostics.append(
                    warning(
                        "RG096",
                        span,
                        f'a value for "{name}", which no variable block declares',
                        help=f'declare it (variable "{name}" {{}}) or remove the value',
                    )
                )
            return
        converted = _convert(value, variable.type)
        if converted is _WRONG:
            self.fail(span, f"var.{name} is {json.dumps(value)}, not a {variable.type}")
            return
        self.values[name] = converted

    def text(self, name: str, raw: str, span: Span) -> None:
        """A value given as text (command line, environment): HCL for collections."""
        variable = self.declared.get(name)
        if variable is None or variable.type != "complex":
            self.set(name, raw, span, from_file=False)
            return
        try:
            (block,) = read_blocks(span.file, span.file, f"value = {raw}\n")[0]
            self.set(name, literal(block.attributes["value"].value), span, from_file=False)
        except (ValueError, KeyError, UnexpectedInput, Unknown):
            self.fail(span, f"the value of var.{name} is not an HCL value: {raw}")

    def file(self, path: Path, shown: str) -> None:
        text = read_text(path.as_posix(), shown)
        if isinstance(text, Diagnostic):
            self.diagnostics.append(error("RG096", text.span, text.message))
            return
        if path.name.endswith(".json"):
            self.json_file(text, shown)
            return
        blocks, problems = read_blocks(shown, shown, text)
        self.diagnostics.extend(problems)
        for block in blocks:
            if block.type:
                self.fail(
                    block.span, f"a variable file holds values only, not a {block.type} block"
                )
                continue
            for attribute in block.attributes.values():
                try:
                    value = literal(attribute.value)
                except Unknown as exc:
                    self.fail(exc.span, f"var.{attribute.name}: {exc.what}", help="write a value")
                    continue
                self.set(attribute.name, value, attribute.span, from_file=True)

    def json_file(self, text: str, shown: str) -> None:
        try:
            values = strict_json(text)  # no duplicate keys, NaN or nesting beyond reading
        except JsonProblem as exc:
            line, column = exc.at or (1, 1)
            self.fail(Span(shown, line, column, line, column + 1), f"{shown} is not JSON: {exc}")
            return
        if not isinstance(values, dict):
            self.fail(file_span(shown), f"{shown} must hold a JSON object of variable values")
            return
        for name, value in values.items():
            self.set(name, value, file_span(shown), from_file=True)


_WRONG = object()
_NUMBER = re.compile(r"-?(?:0|[1-9][0-9]*)(?:\.[0-9]+)?(?:[eE][+-]?[0-9]+)?")
_INTEGER = re.compile(r"-?(?:0|[1-9][0-9]*)")


def _convert(value: JsonValue, wanted: str) -> JsonValue:
    """A value converted to a primitive type as Terraform converts it."""
    if wanted == "string" and isinstance(value, bool):
        return "true" if value else "false"
    if wanted == "string" and isinstance(value, int | float):
        return str(int(value)) if float(value).is_integer() else str(value)
    if wanted == "number" and isinstance(value, str):
        # A number as Terraform writes one: not NaN, Infinity, 1_0 or beyond a double.
        if not _NUMBER.fullmatch(value):
            return _WRONG
        number = float(value)
        if not math.isfinite(number):
            return _WRONG
        return int(value) if number.is_integer() and _INTEGER.fullmatch(value) else number
    if wanted == "bool" and isinstance(value, str):
        return {"true": True, "false": False}.get(value, _WRONG)
    return value


def variable_values(
    declared: Mapping[str, Declared],
    directory: Path,
    command_line: CommandLine,
    environment: Mapping[str, str],
) -> tuple[dict[str, Variable], list[Diagnostic]]:
    """Each declared variable with its value, or without one; and what went wrong."""
    values = _Values(declared)
    for name, variable in declared.items():
        if variable.default is not None:
            try:
                values.set(name, literal(variable.default), variable.span, from_file=True)
            except Unknown as exc:
                values.fail(exc.span, f"the default of var.{name}: {exc.what}")
    for name in declared:
        raw = environment.get(f"TF_VAR_{name}")
        if raw is not None:
            values.text(name, raw, Span(f"TF_VAR_{name}", 1, 1, 1, 1))
    automatic = [directory / "terraform.tfvars", directory / "terraform.tfvars.json"]
    automatic += sorted(
        (p for p in directory.iterdir() if p.name.endswith((".auto.tfvars", ".auto.tfvars.json"))),
        key=lambda p: p.name,
    )
    for path in automatic:
        if path.is_file():
            values.file(path, path.as_posix())
    for option, argument in command_line:
        if option == "file":
            values.file(Path(argument), argument)
            continue
        name, equals, raw = argument.partition("=")
        if not equals or not name:
            values.fail(
                COMMAND_LINE,
                f"-var {argument}: expected NAME=VALUE",
                help='e.g. -var nrn="organization=1:account=2"',
            )
            continue
        values.text(name.strip(), raw, Span(f"-var {name.strip()}", 1, 1, 1, 1))
    variables = {
        name: Variable(name, values.values.get(name), name in values.values) for name in declared
    }
    return variables, values.diagnostics


def undeclared(command_line: CommandLine, declared: Iterable[str]) -> list[Diagnostic]:
    """-var values for variables no configuration declares: Terraform refuses them."""
    known = set(declared)
    found = []
    for option, argument in command_line:
        name = argument.partition("=")[0].strip()
        if option == "var" and "=" in argument and name and name not in known:
            found.append(
                error(
                    "RG096",
                    Span(f"-var {name}", 1, 1, 1, 1),
                    f'-var {name}: no variable block declares "{name}"',
                    help=f'declare it (variable "{name}" {{}})',
                )
            )
    return found
