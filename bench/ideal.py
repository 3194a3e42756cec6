"""The ideal: a lower bound on what regate's decisions cost OPA, given its policy rules.

For each sample request, bench/run.py takes regate's decision from the sidecar
and writes a module (package `ideal`) whose rule `data.ideal.<request>` gives
the same decision the cheapest way a policy can: it already knows which actions
apply and which of their policies pass.  Its one rule's body evaluates those
policies' rules in data.regate.policies, by static reference, as passing or
failing; its value is the decision as a constant, but for the failed policies'
explanations, read from data.regate.explanations.  No lookup, no loop, no
helper; and undefined if a policy does not come out as the decision says.

No compiler can emit that, since it would have to know the request in advance;
the gap between regate's decision and the ideal is what regate's generality
costs (finding the actions, choosing policy rules at run time), and the ideal's
own ratio to the floor is what no decision that evaluates these policy rules
can beat on this OPA.  (One that tested the policies' conditions without their
rules could do a little better: docs/performance.md measures by how much.)
bench/run.py checks that the ideal gives regate's decision before timing it.
"""

from __future__ import annotations

import json
import tarfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import jinja2

BENCH = Path(__file__).resolve().parent
PACKAGE = "ideal"
# A decision as OPA answers it (JSON).
Decision = dict[str, Any]


@dataclass(frozen=True)
class Ref:
    """A Rego expression in place of a constant in the ideal decision."""

    text: str


@dataclass(frozen=True)
class PolicyCheck:
    rule: str  # in data.regate.policies
    passed: bool


@dataclass(frozen=True)
class IdealDecision:
    rule: str  # data.ideal.<rule>
    checks: tuple[PolicyCheck, ...]  # the applying actions' policies, in decision order
    decision: object  # the decision, with Refs where OPA computes a value


def rule_name(request: str) -> str:
    return f"decision_{request}"


def _policy_rules_by_action(bundle: Path) -> dict[str, list[str]]:
    """Each action's policy rules, in the order its decision entry lists them."""
    with tarfile.open(bundle) as archive:
        # An OPA bundle's members are named from its root: /regate/...
        member = archive.extractfile("/regate/catalog/data.json")
        assert member is not None
        catalog = json.load(member)
    return {
        action["id"]: [policy["rule"] for policy in action["policies"]]
        for by_nrn in catalog["actions"].values()
        for actions in by_nrn.values()
        for action in actions
    }


def ideal_decision(request: str, decision: Decision, rules: dict[str, list[str]]) -> IdealDecision:
    """The decision's policies as checks, and the decision with each failed
    policy's `failures` its explanation and the revision read from OPA."""
    checks: list[PolicyCheck] = []
    actions = []
    for entry in decision["actions"]:
        policies = []
        for policy, rule in zip(entry["policies"], rules[entry["id"]], strict=True):
            checks.append(PolicyCheck(rule, policy["passed"]))
            explained = "failures" in policy
            explanation = Ref(f"data.regate.explanations.failures[{json.dumps(rule)}]")
            policies.append({**policy, "failures": explanation} if explained else policy)
        actions.append({**entry, "policies": policies})
    ideal = {**decision, "actions": actions, "revision": Ref("data.regate.catalog.revision")}
    return IdealDecision(rule_name(request), tuple(checks), ideal)


def render(decisions: list[IdealDecision]) -> str:
    environment = jinja2.Environment(
        loader=jinja2.FileSystemLoader(BENCH),
        autoescape=False,
        undefined=jinja2.StrictUndefined,
        keep_trailing_newline=True,
    )
    environment.tests["ref"] = lambda value: isinstance(value, Ref)
    environment.filters["json"] = lambda value: json.dumps(value, ensure_ascii=False)
    return environment.get_template("ideal.rego.j2").render(package=PACKAGE, decisions=decisions)


def write_ideal(bundle: Path, decisions: dict[str, Decision], module: Path) -> None:
    """The ideal module for these decisions (request → regate's decision) of `bundle`."""
    rules = _policy_rules_by_action(bundle)
    ideals = [ideal_decision(name, decision, rules) for name, decision in decisions.items()]
    module.write_text(render(ideals))
