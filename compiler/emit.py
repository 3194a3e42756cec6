"""Emit pass: the IR → bundle files (Rego modules from templates/, and data).

The Jinja environment prints only `RegoText` (compiler/rego.py): a template
that prints a raw value fails to render instead of emitting unescaped text.
"""

from __future__ import annotations

import json
import textwrap
from collections.abc import Iterator, Sequence
from functools import cache
from typing import Any

import jinja2
from markupsafe import Markup

from compiler import rego
from compiler.ast import JsonValue
from compiler.ir import BundleIR, Each, ExprValue, PolicyModule, Test
from compiler.limits import MAX_COMPARE_DEPTH
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
    text = environment().get_template(template).render(**context).rstrip("\n") + "\n"
    return _wrap_comments(text) if template.endswith(".rego.j2") else text


# Regal's line-length default (docs/rego-style.md): a comment longer than this, a
# policy's conditions or a boundary case's description, goes on as many lines.
LINE_LENGTH = 120


def _wrap_comments(rego: str) -> str:
    """The module with each long comment line wrapped at LINE_LENGTH, on spaces
    (a word too long to break stays whole, as Regal allows); METADATA blocks,
    which are YAML, are left as written."""
    lines: list[str] = []
    metadata = False
    for line in rego.split("\n"):
        comment = line.lstrip("\t")
        metadata = comment.startswith("#") and (metadata or comment == "# METADATA")
        if len(line) <= LINE_LENGTH or metadata or not comment.startswith("# "):
            lines.append(line)
            continue
        indent = line[: len(line) - len(comment)]
        parts = textwrap.wrap(
            comment[2:],
            LINE_LENGTH - len(indent) - 4,
            break_long_words=False,
            break_on_hyphens=False,
        )
        # Continuation lines are indented (`#   `): compiler/testing.py reads the
        # comments of policies and conditions as one line each.
        lines.extend(f"{indent}{'#   ' if n else '# '}{part}" for n, part in enumerate(parts))
    return "\n".join(lines)


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
    library = _library(ir, interpreted)
    # Finding exceptions: their module, and the lines that use it, only in a bundle
    # whose sources declare some; any other bundle is as it was without them.
    exceptions = isinstance(ir.catalog, dict) and bool(ir.catalog.get("exceptions"))
    files: dict[str, bytes] = {
        "regate/decision.rego": render("decision.rego.j2", exceptions=exceptions).encode(),
        "regate/request/request.rego": render("request.rego.j2", findings=exceptions).encode(),
        # Its generated checks, which grow with the entity model and the
        # specifications, in a file of their own (Regal's file-length).
        "regate/request/checks.rego": render(
            "request_checks.rego.j2", checks=ir.request_checks
        ).encode(),
        "regate/request/errors.rego": render(
            "request_errors.rego.j2", findings=exceptions
        ).encode(),
        "regate/request/rules/data.json": _compact(ir.request_rules),
        "regate/mongo/mongo.rego": render("mongo.rego.j2", **library).encode(),
        "regate/explanations/explanations.rego": render(
            "explanations.rego.j2",
            levels=max(map(_levels, interpreted.values()), default=1),
            **library,
        ).encode(),
        "regate/explanations/plain/data.json": _compact(plain),
        "regate/explanations/conditions/data.json": _compact(interpreted),
    }
    if exceptions:
        files["regate/exceptions/exceptions.rego"] = render("exceptions.rego.j2").encode()
    if ir.conditions.tests or ir.conditions.exprs:
        shared = render("conditions.rego.j2", conditions=ir.conditions)
        files["regate/conditions/conditions.rego"] = shared.encode()
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


# What a library function needs of the others, for `_library`'s closure.
_NEEDS = {
    "not_equals": {"equals"},
    "not_in": {"is_in"},
    "not_exists": {"exists"},
    "has_type": {"_has_type"},
    "mod": {"_truncate"},
    "documents": {"elements", "_is_container"},
    "compare": {"_is_container", "_class", "_sign"},
    "dynamic_pattern": {"values_at"},
    # $expr: expr_true decides each; expr_shown explains one.
    "expr_true": {"_expr_error", "_expr_falsy"},
    "expr_shown": {"_expr_error"},
    "_expr_falsy": {"_expr_nullish"},
    "_expr_fails": {"_expr_error"},
    "_expr_failed": {"_expr_error"},
    "_expr_truth": {"_expr_falsy"},
    **{
        ordering: {"_expr_scalars", "_expr_compared"}
        for ordering in ("expr_eq", "expr_ne", "expr_gt", "expr_gte", "expr_lt", "expr_lte")
    },
    "expr_cmp": {"_expr_failed", "_expr_fails", "_expr_compare"},
    "_expr_compared": {"_expr_failed", "_expr_fails", "_expr_compare"},
    "_expr_compare": {"_sign", "_expr_class", "compare"},
    "_expr_class": {"_class"},
    "expr_and": {"_expr_decided"},
    "expr_or": {"_expr_decided"},
    "_expr_decided": {"_expr_stop", "_expr_stops"},
    "_expr_stops": {"_expr_error", "_expr_truth"},
    "_expr_stop": {"_expr_error"},
    "expr_not": {"_expr_error", "_expr_truth"},
    "expr_add": {"_expr_not_number"},
    "expr_multiply": {"_expr_not_number"},
    "_expr_not_number": {"_expr_error", "_expr_nullish", "_expr_type"},
    "expr_subtract": {"_expr_binary", "_expr_arithmetic_subtract"},
    "expr_divide": {"_expr_binary", "_expr_arithmetic_divide"},
    "expr_mod": {"_expr_binary", "_expr_arithmetic_mod"},
    "_expr_arithmetic_mod": {"_truncate"},
    "_expr_binary": {"_expr_failed", "_expr_fails", "_expr_nullish", "_expr_type_error"},
    "_expr_type_error": {"_expr_type"},
    "expr_abs": {"_expr_error", "_expr_nullish", "_expr_type"},
}
_ORDERINGS = {"greater", "greater_or_equal", "less", "less_or_equal"}


def _library(ir: BundleIR, interpreted: dict[str, Any]) -> dict[str, object]:
    """What of the library (templates/mongo.rego.j2) and of the explanation
    interpreter (templates/explanations.rego.j2) this bundle uses, so that every
    rule a bundle holds is one some decision or test can reach
    (tests/test_reachable.py): each rule also costs OPA compile time on every
    activation.  `uses` names library functions and helpers; the depths say how
    far the unrolled chains go (Rego has no recursion)."""
    nodes = [node for tree in interpreted.values() for node in _nodes(tree)]
    uses = {"actual"}
    paths: list[Sequence[str]] = [path.path for path in ir.conditions.paths]
    operands: list[tuple[str, JsonValue]] = []
    for test in ir.conditions.tests:
        operands.append((test.function, test.operand))
        if test.inline is None:
            uses.add(test.function)
    for e in (e for m in ir.modules for p in m.policies for b in p.bodies for e in b):
        if isinstance(e, (Test, Each)):
            uses.add(e.function)
            paths.append(e.path)
        if isinstance(e, Test):
            operands.append((e.function, e.operand))
    for node in nodes:
        if node["kind"] in ("test", "elemMatch"):
            paths.append(node["segments"])
            uses.add(node["function"] if node["kind"] == "test" else node["form"])
        if node["kind"] == "test":
            operands.append((node["function"], node["operand"]))
    kinds = {node["kind"] for node in nodes}
    uses |= {"any_failed"} if "and" in kinds else set()
    uses |= {"all_failed"} if kinds & {"or", "elemMatch"} else set()
    for function, operand in operands:
        if function == "dynamic_pattern" and isinstance(operand, dict):
            paths.extend(field["segments"] for field in operand["fields"])
    # A container operand of an ordering compares as deep as it nests (a level per
    # array, two per object: _compare reads an object as [class, key, value] entries).
    compare_depth = max(
        (_nesting(operand) for function, operand in operands if function in _ORDERINGS),
        default=0,
    )
    exprs = bool(ir.conditions.exprs)
    if exprs:
        uses.add("expr_true")
        uses.update(f for e in ir.conditions.exprs for f in _expr_functions(e.expression))
    if "expr" in kinds:
        uses.add("expr_shown")
    if compare_depth:
        uses.add("compare")
    if paths or "dynamic_pattern" in uses:
        uses.add("values_at")
    while missing := {n for u in uses for n in _NEEDS.get(u, ())} - uses:
        uses |= missing
    containers = compare_depth > 0
    if "_expr_compare" in uses:
        compare_depth = MAX_COMPARE_DEPTH  # $expr compares values of the request
    return {
        "uses": uses,
        "walk_depth": max((len(path) for path in paths), default=1) if "values_at" in uses else 0,
        "compare_depth": min(compare_depth, MAX_COMPARE_DEPTH),
        "containers": containers,  # some ordering has an array or object operand
        "exprs": exprs,
        "expr_depth": max((_depth(shared.expression) for shared in ir.conditions.exprs), default=0),
        "dynamic_patterns": "dynamic_pattern" in uses,
        "kinds": kinds,
        "holds": {node["function"] for node in nodes if node["kind"] == "test"},
        "forms": sorted(uses & {"elements", "documents"} if "elemMatch" in kinds else set()),
    }


def _nodes(tree: list[Any]) -> Iterator[dict[str, Any]]:
    """The explanation nodes of a list, and of every list nested in them."""
    for node in tree:
        yield node
        for clause in node.get("clauses", ()):
            yield from _nodes(clause)
        if "clause" in node:
            yield from _nodes(node["clause"])


def _expr_functions(value: ExprValue) -> Iterator[str]:
    if value.kind == "call":
        yield value.function
    for argument in value.args:
        yield from _expr_functions(argument)


def _nesting(value: JsonValue) -> int:
    if isinstance(value, list):
        return 1 + max(map(_nesting, value), default=0)
    if isinstance(value, dict):
        return 2 + max(map(_nesting, value.values()), default=0)
    return 0


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
