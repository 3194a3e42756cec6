"""`regate test`: run the bundle's tests with a real `opa test`, report at the sources.

Failures come back from OPA by package and rule; compiler/tests_gen.py knows
which `test` block or which generated boundary case each rule is, so a failure
is a diagnostic at the test block (RG082) or at the policy (RG083).
`--coverage` runs the written tests again under `opa test --coverage` and maps
the covered lines of regate/policies/*.rego back to policies and conditions
through the comments the emitter writes beside each condition (RG084, RG085).
"""

from __future__ import annotations

import json
import re
import sys
import tempfile
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

import click

from compiler import __version__
from compiler.ast import Expr, FieldCondition, FieldOperator, NotOp, Policy, Span
from compiler.bundle import write_directory
from compiler.check import expr_conditions, field_conditions
from compiler.diagnostics import Diagnostic, error, has_errors, render, warning
from compiler.driver import Compilation, compile_sources, max_exception_days_option
from compiler.explain import error_line
from compiler.lower import rule_names, shared_rules
from compiler.opa import DECISION_QUERY, OpaError, decide_all, eval_bundle, regate_decision, run
from compiler.rego import id_order
from compiler.sources import file_span
from compiler.tests_gen import AUTHORED_PACKAGE, AuthoredTest, BoundaryPolicy, BundleTests

# Written tests only: `--coverage` reports what the authors' tests exercise.
AUTHORED_TESTS = "^" + re.escape(AUTHORED_PACKAGE) + r"\.test_"


@dataclass(frozen=True)
class OpaTestRun:
    passed: int
    failures: tuple[Diagnostic, ...]
    written: int
    generated: int


def _opa_test(directory: str, *options: str) -> Any:
    """`opa test` on a bundle directory, as JSON.  Run inside the directory: OPA
    names coverage files by the path it was given."""
    done = run(["test", "--bundle", ".", "--format", "json", *options], cwd=directory)
    try:
        return json.loads(done.stdout)
    except json.JSONDecodeError:
        said = (done.stderr.strip() or done.stdout.strip()).splitlines()[:1]
        raise OpaError(
            f"opa test gave no report regate can read{': ' + said[0][:200] if said else ''}",
            help="is REGATE_OPA (or opa on PATH) the opa binary? If it is, please report this "
            "with the sources",
        ) from None


def _decision_text(decision: Any) -> str:
    """A decision in one line: `manual; deployment-create-production: manual (Code Coverage
    failed, Security passed)`."""
    parts = [str(decision.get("result"))]
    for action in decision.get("actions", []):
        items = action.get("checklist", {}).get("items", [])
        states = [f"{p['name']} {_state(p)}" for p in action.get("policies", [])]
        states += [f"item {i['id']} {i['state']}" for i in items]
        parts.append(f"{action['id']}: {action['result']} ({', '.join(states) or 'no policies'})")
    # A request the bundle refused says why: the test's request is the culprit.
    parts.extend(f"the request is malformed: {error_line(e)}" for e in decision.get("errors", []))
    return "; ".join(parts)


def _state(policy: dict[str, object]) -> str:
    if policy.get("selected") is False:
        return "not selected"
    return "passed" if policy.get("passed") else "failed"


def _listed(names: Iterable[object]) -> str:
    return json.dumps(list(names), ensure_ascii=False)


def _authored_failure(test: AuthoredTest, directory: str, opa_error: str | None) -> Diagnostic:
    if opa_error:
        return error("RG082", test.span, f'test "{test.name}" failed: {opa_error}')
    decision = eval_bundle(directory, test.request, test.query)
    if test.query != DECISION_QUERY:
        decision = regate_decision(decision, f"bundle {directory}")
    failing = sorted(
        {
            p["name"]
            for a in decision.get("actions", [])
            for p in a.get("policies", [])
            if p.get("passed") is False
        }
    )
    applying = sorted((a["id"] for a in decision.get("actions", [])), key=id_order)
    wrong: list[str] = []
    if decision.get("result") != test.expect:
        wrong.append(f"expected {test.expect}, got {decision.get('result')}")
    if test.failing is not None and list(test.failing) != failing:
        wrong.append(f"expected failing policies {_listed(test.failing)}, got {_listed(failing)}")
    if test.applying is not None and list(test.applying) != applying:
        wrong.append(f"expected actions {_listed(test.applying)}, got {_listed(applying)}")
    return error(
        "RG082",
        test.span,
        f'test "{test.name}" failed: {"; ".join(wrong) or "the decision differs"}',
        help=f"the decision: {_decision_text(decision)}",
    )


def _boundary_failure(policy: BoundaryPolicy, index: int, opa_error: str | None) -> Diagnostic:
    case = policy.cases[index]
    said = opa_error or f"the compiled policy says {json.dumps(not case.expected)}"
    return error(
        "RG083",
        policy.span,
        f"generated boundary case {index + 1} of {policy.boundaries.name} "
        f"failed: {case.description}: regate reads the conditions as "
        f"{json.dumps(case.expected)}, {said}",
        help="the compiled Rego disagrees with regate's reading of the conditions: "
        "please report this with the bundle's regate/boundaries/data.json",
    )


def run_tests(result: Compilation, directory: str) -> OpaTestRun:
    """Run every test of a compiled bundle written to `directory`."""
    assert result.tests is not None
    suite: BundleTests = result.tests
    failures: list[Diagnostic] = []
    passed = written = generated = 0
    for outcome in _opa_test(directory):
        found = suite.find(outcome["package"], outcome["name"])
        written += isinstance(found, AuthoredTest)
        generated += isinstance(found, tuple)
        opa_error = outcome.get("error", {}).get("message") if outcome.get("error") else None
        if not outcome.get("fail") and not opa_error:
            passed += 1
        elif isinstance(found, AuthoredTest):
            failures.append(_authored_failure(found, directory, opa_error))
        elif found is not None:
            failures.append(_boundary_failure(*found, opa_error))
        else:
            raise OpaError(f"opa test ran a test regate did not write: {outcome['name']}")
    return OpaTestRun(passed, tuple(sorted(failures)), written, generated)


# --- coverage ---

_CONDITION_COMMENT = re.compile(r"^\t# (?P<text>.*) \((?P<source>[^()]*):(?P<line>[0-9]+)\)$")
_POLICY_COMMENT = re.compile(r"^# Policy .*\), at .*:$")
_CONTINUED_COMMENT = re.compile(r"^\t*#   \S")
_RULE_HEAD = re.compile(r"^(?P<rule>[a-z][a-z0-9_]*) if \{$")


@dataclass(frozen=True)
class PolicyLines:
    """Where one policy sits in an emitted policies module."""

    rule: str
    rows: frozenset[int]
    conditions: tuple[CommentedCondition, ...]


@dataclass(frozen=True)
class CommentedCondition:
    """`# build.metadata.coverage.code.coverage $gte 80 (policies.rg:8)` and the row after it."""

    row: int  # of the expression
    text: str  # the condition as the comment shows it
    source: str  # relative to the source root
    line: int


def policy_lines(rego: str) -> list[PolicyLines]:
    """Read the emitted module: a policy runs from its `# Policy ...` comment to the
    next one, its rule the first after the comment; each `# condition (source:line)`
    comment precedes its expression."""
    found: list[PolicyLines] = []
    rule: str | None = None
    rows: set[int] = set()
    conditions: list[CommentedCondition] = []
    in_policy = False

    def close() -> None:
        if rule is not None:
            found.append(PolicyLines(rule, frozenset(rows), tuple(conditions)))

    # A long comment goes on continuation lines (`#   `, compiler/emit.py): one comment.
    lines: list[tuple[int, str]] = []
    for row, line in enumerate(rego.splitlines(), start=1):
        if lines and _CONTINUED_COMMENT.match(line):
            lines[-1] = (row, f"{lines[-1][1]} {line.lstrip().removeprefix('#').strip()}")
        else:
            lines.append((row, line))
    for row, line in lines:
        if _POLICY_COMMENT.match(line):
            close()
            rule, rows, conditions = None, set(), []
            in_policy = True
        elif rule is None and (head := _RULE_HEAD.match(line)) is not None:
            rule = head["rule"]
        if not in_policy:
            continue
        rows.add(row)
        comment = _CONDITION_COMMENT.match(line)
        if comment is not None:
            conditions.append(
                CommentedCondition(
                    row + 1, comment["text"], comment["source"], int(comment["line"])
                )
            )
    close()
    return found


def _covered_rows(report: Any, path: str) -> set[int]:
    rows: set[int] = set()
    for covered in report.get("files", {}).get(path, {}).get("covered", []):
        rows.update(range(covered["start"]["row"], covered["end"]["row"] + 1))
    return rows


@dataclass(frozen=True)
class Exercised:
    """Whether the test blocks exercise a policy (at its name) or a condition (at its path)."""

    span: Span
    policy: str
    condition: str | None  # the condition's path; None for the policy itself
    exercised: bool


@dataclass(frozen=True)
class Coverage:
    gaps: tuple[Diagnostic, ...]  # RG084, RG085
    policies: tuple[int, int]  # (exercised, all)
    conditions: tuple[int, int]
    marks: tuple[Exercised, ...] = ()  # every policy and condition, for a per-line report


def _decided(result: Compilation, directory: str) -> set[str]:
    """The policies (by source) some written test's decision reports."""
    assert result.tests is not None
    requests = {t.rule: t.request for m in result.tests.authored for t in m.tests}
    decisions = decide_all(directory, requests) if requests else {}
    return {
        str(policy.get("source"))
        for decision in decisions.values()
        for action in decision.get("actions", [])
        for policy in action.get("policies", [])
    }


def coverage(result: Compilation, directory: str) -> Coverage:
    """The policies and conditions the written tests exercise, by `opa test --coverage`.

    Policies whose conditions are the same document share one rule
    (lower.shared_rules), whose lines the first of them is commented with: each of
    them is exercised where the rule is and some written test's decision reports
    it, and its conditions where the rule's are."""
    assert result.files is not None and result.program is not None
    report = _opa_test(directory, "--coverage", "--run", AUTHORED_TESTS)
    program = result.program
    names = rule_names(program.policies)
    rules = shared_rules(program.policies, names)
    deciding: dict[str, list[Policy]] = {}
    for policy in program.policies:
        deciding.setdefault(rules[policy.span], []).append(policy)
    where = {s.name: s.path for s in result.sources}
    located = {s.path: s.name for s in result.sources}
    decided = _decided(result, directory) if any(len(p) > 1 for p in deciding.values()) else None
    gaps: list[Diagnostic] = []
    exercised_policies: list[bool] = []
    exercised_conditions: list[bool] = []
    marks: list[Exercised] = []
    for path in sorted(p for p in result.files if p.startswith("regate/policies/")):
        covered = _covered_rows(report, path)
        for lines, policy in (
            (found, policy)
            for found in policy_lines(result.files[path].decode())
            for policy in deciding[found.rule]
        ):
            first = deciding[lines.rule][0]
            exercised = bool(lines.rows & covered) and (
                decided is None
                or len(deciding[lines.rule]) == 1
                or f"{located.get(policy.span.file, policy.span.file)}:{policy.span.line}"
                in decided
            )
            exercised_policies.append(exercised)
            marks.append(Exercised(policy.span, policy.name, None, exercised))
            if not exercised:
                gaps.append(
                    warning(
                        "RG084",
                        policy.span,
                        f'no test exercises policy "{policy.name}"',
                        help="add a test block whose request reaches an action bound to it",
                    )
                )
            # A condition with several operators has several expressions: any one counts.
            hits: dict[Span, tuple[FieldCondition | Expr, bool]] = {}
            for commented in lines.conditions:
                condition = _counterpart(_commented(first, commented, where), first, policy)
                if condition is not None:
                    hit = commented.row in covered or hits.get(condition.span, (None, False))[1]
                    hits[condition.span] = (condition, hit)
            for condition, hit in hits.values():
                exercised_conditions.append(hit)
                if isinstance(condition, FieldCondition):
                    span, text = condition.path.span, condition.path.text
                else:
                    span, text = condition.span, "$expr"
                marks.append(Exercised(span, policy.name, text, hit))
                if exercised and not hit:
                    gaps.append(
                        warning(
                            "RG085",
                            span,
                            f'no test exercises this condition of policy "{policy.name}"',
                            help="add a test block whose request reaches it",
                        )
                    )
    return Coverage(
        tuple(sorted(gaps)),
        (sum(exercised_policies), len(exercised_policies)),
        (sum(exercised_conditions), len(exercised_conditions)),
        tuple(sorted(marks, key=lambda m: m.span)),
    )


def _counterpart(
    condition: FieldCondition | Expr | None, first: Policy, policy: Policy
) -> FieldCondition | Expr | None:
    """The condition of `policy` in the place `condition` has in `first`'s conditions,
    the same document."""
    if condition is None or policy is first:
        return condition
    conditions: list[FieldCondition | Expr] = [
        *field_conditions(first.conditions),
        *expr_conditions(first.conditions),
    ]
    theirs: list[FieldCondition | Expr] = [
        *field_conditions(policy.conditions),
        *expr_conditions(policy.conditions),
    ]
    return theirs[conditions.index(condition)]


def _commented(
    policy: Policy, commented: CommentedCondition, where: Mapping[str, str]
) -> FieldCondition | Expr | None:
    """The condition a comment names: a field condition by its path and an operator on
    its line; an `$expr` by its line."""
    file = where.get(commented.source, commented.source)

    def on_line(operators: tuple[FieldOperator, ...]) -> bool:
        return any(
            (o.span.file, o.span.line) == (file, commented.line)
            or (isinstance(o, NotOp) and on_line(o.operators))  # lowered as its inner operator
            for o in operators
        )

    text = commented.text
    if text.startswith("$expr "):
        return next(
            (
                e
                for e in expr_conditions(policy.conditions)
                if (e.span.file, e.span.line) == (file, commented.line)
            ),
            None,
        )
    while text.startswith("$not "):  # a negated operator: `$not path $gt 0`
        text = text.removeprefix("$not ")
    for condition in field_conditions(policy.conditions):
        if text.startswith(condition.path.text + " ") and on_line(condition.operators):
            return condition
    return None


# --- the command ---


def _print(diagnostics: list[Diagnostic], result: Compilation) -> None:
    output = render(diagnostics, result.texts, "text", __version__)
    if output:
        sys.stderr.write(output)


@click.command("test")
@click.argument("sources", nargs=-1, required=True)
@click.option(
    "--coverage",
    "with_coverage",
    is_flag=True,
    help="Also report the policies and conditions no test block exercised.",
)
@click.option(
    "--format",
    "fmt",
    type=click.Choice(["text", "html"]),
    default="text",
    help="html: a page of the results and, with --coverage, each source line exercised "
    "(on stdout; the summary goes to stderr).",
)
@max_exception_days_option
def test_command(
    sources: tuple[str, ...], with_coverage: bool, fmt: str, max_exception_days: int
) -> None:
    """Run the test blocks of SOURCES and the generated boundary tests with `opa test`."""
    result = compile_sources(list(sources), True, max_exception_days)
    diagnostics = list(result.diagnostics)
    if result.program is not None and not result.program.tests and sources:
        diagnostics.append(
            error(
                "RG065",
                file_span(sources[0]),
                "the sources have no test blocks: nothing says what the policies must decide",
                help='add one: test "name" { request = file("request.json") expect = manual }'
                " (docs/testing.md)",
            )
        )
    if result.files is None or has_errors(diagnostics):
        _print(diagnostics, result)
        sys.exit(1)
    try:
        with tempfile.TemporaryDirectory(prefix="regate-test-") as directory:
            write_directory(directory, result.files)
            tests = run_tests(result, directory)
            found = [*result.diagnostics, *tests.failures]
            covered = None
            if with_coverage and not tests.failures:
                covered = coverage(result, directory)
                found.extend(covered.gaps)
    except OpaError as exc:
        _print([exc.diagnostic], result)
        sys.exit(1)
    _print(found, result)
    summary = [
        f"{tests.passed} passed, {len(tests.failures)} failed "
        f"({tests.written} from test blocks, {tests.generated} generated boundary cases)"
    ]
    if covered is not None:
        policies, conditions = covered.policies, covered.conditions
        summary.append(
            f"coverage: {policies[0]}/{policies[1]} policies, "
            f"{conditions[0]}/{conditions[1]} conditions exercised by the test blocks"
        )
    elif with_coverage:
        summary.append("coverage: not measured, some tests failed")
    if fmt == "html":
        from compiler.editor.html import test_page

        click.echo(test_page(result, tests, covered, found, summary), nl=False)
    for line in summary:
        click.echo(line, err=fmt == "html")
    sys.exit(1 if tests.failures else 0)
