"""A decision as text a person reads in a CI log (`regate explain`)."""

from __future__ import annotations

import json
from typing import Any

HEADLINES = {
    "approve": "approved",
    "manual": "manual approval required",
    "deny": "denied",
}
ACTION_VERBS = {
    "approve": "approves",
    "manual": "requires manual approval",
    "deny": "denies",
}
AUDIT_VERBS = {
    "approve": "would approve",
    "manual": "would require manual approval",
    "deny": "would deny",
}


def _where(action: dict[str, Any]) -> str:
    dimensions = ", ".join(f"{k}={v}" for k, v in sorted(action.get("dimensions", {}).items()))
    where = f"{action['action']} at {action['nrn']}"
    return f"{where}, {dimensions}" if dimensions else where


def _value(value: Any) -> str:
    return json.dumps(value, ensure_ascii=False)


def _policy_lines(policy: dict[str, Any]) -> list[str]:
    name = f'policy "{policy["name"]}" ({policy.get("source", "?")})'
    if policy.get("passed"):
        return [f"    {name} passed"]
    if policy.get("waived"):
        waiver = policy["waiver"]
        return [
            f'    {name} failed, waived by "{waiver["name"]}" (owner {waiver["owner"]}, '
            f"expires {waiver['expires']}): {waiver['reason']}"
        ]
    return [f"    {name} failed"]


def render(decision: dict[str, Any]) -> str:
    result = decision.get("result", "deny")
    revision = decision.get("revision", "?")
    lines = [f"{HEADLINES.get(result, result)} (bundle revision {revision})"]
    for reason in decision.get("errors", []):
        lines.append(f"  the request is malformed: {reason}")
    actions = decision.get("actions", [])
    if not actions and not decision.get("errors"):
        lines.append("  no approval action applies to this request")
    for action in actions:
        if action.get("enforcement") == "audit":
            verdict = f"(audit, not enforced) {AUDIT_VERBS[action['would_be']]}"
        else:
            verdict = ACTION_VERBS.get(action["result"], action["result"])
        lines.append(f'  action "{action["id"]}" ({_where(action)}) {verdict}')
        for policy in action.get("policies", []):
            lines.extend(_policy_lines(policy))
    return "\n".join(lines) + "\n"
