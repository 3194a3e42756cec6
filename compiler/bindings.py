"""What the program's declarations name, resolved as nullplatform resolves it.

nullplatform identifies policies, actions and checklists by id, and a name is
unique only at its NRN: two teams may each have a "Code Coverage" policy.  An
action, a waiver or a test names a policy by id, or by name at its own NRN and
above; association payloads bind an action (by id) to a policy or a checklist.
The check pass reports what does not resolve; lower reads the bindings.

Declarations are told apart by their spans: no two share one.
"""

from __future__ import annotations

import json
from collections import defaultdict
from dataclasses import dataclass, field

from compiler.ast import (
    Action,
    Checklist,
    ChecklistRef,
    Nrn,
    ObjectId,
    Policy,
    PolicyRef,
    Program,
    Span,
)
from compiler.diagnostics import Diagnostic, alternatives, did_you_mean, error, warning


def same_id(a: ObjectId | None, b: ObjectId | None) -> bool:
    """Ids as the API and Terraform write them: 1001 and "1001" are one id."""
    return a is not None and b is not None and str(a) == str(b)


@dataclass
class Bindings:
    """Each action's policies or checklist, each waiver's policy, by the referrer's span."""

    policies: dict[Span, tuple[Policy, ...]] = field(default_factory=dict)
    checklists: dict[Span, Checklist] = field(default_factory=dict)
    waivers: dict[Span, Policy] = field(default_factory=dict)

    def policies_of(self, action: Action) -> tuple[Policy, ...]:
        return self.policies.get(action.span, ())

    def checklist_of(self, action: Action) -> Checklist | None:
        return self.checklists.get(action.span)

    def actions_of(self, program: Program) -> dict[Span, list[Action]]:
        """Policy span → the actions bound to it."""
        found: dict[Span, list[Action]] = defaultdict(list)
        for action in program.actions:
            for policy in self.policies_of(action):
                found[policy.span].append(action)
        return found


class _Resolver:
    def __init__(self, program: Program) -> None:
        self.program = program
        self.diagnostics: list[Diagnostic] = []
        # One policy per name and NRN: a second is an error (RG051), not a candidate.
        self.by_name: dict[str, list[Policy]] = defaultdict(list)
        for policy in program.policies:
            named = self.by_name[policy.name]
            if all(p.nrn.text != policy.nrn.text for p in named):
                named.append(policy)

    def report(self, diagnostic: Diagnostic) -> None:
        self.diagnostics.append(diagnostic)

    def policy(self, reference: PolicyRef, nrn: Nrn, referrer: str) -> Policy | None:
        """The policy `reference` names for a referrer at `nrn`: by id, or by name
        at `nrn` and above (the nearest is not chosen for the author: two candidates
        are ambiguous)."""
        if reference.name is None:
            found = [p for p in self.program.policies if same_id(p.id, reference.id)]
            if not found:
                ids = [str(p.id) for p in self.program.policies if p.id is not None]
                self.report(
                    error(
                        "RG050",
                        reference.span,
                        f"{referrer} names an unknown policy id {reference.id}",
                        help=did_you_mean(str(reference.id), ids),
                    )
                )
                return None
            return found[0]
        named = self.by_name.get(reference.name, [])
        above = [p for p in named if p.nrn.contains(nrn)]
        candidates = above or named
        if not candidates:
            self.report(
                error(
                    "RG050",
                    reference.span,
                    f'{referrer} names an unknown policy "{reference.name}"',
                    help=did_you_mean(reference.name, self.by_name),
                )
            )
            return None
        if len(candidates) > 1:
            listed = alternatives([f"{p.nrn.text} ({p.span})" for p in candidates], "and")
            self.report(
                error(
                    "RG056",
                    reference.span,
                    f'{referrer} names policy "{reference.name}", which is ambiguous '
                    f"at {nrn.text}: policies of that name are defined at {listed}",
                    help="name it by id (give the policies `id`s), or rename one",
                )
            )
            return None
        policy = candidates[0]
        if not above:
            self.report(
                warning(
                    "RG054",
                    reference.span,
                    f'policy "{policy.name}" is defined at {policy.nrn.text}, '
                    f"outside {nrn.text}, where {referrer} is",
                    help="a policy applies below the NRN it is defined at",
                )
            )
        return policy

    def checklist(self, reference: ChecklistRef, action: Action) -> Checklist | None:
        checklists = self.program.checklists
        if reference.name is None:
            found = [c for c in checklists if same_id(c.id, reference.id)]
        else:
            named = [c for c in checklists if c.name == reference.name]
            found = [c for c in named if c.nrn.contains(action.nrn)] or named
        if len(found) == 1:
            return found[0]
        if found:
            listed = alternatives([f"{c.nrn.text} ({c.span})" for c in found], "and")
            message = (
                f"{action.title} names checklist {reference}, which is ambiguous: "
                f"checklists of that name are defined at {listed}"
            )
            self.report(error("RG056", reference.span, message, help="name it by id"))
            return None
        known = [c.name for c in checklists] + [str(c.id) for c in checklists if c.id]
        shown = reference.name if reference.name is not None else str(reference.id)
        self.report(
            error(
                "RG048",
                reference.span,
                f"{action.title} names an unknown checklist {reference}",
                help=did_you_mean(shown, known),
            )
        )
        return None


def _policy_identities(program: Program, resolver: _Resolver) -> None:
    """Names are unique per NRN, ids across the organisation."""
    at: dict[tuple[str, str], Policy] = {}
    by_id: dict[str, Policy] = {}
    for policy in program.policies:
        key = (policy.nrn.text, policy.name)
        if key in at:
            resolver.report(
                error(
                    "RG051",
                    policy.span,
                    f'a second policy named "{policy.name}" at {policy.nrn.text}',
                    help=f"names are unique at an NRN; the first is at {at[key].span}",
                )
            )
        at.setdefault(key, policy)
        if policy.id is None:
            continue
        first = by_id.setdefault(str(policy.id), policy)
        if first is not policy:
            resolver.report(
                error(
                    "RG049",
                    policy.span,
                    f"a second policy with id {policy.id}",
                    help=f"the first is {first.title} at {first.span}",
                )
            )


def _action_identities(program: Program, resolver: _Resolver) -> None:
    first_with: dict[str, Action] = {}
    for action in program.actions:
        first = first_with.setdefault(str(action.id), action)
        if first is action:
            continue
        help = (
            f"nullplatform refuses a second {action.action} action at {action.nrn.text} "
            f"with the same dimensions; the first is at {first.span}"
            if action.id_is_derived
            else f"the first is at {first.span}"
        )
        shown = json.dumps(action.id, ensure_ascii=False)
        resolver.report(error("RG052", action.span, f"a second action with id {shown}", help))


def bind(program: Program) -> tuple[Bindings, list[Diagnostic]]:
    resolver = _Resolver(program)
    _policy_identities(program, resolver)
    _action_identities(program, resolver)
    policy_refs: dict[Span, list[PolicyRef]] = {a.span: list(a.policies) for a in program.actions}
    checklist_refs: dict[Span, list[ChecklistRef]] = {
        a.span: [a.checklist] if a.checklist else [] for a in program.actions
    }
    for association in program.associations:
        targets = [a for a in program.actions if same_id(a.id, association.action)]
        if not targets:
            resolver.report(
                error(
                    "RG019",
                    association.action_span,
                    f"the association names an unknown approval action {association.action}",
                    help="the action's payload (with its id) must be among the sources",
                )
            )
            continue
        if association.policy is not None:
            policy_refs[targets[0].span].append(association.policy)
        if association.checklist is not None:
            checklist_refs[targets[0].span].append(association.checklist)
    bindings = Bindings()
    for action in program.actions:
        found: list[Policy] = []
        for reference in policy_refs[action.span]:
            policy = resolver.policy(reference, action.nrn, action.title)
            if policy is not None and all(p is not policy for p in found):
                found.append(policy)
        bindings.policies[action.span] = tuple(found)
        references = checklist_refs[action.span]
        if len(references) > 1:
            resolver.report(
                error(
                    "RG046",
                    references[1].span,
                    f"{action.title} is linked to a second checklist",
                    help="an action uses one checklist specification",
                )
            )
        checklist = resolver.checklist(references[0], action) if references else None
        if checklist is not None:
            bindings.checklists[action.span] = checklist
        if references and policy_refs[action.span]:
            resolver.report(
                error(
                    "RG046",
                    references[0].span,
                    f"{action.title} has both policies and a checklist",
                    help="nullplatform refuses it: an action uses policies or a checklist, "
                    "never both",
                )
            )
        elif not references and not policy_refs[action.span]:
            resolver.report(
                warning(
                    "RG047",
                    action.span,
                    f"{action.title} has neither policies nor a checklist, so nullplatform "
                    "sends each of its requests to human review (manual)",
                    help="bind policies or a checklist to it",
                )
            )
    for waiver in program.waivers:
        policy = resolver.policy(waiver.policy, waiver.nrn, f'waiver "{waiver.name}"')
        if policy is not None:
            bindings.waivers[waiver.span] = policy
    return bindings, resolver.diagnostics
