"""nullplatform's Terraform → imported objects.

A configuration is the `.tf` files of one directory, its variables and, when given,
its Terraform state.  Each approval resource becomes an object: attributes from the
configuration where regate can evaluate them (hcl.py), else from the state, which
records what Terraform applied (ids, computed NRNs, what data sources read).  An
attribute neither can tell is an error naming it and how to provide it.  A state
alone imports every approval resource it holds.  The provider's attributes, and what
becomes of each, are the tables below (docs/import.md lists them)."""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import cast

from compiler.ast import JsonValue, Span
from compiler.diagnostics import Diagnostic, error, warning
from compiler.nullplatform.hcl import (
    STATE_HELP,
    Attribute,
    Block,
    Expression,
    JsonText,
    Scope,
    Unknown,
    Variable,
    decode_json,
    evaluate,
    reference,
    tuple_elements,
)
from compiler.nullplatform.model import Imported, Link, Ref, id_value
from compiler.nullplatform.state import Instance, State
from compiler.parse import derived_action_id
from compiler.sources import JsonProblem

SPECIFICATION = "nullplatform_metadata_specification"
POLICY = "nullplatform_approval_policy"
ACTION = "nullplatform_approval_action"
CHECKLIST = "nullplatform_checklist_specification"
POLICY_LINK = "nullplatform_approval_action_policy_association"
CHECKLIST_LINK = "nullplatform_approval_action_checklist_specification_association"
HOOK = "nullplatform_entity_hook_action"
OBJECT_KINDS = {
    SPECIFICATION: "specification",
    POLICY: "policy",
    CHECKLIST: "checklist",
    ACTION: "action",
}
RESOURCE_OF = {kind: resource for resource, kind in OBJECT_KINDS.items()}
SLUGS = ("account", "namespace", "application", "scope")
META_ARGUMENTS = ("count", "for_each", "depends_on", "provider", "lifecycle")
META_BLOCKS = ("lifecycle", "provisioner", "connection", "timeouts")
META_REASON = "a Terraform meta-argument: how Terraform manages the resource"


@dataclass(frozen=True)
class Role:
    """What an attribute of a provider resource becomes."""

    read: str  # value | json | dimensions | id | numeric id | name | nrn | slug | policies
    #            | checklist | action | policy | ignored
    to: str | None = None  # the regate attribute it is written to
    computed: bool = False  # the state's value counts when the configuration leaves it out
    reason: str = ""  # why an ignored attribute is not written


_NRN = {"nrn": Role("nrn", "nrn", computed=True), **{slug: Role("slug") for slug in SLUGS}}
# Every attribute of the provider's approval resources (both provider versions).
RESOURCES: dict[str, dict[str, Role]] = {
    SPECIFICATION: {
        **_NRN,
        "name": Role("name"),
        "description": Role("value", "description"),
        "entity": Role("value", "entity"),
        "metadata": Role("value", "metadata"),
        "schema": Role("json", "schema"),
        "id": Role("id", "id", computed=True),
    },
    POLICY: {
        **_NRN,
        "name": Role("name"),
        "selector": Role("json", "selector"),
        "conditions": Role("json", "conditions"),
        "id": Role("numeric id", "id", computed=True),
    },
    CHECKLIST: {
        **_NRN,
        "name": Role("name"),
        "description": Role("value", "description"),
        "definition": Role("json", "definition"),
        "current_version_id": Role("id", "id", computed=True),
        "version": Role("ignored", computed=True, reason="the number of its current version"),
        "id": Role("ignored", computed=True, reason="<nrn>/<name>, its NRN and name"),
    },
    ACTION: {
        **_NRN,
        "entity": Role("value", "entity"),
        "action": Role("value", "action"),
        "dimensions": Role("dimensions", "dimensions"),
        "on_policy_success": Role("value", "on_policy_success", computed=True),
        "on_policy_fail": Role("value", "on_policy_fail", computed=True),
        "on_checklist_fail": Role("value", "on_checklist_fail", computed=True),
        "time_to_reply": Role("value", "time_to_reply", computed=True),
        "allowed_time_to_execute": Role("value", "allowed_time_to_execute", computed=True),
        "policies": Role("policies"),
        "checklist_specification_id": Role("checklist", computed=True),
        "id": Role("numeric id", "id", computed=True),
    },
    POLICY_LINK: {
        "approval_action_id": Role("action"),
        "approval_policy_id": Role("policy"),
        "id": Role("ignored", reason="<action id>-<policy id>, the two ids it links"),
    },
    CHECKLIST_LINK: {
        "approval_action_id": Role("action"),
        "checklist_specification_id": Role("checklist"),
        "id": Role("ignored", reason="the id of its approval action"),
    },
}


def unlabelled_name(values: Mapping[str, JsonValue]) -> str:
    """The Terraform resource name `regate export` gives an action without a label: its
    derived id as an identifier, with a digest of the id itself, since two ids can make
    one identifier (`environment=""` and `environment="\""`).  Import gives a resource
    of that name back no label."""
    dimensions = values.get("dimensions")
    pairs = (
        [(str(k), str(v)) for k, v in dimensions.items()] if isinstance(dimensions, dict) else []
    )
    derived = derived_action_id(str(values.get("action")), str(values.get("nrn")), pairs)
    digest = hashlib.sha256(derived.encode()).hexdigest()[:8]
    return f"{identifier(derived)}_{digest}"


def identifier(text: str) -> str:
    """A Terraform identifier for a text: runs of other characters become `_`."""
    name = re.sub(r"[^A-Za-z0-9_-]+", "_", text).strip("_")
    return name if re.match(r"[A-Za-z_]", name) else f"_{name}"


@dataclass
class Found:
    """What a configuration (or a state alone) holds."""

    objects: list[Imported]
    links: list[Link]
    report: list[str]
    diagnostics: list[Diagnostic]
    # Objects that could not be imported (their errors say why): links to them are
    # not errors of their own.
    failed: set[str] = field(default_factory=set)


class _Import:
    def __init__(
        self,
        blocks: list[Block],
        state: State | None,
        variables: Mapping[str, Variable],
        allow_lossy: bool,
        prefix: str,
    ) -> None:
        self.blocks = blocks
        # Addresses are a configuration's own: another directory's are told apart by it.
        self.prefix = prefix
        self.state = state
        self.allow_lossy = allow_lossy
        locals_ = {
            name: attribute.value
            for block in blocks
            if block.type == "locals"
            for name, attribute in block.attributes.items()
        }
        self.scope = Scope(variables, locals_, self.lookup, state is not None)
        self.found = Found([], [], [], [])
        self.import_ids: dict[str, tuple[str, Span]] = {}
        self.link_action_ids: dict[str, JsonValue] = {}
        # `moved { from = OLD, to = NEW }`: until the next apply the state has it as OLD.
        self.moved: dict[tuple[str, str], tuple[str, str]] = {}

    def lookup(
        self, mode: str, type: str, name: str, key: JsonValue
    ) -> Mapping[str, JsonValue] | None:
        if self.state is None:
            return None
        instance = self.state.find(mode, type, name, key)
        if instance is None and mode == "managed" and (type, name) in self.moved:
            instance = self.state.find(mode, *self.moved[(type, name)], key)
        return instance.attributes if instance else None

    def fail(self, diagnostic: Diagnostic) -> None:
        self.found.diagnostics.append(diagnostic)

    def unknown(self, exc: Unknown, attribute: str) -> None:
        self.fail(
            error("RG091", exc.span, f"cannot import `{attribute}`: {exc.what}", help=exc.how)
        )

    def run(self) -> Found:
        self.read_import_blocks()
        self.read_moved_blocks()
        configured: set[tuple[str, str]] = set()
        for block in self.blocks:
            if block.type == "resource" and len(block.labels) == 2:
                configured.add((block.labels[0], block.labels[1]))
                self.resource(block)
            elif block.type == "module" and block.labels:
                self.module(block)
        if self.state is not None:
            self.state_only(configured)
        for item in self.found.objects:  # a checklist link is imported by its action's id
            found = self.link_action_ids.get(item.address or "")
            if found is not None and item.kind == "action":
                item.values.setdefault("id", found)
        return self.found

    def read_import_blocks(self) -> None:
        """`import { to = ADDRESS, id = "..." }`: the id of an object Terraform adopts."""
        for block in self.blocks:
            if block.type != "import" or "to" not in block.attributes:
                continue
            target = block.attributes["to"].value
            found = reference(target, self.scope)
            given = block.attributes.get("id")
            if found is None or given is None:
                continue
            try:
                value = evaluate(given.value, self.scope)
            except Unknown as exc:
                self.unknown(exc, "id")
                continue
            address = f"{found.type}.{found.name}"
            if found.key is not None:
                address += f"[{json.dumps(found.key)}]"
            self.import_ids[address] = (str(value), given.span)

    def read_moved_blocks(self) -> None:
        for block in self.blocks:
            ends = [block.attributes.get(end) for end in ("from", "to")]
            if block.type != "moved" or None in ends:
                continue
            old, new = (reference(cast(Attribute, end).value, self.scope) for end in ends)
            if old is not None and new is not None and old.mode == new.mode == "managed":
                self.moved[(new.type, new.name)] = (old.type, old.name)

    def stored(self, type: str, name: str) -> list[Instance]:
        """A resource's instances in the state, under the name it had before a `moved`."""
        if self.state is None:
            return []
        found = self.state.of("managed", type, name)
        if not found and (type, name) in self.moved:
            found = self.state.of("managed", *self.moved[(type, name)])
        return found

    def module(self, block: Block) -> None:
        name = block.labels[0]
        where = f"{block.file}:{block.line} module.{name}"
        held = self.state is not None and any(
            i.module == f"module.{name}" or i.module.startswith(f"module.{name}.")
            for i in self.state.instances
        )
        self.found.report.append(
            f"{where}: not read; its resources are imported from the state"
            if held
            else f"{where}: not read; import its directory (or this one with its state) to "
            "import the approval resources it manages"
        )

    def resource(self, block: Block) -> None:
        type, name = block.labels
        where = f"{block.file}:{block.line} {type}.{name}"
        if type == HOOK:
            self.fail(
                warning(
                    "RG018",
                    block.span,
                    f"{type}.{name} is an entity hook action: it decides no approval, so it "
                    "is not imported",
                    help="entity hooks notify a channel before or after an entity operation",
                )
            )
            return
        if type not in RESOURCES:
            reason = "another nullplatform resource" if type.startswith("nullplatform_") else ""
            self.found.report.append(
                f"{where}: skipped, not an approval resource" + (f" ({reason})" if reason else "")
            )
            return
        expansion = next(
            (block.attributes[m] for m in ("count", "for_each") if m in block.attributes), None
        )
        instances = self.stored(type, name)
        if expansion is None:
            single = [i for i in instances if i.key is None]
            self.instance(type, name, None, block, single[0] if single else None)
            return
        if self.state is None:
            self.fail(
                error(
                    "RG091",
                    expansion.span,
                    f"cannot import {type}.{name}: `{expansion.name}` makes instances only "
                    "Terraform counts",
                    help=STATE_HELP + ", which holds every instance",
                )
            )
        elif not instances:
            self.found.report.append(
                f"{where}: no instance in the state ({expansion.name}), nothing imported"
            )
        for found in instances:
            self.instance(type, name, found.key, block, found)

    def state_only(self, configured: set[tuple[str, str]]) -> None:
        """What the state holds and the configuration does not: everything, for a
        state alone; else resources of child modules, and removed ones (reported)."""
        assert self.state is not None
        for instance in self.state.instances:
            if instance.mode != "managed":
                continue  # a data source: what Terraform read, not an object
            configured_here = not instance.module and bool(self.blocks)
            if instance.type not in RESOURCES:
                if not configured_here:
                    self.other(instance)
                continue
            moved_away = (instance.type, instance.name) in self.moved.values()
            if configured_here:
                if (instance.type, instance.name) not in configured and not moved_away:
                    self.found.report.append(
                        f"{self.state.name}:{instance.span.line} {instance.address}: in the state "
                        "but not in the configuration (terraform apply destroys it), not imported"
                    )
                continue
            self.instance(instance.type, instance.name, instance.key, None, instance)

    def other(self, instance: Instance) -> None:
        """A resource of the state that is no approval object: reported."""
        assert self.state is not None
        where = f"{self.state.name}:{instance.span.line} {instance.address}"
        if instance.type == HOOK:
            self.fail(
                warning(
                    "RG018",
                    instance.span,
                    f"{instance.address} is an entity hook action: it decides no approval, so "
                    "it is not imported",
                    help="entity hooks notify a channel before or after an entity operation",
                )
            )
        else:
            self.found.report.append(f"{where}: skipped, not an approval resource")

    def instance(
        self,
        type: str,
        name: str,
        key: JsonValue,
        block: Block | None,
        instance: Instance | None,
    ) -> None:
        _Resource(self, type, name, key, block, instance).read()


class _Resource:
    """One instance of an approval resource, read from its configuration, its state or both."""

    def __init__(
        self,
        owner: _Import,
        type: str,
        name: str,
        key: JsonValue,
        block: Block | None,
        instance: Instance | None,
    ) -> None:
        self.owner = owner
        self.type = type
        self.name = name
        self.key = key
        self.block = block
        self.instance = instance
        module = f"{instance.module}." if instance and instance.module else ""
        index = "" if key is None else f"[{json.dumps(key)}]"
        self.address = f"{module}{type}.{name}{index}"
        state = owner.state
        if block is not None:
            self.origin = f"{block.file}:{block.line} {self.address}"
            self.span = block.span
        else:
            assert instance is not None and state is not None
            self.origin = f"{state.name}:{instance.span.line} {self.address}"
            self.span = instance.span
        if block is not None and instance is not None and state is not None:
            self.origin += f" (state: {state.name})"
        self.roles = RESOURCES[type]
        self.item = Imported(
            OBJECT_KINDS.get(type, "link"),
            None,
            {},
            self.origin,
            self.span,
            owner.prefix + self.address,
        )

    # --- attribute values ---

    def state_value(self, attribute: str) -> JsonValue:
        if self.instance is None:
            return None
        value = self.instance.attributes.get(attribute)
        if value in (None, "") and attribute in ("approval_action_id", "approval_policy_id"):
            value = self.id_part(attribute)
        return None if value in ("", [], {}) and attribute not in ("dimensions",) else value

    def id_part(self, attribute: str) -> JsonValue:
        """An association's ends as its own id holds them (`<action id>-<policy id>`; a
        checklist link's id is its action's): a resource imported by id alone keeps
        only that in the state."""
        assert self.instance is not None
        own = str(self.instance.attributes.get("id") or "")
        if self.type == CHECKLIST_LINK:
            return own if attribute == "approval_action_id" and own else None
        found = re.fullmatch(r"(\d+)-(\d+)", own) if self.type == POLICY_LINK else None
        if found is None:
            return None
        return found.group(1) if attribute == "approval_action_id" else found.group(2)

    def value(self, attribute: str) -> tuple[bool, JsonValue]:
        """Whether the attribute has a value, and the value: the configuration's, else
        (for what the provider computes, or without a configuration) the state's."""
        role = self.roles[attribute]
        given = self.block.attributes.get(attribute) if self.block else None
        stored = self.state_value(attribute)
        if given is None:
            if (self.block is None or role.computed) and stored is not None:
                return True, stored
            return False, None
        try:
            value = evaluate(given.value, self.owner.scope)
        except Unknown as exc:
            if stored is not None:
                return True, stored
            self.owner.unknown(exc, attribute)
            return False, None
        if stored is not None and not _same(value, stored, role.read == "json"):
            self.owner.fail(
                warning(
                    "RG097",
                    given.span,
                    f"{self.address}: `{attribute}` is {_shown(value)} here and "
                    f"{_shown(stored)} in {self.owner.state.name if self.owner.state else ''}",
                    help="the configuration is imported; terraform apply would change "
                    "nullplatform to match it",
                )
            )
        return True, value

    def read(self) -> None:
        if self.block is not None:
            self.meta()
            self.unknown_attributes()
        if self.instance is not None:
            self.unknown_state_attributes()
        if self.type in (POLICY_LINK, CHECKLIST_LINK):
            self.link()
            return
        item = self.item
        for attribute, role in self.roles.items():
            if role.read == "slug":
                continue
            if role.read == "policies":
                item.policies.extend(self.references(attribute, "policy") or [])
                continue
            present, value = self.value(attribute)
            if not present or value is None:
                continue
            self.take(attribute, role, value)
        self.nrn()
        self.id_from_import_block()
        self.owner.found.failed.add(self.owner.prefix + self.address)
        if item.kind != "action":
            if item.label is None:
                self.owner.fail(
                    error(
                        "RG011",
                        self.span,
                        f"{self.address} has no `name`",
                        help='add `name = "..."`',
                    )
                )
                return
        elif self.key is None and self.name != unlabelled_name(item.values):
            item.label = self.name
        elif self.key is not None:
            item.label = f"{self.name}[{json.dumps(self.key)}]"
        if "nrn" not in item.values:
            return  # never an object without its NRN: nrn() said why
        self.owner.found.failed.discard(self.owner.prefix + self.address)
        self.owner.found.objects.append(item)

    def take(self, attribute: str, role: Role, value: JsonValue) -> None:
        item = self.item
        if role.read == "ignored":
            item.ignore(attribute, role.reason)
        elif role.read == "name":
            item.label = str(value)
        elif role.read in ("id", "numeric id"):
            identity = id_value(value, role.read == "numeric id")
            if identity is not None:
                item.values["id"] = identity
        elif role.read == "json":
            decoded = self.json(attribute, value)
            if decoded is not None and not (attribute == "selector" and decoded == {}):
                item.values[cast(str, role.to)] = decoded
        elif role.read == "dimensions":
            dimensions = self.dimensions(attribute, value)
            if dimensions:
                item.values["dimensions"] = dimensions
        elif role.read == "checklist":  # read from the state only: the API links it
            item.checklist = Ref(self.span, id=str(value))
            item.checklist_overrides_policies = True
        elif role.to is not None:
            item.values[role.to] = value

    def dimensions(self, attribute: str, value: JsonValue) -> dict[str, str] | None:
        """`dimensions`, a map(string) as the provider types it: a value Terraform would
        refuse (a list, an object, null, or no map at all) is refused here too, never
        written as text no request carries (an action that could never apply)."""
        if isinstance(value, dict) and all(
            isinstance(v, str | int | float | bool) for v in value.values()
        ):
            return {str(k): _text_of(v) for k, v in value.items()}
        self.owner.fail(
            error(
                "RG091",
                self.attribute_span(attribute),
                f"`{attribute}` is {_shown(value)}: a map of strings, as the provider types it",
                help='write dimensions = { environment = "production" }',
            )
        )
        return None

    def json(self, attribute: str, value: JsonValue) -> JsonValue:
        if isinstance(value, JsonText):
            return value.value
        if isinstance(value, str):
            try:
                return decode_json(value)
            except ValueError as exc:
                reason = str(exc)
                at = exc.at if isinstance(exc, JsonProblem) else None
                if at is not None:
                    reason += f" (line {at[0]}, column {at[1]} of the string)"
                self.owner.fail(
                    error(
                        "RG091",
                        self.attribute_span(attribute),
                        f"`{attribute}` is a string but not JSON: {reason}",
                        help="write jsonencode({...}) or a JSON string",
                    )
                )
                return None
        return value

    def attribute_span(self, attribute: str) -> Span:
        given = self.block.attributes.get(attribute) if self.block else None
        return given.span if given else self.span

    def nrn(self) -> None:
        """The object's NRN: written, or built by the provider from slugs (then only the
        state knows it); never guessed."""
        item = self.item
        slugs = [
            s for s in SLUGS if (self.block and s in self.block.attributes) or self.state_value(s)
        ]
        if "nrn" in item.values:
            for slug in slugs:
                item.ignore(slug, "a slug of its NRN, which is imported")
            return
        given = self.block.attributes.get("nrn") if self.block else None
        if given is not None:
            return  # not evaluable: value() reported it
        if slugs:
            first = slugs[0]
            span = self.attribute_span(first)
            self.owner.fail(
                error(
                    "RG091",
                    span,
                    f"cannot import {self.address}: `{first}` is a slug, which nullplatform "
                    "resolves to the NRN when Terraform applies it",
                    help=f"{STATE_HELP}, which holds the NRN, or write `nrn`",
                )
            )
            return
        self.owner.fail(
            error(
                "RG091",
                self.span,
                f"cannot import {self.address}: it has no `nrn`, so the provider builds one "
                "from its API key's organisation",
                help=f"{STATE_HELP}, which holds the NRN, or write `nrn`",
            )
        )

    def id_from_import_block(self) -> None:
        found = self.owner.import_ids.get(self.address)
        if found is None or "id" in self.item.values:
            return
        value, _span = found
        if self.type == CHECKLIST and not value.startswith(("spec_", "tmpl_")):
            return  # imported by "<nrn>/<name>": not a version id
        identity = id_value(value, self.type in (POLICY, ACTION))
        if identity is not None:
            self.item.values["id"] = identity

    def resource_reference(self, expression: Expression, kind: str) -> Ref | None:
        """`nullplatform_approval_policy.NAME.id` (a checklist: `.current_version_id`):
        the resource itself, bound by its address, whether or not its id is known."""
        found = reference(expression, self.owner.scope)
        wanted = "current_version_id" if kind == "checklist" else "id"
        if found is None or found.type != RESOURCE_OF.get(kind):
            return None
        if found.attribute == wanted:
            return Ref(expression.span, address=self.owner.prefix + found.address)
        if kind == "checklist" and found.attribute == "id":
            raise Unknown(
                expression.span,
                f"{expression.text} is the specification's own id (<nrn>/<name>), which the "
                "provider refuses",
                f"link its version: {found.type}.{found.name}.current_version_id",
            )
        return None

    def references(self, attribute: str, kind: str) -> list[Ref] | None:
        """The objects an attribute names (one, or a list): resources by address, else
        ids, from the configuration or else the state; None when neither tells."""
        given = self.block.attributes.get(attribute) if self.block else None
        stored = self.state_value(attribute)
        numeric = kind != "checklist"
        if given is not None:
            elements = tuple_elements(given.value)
            expressions = elements if elements is not None else [given.value]
            refs: list[Ref] = []
            try:
                for expression in expressions:
                    found = self.resource_reference(expression, kind)
                    if found is None:
                        value = evaluate(expression, self.owner.scope)
                        found = Ref(expression.span, id=id_value(value, numeric))
                    refs.append(found)
                return refs
            except Unknown as exc:
                if stored is None:
                    self.owner.unknown(exc, attribute)
                    return None
        if stored is None:
            return [] if given is None else None
        span = given.span if given else self.span
        listed = stored if isinstance(stored, list) else [stored]
        return [Ref(span, id=id_value(value, numeric)) for value in listed]

    def link(self) -> None:
        """An association resource: the action uses the policy or checklist."""
        kind = "policy" if self.type == POLICY_LINK else "checklist"
        target = "approval_policy_id" if kind == "policy" else "checklist_specification_id"
        ends: list[Ref] = []
        for attribute, end_kind in (("approval_action_id", "action"), (target, kind)):
            found = self.references(attribute, end_kind)
            if found is None:
                return
            if len(found) != 1:
                self.owner.fail(
                    error(
                        "RG011",
                        self.attribute_span(attribute),
                        f"{self.address} needs one `{attribute}`",
                    )
                )
                return
            ends.append(found[0])
        self.owner.found.links.append(Link(ends[0], ends[1], kind, self.span))
        imported = self.owner.import_ids.get(self.address)
        if kind == "checklist" and imported is not None and ends[0].address is not None:
            self.owner.link_action_ids[ends[0].address] = id_value(imported[0], numeric=True)
        if self.item.ignored:
            ignored = ", ".join(self.item.ignored)
            self.owner.found.report.append(f"{self.origin}: ignored: {ignored}")

    # --- what is not imported ---

    def meta(self) -> None:
        assert self.block is not None
        item = self.item
        for attribute in self.block.attributes:
            if attribute in META_ARGUMENTS:
                item.ignore(attribute, META_REASON)
        for nested in self.block.blocks:
            if nested.type in META_BLOCKS:
                reason = (
                    "how long Terraform waits for it" if nested.type == "timeouts" else META_REASON
                )
                item.ignore(nested.type, reason)
            else:
                self.owner.fail(
                    item.lose(
                        nested.type,
                        f"{nested.type} {{...}}",
                        f"a block {self.type} does not have",
                        nested.span,
                        self.owner.allow_lossy,
                    )
                )

    def unknown_attributes(self) -> None:
        assert self.block is not None
        for attribute in self.block.attributes.values():
            if attribute.name in self.roles or attribute.name in META_ARGUMENTS:
                continue
            self.lose(attribute)

    def lose(self, attribute: Attribute) -> None:
        try:
            value: JsonValue = evaluate(attribute.value, self.owner.scope)
        except Unknown:
            value = attribute.value.text
        self.owner.fail(
            self.item.lose(
                attribute.name,
                value,
                f"an attribute regate does not know {self.type} to have",
                attribute.span,
                self.owner.allow_lossy,
            )
        )

    def unknown_state_attributes(self) -> None:
        assert self.instance is not None
        for attribute, value in sorted(self.instance.attributes.items()):
            if attribute in self.roles or attribute == "timeouts" or value in (None, "", [], {}):
                continue
            if self.block is not None and attribute in self.block.attributes:
                continue  # reported from the configuration
            self.owner.fail(
                self.item.lose(
                    attribute,
                    value,
                    f"an attribute regate does not know {self.type} to have",
                    self.span,
                    self.owner.allow_lossy,
                )
            )


def _same(config: JsonValue, stored: JsonValue, is_json: bool) -> bool:
    if is_json:
        decoded_config = config.value if isinstance(config, JsonText) else config
        try:
            if isinstance(decoded_config, str):
                decoded_config = decode_json(decoded_config)
            decoded_stored = decode_json(stored) if isinstance(stored, str) else stored
        except ValueError:
            return bool(config == stored)
        return bool(decoded_config == decoded_stored)
    if isinstance(config, list) and isinstance(stored, list):
        return sorted(map(str, config)) == sorted(map(str, stored))
    if isinstance(config, dict) and isinstance(stored, dict):
        return {k: _text_of(v) for k, v in config.items()} == stored
    return bool(config == stored) or str(config) == str(stored)


def _shown(value: JsonValue) -> str:
    text = json.dumps(value.value if isinstance(value, JsonText) else value, ensure_ascii=False)
    return text if len(text) <= 60 else text[:57] + "..."


def _text_of(value: JsonValue) -> str:
    """A map(string) element as Terraform converts it."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value)


def import_terraform(
    blocks: list[Block],
    state: State | None,
    variables: Mapping[str, Variable],
    allow_lossy: bool,
    directory: str = "",
) -> Found:
    """The approval objects and links of a configuration (blocks may be empty: a state
    alone); `directory` tells its resources from another configuration's."""
    prefix = f"{directory}/" if directory else ""
    return _Import(blocks, state, variables, allow_lossy, prefix).run()
