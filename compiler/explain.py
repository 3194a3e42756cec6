"""A decision as text a person reads in a CI log (`regate explain`).

A malformed request lists its errors (docs/hardening.md, "Requests").  A failed
policy lists the failures the bundle explained (its interpreter,
package regate.explanations, over each policy's conditions as data:
docs/decisions.md): one line per failed condition, what the path holds and
what the condition needs, nested logic indented below it.
"""

from __future__ import annotations

import json
from typing import Any

HEADLINES = {
    "approve": "approved",
    "manual": "manual approval required",
    "pending": "pending: the requester must act (a checklist item failed or is awaited)",
    "deny": "denied",
}
ACTION_VERBS = {
    "approve": "approves",
    "manual": "requires manual approval",
    "pending": "leaves the request pending",
    "deny": "denies",
}
AUDIT_VERBS = {
    "approve": "would approve",
    "manual": "would require manual approval",
    "pending": "would leave the request pending",
    "deny": "would deny",
}
# What a checklist item awaits while it is pending.
AWAITING = {"manual": "awaits a person", "external": "awaits an external system"}


def _where(action: dict[str, Any]) -> str:
    dimensions = ", ".join(f"{k}={v}" for k, v in sorted(action.get("dimensions", {}).items()))
    where = f"{action['action']} at {action['nrn']}"
    return f"{where}, {dimensions}" if dimensions else where


# What a comparison needs, as a phrase: `≥ 80`.
COMPARISONS = {"$eq": "=", "$ne": "≠", "$gt": ">", "$gte": "≥", "$lt": "<", "$lte": "≤"}
LOGICAL_HEADLINES = {"$or": "no clause of $or holds", "$and": "not all clauses of $and hold"}
ELEMENT_WIDTH = 60  # an element of an $elemMatch is shown up to this many characters


def _value(value: Any) -> str:
    return json.dumps(value, ensure_ascii=False)


def _values(values: list[Any]) -> str:
    return ", ".join(_value(v) for v in values)


def _needs(operator: str, expected: Any) -> str:
    """What an operator needs of the value at its path, as a phrase."""
    if operator in COMPARISONS:
        return f"{COMPARISONS[operator]} {_value(expected)}"
    match operator, expected:
        case "$in", _:
            return f"to be one of {_values(expected)}"
        case "$nin", _:
            return f"to be none of {_values(expected)}"
        case "$exists", True:
            return "to exist"
        case "$exists", _:
            return "to be absent"
        case "$type", _:
            return f"to be of type {' or '.join(expected)}"
        case "$regex", {"$regex": pattern, **options}:
            return f"to match /{pattern}/{options.get('$options', '')}"
        case "$regex", _:
            return f"to match /{expected}/"
        case "$mod", [divisor, remainder]:
            return f"to leave {remainder} when divided by {divisor}"
        case "$size", _:
            return f"to be an array of {expected} elements"
        case "$all", _:
            return f"to contain {_value(expected)}"
        case "$not", {"$regex": _}:
            return f"not {_needs('$regex', expected)}"
        case "$not", dict():
            (inner, value), *_ = expected.items()
            return f"not {_needs(inner, value)}"
    return f"{operator} {_value(expected)}"


def _path(failure: dict[str, Any]) -> str:
    return failure["path"] or "the element"


def _holds(failure: dict[str, Any]) -> str:
    """What the path reached: `is 70`, `is missing`, `has values 1, 2`."""
    if failure.get("missing"):
        return "is missing"
    if "actual_values" in failure:
        return f"has values {_values(failure['actual_values'])}"
    return f"is {_value(failure.get('actual'))}"


def _expr(failure: dict[str, Any]) -> str:
    """`$expr {...} is false: $a.b is 1200, $c is missing`; an expression that fails
    says why: `$expr {...} fails (can't $divide by zero): ...`."""
    written = f"$expr {_value(failure['expected'])}"
    outcome = f"fails ({failure['error']})" if "error" in failure else _holds(failure)
    references = [f"{r['reference']} {_holds(r)}" for r in failure["references"]]
    return f"{written} {outcome}" + (f": {', '.join(references)}" if references else "")


def _pattern_needs(failure: dict[str, Any]) -> str:
    """What a $dynamicPattern needs: the filled pattern and where its text comes from,
    or the template and what its fields hold, one of which cannot fill it."""
    fields = ", ".join(
        f"{{{name}}} from {field['path']}, which {_holds(field)}"
        for name, field in sorted(failure["fields"].items())
    )
    if "expected" in failure:
        return f"to match /{failure['expected']}/ ({fields})"
    return f"to match /{failure['template']}/, which cannot be filled ({fields})"


def _failure_lines(failure: dict[str, Any], indent: str) -> list[str]:
    """A failed condition (an entry of data.regate.explanations.failures), nested logic indented."""
    operator, where = failure["operator"], f"({failure['source']})"
    inner = indent + "  "
    if operator in LOGICAL_HEADLINES:
        lines = [f"{indent}{LOGICAL_HEADLINES[operator]} {where}:"]
        for number, clause in enumerate(failure["clauses"], start=1):
            if clause:  # the clauses of an $and that hold have no failures to show
                lines.append(f"{inner}clause {number}:")
                lines.extend(line for f in clause for line in _failure_lines(f, inner + "  "))
        return lines
    if operator == "$nor":
        clauses = ", ".join(str(n) for n in failure["matched"])
        return [f"{indent}clause {clauses} of $nor holds, but none may {where}"]
    if operator == "$not" and "matched" in failure:
        return [f"{indent}{_path(failure)}: the conditions under $not all hold {where}"]
    if operator == "$elemMatch":
        lines = [f"{indent}{_path(failure)} {_holds(failure)}, needs an element matching {where}"]
        for element in failure["elements"]:
            shown = _value(element["element"])
            if len(shown) > ELEMENT_WIDTH:
                shown = shown[: ELEMENT_WIDTH - 1] + "…"
            lines.append(f"{inner}element {shown}:")
            lines.extend(
                line for f in element["failures"] for line in _failure_lines(f, inner + "  ")
            )
        return lines
    if operator == "$expr":
        return [f"{indent}{_expr(failure)} {where}"]
    if operator == "$dynamicPattern":
        needs = _pattern_needs(failure)
        return [f"{indent}{_path(failure)} {_holds(failure)}, needs {needs} {where}"]
    if operator == "$all" and failure["expected"] == []:
        return [f"{indent}{_path(failure)}: $all of no values never matches {where}"]
    needs = _needs(operator, failure["expected"])
    return [f"{indent}{_path(failure)} {_holds(failure)}, needs {needs} {where}"]


def _title(kind: str, entry: dict[str, Any]) -> str:
    """`policy "Code Coverage"`, with its id when it has one: `action 1001 "production"`."""
    named = entry.get("name")
    shown = f'"{named}"' if named is not None else ""
    if "id" in entry and entry["id"] != named:
        identity = entry["id"] if not isinstance(entry["id"], str) else f'"{entry["id"]}"'
        shown = f"{identity} {shown}".strip()
    return f"{kind} {shown}"


def _policy_lines(policy: dict[str, Any]) -> list[str]:
    name = f"{_title('policy', policy)} ({policy.get('source', '?')})"
    if policy.get("selected") is False:
        selector = _value(policy.get("selector", {}))
        return [f"    {name} not applicable: selector {selector} did not match"]
    if policy.get("passed"):
        return [f"    {name} passed"]
    failures = policy.get("failures", [])
    follows = ":" if failures or policy.get("waived") else ""  # nothing to list, no colon
    lines = [f"    {name} failed{', waived' if policy.get('waived') else ''}{follows}"]
    lines.extend(line for f in failures for line in _failure_lines(f, "      "))
    if policy.get("waived"):
        waiver = policy["waiver"]
        lines.append(
            f'      waived by "{waiver["name"]}" (owner {waiver["owner"]}, '
            f"expires {waiver['expires']}): {waiver['reason']}"
        )
    return lines


def _checklist_lines(action: dict[str, Any]) -> list[str]:
    checklist = action["checklist"]
    on_fail = action.get("on_checklist_fail", "?")
    lines = [
        f"    {_title('checklist', checklist)} ({checklist.get('source', '?')}): "
        f"a failed gate makes it {on_fail}"
    ]
    for item in checklist.get("items", []):
        kind = ", ".join(k for k in (item.get("behavior"), item.get("severity")) if k)
        title = f": {item['title']}" if item.get("title") else ""
        state = item.get("state", "?")
        if state == "pending":
            state = f"pending ({AWAITING.get(item.get('type', ''), 'awaited')})"
        lines.append(f"      item {item['id']} ({item.get('type')} {kind}){title}: {state}")
        lines.extend(
            line for f in item.get("failures", []) for line in _failure_lines(f, "        ")
        )
    return lines


def _duration(milliseconds: int) -> str:
    hours = milliseconds / 3_600_000
    return f"{hours:g} h" if hours >= 1 else f"{milliseconds / 60_000:g} min"


def _time_lines(action: dict[str, Any]) -> list[str]:
    found = []
    if "time_to_reply" in action:
        found.append(f"approvers have {_duration(action['time_to_reply'])} to answer")
    if "allowed_time_to_execute" in action:
        found.append(
            f"the approved action may run within {_duration(action['allowed_time_to_execute'])}"
        )
    return [f"    {'; '.join(found)}"] if found else []


def error_line(error: Any) -> str:
    """A request error as a diagnostic reads: `input.nrn: error[RQ006]: ...`.  (A
    bundle built before errors had codes gives the message alone.)"""
    if isinstance(error, dict):
        return f"{error.get('path', 'input')}: error[{error.get('code')}]: {error.get('message')}"
    return str(error)


def render(decision: dict[str, Any]) -> str:
    """The decision as text.  A decision whose details are not in the shape regate's
    bundles give (another bundle, another version) still shows its result, and says so."""
    try:
        return _render(decision)
    except (KeyError, TypeError, AttributeError, ValueError, IndexError):
        result = decision.get("result") if isinstance(decision, dict) else None
        revision = decision.get("revision", "?") if isinstance(decision, dict) else "?"
        return (
            f"{HEADLINES.get(str(result), str(result))} (bundle revision {revision})\n"
            "  the decision's details are not in the shape this regate explains: "
            "`regate decide` prints them as JSON\n"
        )


def _render(decision: dict[str, Any]) -> str:
    result = decision.get("result", "deny")
    revision = decision.get("revision", "?")
    lines = [f"{HEADLINES.get(result, result)} (bundle revision {revision})"]
    errors = decision.get("errors", [])
    if errors:
        lines.append("  the request is malformed, so no approval action was looked at:")
        lines.extend(f"    {error_line(e)}" for e in errors)
    actions = decision.get("actions", [])
    if not actions and not decision.get("errors"):
        lines.append("  no approval action applies to this request")
    for action in actions:
        if action.get("enforcement") == "audit":
            verdict = f"(audit, not enforced) {AUDIT_VERBS[action['would_be']]}"
        else:
            verdict = ACTION_VERBS.get(action["result"], action["result"])
        lines.append(f"  {_title('action', action)} ({_where(action)}) {verdict}")
        if "checklist" in action:
            lines.extend(_checklist_lines(action))
        for policy in action.get("policies", []):
            lines.extend(_policy_lines(policy))
        lines.extend(_time_lines(action))
    lines.extend(_exception_lines(decision))
    return "\n".join(lines) + "\n"


def _exception_lines(decision: dict[str, Any]) -> list[str]:
    """The finding exceptions the decision used, and the expired ones that would have
    applied (docs/decisions.md, "Finding exceptions").  A decision from elsewhere may
    hold entries of another shape: each is shown as it is, never dropped."""
    lines = []
    for key, verb in (("exceptions", "excepted"), ("expired_exceptions", "would have excepted")):
        entries = decision.get(key, [])
        for exception in entries if isinstance(entries, list) else [entries]:
            if not isinstance(exception, dict):
                lines.append(f"  {key} entry regate cannot read: {_value(exception)}")
                continue
            named = str(exception.get("rule", "?")) + "".join(
                f" in {exception[field]}" for field in ("package", "target") if field in exception
            )
            state = "expired" if key == "expired_exceptions" else "expires"
            findings = exception.get("findings", "?")
            lines.append(
                f'  exception "{exception.get("name", "?")}" ({exception.get("source", "?")}) '
                f"{verb} {findings} finding{'s' if findings != 1 else ''} of {named} (owner "
                f"{exception.get('owner', '?')}, {state} {exception.get('expires', '?')}): "
                f"{exception.get('reason', '?')}"
            )
    return lines
