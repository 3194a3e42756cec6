"""Terraform state, as `terraform.tfstate` (format version 4) or as `terraform show
-json` prints it (format 1.x): every resource and data source instance with the
attributes Terraform last read from nullplatform — ids, computed NRNs, what a data
source found — and where it is in the file."""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import cast

from compiler.ast import Array, JsonValue, Node, Object, Span, to_json
from compiler.diagnostics import Diagnostic, error
from compiler.sources import Source


@dataclass(frozen=True)
class Instance:
    """One resource or data source instance in a state."""

    mode: str  # managed | data
    type: str
    name: str
    key: JsonValue  # count index or for_each key; None without one
    module: str  # "" for the root module, else "module.network" ...
    attributes: dict[str, JsonValue]
    span: Span  # the instance in the state file

    @property
    def address(self) -> str:
        prefix = f"{self.module}." if self.module else ""
        data = "data." if self.mode == "data" else ""
        index = "" if self.key is None else f"[{json.dumps(self.key)}]"
        return f"{prefix}{data}{self.type}.{self.name}{index}"


@dataclass(frozen=True)
class State:
    path: str
    name: str  # as origin comments name it
    instances: tuple[Instance, ...]

    def find(
        self, mode: str, type: str, name: str, key: JsonValue = None, module: str = ""
    ) -> Instance | None:
        for instance in self.instances:
            if (instance.mode, instance.type, instance.name, instance.module) == (
                mode,
                type,
                name,
                module,
            ) and _same_key(instance.key, key):
                return instance
        return None

    def of(self, mode: str, type: str, name: str, module: str = "") -> list[Instance]:
        """Every instance of a resource (one per count index or for_each key)."""
        return [
            i
            for i in self.instances
            if (i.mode, i.type, i.name, i.module) == (mode, type, name, module)
        ]


def _same_key(a: JsonValue, b: JsonValue) -> bool:
    return a == b and type(a) is type(b)


def state_kind(value: JsonValue) -> str | None:
    """ "state" (a state file), "show" (`terraform show -json` of a state), "plan"
    (of a plan) or "old" (a state before format 4), or None for other JSON."""
    if not isinstance(value, dict):
        return None
    plan_keys = ("planned_values", "resource_changes", "prior_state")
    shown_keys = ("values", "terraform_version", *plan_keys)
    if "format_version" in value and any(k in value for k in shown_keys):
        return "plan" if any(k in value for k in plan_keys) else "show"
    if "version" in value and "lineage" in value and "serial" in value:
        return "state" if value.get("version") == 4 else "old"
    return None


def read_state(source: Source, node: Node) -> tuple[State | None, list[Diagnostic]]:
    """A parsed state document as a State, or why it cannot be read."""
    value = to_json(node)
    kind = state_kind(value)
    span = node.span
    if kind == "old":
        return None, [
            error(
                "RG095",
                span,
                f"{source.path} is a Terraform state of format version "
                f"{json.dumps(value.get('version'))}; regate reads version 4",
                help="let Terraform 0.12 or later upgrade it (terraform state pull), or "
                "import the output of terraform show -json",
            )
        ]
    if kind == "plan":
        return None, [
            error(
                "RG095",
                span,
                f"{source.path} is a Terraform plan: what it plans is not applied yet",
                help="import the state (terraform show -json, without a plan file)",
            )
        ]
    if kind == "show":
        major = str(value.get("format_version", "1")).split(".")[0]
        if major != "1":
            return None, [
                error(
                    "RG095",
                    span,
                    f"terraform show -json format {value.get('format_version')}: regate "
                    "reads format 1.x",
                )
            ]
        root = _member(node, "values")
        module = _member(root, "root_module") if isinstance(root, Object) else None
        instances = list(_shown(module)) if isinstance(module, Object) else []
    else:
        instances = list(_stored(node))
    return State(source.path, source.name, tuple(instances)), []


def _member(node: Node | None, key: str) -> Node | None:
    if not isinstance(node, Object):
        return None
    found = node.get(key)
    return found.value if found else None


def _text(node: Node | None) -> str:
    value = to_json(node) if node is not None else None
    return value if isinstance(value, str) else ""


def _stored(document: Node) -> list[Instance]:
    """The instances of a state file (format version 4)."""
    found: list[Instance] = []
    resources = _member(document, "resources")
    for resource in resources.items if isinstance(resources, Array) else ():
        if not isinstance(resource, Object):
            continue
        mode, type, name = (_text(_member(resource, k)) for k in ("mode", "type", "name"))
        module = _text(_member(resource, "module"))
        listed = _member(resource, "instances")
        instances = listed.items if isinstance(listed, Array) else ()
        for instance in instances:
            attributes = to_json(_member(instance, "attributes") or Object((), instance.span))
            key_node = _member(instance, "index_key")
            found.append(
                Instance(
                    mode,
                    type,
                    name,
                    to_json(key_node) if key_node is not None else None,
                    module,
                    cast(dict[str, JsonValue], attributes if isinstance(attributes, dict) else {}),
                    resource.span if len(instances) == 1 else instance.span,
                )
            )
    return found


def _shown(module: Object) -> list[Instance]:
    """The instances of a module in `terraform show -json` output, its children's too."""
    found: list[Instance] = []
    address = _text(_member(module, "address"))
    resources = _member(module, "resources")
    for resource in resources.items if isinstance(resources, Array) else ():
        if not isinstance(resource, Object):
            continue
        mode, type, name = (_text(_member(resource, k)) for k in ("mode", "type", "name"))
        key_node = _member(resource, "index")
        values = to_json(_member(resource, "values") or Object((), resource.span))
        found.append(
            Instance(
                mode,
                type,
                name,
                to_json(key_node) if key_node is not None else None,
                address,
                cast(dict[str, JsonValue], values if isinstance(values, dict) else {}),
                resource.span,
            )
        )
    children = _member(module, "child_modules")
    for child in children.items if isinstance(children, Array) else ():
        if isinstance(child, Object):
            found.extend(_shown(child))
    return found
