"""Emitted Rego modules as OPA parses them, and the rules a bundle can reach.

The modules are read by the real OPA (`opa parse --format json`), never by a
regular expression: a rule is whatever OPA says it is, a reference whatever
OPA resolves.  tests/test_reachable.py and tests/test_rego_style.py use it.
"""

from __future__ import annotations

import json
import subprocess
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

RulePath = tuple[str, ...]


@dataclass(frozen=True)
class Module:
    file: str  # its path in the bundle
    text: str
    ast: dict[str, Any]

    @property
    def package(self) -> RulePath:
        return _static(self.ast["package"]["path"])

    def rules(self) -> Iterator[tuple[RulePath, dict[str, Any]]]:
        """Each rule's full path (package, then its head's static part) and its AST."""
        for rule in self.ast.get("rules", ()):
            yield self.package + _static(rule["head"]["ref"]), rule


def parse(opa: str, files: dict[str, bytes]) -> list[Module]:
    """The .rego files of a bundle (path → content), each parsed by OPA."""
    modules = []
    with tempfile.TemporaryDirectory() as directory:
        for name, content in sorted(files.items()):
            if not name.endswith(".rego"):
                continue
            source = Path(directory) / "module.rego"
            source.write_bytes(content)
            parsed = subprocess.run(
                [opa, "parse", "--format", "json", "--json-include", "locations", str(source)],
                capture_output=True,
                check=True,
            )
            modules.append(Module(name, content.decode(), json.loads(parsed.stdout)))
    return modules


def _static(ref: list[dict[str, Any]]) -> RulePath:
    """The leading constant part of a reference: `data.a.b[x].c` → (a, b)."""
    parts: list[str] = []
    for index, term in enumerate(ref):
        if index == 0 and term["type"] == "var":
            if term["value"] != "data":
                parts.append(term["value"])
        elif term["type"] == "string":
            parts.append(term["value"])
        else:
            break
    return tuple(parts)


def terms(node: object) -> Iterator[dict[str, Any]]:
    if isinstance(node, dict):
        if node.get("type") == "ref":
            # Its head is part of it, not a variable read on its own.
            yield node
            yield from terms(node["value"][1:])
            return
        if "type" in node and "value" in node:
            yield node
        for value in node.values():
            yield from terms(value)
    elif isinstance(node, list):
        for value in node:
            yield from terms(value)


def references(module: Module, rule: dict[str, Any], local: set[str]) -> set[RulePath]:
    """The data paths a rule reads: through `data.…`, an import, or a rule of its
    own package (`local`: their first names, in any file of the package) named by
    its bare name (a local variable of the same name counts too, which can only
    make more rules reachable, never fewer)."""
    imports = {}
    for imported in module.ast.get("imports", ()):
        path = _static(imported["path"]["value"])
        imports[imported.get("alias") or path[-1]] = path
    paths = set()
    for term in terms(rule):
        # A bare name is a var term; `name.field` and `f(x)` are refs.
        ref = [term] if term["type"] == "var" else term["value"] if term["type"] == "ref" else []
        if not ref or ref[0]["type"] != "var":
            continue
        name = ref[0]["value"]
        if name == "data":
            paths.add(_static(ref))
        elif name in imports:
            paths.add(imports[name] + _static(ref[1:]))
        elif name in local:
            paths.add(module.package + _static(ref))
    return paths


def unreachable(modules: list[Module], entrypoints: list[RulePath]) -> list[str]:
    """The rules (`file: path`) that nothing reachable from the entrypoints, or
    from a test rule (`test_…`), reads."""
    rules = [(path, module, rule) for module in modules for path, rule in module.rules()]
    local: dict[RulePath, set[str]] = {}
    for path, module, _ in rules:
        local.setdefault(module.package, set()).add(path[len(module.package)])
    reached: set[int] = set()
    frontier = list(entrypoints) + [path for path, _, _ in rules if path[-1].startswith("test_")]
    while frontier:
        wanted = frontier.pop()
        for index, (path, module, rule) in enumerate(rules):
            # A reference reads every rule under its path, and any rule that
            # defines part of it (`a.b` read as `a.b.c`).
            if index not in reached and (
                path[: len(wanted)] == wanted or wanted[: len(path)] == path
            ):
                reached.add(index)
                frontier.extend(references(module, rule, local[module.package]))
    return sorted(
        {
            f"{module.file}: {'.'.join(path)}"
            for index, (path, module, _) in enumerate(rules)
            if index not in reached
        }
    )
