"""Emit pass: the IR → bundle files (Rego modules from templates/, and data).

The Jinja environment prints only `RegoText` (compiler/rego.py): a template
that prints a raw value fails to render instead of emitting unescaped text.
"""

from __future__ import annotations

import json
from functools import cache
from typing import Any

import jinja2
from markupsafe import Markup

from compiler import rego
from compiler.ir import BundleIR, ExprValue, PolicyModule, Test
from compiler.limits import MAX_COMPARE_DEPTH, MAX_PATH_SEGMENTS
from compiler.resources import resource_dir


def _only_rego_text(value: object) -> object:
    # Markup is RegoText or a macro's output built from it; integers are the
    # templates' own loop counters.  Anything else reached a template unescaped.
    if isinstance(value, Markup) or type(value) is int:
        return value
    raise TypeError(f"a template printed an unescaped value: {value!r}")


@cache
def environment() -> jinja2.Environment:
    env = jinja2.Environment(
        loader=jinja2.FileSystemLoader(str(resource_dir("templates"))),
        undefined=jinja2.StrictUndefined,
        finalize=_only_rego_text,
        keep_trailing_newline=False,
        autoescape=True,
    )
    env.filters["rego"] = rego.literal
    env.filters["ident"] = rego.identifier
    env.filters["comment"] = rego.comment
    env.filters["fields"] = rego.fields
    env.filters["member"] = rego.member
    env.filters["set_of"] = rego.set_of
    env.filters["tabs"] = rego.tabs
    # Raw JSON text, for comments only (`| json | comment`).
    env.filters["json"] = lambda value: json.dumps(value, sort_keys=True, ensure_ascii=False)
    return env


def render(template: str, **context: object) -> str:
    return environment().get_template(template).render(**context).rstrip("\n") + "\n"


def _imports(module: PolicyModule) -> list[str]:
    """The packages a policy module refers to: `opa check --strict` refuses an unused import."""
    kinds = {e.kind for policy in module.policies for body in policy.bodies for e in body}
    return [
        package
        for package, uses in (("conditions", {"shared"}), ("mongo", {"test", "each"}))
        if kinds & uses
    ]


def emit(ir: BundleIR) -> dict[str, bytes]:
    """Bundle path → content, for everything but the manifest and the revision."""
    explained = {
        p.rule: p.explanation for m in ir.modules for p in m.policies if p.explanation is not None
    }
    # A policy of plain (not negated) shared tests, most of them, is explained by
    # one comprehension over its tests; any other by the interpreter.
    plain = {
        rule: [{"entry": n["entry"], "n": n["n"], "test": n["test"], "at": n["at"]} for n in nodes]
        for rule, nodes in explained.items()
        if all(n["kind"] == "shared" and not n["negated"] and "pattern" not in n for n in nodes)
    }
    interpreted = {rule: nodes for rule, nodes in explained.items() if rule not in plain}
    # The library's $expr and $dynamicPattern parts are written only for a bundle
    # that uses them: each costs OPA compile time on every activation.
    functions = {
        e.function
        for m in ir.modules
        for p in m.policies
        for b in p.bodies
        for e in b
        if isinstance(e, Test)
    } | {test.function for test in ir.conditions.tests}
    library = {
        "exprs": bool(ir.conditions.exprs),
        "expr_depth": max((_depth(shared.expression) for shared in ir.conditions.exprs), default=0),
        "dynamic_patterns": "dynamic_pattern" in functions,
    }
    # Finding exceptions: their module, and the lines that use it, only in a bundle
    # whose sources declare some; any other bundle is as it was without them.
    exceptions = isinstance(ir.catalog, dict) and bool(ir.catalog.get("exceptions"))
    files: dict[str, bytes] = {
        "regate/decision.rego": render("decision.rego.j2", exceptions=exceptions).encode(),
        "regate/request/request.rego": render(
            "request.rego.j2", checks=ir.request_checks, findings=exceptions
        ).encode(),
        "regate/request/rules/data.json": _compact(ir.request_rules),
        "regate/mongo.rego": render(
            "mongo.rego.j2",
            max_segments=MAX_PATH_SEGMENTS,
            max_compare_depth=MAX_COMPARE_DEPTH,
            **library,
        ).encode(),
        "regate/explanations/explanations.rego": render(
            "explanations.rego.j2",
            levels=max(map(_levels, interpreted.values()), default=1),
            **library,
        ).encode(),
        "regate/explanations/plain/data.json": _compact(plain),
        "regate/explanations/conditions/data.json": _compact(interpreted),
    }
    if exceptions:
        files["regate/exceptions.rego"] = render("exceptions.rego.j2").encode()
    if ir.conditions.tests or ir.conditions.exprs:
        shared = render("conditions.rego.j2", conditions=ir.conditions)
        files["regate/conditions.rego"] = shared.encode()
    declared: set[str] = set()
    for module in ir.modules:
        files[module.path] = render(
            "policies.rego.j2",
            module=module,
            declares_package=module.package not in declared,
            imports=_imports(module),
        ).encode()
        declared.add(module.package)
    return files


def _compact(value: object) -> bytes:
    # Compact: for a large bundle, indentation would be most of it.
    return (
        json.dumps(value, sort_keys=True, ensure_ascii=False, separators=(",", ":")) + "\n"
    ).encode()


def _depth(value: ExprValue) -> int:
    """The longest field reference in an $expr expression: mongo.expr_field walks
    a path with a function per remaining segment, as many as the bundle needs."""
    return max([len(value.path), *map(_depth, value.args)])


def _levels(nodes: list[Any]) -> int:
    """The lists of explanation nodes nested in one another, this one included: the
    interpreter has a function per level (Rego has no recursion), and a level
    for each list it is handed, empty ones too.  Only as many as the bundle
    uses: each costs OPA time to compile on every activation."""
    nested = [
        *(clause for node in nodes for clause in node.get("clauses", ())),
        *(node["clause"] for node in nodes if "clause" in node),
    ]
    return 1 + max(map(_levels, nested), default=0)
