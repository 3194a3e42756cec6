"""Share pass: the IR → the same IR, with each test of the request's entities
held once, in package regate.conditions, however many policies make it.

A policy rule then refers to `conditions.<test>` instead of walking its path
itself.  OPA evaluates a rule at most once per query, so a path is walked once
per decision and a test made by a hundred policies is decided once; and OPA
compiles one call per distinct test instead of one per policy, which is what
makes a bundle of thousands of policies quick to activate (docs/performance.md).

Tests inside an `$elemMatch` test the element, not the request, and stay where
they are.  A policy's explanation (its conditions as data) names the shared
rules of its other tests, so that explaining a failure tests nothing again.
"""

from __future__ import annotations

import json
import re
from dataclasses import replace

from compiler.ast import JsonValue
from compiler.ir import (
    Body,
    BundleIR,
    Conditions,
    Expr,
    ExprTest,
    InlineShape,
    OperandType,
    PolicyModule,
    PolicyRule,
    SharedExpr,
    SharedPath,
    SharedTest,
    SharedTestRef,
    Test,
)
from compiler.rego import IDENTIFIER, RESERVED, is_field_name

# The operator each library function tests, for the rules' comments.
OPERATORS = {
    "equals": "$eq",
    "not_equals": "$ne",
    "greater": "$gt",
    "greater_or_equal": "$gte",
    "less": "$lt",
    "less_or_equal": "$lte",
    "is_in": "$in",
    "not_in": "$nin",
    "exists": "$exists",
    "not_exists": "$exists",
    "has_type": "$type",
    "matches": "$regex",
    "mod": "$mod",
    "size": "$size",
    "dynamic_pattern": "$dynamicPattern",
}
ORDERINGS = frozenset(["greater", "greater_or_equal", "less", "less_or_equal"])
# An operand longer than this as words is left out of its test's name.
MAX_OPERAND_WORDS = 24

TestKey = tuple[tuple[str, ...], str, str]  # path, function, operand as canonical JSON


def _words(text: str) -> str:
    return re.sub(r"[^a-z0-9]+", "_", text.lower()).strip("_")


def _operand_text(test: Test) -> str:
    if not test.has_operand:
        return "true" if test.function == "exists" else "false"
    return json.dumps(test.operand, sort_keys=True, ensure_ascii=False)


def _key(test: Test) -> TestKey:
    return (test.path, test.function, json.dumps(test.operand, sort_keys=True))


def _inline(test: Test) -> tuple[InlineShape | None, OperandType | None]:
    """How a shared test writes its library function out (SharedTest.inline):
    only where the constant operand leaves the function one body, the one the
    rule then holds.  A null operand also matches a missing field, and an object
    or array one is ordered by the library's _compare: those call the function."""
    operand = test.operand
    if test.function == "exists":
        return "exists", None
    if test.function == "equals" and operand is not None:
        return "equals", None
    if test.function == "is_in" and isinstance(operand, list) and None not in operand:
        return "member", None
    if test.function in ORDERINGS:
        if isinstance(operand, bool):
            return "compare", "boolean"
        if isinstance(operand, (int, float)):
            return "compare", "number"
        if isinstance(operand, str):
            return "compare", "string"
    return None, None


class _Names:
    """Unique rule names for package regate.conditions, taken in a fixed order."""

    def __init__(self) -> None:
        self.taken: set[str] = set()

    def take(self, base: str) -> str:
        if not IDENTIFIER.match(base) or base in RESERVED:
            base = f"field_{base}".rstrip("_")
        name, n = base, 1
        while name in self.taken:
            n += 1
            name = f"{base}_{n}"
        self.taken.add(name)
        return name


def _shared_tests(
    modules: tuple[PolicyModule, ...],
) -> tuple[dict[TestKey, Test], dict[str, ExprTest]]:
    """Every test of the request's entities in the policy rules, by what it tests,
    and every `$expr`, by its expression as written."""
    found: dict[TestKey, Test] = {}
    exprs: dict[str, ExprTest] = {}

    # Rule and helper bodies are flat (ir.flatten): no $and is left to look into.
    for module in modules:
        for policy in module.policies:
            for body in policy.bodies:
                for e in body:
                    if isinstance(e, Test) and e.root is None:
                        found.setdefault(_key(e), e)
                    elif isinstance(e, ExprTest):
                        exprs.setdefault(e.text, e)
    return found, exprs


def _conditions(
    tests: dict[TestKey, Test], exprs: dict[str, ExprTest]
) -> tuple[Conditions, dict[TestKey, str], dict[str, SharedExpr]]:
    """The shared rules, named after their paths and tests in sorted order, so
    that a name depends on what it tests, not on where policies sit."""
    names = _Names()
    paths: dict[tuple[str, ...], SharedPath] = {}
    for segments in sorted({key[0] for key in tests}):
        text = ".".join(segments)
        plain = all(is_field_name(segment) for segment in segments)
        paths[segments] = SharedPath(names.take(f"at_{_words(text)}"), segments, text, plain)
    shared: list[SharedTest] = []
    rules: dict[TestKey, str] = {}
    for key in sorted(tests):
        test = tests[key]
        path = paths[test.path]
        operator, operand = OPERATORS[test.function], _operand_text(test)
        operand_words = _words(operand)
        if len(operand_words) > MAX_OPERAND_WORDS:
            operand_words = ""
        base = "_".join(w for w in (_words(path.text), _words(operator), operand_words) if w)
        rule = names.take(base)
        rules[key] = rule
        inline, operand_type = _inline(test)
        shared.append(
            SharedTest(
                rule,
                path.rule,
                test.function,
                test.operand,
                test.has_operand,
                f"{path.text} {operator} {operand}",
                inline,
                operand_type,
                test.path if path.plain and inline else None,
            )
        )
    by_text: dict[str, SharedExpr] = {}
    for text in sorted(exprs):
        words = _words(text)
        value = names.take(f"expr_{words}" if len(words) <= 4 * MAX_OPERAND_WORDS else "expr")
        by_text[text] = SharedExpr(
            names.take(f"{value}_holds"), value, exprs[text].expression, text
        )
    shared_exprs = tuple(by_text.values())
    return Conditions(tuple(paths.values()), tuple(shared), shared_exprs), rules, by_text


def share(ir: BundleIR) -> BundleIR:
    """The IR with each test of the request's entities a reference to its shared rule."""
    conditions, rules, exprs = _conditions(*_shared_tests(ir.modules))

    def shared(e: Expr) -> Expr:
        if isinstance(e, Test) and e.root is None:
            return SharedTestRef(rules[_key(e)], e.negated, e.comment)
        if isinstance(e, ExprTest):
            return SharedTestRef(exprs[e.text].rule, False, e.comment)
        return e

    def body(found: Body) -> Body:
        return tuple(map(shared, found))

    def policy(rule: PolicyRule) -> PolicyRule:
        helpers = tuple(replace(h, bodies=tuple(body(b) for b in h.bodies)) for h in rule.helpers)
        return replace(rule, body=body(rule.body), helpers=helpers)

    modules = tuple(replace(m, policies=tuple(policy(p) for p in m.policies)) for m in ir.modules)
    explained = _explained_by_shared(modules, conditions, rules, exprs)
    return replace(ir, modules=explained, conditions=conditions)


def _explained_by_shared(
    modules: tuple[PolicyModule, ...],
    conditions: Conditions,
    rules: dict[TestKey, str],
    exprs: dict[str, SharedExpr],
) -> tuple[PolicyModule, ...]:
    """The modules with each explanation node (lower._explanation) of a shared test a
    `shared` node naming its rule and its path's rule: explaining a failed policy
    then reads what the policy's own evaluation computed, and OPA keeps for the
    query, instead of testing again (templates/explanations.rego.j2).  The nodes
    of an $elemMatch's clause test the element: they stay as they are."""
    path_rules = {test.rule: test.path_rule for test in conditions.tests}

    def shared(node: dict[str, JsonValue]) -> dict[str, JsonValue]:
        if "clauses" in node:
            return {**node, "clauses": [list(map(shared, clause)) for clause in node["clauses"]]}
        if node["kind"] == "expr":
            found = exprs[node["expression"]]
            return {
                "kind": "expr",
                "entry": node["entry"],
                "n": node["n"],
                "test": found.rule,
                "value": found.value_rule,
                "references": node["references"],
            }
        if node["kind"] != "test":
            return node
        # The node's TestKey, as _key makes it of the Test it was written from.
        key = (
            tuple(node["segments"]),
            node["function"],
            json.dumps(node["operand"], sort_keys=True),
        )
        rule = rules[key]
        return {
            "kind": "shared",
            "entry": node["entry"],
            "n": node["n"],
            "negated": node["negated"],
            "test": rule,
            "at": path_rules[rule],
            **({"pattern": node["pattern"]} if "pattern" in node else {}),
        }

    return tuple(
        replace(
            m,
            policies=tuple(
                replace(p, explanation=list(map(shared, p.explanation)))
                if p.explanation is not None
                else p
                for p in m.policies
            ),
        )
        for m in modules
    )
