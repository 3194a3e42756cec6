"""Policy tests in the bundle: `test` blocks and generated boundary cases → `_test.rego`.

Authored tests go to package `regate.tests_test` (regate/tests/<source>_test.rego),
one rule per `test` block, its request and expectations in data.regate.tests.cases;
boundary cases (compiler/boundaries.py) go to package `regate.tests.boundaries_test`
with their requests as data under data.regate.boundaries, which data.regate.decision
never reads.  Test files are left out of the bundle's revision: it names the
decision logic.
"""

from __future__ import annotations

import json
from collections import defaultdict
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, replace

from compiler.ast import Array, JsonValue, Nrn, Object, ObjectId, Program, Span
from compiler.boundaries import Case, PolicyBoundaries, boundaries
from compiler.bundle import json_bytes
from compiler.check import Specifications
from compiler.diagnostics import Diagnostic, did_you_mean, error
from compiler.emit import render
from compiler.entities import EntityModel, program_model
from compiler.lower import checklist_rules, epoch_ns, module_stem, rule_names, shared_rules
from compiler.parse import nrn_problem
from compiler.rego import id_order, slug
from compiler.schema import Unresolved, resolve

# Test packages end in _test, as Regal's test-outside-test-package asks.
AUTHORED_PACKAGE = "data.regate.tests_test"
BOUNDARY_PACKAGE = "data.regate.tests.boundaries_test"
BOUNDARY_DATA = "regate/boundaries/data.json"
# Each test block's request and expected policies and actions, by its rule.
AUTHORED_DATA = "regate/tests/cases/data.json"
# Regal's style/file-length: a module of at most 500 lines.
MAX_MODULE_LINES = 500


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
    now_ns: int | None = None  # OPA's clock for the test (`now`), in ns since the epoch

    @property
    def query(self) -> str:
        """The decision as the test evaluates it, at its time."""
        clock = f" with time.now_ns as {self.now_ns}" if self.now_ns is not None else ""
        return f"data.regate.decision{clock}"


@dataclass(frozen=True)
class BoundaryPolicy:
    """A rule's generated cases (a policy's, its selector's, a checklist item's), ready
    for boundaries_test.rego.j2."""

    rule: str  # the rule the cases test, in data.regate.<package>
    key: str  # its cases' key in data.regate.boundaries, unique across packages
    title: str  # `policy "Name" (file:line)`
    span: Span
    boundaries: PolicyBoundaries

    @property
    def package(self) -> str:
        return self.boundaries.package

    @property
    def cases(self) -> tuple[Case, ...]:
        return self.boundaries.cases

    @property
    def skipped(self) -> str | None:
        return self.boundaries.skipped

    def test_rule(self, index: int) -> str:
        """The rule of case `index` (0-based), as the template names it."""
        return f"test_{self.key}_{index + 1}"


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
    diagnostics.extend(_check_requests(program))
    return diagnostics


# --- test requests against the entity model and the specifications ---


def _request_paths(
    node: Object, prefix: tuple[str, ...], dotted: bool
) -> Iterator[tuple[tuple[str, ...], Span]]:
    """Every path a request's `entities` gives, each with the span of its last segment;
    with `dotted`, keys are dotted paths.  An array's object items continue the path,
    as a policy's path reaches into them."""
    for member in node.members:
        parts = member.key.split(".") if dotted else [member.key]
        offset = member.key_text_offset
        for index, part in enumerate(parts):
            if offset is None:
                span = member.key_span
            else:
                start = offset + sum(len(p) + 1 for p in parts[:index])
                span = member.key_span.at(start, max(len(part), 1))
            yield (*prefix, *parts[: index + 1]), span
        values = member.value.items if isinstance(member.value, Array) else (member.value,)
        for value in values:
            if isinstance(value, Object):
                yield from _request_paths(value, (*prefix, *parts), dotted)


def _check_requests(program: Program) -> list[Diagnostic]:
    """A test's request is checked as a policy's paths are: each entity it gives is one
    the model knows and its action can see, each path one the model or the
    specification in force at its NRN has.  A typo there makes the test decide a
    request nobody sends, and pass for the wrong reason."""
    model = program_model(program)
    specifications = Specifications(
        [s for s in program.specifications if s.entity in model.entities]
    )
    diagnostics: list[Diagnostic] = []
    for test in program.tests:
        request = test.request if isinstance(test.request, dict) else {}
        action, nrn_text = request.get("action"), request.get("nrn")
        if test.action_span is not None and action not in model.actions:
            diagnostics.append(
                error(
                    "RG055",
                    test.action_span,
                    f'unknown approval action "{action}"',
                    help=did_you_mean(str(action), model.actions)
                    or f"approval actions are {', '.join(model.actions)}",
                )
            )
        if test.entities is None:
            continue
        visible = model.actions.get(action) if isinstance(action, str) else None
        nrn = (
            Nrn(nrn_text, test.span)
            if isinstance(nrn_text, str) and nrn_problem(nrn_text) is None
            else None
        )
        wrong: set[tuple[str, ...]] = set()
        for path, span in _request_paths(test.entities, (), test.dotted):
            if any(path[:n] in wrong for n in range(1, len(path))):
                continue
            found = _request_path_problem(path, span, model, specifications, nrn, visible, action)
            if found is not None:
                wrong.add(path)
                diagnostics.append(found)
    return diagnostics


def _request_path_problem(
    path: tuple[str, ...],
    span: Span,
    model: EntityModel,
    specifications: Specifications,
    nrn: Nrn | None,
    visible: tuple[str, ...] | None,
    action: object,
) -> Diagnostic | None:
    entity, shown = path[0], ".".join(path)
    if len(path) == 1:
        if entity not in model.entities:
            return error(
                "RG030",
                span,
                f'unknown entity "{entity}" in the test\'s request',
                help=did_you_mean(entity, model.entities)
                or f"entities are {', '.join(model.entities)}",
            )
        if visible is not None and entity not in visible:
            return error(
                "RG033",
                span,
                f"the test's request gives {entity}, which a {action} request never carries",
                help=f"a {action} request carries {', '.join(visible)}",
            )
        return None
    if path[1] != "metadata":
        resolved = model.resolve_attribute(entity, path[1:])
        if isinstance(resolved, Unresolved) and resolved.index == len(path) - 2:
            known = (*resolved.known, "metadata") if resolved.index == 0 else resolved.known
            return error(
                "RG031",
                span,
                f'unknown field "{path[-1]}" in "{".".join(path[:-1])}" in the test\'s request',
                help=did_you_mean(path[-1], known),
            )
        return None
    if len(path) < 3 or nrn is None:
        return None
    specification = specifications.in_force(entity, path[2], nrn)
    if specification is None:
        return (
            error(
                "RG032",
                span,
                f'the test\'s request gives "{shown}", but no metadata specification for it '
                f"is in force at {nrn.text}",
                help=did_you_mean(path[2], specifications.keys(entity))
                or "declare a specification for it, or fix the path",
            )
            if len(path) == 3
            else None
        )
    resolved = resolve(specification.schema, path[3:])
    if isinstance(resolved, Unresolved) and resolved.index == len(path) - 4:
        return error(
            "RG031",
            span,
            f'unknown field "{path[-1]}" in "{".".join(path[:-1])}" in the test\'s request '
            f'(specification "{specification.name}" at {specification.span})',
            help=did_you_mean(path[-1], resolved.known)
            or (f"fields here: {', '.join(resolved.known)}" if resolved.known else None),
        )
    return None


def _test_path(directory: str, source: str) -> str:
    return f"{directory}/{module_stem(source)}_test.rego"


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
                    now_ns=epoch_ns(test.now) if test.now is not None else None,
                )
            )
        if tests:
            source = where.get(file.path, file.path)
            path = _test_path("regate/tests", source)
            authored.append(RegoTestModule(path, source, tuple(tests)))
    keys = rule_names(program.policies)
    rules = shared_rules(program.policies, keys)
    items = checklist_rules(program.checklists, keys.values())
    taken = {*keys.values(), *items.values()}
    by_file: dict[str, list[BoundaryPolicy]] = defaultdict(list)
    # A policy whose conditions are an earlier one's shares its rule: one set of cases.
    shared = {p.span for p in program.policies if rules[p.span] != keys[p.span]}
    for found in boundaries(program, shared):
        if found.package == "checklists":
            rule = key = items[found.owner.span, str(found.item)]
        else:
            rule = key = keys[found.owner.span]
        if found.package == "selectors":  # beside its policy's cases, under another key
            base, n = f"{rule}_selector", 1
            key = base
            while key in taken:
                n += 1
                key = f"{base}_{n}"
            taken.add(key)
        title = f"{found.name} ({location(found.span)})"
        by_file[found.span.file].append(BoundaryPolicy(rule, key, title, found.span, found))
    generated = [
        RegoTestModule(
            _test_path("regate/tests/boundaries", where.get(file.path, file.path)),
            where.get(file.path, file.path),
            policies=tuple(by_file[file.path]),
        )
        for file in program.files
        if by_file[file.path]
    ]
    return BundleTests(tuple(authored), tuple(generated))


def emit_tests(suite: BundleTests) -> dict[str, bytes]:
    """Bundle path → content of the test modules and the boundary data."""
    files: dict[str, bytes] = {}
    cases: dict[str, dict[str, JsonValue]] = {}
    for module in suite.authored:
        files[module.path] = render("tests_test.rego.j2", module=module).encode()
        for test in module.tests:
            cases[test.rule] = {"request": test.request}
            if test.failing is not None:
                cases[test.rule]["failing"] = list(test.failing)
            if test.applying is not None:
                cases[test.rule]["applying"] = list(test.applying)
    if cases:
        files[AUTHORED_DATA] = json_bytes(cases)
    data: dict[str, JsonValue] = {}
    for module in suite.generated:
        for part in _boundary_parts(module):
            files[part.path] = render("boundaries_test.rego.j2", module=part).encode()
        for policy in module.policies:
            data[policy.key] = [
                {"description": c.description, "input": c.input, "expected": c.expected}
                for c in policy.boundaries.cases
            ]
    if data:
        files[BOUNDARY_DATA] = json_bytes(data)
    return files


def _boundary_parts(module: RegoTestModule) -> Iterator[RegoTestModule]:
    """A source's boundary tests as modules of at most MAX_MODULE_LINES lines (its
    policies' cases grow with them), each policy's cases whole in one: the first at
    the module's path, the next numbered (`a_test.rego`, `a.part2_test.rego`, …)."""
    header = _lines(replace(module, policies=()))
    parts: list[list[BoundaryPolicy]] = [[]]
    lines = header
    for policy in module.policies:
        size = _lines(replace(module, policies=(policy,))) - header
        if parts[-1] and lines + size > MAX_MODULE_LINES:
            parts.append([])
            lines = header
        parts[-1].append(policy)
        lines += size
    stem = module.path.removesuffix("_test.rego")
    for n, policies in enumerate(parts, 1):
        path = module.path if n == 1 else f"{stem}.part{n}_test.rego"
        yield replace(module, path=path, policies=tuple(policies))


def _lines(module: RegoTestModule) -> int:
    return len(render("boundaries_test.rego.j2", module=module).splitlines())
