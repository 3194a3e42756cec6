"""nullplatform API payloads → imported objects.

Every shape the API takes or returns: single objects (with ids or without), JSON
arrays of them, list envelopes (`{"paging", "results"}` and `{"results", "total",
"offset", "limit"}`), actions embedding their policies, association bodies.  Values
are written as the payload holds them (`regate check` judges them); each key is
written, reported as not needed for a decision (with the reason), or — when it might
change a decision and regate has no place for it — refused unless --allow-lossy."""

from __future__ import annotations

from collections.abc import Iterator
from typing import cast

from compiler.ast import Array, JsonValue, Member, Node, Object, to_json
from compiler.nullplatform.model import Imported, Link, Ref, id_value
from compiler.nullplatform.terraform import Found
from compiler.parse import parse_source, payload_kind
from compiler.sources import Source

# Payload key → the regate attribute it is written to, by kind (the name is the label).
WRITTEN = {
    "specification": ("id", "description", "entity", "metadata", "nrn", "schema"),
    "policy": ("id", "description", "nrn", "selector", "conditions"),
    "checklist": ("id", "description", "nrn", "definition"),
    "action": (
        "entity",
        "action",
        "nrn",
        "dimensions",
        "on_policy_success",
        "on_policy_fail",
        "on_checklist_fail",
        "time_to_reply",
        "allowed_time_to_execute",
        "enforcement",
        "checklist",
    ),
}
# Keys the API returns that say nothing a decision depends on, and why.
IGNORED = {
    "created_at": "when it was created",
    "updated_at": "when it was last changed",
    "created_by": "who created it",
    "updated_by": "who last changed it",
    "organization": "its organisation, also in its NRN",
    "organization_id": "its organisation, also in its NRN",
    "slug": "a name for URLs",
    "version": "the number of this version",
    "versions": "its other versions; this payload is the version it describes",
    "current_version_id": "the id of its current version",
    "associated_actions": "the actions linked to it; each action's payload names its checklist",
    "associated_actions_count": "how many actions are linked to it",
    "derived_expression": "derived by nullplatform from its items",
}
# Parser diagnostics about a payload's shape; the others (values, conditions) are
# `regate check`'s to report once the sources are written.
SHAPE_CODES = ("RG002", "RG003", "RG015", "RG016", "RG017", "RG018", "RG019", "RG023", "RG059")


def import_payloads(source: Source, node: Node, allow_lossy: bool) -> Found:
    _file, parsed = parse_source(source)
    found = Found([], [], [], [d for d in parsed if d.code in SHAPE_CODES])
    reader = _Reader(source, found, allow_lossy)
    for item in payload_objects(node):
        reader.read(item)
    return found


def payload_objects(node: Node) -> Iterator[Object]:
    """The objects of a document: itself, an array's items, a list's results."""
    if isinstance(node, Array):
        for child in node.items:
            yield from payload_objects(child)
    elif isinstance(node, Object) and payload_kind(node) == "list":
        yield from payload_objects(cast(Member, node.get("results")).value)
    elif isinstance(node, Object):
        yield node


class _Reader:
    def __init__(self, source: Source, found: Found, allow_lossy: bool) -> None:
        self.source = source
        self.found = found
        self.allow_lossy = allow_lossy

    def read(self, node: Object) -> Imported | None:
        kind = payload_kind(node)
        values = {m.key: m for m in node.members if not _null(m.value)}
        status = values.get("status")
        if kind in (None, "hook", "list") or (
            status is not None and to_json(status.value) == "deleted"
        ):
            return None  # the parser reports them (RG003, RG018, RG017)
        if kind == "association":
            self.association(node, values)
            return None
        return self.object(kind, node, values)

    def object(self, kind: str, node: Object, values: dict[str, Member]) -> Imported:
        origin = f"{self.source.name}:{node.span.line}"
        item = Imported(kind, None, {}, origin, node.span)
        for key, member in values.items():
            value = to_json(member.value)
            if key in WRITTEN[kind] or (key == "id" and kind != "action"):
                if not _default(key, value):
                    item.values[key] = value
            elif key == "name" and kind != "action":
                item.label = str(value)
            elif key == "id":
                self.action_id(item, value)
            elif key == "policies" and kind == "action":
                item.policies.extend(self.policies(member.value))
            elif (
                key in ("checklist_specification_id", "checklist_template_id") and kind == "action"
            ):
                self.checklist(item, key, member, values)
            elif key == "status":
                self.status(item, member)
            elif key in IGNORED:
                item.ignore(key, IGNORED[key])
            else:
                self.found.diagnostics.append(
                    item.lose(
                        key,
                        value,
                        f"an attribute regate does not know {kind} payloads to have",
                        member.key_span,
                        self.allow_lossy,
                    )
                )
        if kind in ("specification", "policy", "checklist") and "id" in item.values:
            item.values["id"] = id_value(item.values["id"], kind == "policy")
        self.found.objects.append(item)
        return item

    def action_id(self, item: Imported, value: JsonValue) -> None:
        """An action's id: the API's number; a string is regate's label for it."""
        identity = id_value(value, numeric=True)
        if isinstance(identity, int):
            item.values["id"] = identity
        elif isinstance(identity, str):
            item.label = identity

    def policies(self, node: Node) -> Iterator[Ref]:
        """An action's `policies`: names, ids, `{"policy_id": id}`, or the policies
        themselves as the API embeds them (each also imported)."""
        for element in node.items if isinstance(node, Array) else (node,):
            value = to_json(element)
            if isinstance(element, Object) and payload_kind(element) == "policy":
                embedded = self.read(element)
                if embedded is not None and embedded.values.get("id") is not None:
                    yield Ref(element.span, id=embedded.values["id"])
                elif embedded is not None:
                    yield Ref(element.span, name=embedded.label)
            elif isinstance(value, dict) and set(value) == {"policy_id"}:
                yield Ref(element.span, id=id_value(value["policy_id"], numeric=True))
            elif isinstance(value, str) and not value.isdigit():
                yield Ref(element.span, name=value)
            else:
                yield Ref(element.span, id=id_value(value, numeric=True))

    def checklist(
        self, item: Imported, key: str, member: Member, values: dict[str, Member]
    ) -> None:
        value = to_json(member.value)
        if key == "checklist_template_id":
            mirrored = values.get("checklist_specification_id")
            if mirrored is None or to_json(mirrored.value) == value:
                item.ignore(key, "the legacy name of checklist_specification_id")
                if mirrored is not None:
                    return
            else:
                self.found.diagnostics.append(
                    item.lose(
                        key,
                        value,
                        "it names another checklist than checklist_specification_id",
                        member.key_span,
                        self.allow_lossy,
                    )
                )
                return
        item.checklist = Ref(member.value.span, id=str(value))
        item.checklist_overrides_policies = True

    def status(self, item: Imported, member: Member) -> None:
        value = to_json(member.value)
        if value == "active":
            item.ignore("status", "active: nullplatform decides with it")
        else:
            self.found.diagnostics.append(
                item.lose(
                    "status",
                    value,
                    "regate does not know how nullplatform decides with an object of this status",
                    member.value.span,
                    self.allow_lossy,
                )
            )

    def association(self, node: Object, values: dict[str, Member]) -> None:
        action = values.get("approval_action_id")
        target_key = next(
            (k for k in ("approval_policy_id", "checklist_specification_id") if k in values), None
        )
        if action is None or target_key is None or len(values) != 2:
            return  # RG019, from the parser
        target = values[target_key]
        kind = "policy" if target_key == "approval_policy_id" else "checklist"
        self.found.links.append(
            Link(
                Ref(action.value.span, id=id_value(to_json(action.value), numeric=True)),
                Ref(target.value.span, id=id_value(to_json(target.value), kind == "policy")),
                kind,
                node.span,
            )
        )


def _null(node: Node) -> bool:
    return to_json(node) is None if not isinstance(node, Object | Array) else False


def _default(key: str, value: JsonValue) -> bool:
    """A value that says what its absence says: `{}` dimensions and selector."""
    return key in ("dimensions", "selector") and value == {}
