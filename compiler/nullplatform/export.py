"""`regate export`: regate sources → what nullplatform takes, so that reviewed regate
sources can be the source of truth that Terraform applies.

`--format terraform` writes `nullplatform.tf`: the provider's resources (JSON
attributes as `jsonencode`), an association resource per action and policy, a link
resource per action and checklist, and an `import` block for each object that has an
id, so that Terraform adopts the objects that exist instead of creating them again.
`--format api` writes the JSON bodies the API takes, each with its `id` when it has
one, and the association bodies keyed by those ids.  What nullplatform cannot
express (waivers, finding exceptions, test blocks, entity blocks and what they
declare, audit enforcement, a policy's description; in Terraform, an action's time
limits) is an error unless --allow-lossy, and then reported per object.  Importing
what export writes gives the sources back."""

from __future__ import annotations

import json
from collections.abc import Iterable
from dataclasses import dataclass, field

import click

from compiler.ast import Action, JsonValue, ObjectId, Program, Span
from compiler.bindings import Bindings, bind
from compiler.bundle import STANDARD_OUTPUT
from compiler.diagnostics import Diagnostic, error, has_errors, warning
from compiler.entities import entity_model
from compiler.nullplatform import hclwrite
from compiler.nullplatform.output import report, write_files
from compiler.nullplatform.terraform import (
    ACTION,
    CHECKLIST,
    CHECKLIST_LINK,
    POLICY,
    POLICY_LINK,
    SPECIFICATION,
    identifier,
    unlabelled_name,
)
from compiler.parse import parse
from compiler.sources import Source, load

TERRAFORM_FILE = "nullplatform.tf"
API_FILES = {
    "specification": "specifications.json",
    "policy": "policies.json",
    "checklist": "checklists.json",
    "action": "actions.json",
    "association": "associations.json",
}
RESOURCES = {
    "specification": SPECIFICATION,
    "policy": POLICY,
    "checklist": CHECKLIST,
    "action": ACTION,
}
PROVIDER = """\
terraform {
  required_providers {
    nullplatform = {
      source = "nullplatform/nullplatform"
    }
  }
}
"""


@dataclass
class _Object:
    """One object as nullplatform takes it."""

    kind: str
    body: dict[str, JsonValue]  # the provider's attributes, which are the API's names
    id: ObjectId | None
    span: Span  # where the sources declare it
    origin: str  # `policies.rg:4`, for reports
    title: str  # `policy "Code Coverage"`
    label: str | None = None  # an action's label
    name: str = ""  # its Terraform resource name
    policies: list[_Object] = field(default_factory=list)
    checklist: _Object | None = None


@dataclass
class ExportResult:
    files: dict[str, str]
    report: list[str]
    diagnostics: list[Diagnostic]
    texts: dict[str, str]


class _Export:
    def __init__(
        self, program: Program, bindings: Bindings, where: dict[str, str], fmt: str, lossy: bool
    ) -> None:
        self.program = program
        self.bindings = bindings
        self.where = where
        self.format = fmt
        self.allow_lossy = lossy
        self.diagnostics: list[Diagnostic] = []
        self.report: list[str] = []
        self.by_span: dict[Span, _Object] = {}

    def origin(self, span: Span) -> str:
        return f"{self.where.get(span.file, span.file)}:{span.line}"

    def lose(self, item: str, span: Span, what: str, reason: str) -> None:
        """What nullplatform cannot take: an error, or with --allow-lossy reported."""
        if self.allow_lossy:
            self.report.append(f"{self.origin(span)} {item}: not exported: {what} ({reason})")
            self.diagnostics.append(
                warning("RG093", span, f"{item}: {what} not exported ({reason})")
            )
        else:
            self.diagnostics.append(
                error(
                    "RG093",
                    span,
                    f"{item}: {what} cannot be exported ({reason})",
                    help="pass --allow-lossy to export without it (it is then reported)",
                )
            )

    def objects(self) -> list[_Object]:
        found: list[_Object] = []
        program = self.program
        for specification in program.specifications:
            if specification.entity not in entity_model().entities:
                title = f'specification "{specification.name}"'
                reason = f"{specification.entity} is an entity block's; nullplatform has none"
                self.lose(title, specification.span, "the specification", reason)
                continue
            body: dict[str, JsonValue] = {"name": specification.name}
            if specification.description:
                body["description"] = specification.description
            body.update(
                nrn=specification.nrn.text,
                entity=specification.entity,
                metadata=specification.metadata,
                schema=specification.schema,
            )
            title = f'specification "{specification.name}"'
            found.append(
                self.add(specification.span, "specification", body, specification.id, title)
            )
        for policy in program.policies:
            body = {
                "nrn": policy.nrn.text,
                "name": policy.name,
                "conditions": policy.conditions_value,
            }
            if policy.selector_value:
                body["selector"] = policy.selector_value
            if policy.description:
                self.lose(
                    policy.title, policy.span, "`description`", "nullplatform policies have none"
                )
            found.append(self.add(policy.span, "policy", body, policy.id, policy.title))
        for checklist in program.checklists:
            body = {"nrn": checklist.nrn.text, "name": checklist.name}
            if checklist.description:
                body["description"] = checklist.description
            body["definition"] = checklist.definition
            title = f'checklist "{checklist.name}"'
            found.append(self.add(checklist.span, "checklist", body, checklist.id, title))
        built_in = entity_model()
        for action in program.actions:
            if action.action not in built_in.actions:
                reason = f"{action.action} is an entity block's action; nullplatform has none"
                self.lose(action.title, action.span, "the action", reason)
                continue
            found.append(self.action(action))
        for waiver in program.waivers:
            title = f'waiver "{waiver.name}"'
            self.lose(title, waiver.span, "the waiver", "nullplatform has no waivers")
        for test in program.tests:
            title = f'test "{test.name}"'
            self.lose(title, test.span, "the test block", "nullplatform has no test blocks")
        for exception in program.exceptions:
            title = f'exception "{exception.name}"'
            reason = "nullplatform has no finding exceptions"
            self.lose(title, exception.span, "the exception", reason)
        for entity in program.entities:
            title = f'entity "{entity.name}"'
            reason = "nullplatform's entities and actions are its own"
            self.lose(title, entity.span, "the entity block", reason)
        return found

    def add(
        self, span: Span, kind: str, body: dict[str, JsonValue], id: ObjectId | None, title: str
    ) -> _Object:
        item = _Object(kind, body, id, span, self.origin(span), title)
        self.by_span[span] = item
        return item

    def action(self, action: Action) -> _Object:
        body: dict[str, JsonValue] = {
            "nrn": action.nrn.text,
            "entity": action.entity,
            "action": action.action,
        }
        if action.dimensions:
            body["dimensions"] = dict(action.dimensions)
        body["on_policy_success"] = action.on_policy_success
        body["on_policy_fail"] = action.on_policy_fail
        if action.on_checklist_fail is not None:
            body["on_checklist_fail"] = action.on_checklist_fail
        for limit in ("time_to_reply", "allowed_time_to_execute"):
            given = getattr(action, limit)
            if given is None:
                continue
            if self.format == "terraform":
                self.lose(
                    action.title,
                    action.span,
                    f"`{limit}`",
                    "the Terraform provider has no such attribute",
                )
            else:
                body[limit] = given
        if action.enforcement == "audit":
            self.lose(
                action.title,
                action.span,
                "`enforcement = audit`",
                "nullplatform enforces every action: exported, it would gate",
            )
        identity, label = _action_identity(action)
        item = self.add(action.span, "action", body, identity, action.title)
        item.label = label
        return item

    def bind(self, objects: list[_Object]) -> None:
        for action in self.program.actions:
            item = self.by_span.get(action.span)
            if item is None:  # not exported
                continue
            item.policies = [self.by_span[p.span] for p in self.bindings.policies_of(action)]
            checklist = self.bindings.checklist_of(action)
            item.checklist = self.by_span[checklist.span] if checklist else None

    # --- Terraform ---

    def terraform(self, objects: list[_Object]) -> str:
        self.name(objects)
        parts = [PROVIDER]
        for kind in ("specification", "policy", "checklist", "action"):
            for item in (o for o in objects if o.kind == kind):
                parts.append(self.resource(item))
                if item.kind == "action":
                    parts.extend(self.links(item))
        return "\n".join(parts)

    def name(self, objects: list[_Object]) -> None:
        """Each object's resource name: an action's label, else its name as an identifier."""
        used: set[tuple[str, str]] = set()
        for item in objects:
            if item.kind == "action":
                wanted = (
                    identifier(item.label) if item.label is not None else unlabelled_name(item.body)
                )
                if item.label is not None and wanted != item.label:
                    self.report.append(
                        f"{item.origin} {item.title}: written as resource {wanted}, which "
                        "import labels so"
                    )
            else:
                wanted = identifier(str(item.body["name"]).lower())
            name, count = wanted, 1
            while (item.kind, name) in used:
                count += 1
                name = f"{wanted}_{count}"
            used.add((item.kind, name))
            item.name = name

    def resource(self, item: _Object) -> str:
        pairs: list[tuple[str, str]] = []
        for attribute, given in item.body.items():
            if attribute in ("schema", "conditions", "selector", "definition"):
                pairs.append((attribute, f"jsonencode({hclwrite.value(given, 1)})"))
            else:
                pairs.append((attribute, hclwrite.value(given, 1)))
        inner = []
        if item.kind == "action" and item.policies:
            # The associations below manage its policies: the action must not undo them.
            inner.append("lifecycle {\n  ignore_changes = [policies]\n}")
        resource = RESOURCES[item.kind]
        text = hclwrite.block(f'resource "{resource}" "{item.name}"', pairs, inner)
        if item.id is not None:
            text += "\n" + _import_block(f"{resource}.{item.name}", item.id)
        return text

    def links(self, action: _Object) -> list[str]:
        parts = []
        reference = f"{ACTION}.{action.name}.id"
        for policy in action.policies:
            pairs = [
                ("approval_action_id", reference),
                ("approval_policy_id", f"{POLICY}.{policy.name}.id"),
            ]
            name = f"{action.name}_{policy.name}"
            parts.append(hclwrite.block(f'resource "{POLICY_LINK}" "{name}"', pairs))
        if action.checklist is not None:
            pairs = [
                ("approval_action_id", reference),
                (
                    "checklist_specification_id",
                    f"{CHECKLIST}.{action.checklist.name}.current_version_id",
                ),
            ]
            text = hclwrite.block(f'resource "{CHECKLIST_LINK}" "{action.name}"', pairs)
            if action.id is not None:  # the link is imported by its action's id
                text += "\n" + _import_block(f"{CHECKLIST_LINK}.{action.name}", action.id)
            parts.append(text)
        return parts

    # --- API ---

    def api(self, objects: list[_Object]) -> dict[str, list[JsonValue]]:
        payloads: dict[str, list[JsonValue]] = {kind: [] for kind in API_FILES}
        for item in objects:
            body = {"id": item.id, **item.body} if item.id is not None else dict(item.body)
            payloads[item.kind].append(body)
            if item.kind == "action":
                if item.label is not None:
                    self.report.append(
                        f"{item.origin} {item.title}: its label is not exported "
                        "(nullplatform actions have no name)"
                    )
                payloads["association"].extend(self.associations(item))
        return {kind: bodies for kind, bodies in payloads.items() if bodies}

    def associations(self, action: _Object) -> Iterable[JsonValue]:
        targets = [("approval_policy_id", p) for p in action.policies]
        if action.checklist is not None:
            targets.append(("checklist_specification_id", action.checklist))
        for key, target in targets:
            missing = [o.title for o in (action, target) if o.id is None]
            if missing:
                self.lose(
                    action.title,
                    action.span,
                    f"its association with {target.title}",
                    f"the API associates by ids, and {' and '.join(missing)} "
                    f"{'have' if len(missing) > 1 else 'has'} none; give it the id nullplatform "
                    "assigned, or export --format terraform",
                )
                continue
            yield {"approval_action_id": action.id, key: target.id}


def _action_identity(action: Action) -> tuple[ObjectId | None, str | None]:
    """An action's nullplatform id (a number) and its label, if it has them."""
    identity = action.id
    if isinstance(identity, str) and identity.isdigit():
        identity = int(identity)
    if action.name is not None:
        return (identity if isinstance(identity, int) else None), action.name
    if isinstance(identity, int):
        return identity, None
    return None, (None if action.id_is_derived else str(action.id))


def _import_block(address: str, identity: ObjectId) -> str:
    return hclwrite.block("import", [("to", address), ("id", hclwrite.string(str(identity)))])


def export_sources(arguments: list[str], fmt: str, allow_lossy: bool = False) -> ExportResult:
    """nullplatform's Terraform or API payloads from regate sources; no files when
    there are errors."""
    sources, diagnostics = load(arguments)
    texts = {s.path: s.text for s in sources}
    program, found = parse(sources)
    diagnostics.extend(found)
    if has_errors(diagnostics):
        return ExportResult({}, [], sorted(diagnostics), texts)
    if not (program.specifications or program.policies or program.actions or program.checklists):
        where = Span(arguments[0] if arguments else ".", 1, 1, 1, 1)
        message = "the sources declare no specification, policy, checklist or action to export"
        return ExportResult({}, [], [*diagnostics, error("RG094", where, message)], texts)
    bindings, found = bind(program)
    diagnostics.extend(found)
    if has_errors(diagnostics):
        return ExportResult({}, [], sorted(diagnostics), texts)
    export = _Export(program, bindings, _where(sources), fmt, allow_lossy)
    objects = export.objects()
    export.bind(objects)
    if fmt == "terraform":
        files = {TERRAFORM_FILE: export.terraform(objects)}
    else:
        files = {API_FILES[kind]: _json(bodies) for kind, bodies in export.api(objects).items()}
    diagnostics.extend(export.diagnostics)
    if has_errors(diagnostics):
        files = {}
    return ExportResult(files, export.report, sorted(diagnostics), texts)


def _where(sources: list[Source]) -> dict[str, str]:
    return {s.path: s.name for s in sources}


def _json(value: JsonValue) -> str:
    return json.dumps(value, indent=2, ensure_ascii=False) + "\n"


@click.command("export")
@click.argument("sources", nargs=-1, required=True)
@click.option("-o", "--output", required=True, help="The directory to write to (- : stdout).")
@click.option(
    "--format",
    "fmt",
    type=click.Choice(["terraform", "api"]),
    default="terraform",
    show_default=True,
    help="Terraform resources, or the API's JSON bodies.",
)
@click.option(
    "--allow-lossy",
    is_flag=True,
    help="Export even when what nullplatform cannot express is left out (reported).",
)
def export_command(sources: tuple[str, ...], output: str, fmt: str, allow_lossy: bool) -> None:
    """Write regate SOURCES as nullplatform Terraform or API payloads."""
    result = export_sources(list(sources), fmt, allow_lossy)
    report(result.diagnostics, result.texts, result.report, output)
    if output == STANDARD_OUTPUT:
        if fmt == "api":  # one JSON array: every payload, then the associations
            payloads = [body for text in result.files.values() for body in json.loads(text)]
            click.echo(_json(payloads), nl=False)
        else:
            click.echo(result.files[TERRAFORM_FILE], nl=False)
        return
    write_files(result.files, output)
