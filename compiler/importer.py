"""`regate import`: nullplatform Terraform and API JSON payloads → regate sources.

Terraform is read with python-hcl2.  The four nullplatform resources become
blocks: `nullplatform_metadata_specification` → `specification`,
`nullplatform_approval_policy` → `policy`, `nullplatform_approval_action` →
`action` (labelled with the resource name), and each
`nullplatform_approval_action_policy_association` adds its policy's name to its
action's `policies`.  `jsonencode(...)` values (and JSON in strings or heredocs)
become inline JSON.  Values regate cannot know before `terraform apply` —
variables, references, other functions, templates — are diagnostics, never
guesses.  Every block names where it came from in a comment, and the result is
laid out by the formatter.
"""

from __future__ import annotations

import json
import re
import sys
from collections.abc import Callable
from dataclasses import dataclass
from functools import partial
from pathlib import Path
from typing import Any, cast

import click
import hcl2
from lark.exceptions import UnexpectedCharacters, UnexpectedInput, UnexpectedToken

from compiler import __version__
from compiler.ast import Array, JsonValue, Node, Object, Span, to_json
from compiler.bundle import STANDARD_OUTPUT, check_output, write_atomically, write_failed
from compiler.diagnostics import Diagnostic, error, has_errors, render
from compiler.fmt import format_text
from compiler.parse import (
    KNOWN_FIELDS,
    derived_action_id,
    not_numbers,
    parse_json_document,
    payload_kind,
)
from compiler.sources import JsonProblem, Source, file_span, read_text, strict_json

SPECIFICATION = "nullplatform_metadata_specification"
POLICY = "nullplatform_approval_policy"
ACTION = "nullplatform_approval_action"
ASSOCIATION = "nullplatform_approval_action_policy_association"
KINDS = {SPECIFICATION: "specification", POLICY: "policy", ACTION: "action"}
OUTPUT_FILES = {
    "specification": "specifications.rg",
    "policy": "policies.rg",
    "action": "actions.rg",
}
# Attribute order in the written blocks: the parser's, less the name and id (the label).
ATTRIBUTES = {
    kind: tuple(f for f in fields if f not in ("name", "id"))
    for kind, fields in KNOWN_FIELDS.items()
}
BARE_WORDS = ("entity", "metadata", "on_policy_success", "on_policy_fail")
JSON_ATTRIBUTES = ("schema", "conditions")  # may also be given as a JSON string
WORD = re.compile(r"^[A-Za-z_][A-Za-z0-9_\-]*$")
JSONENCODE = re.compile(r"^\$\{jsonencode\((.*)\)\}$", re.DOTALL)
REFERENCE = re.compile(r"^\$\{(nullplatform_approval_(?:action|policy))\.([A-Za-z0-9_\-]+)\.id\}$")


@dataclass(frozen=True)
class Declaration:
    """One block to write: its kind, label, attributes in order, and where it came from."""

    kind: str
    label: str
    attributes: tuple[tuple[str, JsonValue], ...]
    origin: str  # `approvals.tf:12 nullplatform_approval_policy.coverage`


Where = Callable[..., Span]  # attribute name (or none: the resource) → its place in the file


class Unimportable(Exception):
    """A Terraform value that is not a literal (variable, reference, function, template)."""

    def __init__(self, text: str) -> None:
        super().__init__(text)
        self.text = text


# --- Terraform values (as python-hcl2 serializes them) → JSON ---


def _decode(value: Any) -> JsonValue:
    """python-hcl2 keeps string literals quoted and expressions as "${...}"."""
    if isinstance(value, dict):
        return {_key(k): _decode(v) for k, v in value.items() if not k.startswith("__")}
    if isinstance(value, list):
        return [_decode(v) for v in value]
    if isinstance(value, str):
        found = JSONENCODE.match(value)
        if found:
            try:
                return _decode(hcl2.loads(f"value = {found.group(1)}\n")["value"])
            except UnexpectedInput as exc:
                raise Unimportable(value) from exc
        if len(value) >= 2 and value[0] == value[-1] == '"' and "${" not in value:
            return cast(str, json.loads(value))
        raise Unimportable(value)
    return cast(JsonValue, value)


def _key(key: str) -> str:
    return cast(str, json.loads(key)) if key.startswith('"') else key


def _locate(text: str, path: str, resource: str, name: str, attribute: str | None = None) -> Span:
    """Where a resource (or one of its attributes) starts in the Terraform text: python-hcl2
    keeps no positions, so the resource header and the attribute name are found again."""
    header = rf'^[ \t]*(resource)[ \t]+"{re.escape(resource)}"[ \t]+"{re.escape(name)}"'
    found = re.search(header, text, re.MULTILINE)
    if found is None:
        return file_span(path)
    start, end = found.span(1)
    if attribute:
        own = re.compile(rf"^[ \t]*({re.escape(attribute)})[ \t]*=", re.MULTILINE)
        at = own.search(text, found.end())
        if at:
            start, end = at.span(1)
    line = text.count("\n", 0, start) + 1
    column = start - text.rfind("\n", 0, start)
    return Span(path, line, column, line, column + end - start)


@dataclass(frozen=True)
class Binding:
    """An action bound to a policy, by Terraform resource names, and where each is named."""

    action: str
    policy: str
    action_span: Span
    policy_span: Span


def _terraform(source: Source) -> tuple[list[Declaration], list[Diagnostic]]:
    try:
        document = hcl2.loads(
            source.text,
            serialization_options=hcl2.SerializationOptions(
                with_comments=False, preserve_heredocs=False
            ),
        )
    except UnexpectedInput as exc:
        return [], [_syntax_error(source, exc)]
    declarations: list[Declaration] = []
    diagnostics: list[Diagnostic] = []
    bindings: list[Binding] = []
    policy_names: dict[str, str] = {}  # policy resource name → policy name
    for group in document.get("resource", []):
        for quoted_type, instances in group.items():
            resource = _key(quoted_type)
            for quoted_name, body in instances.items():
                name = _key(quoted_name)
                where = partial(_locate, source.text, source.path, resource, name)
                if resource == ASSOCIATION:
                    bindings.extend(_association(body, where, diagnostics))
                elif resource == ACTION:
                    bindings.extend(_action_policies(name, body, where, diagnostics))
                if resource not in KINDS:
                    continue  # associations, and what is not an approval resource
                origin = f"{source.name}:{where().line} {resource}.{name}"
                declaration = _resource(resource, name, body, origin, where, diagnostics)
                if declaration is not None:
                    declarations.append(declaration)
                    if resource == POLICY:
                        policy_names[name] = declaration.label
    return _bind(declarations, bindings, policy_names, diagnostics), diagnostics


def _resource(
    resource: str,
    name: str,
    body: dict[str, Any],
    origin: str,
    where: Where,
    diagnostics: list[Diagnostic],
) -> Declaration | None:
    kind = KINDS[resource]
    values: dict[str, JsonValue] = {}
    for attribute in (*ATTRIBUTES[kind], "name"):
        if attribute not in body or attribute == "policies":  # policies: from the bindings
            continue
        try:
            values[attribute] = _decode(body[attribute])
        except Unimportable as exc:
            diagnostics.append(_unimportable(exc, where(attribute), attribute))
    if kind == "action":
        return _declaration(kind, name, values, origin, where, diagnostics)
    label = values.pop("name", None)
    if not isinstance(label, str):
        if "name" not in body:
            diagnostics.append(error("RG011", where(), f"{resource}.{name} has no `name`"))
        elif label is not None or body["name"] is None:
            message = f"`name` of {resource}.{name} must be a string, not {json.dumps(label)}"
            diagnostics.append(error("RG012", where("name"), message))
        return None
    return _declaration(kind, label, values, origin, where, diagnostics)


def _bind(
    declarations: list[Declaration],
    bindings: list[Binding],
    policy_names: dict[str, str],
    diagnostics: list[Diagnostic],
) -> list[Declaration]:
    """Each action with the names of the policies bound to it, in the order of the bindings."""
    # A Terraform action's label is its resource name, which the bindings use.
    actions = {d.label for d in declarations if d.kind == "action"}
    bound: dict[str, list[str]] = {}
    for binding in bindings:
        if binding.action not in actions or binding.policy not in policy_names:
            missing_action = binding.action not in actions
            missing = (
                f"{ACTION}.{binding.action}" if missing_action else f"{POLICY}.{binding.policy}"
            )
            diagnostics.append(
                error(
                    "RG092",
                    binding.action_span if missing_action else binding.policy_span,
                    f"the association refers to {missing}, which the imported files do not define",
                    help="import the files that define it together (a directory)",
                )
            )
            continue
        bound.setdefault(binding.action, []).append(policy_names[binding.policy])
    result = []
    for declaration in declarations:
        policies = bound.get(declaration.label) if declaration.kind == "action" else None
        if policies:
            attributes = (*declaration.attributes, ("policies", cast(JsonValue, policies)))
            declaration = Declaration(
                declaration.kind, declaration.label, attributes, declaration.origin
            )
        result.append(declaration)
    return result


def _syntax_error(source: Source, exc: UnexpectedInput) -> Diagnostic:
    line, column = max(exc.line, 1), max(exc.column, 1)
    if isinstance(exc, UnexpectedToken) and str(exc.token).strip():
        found = f'"{str(exc.token).strip().splitlines()[0]}"'
    elif isinstance(exc, UnexpectedCharacters):
        found = f'character "{source.text[exc.pos_in_stream or 0]}"'
    else:
        found = "end of line"
    span = Span(source.path, line, column, line, column + 1)
    return error("RG002", span, f"Terraform syntax error: unexpected {found}")


def _reference(value: Any, resource: str) -> str | None:
    """The resource name in a reference `${resource.NAME.id}`, or None."""
    found = REFERENCE.match(value) if isinstance(value, str) else None
    return found.group(2) if found and found.group(1) == resource else None


def _not_a_reference(attribute: str, value: Any, resource: str, span: Span) -> Diagnostic:
    shown = value if isinstance(value, str) else json.dumps(value)
    return error(
        "RG091",
        span,
        f"`{attribute}` must be a reference such as {resource}.NAME.id, not {shown}",
        help="an action and its policies are imported together, and bound by reference",
    )


def _association(
    body: dict[str, Any], where: Where, diagnostics: list[Diagnostic]
) -> list[Binding]:
    action = _reference(body.get("approval_action_id"), ACTION)
    policy = _reference(body.get("approval_policy_id"), POLICY)
    for attribute, resource, found in (
        ("approval_action_id", ACTION, action),
        ("approval_policy_id", POLICY, policy),
    ):
        if found is None:
            diagnostics.append(
                _not_a_reference(attribute, body.get(attribute), resource, where(attribute))
            )
    if action is None or policy is None:
        return []
    return [Binding(action, policy, where("approval_action_id"), where("approval_policy_id"))]


def _action_policies(
    action: str, body: dict[str, Any], where: Where, diagnostics: list[Diagnostic]
) -> list[Binding]:
    """An action's own `policies = [nullplatform_approval_policy.NAME.id, ...]`, if any."""
    given = body.get("policies", [])
    bindings = []
    for item in given if isinstance(given, list) else [given]:
        policy = _reference(item, POLICY)
        if policy is None:
            diagnostics.append(_not_a_reference("policies", item, POLICY, where("policies")))
        else:
            bindings.append(Binding(action, policy, where(), where("policies")))
    return bindings


def _unimportable(exc: Unimportable, span: Span, attribute: str) -> Diagnostic:
    shown = exc.text[2:-1] if exc.text.startswith("${") else exc.text
    return error(
        "RG091",
        span,
        f"cannot import `{attribute}`: {shown} is only known to Terraform",
        help="replace it with its value (a literal, or jsonencode of literals)",
    )


def _declaration(
    kind: str,
    label: str,
    values: dict[str, JsonValue],
    origin: str,
    where: Where,
    diagnostics: list[Diagnostic],
) -> Declaration:
    for attribute in JSON_ATTRIBUTES:
        text = values.get(attribute)
        if isinstance(text, str):  # JSON in a string or heredoc
            try:
                values[attribute] = cast(JsonValue, strict_json(text))
            except JsonProblem as exc:
                diagnostics.append(
                    error(
                        "RG091",
                        where(attribute),
                        f"`{attribute}` is a string but not JSON: {exc}"
                        + (
                            f" (line {exc.at[0]}, column {exc.at[1]} of the string)"
                            if exc.at
                            else ""
                        ),
                        help="write jsonencode({...}) or a JSON string",
                    )
                )
    attributes = tuple((a, values[a]) for a in ATTRIBUTES[kind] if a in values)
    return Declaration(kind, label, attributes, origin)


# --- API JSON payloads → declarations ---


def _payloads(source: Source) -> tuple[list[Declaration], list[Diagnostic]]:
    node, diagnostics = parse_json_document(source)
    if node is None:
        return [], diagnostics
    objects: list[Node] = list(node.items) if isinstance(node, Array) else [node]
    declarations: list[Declaration] = []
    for item in objects:
        kind = payload_kind(item) if isinstance(item, Object) else None
        if kind not in KINDS.values():
            if source.explicit:
                diagnostics.append(error("RG003", item.span, "not an approval or metadata payload"))
            continue
        refused = not_numbers(item)  # NaN must not be imported as the string "NaN"
        if refused:
            diagnostics.extend(refused)
            continue
        values = cast(dict[str, JsonValue], to_json(item))
        origin = f"{source.name}:{item.span.line}"
        if kind == "action":
            dimensions = values.get("dimensions")
            pairs = (
                sorted((k, str(v)) for k, v in dimensions.items())
                if isinstance(dimensions, dict)
                else []
            )
            label = values.get("id")
            if not isinstance(label, str):
                label = derived_action_id(
                    str(values.get("action", "")), str(values.get("nrn", "")), pairs
                )
        else:
            label = str(values.get("name", ""))
        here = partial(lambda span, _attribute: span, item.span)
        declarations.append(_declaration(str(kind), label, values, origin, here, diagnostics))
    return declarations, diagnostics


# --- declarations → regate sources ---


def _value_text(attribute: str, value: JsonValue) -> str:
    if attribute in BARE_WORDS and isinstance(value, str) and WORD.match(value):
        return value
    return json.dumps(value, ensure_ascii=False)


def render_sources(declarations: list[Declaration]) -> dict[str, str]:
    """File name → formatted regate source, one file per kind of block."""
    texts: dict[str, list[str]] = {}
    for declaration in declarations:
        lines = [f"# imported from {declaration.origin}"]
        lines.append(f"{declaration.kind} {json.dumps(declaration.label, ensure_ascii=False)} {{")
        lines.extend(f"  {a} = {_value_text(a, v)}" for a, v in declaration.attributes)
        lines.append("}\n")
        texts.setdefault(OUTPUT_FILES[declaration.kind], []).append("\n".join(lines))
    rendered: dict[str, str] = {}
    for name, blocks in texts.items():
        formatted = format_text("\n".join(blocks), name, False)
        assert isinstance(formatted, str), "import wrote a source the formatter cannot read"
        rendered[name] = formatted
    return rendered


def _inputs(argument: str) -> tuple[list[Source], list[Diagnostic]]:
    given = Path(argument)
    if given.is_dir():
        files = sorted(p for p in given.rglob("*") if p.suffix in (".tf", ".json"))
        root, explicit = given, False
        if not files:
            return [], [
                error("RG004", file_span(argument), f"no *.tf or *.json files in {argument}")
            ]
    else:
        files, root, explicit = [given], given.parent, True
    sources: list[Source] = []
    diagnostics: list[Diagnostic] = []
    for file in files:
        text = read_text(file.as_posix(), file.as_posix())
        if isinstance(text, Diagnostic):
            diagnostics.append(text)
        else:
            sources.append(
                Source(file.as_posix(), file.relative_to(root).as_posix(), text, explicit)
            )
    return sources, diagnostics


def import_sources(argument: str) -> tuple[dict[str, str], list[Diagnostic], dict[str, str]]:
    """Regate sources from a Terraform or JSON file or directory: (files, diagnostics, texts
    read, for snippets).  No files when there are errors."""
    sources, diagnostics = _inputs(argument)
    declarations: list[Declaration] = []
    for source in sources:
        read = _terraform if source.path.endswith(".tf") else _payloads
        found, problems = read(source)
        declarations.extend(found)
        diagnostics.extend(problems)
    texts = {s.path: s.text for s in sources}
    if not declarations and not has_errors(diagnostics):
        diagnostics.append(
            error(
                "RG004",
                file_span(argument),
                f"{argument} declares no nullplatform metadata specification, approval policy "
                "or approval action: there is nothing to import",
                help=f"regate imports {', '.join(KINDS)} resources and the API payloads",
            )
        )
    if has_errors(diagnostics):
        return {}, sorted(diagnostics), texts
    return render_sources(declarations), sorted(diagnostics), texts


@click.command("import")
@click.argument("source")
@click.option("-o", "--output", required=True, help="The directory to write regate sources to.")
def import_command(source: str, output: str) -> None:
    """Turn nullplatform Terraform (.tf) or API JSON payloads into regate sources."""
    if output == STANDARD_OUTPUT:
        raise click.UsageError(
            "import writes one file per kind of block (specifications.rg, policies.rg, "
            "actions.rg): -o names a directory"
        )
    files, diagnostics, texts = import_sources(source)
    unwritable = check_output(output, directory=True)
    if unwritable is not None:
        diagnostics = [unwritable, *diagnostics]
    if diagnostics:
        click.echo(render(diagnostics, texts, "text", __version__), err=True, nl=False)
    if has_errors(diagnostics):
        sys.exit(1)
    for name, text in sorted(files.items()):
        target = Path(output, name)
        try:
            write_atomically(str(target), text.encode())
        except OSError as exc:
            click.echo(render([write_failed(str(target), exc)], {}, "text", __version__), err=True)
            sys.exit(1)
        click.echo(f"wrote {target}", err=True)
