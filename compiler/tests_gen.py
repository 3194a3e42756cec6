"""Policy tests in the bundle: `test` blocks and generated boundary cases → `_test.rego`.

Authored tests go to package `regate.tests` (regate/tests/<source>_test.rego),
one rule per `test` block; boundary cases (compiler/boundaries.py) go to
package `regate.tests.boundaries` with their requests as data under
data.regate.boundaries, which data.regate.decision never reads.  Test files
are left out of the bundle's revision: it names the decision logic.
"""

from __future__ import annotations

import json
import posixpath
from collections.abc import Mapping
from dataclasses import dataclass

from compiler.ast import JsonValue, ObjectId, Program, Span
from compiler.boundaries import Case, PolicyBoundaries, boundaries
from compiler.bundle import json_bytes
from compiler.diagnostics import Diagnostic, did_you_mean, error
from compiler.emit import render
from compiler.lower import rule_names
from compiler.rego import id_order, slug

AUTHORED_PACKAGE = "data.regate.tests"
BOUNDARY_PACKAGE = "data.regate.tests.boundaries"
BOUNDARY_DATA = "regate/boundaries/data.json"


@dataclass(frozen=True)
class AuthoredTest:
    """A `test` block, ready for tests_test.rego.j2."""

    rule: str
    title: str  # `"name" (file:line)`
    name: str
    span: Span
    request: JsonValue
    expect: str
    failing: tuple[str, ...] | None  # sorted
    applying: tuple[ObjectId, ...] | None  # sorted as Rego sorts them


@dataclass(frozen=True)
class BoundaryPolicy:
    """A policy's generated cases, ready for boundaries_test.rego.j2."""

    rule: str
    title: str  # `Name (file:line)`
    span: Span
    boundaries: PolicyBoundaries

    @property
    def cases(self) -> tuple[Case, ...]:
        return self.boundaries.cases

    @property
    def skipped(self) -> str | None:
        return self.boundaries.skipped

    def test_rule(self, index: int) -> str:
        """The rule of case `index` (0-based), as the template names it."""
        return f"test_{self.rule}_{index + 1}"


@dataclass(frozen=True)
class RegoTestModule:
    path: str  # inside the bundle
    source: str  # relative to the source root
    tests: tuple[AuthoredTest, ...] = ()
    policies: tuple[BoundaryPolicy, ...] = ()


@dataclass(frozen=True)
class BundleTests:
    """Every test of a compilation, and where each comes from."""

    authored: tuple[RegoTestModule, ...]
    generated: tuple[RegoTestModule, ...]

    def find(self, package: str, rule: str) -> AuthoredTest | tuple[BoundaryPolicy, int] | None:
        """The authored test or the (policy, case index) an `opa test` result names."""
        if package == AUTHORED_PACKAGE:
            return next((t for m in self.authored for t in m.tests if t.rule == rule), None)
        if package == BOUNDARY_PACKAGE:
            for module in self.generated:
                for policy in module.policies:
                    for index in range(len(policy.cases)):
                        if policy.test_rule(index) == rule:
                            return policy, index
        return None


def check_tests(program: Program) -> list[Diagnostic]:
    """Test blocks name known policies and actions, and each other uniquely."""
    diagnostics: list[Diagnostic] = []
    policies = {p.name for p in program.policies}
    actions = {str(a.id) for a in program.actions}
    seen: dict[str, Span] = {}
    for test in program.tests:
        if test.name in seen:
            diagnostics.append(
                error(
                    "RG080",
                    test.span,
                    f'a second test named "{test.name}"',
                    help=f"the first is at {seen[test.name]}",
                )
            )
        seen.setdefault(test.name, test.span)
        names = [("RG050", "policy", r.name or "", r.span, policies) for r in test.failing or ()]
        names += [
            ("RG081", "action id", str(a.value), a.span, actions) for a in test.applying or ()
        ]
        for code, what, name, span, known in names:
            if name not in known:
                diagnostics.append(
                    error(code, span, f'unknown {what} "{name}"', help=did_you_mean(name, known))
                )
    return diagnostics


def _test_path(directory: str, source: str) -> str:
    return f"{directory}/{posixpath.splitext(source)[0]}_test.rego"


def bundle_tests(program: Program, where: Mapping[str, str]) -> BundleTests:
    """`where` maps each source path to its name relative to the source root."""

    def location(span: Span) -> str:
        return f"{where.get(span.file, span.file)}:{span.line}"

    taken: set[str] = set()
    authored: list[RegoTestModule] = []
    for file in program.files:
        tests: list[AuthoredTest] = []
        for test in file.tests:
            rule, n = f"test_{slug(test.name)}", 1
            while rule in taken:
                n += 1
                rule = f"test_{slug(test.name)}_{n}"
            taken.add(rule)
            tests.append(
                AuthoredTest(
                    rule=rule,
                    title=f"{json.dumps(test.name)} ({location(test.span)})",
                    name=test.name,
                    span=test.span,
                    request=test.request,
                    expect=test.expect,
                    failing=tuple(sorted({str(r.name) for r in test.failing}))
                    if test.failing is not None
                    else None,
                    applying=tuple(sorted({a.value for a in test.applying}, key=id_order))
                    if test.applying is not None
                    else None,
                )
            )
        if tests:
            source = where.get(file.path, file.path)
            path = _test_path("regate/tests", source)
            authored.append(RegoTestModule(path, source, tuple(tests)))
    rules = rule_names(program.policies)
    generated_by_policy = {b.policy.span: b for b in boundaries(program)}
    generated: list[RegoTestModule] = []
    for file in program.files:
        if not file.policies:
            continue
        source = where.get(file.path, file.path)
        policies = tuple(
            BoundaryPolicy(
                rules[p.span],
                f"{p.name} ({location(p.span)})",
                p.span,
                generated_by_policy[p.span],
            )
            for p in file.policies
        )
        generated.append(
            RegoTestModule(_test_path("regate/tests/boundaries", source), source, policies=policies)
        )
    return BundleTests(tuple(authored), tuple(generated))


def emit_tests(suite: BundleTests) -> dict[str, bytes]:
    """Bundle path → content of the test modules and the boundary data."""
    files: dict[str, bytes] = {}
    for module in suite.authored:
        files[module.path] = render("tests_test.rego.j2", module=module).encode()
    data: dict[str, JsonValue] = {}
    for module in suite.generated:
        files[module.path] = render("boundaries_test.rego.j2", module=module).encode()
        for policy in module.policies:
            data[policy.rule] = [
                {"description": c.description, "input": c.input, "expected": c.expected}
                for c in policy.boundaries.cases
            ]
    if data:
        files[BOUNDARY_DATA] = json_bytes(data)
    return files
