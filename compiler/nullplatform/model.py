"""What an import finds, whatever it read it from: the objects of a nullplatform
organisation (metadata specifications, approval policies, checklist specifications,
approval actions) with their regate attributes, where each came from and what of it
was not kept; the links between them (associations, an action's policies); and the
resolution of those links into each action's `policies` and `checklist`."""

from __future__ import annotations

import json
from collections.abc import Iterable
from dataclasses import dataclass, field

from compiler.ast import JsonValue, ObjectId, Span
from compiler.diagnostics import Diagnostic, error, warning
from compiler.parse import KNOWN_FIELDS

# In the order an import writes them, each kind to its own file.
KINDS = ("specification", "policy", "checklist", "action")
OUTPUT_FILES = {
    "specification": "specifications.rg",
    "policy": "policies.rg",
    "checklist": "checklists.rg",
    "action": "actions.rg",
}
# The written attributes of each kind, in the parser's order (the name is the label).
ATTRIBUTES = {kind: tuple(f for f in KNOWN_FIELDS[kind] if f != "name") for kind in KINDS}

LOSSY_HELP = (
    "regate cannot tell whether it changes a decision; pass --allow-lossy to import "
    "without it (it is then a comment in the written source)"
)


@dataclass(frozen=True)
class Ref:
    """How an object names another: by Terraform address, by id or by name."""

    span: Span
    address: str | None = None
    id: ObjectId | None = None
    name: str | None = None

    def __str__(self) -> str:
        if self.address is not None:
            return self.address
        return f"id {self.id}" if self.id is not None else f'"{self.name}"'


@dataclass
class Imported:
    """One object of the organisation, as it will be written."""

    kind: str  # specification | policy | checklist | action
    label: str | None  # the block's label: a name, or a Terraform resource name
    values: dict[str, JsonValue]  # regate attribute → value (policies and checklist: below)
    origin: str  # `approvals.tf:12 nullplatform_approval_policy.coverage`
    span: Span
    address: str | None = None  # its Terraform address, when Terraform manages it
    ignored: list[str] = field(default_factory=list)  # "lifecycle (a Terraform meta-argument)"
    lossy: list[str] = field(default_factory=list)  # what could change a decision, not kept
    notes: list[str] = field(default_factory=list)
    policies: list[Ref] = field(default_factory=list)
    checklist: Ref | None = None
    # A reference written as an id (its JSON) → the name of what it names, for a comment.
    named: dict[str, str] = field(default_factory=dict)
    # An API payload (or state) of an action linked to a checklist still lists the
    # policies it used before: nullplatform decides with the checklist.
    checklist_overrides_policies: bool = False

    @property
    def title(self) -> str:
        if self.address is not None:
            return self.address
        if self.kind == "action":
            return f"action {self.label or self.values.get('id') or self.values.get('action')}"
        return f'{self.kind} "{self.label}"'

    def ignore(self, attribute: str, reason: str) -> None:
        self.ignored.append(f"{attribute} ({reason})")

    def lose(
        self, attribute: str, value: JsonValue, reason: str, span: Span, allow: bool
    ) -> Diagnostic:
        """An attribute that may change a decision and cannot be written: an error, or
        with --allow-lossy a warning and a comment in the source."""
        shown = json.dumps(value, ensure_ascii=False)
        if len(shown) > 60:
            shown = shown[:57] + "..."
        if allow:
            self.lossy.append(f"{attribute} = {shown} ({reason})")
            return warning(
                "RG093",
                span,
                f"{self.title}: `{attribute}` not imported ({reason})",
                help="it is a comment in the written source; nullplatform decides with it",
            )
        return error(
            "RG093",
            span,
            f"{self.title}: `{attribute}` = {shown} cannot be imported ({reason})",
            help=LOSSY_HELP,
        )


@dataclass(frozen=True)
class Link:
    """An association: an action uses a policy or a checklist."""

    action: Ref
    target: Ref
    target_kind: str  # policy | checklist
    span: Span


def id_value(value: JsonValue, numeric: bool) -> ObjectId | None:
    """An id as the API writes it: actions and policies have integer ids (Terraform
    writes them as strings), specifications and checklists string ids."""
    if isinstance(value, bool) or value is None or value == "":
        return None
    if numeric and isinstance(value, str) and value.isdigit():
        return int(value)
    return value if isinstance(value, int | str) else None


class _Index:
    def __init__(self, objects: Iterable[Imported]) -> None:
        self.by_address: dict[tuple[str, str], Imported] = {}
        self.by_id: dict[tuple[str, str], Imported] = {}
        self.by_name: dict[tuple[str, str], list[Imported]] = {}
        for item in objects:
            if item.address is not None:
                self.by_address.setdefault((item.kind, item.address), item)
            if item.values.get("id") is not None:
                self.by_id.setdefault((item.kind, str(item.values["id"])), item)
            if item.label is not None:
                self.by_name.setdefault((item.kind, item.label), []).append(item)

    def find(self, kind: str, ref: Ref) -> Imported | None:
        """The object a reference names; by name only when one object has that name
        (else `regate check` resolves it at the referrer's NRN)."""
        if ref.address is not None:
            return self.by_address.get((kind, ref.address))
        if ref.id is not None:
            return self.by_id.get((kind, str(ref.id)))
        named = self.by_name.get((kind, ref.name or ""), [])
        return named[0] if len(named) == 1 else None


def link(
    objects: list[Imported], links: Iterable[Link], failed: Iterable[str] = ()
) -> list[Diagnostic]:
    """Each link added to its action; then every reference written as the target's id
    when it has one, else its name.  A link to an object not imported is an error,
    unless the object failed to import (its own errors say why)."""
    index = _Index(objects)
    broken = set(failed)
    diagnostics: list[Diagnostic] = []
    for found in links:
        action = index.find("action", found.action)
        if action is None:
            if found.action.address not in broken:
                diagnostics.append(_missing(found.action, "approval action"))
            continue
        if found.target_kind == "policy":
            action.policies.append(found.target)
        elif (
            action.checklist is not None
            and _written(index, "checklist", action.checklist)[0]
            != _written(index, "checklist", found.target)[0]
        ):
            diagnostics.append(
                error(
                    "RG046",
                    found.span,
                    f"{action.title} is linked to a second checklist ({found.target})",
                    help="an action uses one checklist specification",
                )
            )
        else:
            action.checklist = found.target
    for action in (o for o in objects if o.kind == "action"):
        diagnostics.extend(_resolve(index, action, broken))
    return diagnostics


def _missing(ref: Ref, what: str) -> Diagnostic:
    return error(
        "RG092",
        ref.span,
        f"the association refers to {what} {ref}, which the imported files do not define",
        help="import the files that define it together (a directory), with the state if "
        "it names objects by id",
    )


def _written(index: _Index, kind: str, ref: Ref) -> tuple[JsonValue, str | None]:
    """How a source names the object `ref` points to, and its name for a comment."""
    target = index.find(kind, ref)
    if target is None:
        return (ref.id if ref.id is not None else ref.name), None
    if target.values.get("id") is not None:
        return target.values["id"], target.label
    return target.label, None


def _resolve(index: _Index, action: Imported, broken: set[str]) -> list[Diagnostic]:
    diagnostics: list[Diagnostic] = []
    refs = action.policies
    if action.checklist is not None and action.checklist_overrides_policies and refs:
        listed = ", ".join(str(r) for r in refs)
        action.ignore(
            "policies",
            f"{listed}: the policies it used before its checklist; nullplatform decides "
            "with the checklist",
        )
        refs = []
    written: list[JsonValue] = []
    for ref in refs:
        if ref.address is not None and index.find("policy", ref) is None:
            if ref.address not in broken:
                diagnostics.append(_missing(ref, "approval policy"))
            continue
        value, name = _written(index, "policy", ref)
        if value not in written:
            written.append(value)
            if name is not None:
                action.named[json.dumps(value)] = name
    if written:
        action.values["policies"] = written
    if action.checklist is not None:
        if (
            action.checklist.address is not None
            and index.find("checklist", action.checklist) is None
        ):
            diagnostics.append(_missing(action.checklist, "checklist specification"))
        else:
            value, name = _written(index, "checklist", action.checklist)
            action.values["checklist"] = value
            if name is not None:
                action.named[json.dumps(value)] = name
    return diagnostics


def once_each(objects: list[Imported]) -> list[Imported]:
    """API responses repeat a policy in every action that uses it: an object with the
    id and the content of an earlier one is the same object."""
    seen: dict[tuple[str, str], Imported] = {}
    kept = []
    for item in objects:
        identity = item.values.get("id")
        if identity is not None:
            first = seen.setdefault((item.kind, str(identity)), item)
            if first is not item and (first.label, first.values) == (item.label, item.values):
                first.notes.append(f"also in {item.origin}")
                first.ignored.extend(i for i in item.ignored if i not in first.ignored)
                first.lossy.extend(i for i in item.lossy if i not in first.lossy)
                continue
        kept.append(item)
    return kept


def settle(objects: Iterable[Imported]) -> None:
    """What an attribute's absence means, written out or left out alike whatever the
    input: an action's outcomes are `manual` unless given (nullplatform's default);
    an empty description is none."""
    for item in objects:
        if item.values.get("description") == "":
            del item.values["description"]
        if item.kind == "action":
            item.values.setdefault("on_policy_success", "manual")
            item.values.setdefault("on_policy_fail", "manual")
