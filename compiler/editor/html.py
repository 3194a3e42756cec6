"""HTML reports a person reads: a decision (`regate explain --format html`), the requests a
change decides differently (`regate diff --format html`) and what the test blocks exercise
(`regate test --coverage --format html`).

Each page is one self-contained file (inline CSS, no script, no network): Jinja2 templates
in templates/html/, autoescaped.  The decision is read as `regate explain` reads it, with the
same words (compiler/explain.py), and read defensively: fields a newer bundle adds (request
errors as objects, `pending` results, checklists) are shown, never a reason to fail.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from functools import cache
from typing import Any

import jinja2

from compiler import __version__
from compiler.explain import (
    ACTION_VERBS,
    AUDIT_VERBS,
    ELEMENT_WIDTH,
    HEADLINES,
    LOGICAL_HEADLINES,
    _needs,
)
from compiler.parse import EXCEPTION_FIELDS
from compiler.resources import resource_dir

# The keys of a decision, an action and a policy that the pages show in their own places;
# any other key is listed under "more" as JSON.
DECISION_KEYS = frozenset({"result", "actions", "revision", "errors"})
# A decision's finding exceptions in force and expired (docs/decisions.md, "Finding
# exceptions"), and the keys of one that the pages show in their own places.
EXCEPTION_LISTS = ("exceptions", "expired_exceptions")
# (An exception block's fields, as the bundle lists the exception, with what the
# decision adds: its name, source and the findings it named.)
EXCEPTION_KEYS = frozenset({"name", *EXCEPTION_FIELDS, "source", "findings"})
ACTION_KEYS = frozenset(
    {
        "id",
        "action",
        "nrn",
        "dimensions",
        "result",
        "policies",
        "enforcement",
        "would_be",
        "checklist",
        "on_checklist_fail",
    }
)
SYMBOLS = {"approve": "✓", "manual": "⚠", "deny": "✗", "pending": "⧗"}


@cache
def _environment() -> jinja2.Environment:
    return jinja2.Environment(
        loader=jinja2.FileSystemLoader(str(resource_dir("templates") / "html")),
        autoescape=True,
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
    )


def render_page(template: str, **values: Any) -> str:
    return _environment().get_template(template).render(version=__version__, **values)


def _json(value: Any) -> str:
    return json.dumps(value, ensure_ascii=False)


# --- a decision, as rows a template lays out ---


@dataclass(frozen=True)
class ConditionRow:
    depth: int
    path: str = ""
    actual: str = ""
    expected: str = ""
    source: str = ""
    note: str = ""


@dataclass(frozen=True)
class PolicyView:
    name: str
    source: str
    status: str  # passed, failed, waived
    rows: tuple[ConditionRow, ...]
    waiver: dict[str, Any] | None
    more: str  # other fields, as JSON


@dataclass(frozen=True)
class ItemView:
    """A checklist item: what it is and the state the decision gave it."""

    id: str
    kind: str  # `condition gate, major`
    title: str
    state: str  # passed, failed, pending, skipped
    source: str
    rows: tuple[ConditionRow, ...]  # a failed condition item's failed conditions


@dataclass(frozen=True)
class ActionView:
    id: str
    where: str
    verdict: str
    result: str
    audit: bool
    policies: tuple[PolicyView, ...]
    more: str
    checklist: str = ""  # `Production readiness (org.rg:10)`; none for a policy action
    on_checklist_fail: str = ""
    items: tuple[ItemView, ...] = ()


@dataclass(frozen=True)
class ErrorView:
    code: str
    path: str
    message: str


@dataclass(frozen=True)
class ExceptionView:
    """A finding exception a decision lists: in force (it excepted findings of the
    request) or expired (it would have)."""

    name: str
    rule: str  # `CVE-2021-44228 in org.apache.logging.log4j:log4j-core`
    nrn: str
    findings: str
    owner: str
    expires: str
    reason: str
    controls: str
    review_trigger: str
    source: str
    more: str


@dataclass(frozen=True)
class DecisionView:
    result: str
    headline: str
    symbol: str
    revision: str
    errors: tuple[ErrorView, ...]
    actions: tuple[ActionView, ...]
    more: str
    counts: dict[str, int] = field(default_factory=dict)
    exceptions: tuple[ExceptionView, ...] = ()
    expired_exceptions: tuple[ExceptionView, ...] = ()


def _actual(failure: Mapping[str, Any]) -> str:
    if failure.get("missing"):
        return "missing"
    if "actual_values" in failure:
        return ", ".join(_json(v) for v in failure["actual_values"])
    return _json(failure.get("actual"))


def condition_rows(failure: Any, depth: int = 0) -> list[ConditionRow]:
    """A failed condition as table rows, nested logic below it, deeper."""
    if not isinstance(failure, Mapping):
        return [ConditionRow(depth, note=_json(failure))]
    operator = str(failure.get("operator", "?"))
    source = str(failure.get("source", ""))
    path = str(failure.get("path") or "the element")
    if operator in LOGICAL_HEADLINES:
        rows = [ConditionRow(depth, source=source, note=LOGICAL_HEADLINES[operator])]
        for number, clause in enumerate(failure.get("clauses", []), start=1):
            if clause:
                rows.append(ConditionRow(depth + 1, note=f"clause {number}"))
                rows.extend(row for f in clause for row in condition_rows(f, depth + 2))
        return rows
    if operator == "$nor":
        matched = ", ".join(str(n) for n in failure.get("matched", []))
        return [ConditionRow(depth, source=source, note=f"clause {matched} of $nor holds")]
    if operator == "$not" and "matched" in failure:
        return [ConditionRow(depth, path, source=source, note="the conditions under $not hold")]
    if operator == "$elemMatch":
        rows = [ConditionRow(depth, path, _actual(failure), "an element matching", source)]
        for element in failure.get("elements", []):
            shown = _json(element.get("element"))
            if len(shown) > ELEMENT_WIDTH:
                shown = shown[: ELEMENT_WIDTH - 1] + "…"
            rows.append(ConditionRow(depth + 1, note=f"element {shown}"))
            rows.extend(
                r for f in element.get("failures", []) for r in condition_rows(f, depth + 2)
            )
        return rows
    expected = failure.get("expected")
    if operator == "$all" and expected == []:
        return [ConditionRow(depth, path, source=source, note="$all of no values never matches")]
    try:
        needs = _needs(operator, expected)
    except (TypeError, ValueError, AttributeError):  # an operand of a shape not known here
        needs = f"{operator} {_json(expected)}"
    return [ConditionRow(depth, path, _actual(failure), needs, source)]


def _more(value: Mapping[str, Any], shown: frozenset[str]) -> str:
    extra = {k: v for k, v in value.items() if k not in shown}
    return json.dumps(extra, indent=2, ensure_ascii=False, sort_keys=True) if extra else ""


def _policy(policy: Any) -> PolicyView:
    if not isinstance(policy, Mapping):
        return PolicyView(_json(policy), "", "failed", (), None, "")
    if policy.get("selected") is False:  # its selector left it out of this request
        status = "not selected"
    elif policy.get("passed"):
        status = "passed"
    else:
        status = "waived" if policy.get("waived") else "failed"
    rows = tuple(row for f in policy.get("failures", []) for row in condition_rows(f))
    waiver = policy.get("waiver") if isinstance(policy.get("waiver"), Mapping) else None
    shown = frozenset({"name", "source", "passed", "failures", "waived", "waiver", "selected"})
    return PolicyView(
        str(policy.get("name", "?")),
        str(policy.get("source", "")),
        status,
        rows,
        dict(waiver) if waiver else None,
        _more(policy, shown),
    )


def _where(action: Mapping[str, Any]) -> str:
    dimensions = action.get("dimensions")
    where = f"{action.get('action', '?')} at {action.get('nrn', '?')}"
    if isinstance(dimensions, Mapping) and dimensions:
        where += ", " + ", ".join(f"{k}={v}" for k, v in sorted(dimensions.items()))
    return where


def _action(action: Any) -> ActionView:
    if not isinstance(action, Mapping):
        return ActionView(_json(action), "", "", "deny", False, (), "")
    result = str(action.get("result", "?"))
    audit = action.get("enforcement") == "audit"
    if audit:
        would = str(action.get("would_be", "?"))
        verdict = f"audit, not enforced: {AUDIT_VERBS.get(would, would)}"
    else:
        verdict = ACTION_VERBS.get(result, result)
    policies = tuple(_policy(p) for p in action.get("policies", []))
    checklist = action.get("checklist")
    named = ""
    items: tuple[ItemView, ...] = ()
    if isinstance(checklist, Mapping):
        named = f"{checklist.get('name', '?')} ({checklist.get('source', '?')})"
        items = tuple(_item(i) for i in checklist.get("items", []))
    # A checklist of a shape not known here stays among the action's other fields.
    shown = ACTION_KEYS if named else ACTION_KEYS - {"checklist"}
    return ActionView(
        str(action.get("id", "?")),
        _where(action),
        verdict,
        result,
        audit,
        policies,
        _more(action, shown),
        named,
        str(action.get("on_checklist_fail", "")),
        items,
    )


def _item(item: Any) -> ItemView:
    if not isinstance(item, Mapping):
        return ItemView(_json(item), "", "", "failed", "", ())
    kind = " ".join(str(item.get(k)) for k in ("type", "behavior") if item.get(k))
    if item.get("severity"):
        kind += f", {item['severity']}"
    rows = tuple(row for f in item.get("failures", []) for row in condition_rows(f))
    return ItemView(
        str(item.get("id", "?")),
        kind,
        str(item.get("title", "")),
        str(item.get("state", "?")),
        str(item.get("source", "")),
        rows,
    )


def _exception(exception: Any) -> ExceptionView:
    if not isinstance(exception, Mapping):
        return ExceptionView(_json(exception), "?", "?", "?", "?", "?", "", "", "", "", "")
    rule = str(exception.get("rule", "?")) + "".join(
        f" in {exception[key]}" for key in ("package", "target") if key in exception
    )
    controls = exception.get("compensating_controls")
    # Controls of a shape not known here stay among the exception's other fields.
    shown = (
        EXCEPTION_KEYS if isinstance(controls, list) else EXCEPTION_KEYS - {"compensating_controls"}
    )
    return ExceptionView(
        str(exception.get("name", "?")),
        rule,
        str(exception.get("nrn", "?")),
        str(exception.get("findings", "?")),
        str(exception.get("owner", "?")),
        str(exception.get("expires", "?")),
        str(exception.get("reason", "")),
        "; ".join(str(c) for c in controls) if isinstance(controls, list) else "",
        str(exception.get("review_trigger", "")),
        str(exception.get("source", "")),
        _more(exception, shown),
    )


def _exceptions(decision: Mapping[str, Any], key: str) -> tuple[ExceptionView, ...]:
    listed = decision.get(key)
    return tuple(_exception(e) for e in listed) if isinstance(listed, list) else ()


def _error(reason: Any) -> ErrorView:
    if isinstance(reason, Mapping):
        return ErrorView(
            str(reason.get("code", "")), str(reason.get("path", "")), str(reason.get("message", ""))
        )
    return ErrorView("", "", str(reason))


def decision_view(decision: Any) -> DecisionView:
    """A decision as the pages show it; anything but an object is a decision that failed."""
    if not isinstance(decision, Mapping):
        reason = "no decision (undefined)" if decision is None else _json(decision)
        return DecisionView("deny", "no decision", "✗", "?", (ErrorView("", "", reason),), (), "")
    result = str(decision.get("result", "deny"))
    actions = tuple(_action(a) for a in decision.get("actions", []))
    counts: dict[str, int] = {}
    for action in actions:
        for policy in action.policies:
            counts[policy.status] = counts.get(policy.status, 0) + 1
    return DecisionView(
        result,
        HEADLINES.get(result, result),
        SYMBOLS.get(result, "•"),
        str(decision.get("revision", "?")),
        tuple(_error(e) for e in decision.get("errors", [])),
        actions,
        # A list of exceptions of a shape not known here stays among the other fields.
        _more(
            decision,
            DECISION_KEYS | {k for k in EXCEPTION_LISTS if isinstance(decision.get(k), list)},
        ),
        counts,
        _exceptions(decision, "exceptions"),
        _exceptions(decision, "expired_exceptions"),
    )


def decision_page(decision: Any, request: str | None = None) -> str:
    """`regate explain --format html`: one decision, its actions, policies and failed
    conditions.  `request` names the request file, for the title."""
    view = decision_view(decision)
    title = f"regate: {view.headline}" + (f" — {request}" if request else "")
    return render_page("decision.html.j2", title=title, decision=view, request=request)


# --- two versions of the sources, the same requests ---


@dataclass(frozen=True)
class PolicyChange:
    """One policy of one action deciding one request differently."""

    request: str
    action: str
    policy: str
    before: str  # passed, failed, waived, or "not applied"
    after: str
    rows: tuple[ConditionRow, ...]  # the failed conditions of the failing side
    rows_from: str  # "new" or "old": which version's failures the rows are


@dataclass(frozen=True)
class RequestChange:
    request: str
    old: DecisionView
    new: DecisionView


NOT_APPLIED = "not applied"


def _policies_by_key(view: DecisionView) -> dict[tuple[str, str], PolicyView]:
    return {(a.id, p.name): p for a in view.actions for p in a.policies}


def policy_changes(request: str, old: DecisionView, new: DecisionView) -> list[PolicyChange]:
    """The policies whose result on a request differs between the versions."""
    before, after = _policies_by_key(old), _policies_by_key(new)
    found = []
    for key in sorted(before.keys() | after.keys()):
        was, now = before.get(key), after.get(key)
        was_status = was.status if was else NOT_APPLIED
        now_status = now.status if now else NOT_APPLIED
        if was_status == now_status and (was is None or now is None or was.rows == now.rows):
            continue
        failing_now = now is not None and now.status != "passed"
        side, rows_from = (now, "new") if failing_now else (was, "old")
        rows = side.rows if side is not None else ()
        found.append(PolicyChange(request, *key, was_status, now_status, rows, rows_from))
    return found


def diff_page(changes: list[Any], total: int, old: str, new: str) -> str:
    """`regate diff --format html`: the requests decided differently, grouped by the policy
    whose result changed, with the conditions that changed it.  `changes` are
    compiler.diff.Change values (request, old, new)."""
    requests = [
        RequestChange(c.request, decision_view(c.old), decision_view(c.new)) for c in changes
    ]
    by_policy: dict[str, list[PolicyChange]] = {}
    unexplained: list[RequestChange] = []
    for change in requests:
        found = policy_changes(change.request, change.old, change.new)
        for policy_change in found:
            by_policy.setdefault(policy_change.policy, []).append(policy_change)
        if not found:
            unexplained.append(change)
    return render_page(
        "diff.html.j2",
        title=f"regate diff: {len(requests)} of {total} requests decided differently",
        requests=requests,
        by_policy=sorted(by_policy.items()),
        unexplained=unexplained,
        total=total,
        old=old,
        new=new,
    )


# --- test results and coverage ---


@dataclass(frozen=True)
class LineView:
    number: int
    text: str
    status: str  # "pass", "warn" (partly), "fail" or "" (no policy or condition on it)
    label: str  # what the marker says, for screen readers too


@dataclass(frozen=True)
class FileCoverage:
    name: str
    marks: tuple[tuple[str, str, int, bool], ...]  # policy, condition, line, exercised
    lines: tuple[LineView, ...]


def _file_coverage(name: str, text: str, marks: list[Any]) -> FileCoverage:
    on_line: dict[int, list[bool]] = {}
    for mark in marks:
        on_line.setdefault(mark.span.line, []).append(mark.exercised)
    lines = []
    for number, line in enumerate(text.splitlines(), start=1):
        found = on_line.get(number)
        if not found:
            lines.append(LineView(number, line, "", ""))
        elif all(found):
            lines.append(LineView(number, line, "pass", "✓ exercised"))
        elif any(found):  # several conditions on one line
            lines.append(LineView(number, line, "warn", "◐ partly exercised"))
        else:
            lines.append(LineView(number, line, "fail", "✗ not exercised"))
    rows = tuple((m.policy, m.condition or "(the policy)", m.span.line, m.exercised) for m in marks)
    return FileCoverage(name, rows, tuple(lines))


def test_page(
    result: Any, tests: Any, covered: Any, diagnostics: list[Any], summary: list[str]
) -> str:
    """`regate test --format html`: the test results and, with `--coverage`, every source
    line that holds a policy or a condition, marked exercised or not.  `result` is the
    Compilation, `tests` the OpaTestRun, `covered` the Coverage or None."""
    names = {s.path: s.name for s in result.sources}
    texts = result.texts
    by_file: dict[str, list[Any]] = {}
    for mark in covered.marks if covered is not None else ():
        by_file.setdefault(mark.span.file, []).append(mark)
    files = [
        _file_coverage(names.get(path, path), texts.get(path, ""), marks)
        for path, marks in sorted(by_file.items())
    ]
    problems = [
        {
            "where": f"{names.get(d.span.file, d.span.file)}:{d.span.line}",
            "code": d.code,
            "severity": d.severity,
            "message": d.message,
            "help": d.help or "",
        }
        for d in sorted(diagnostics)
    ]
    gaps = any(d.code in ("RG084", "RG085") for d in diagnostics)
    result_css = "deny" if tests.failures else "manual" if gaps else "approve"
    headline = (
        f"{len(tests.failures)} test{'s' if len(tests.failures) != 1 else ''} failed"
        if tests.failures
        else "all tests passed" + (", some conditions not exercised" if gaps else "")
    )
    return render_page(
        "tests.html.j2",
        title=f"regate test: {headline}",
        headline=headline,
        result=result_css,
        summary=summary,
        problems=problems,
        files=files,
        measured=covered is not None,
    )
