"""Check pass: the program against the entity model, the metadata specifications
and itself.  Produces diagnostics only; later passes assume a program without errors.
"""

from __future__ import annotations

import dataclasses
import difflib
import json
from collections import defaultdict
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import jsonschema
import jsonschema.exceptions

from compiler.ast import (
    Action,
    Comparison,
    FieldCondition,
    FieldOperator,
    Logical,
    NotOp,
    Nrn,
    Path,
    Policy,
    Program,
    Query,
    Specification,
)
from compiler.diagnostics import Diagnostic, did_you_mean, error, warning
from compiler.entities import EntityModel, entity_model
from compiler.schema import Resolved, Unresolved, json_type, resolve

ORDERING_OPS = ("$gt", "$gte", "$lt", "$lte")
# Waivers expiring this soon get a warning, so their owners renew or remove them.
WAIVER_NOTICE = timedelta(days=14)
OPERATOR_TEXT = {"$gt": ">", "$gte": ">=", "$lt": "<", "$lte": "<="}


def field_conditions(query: Query) -> Iterator[FieldCondition]:
    """Every field condition of a query, nested ones included, in source order."""
    for condition in query.conditions:
        if isinstance(condition, Logical):
            for clause in condition.clauses:
                yield from field_conditions(clause)
        else:
            yield condition


def _comparisons(operators: tuple[FieldOperator, ...]) -> Iterator[Comparison]:
    for operator in operators:
        if isinstance(operator, Comparison):
            yield operator
        elif isinstance(operator, NotOp):
            yield from _comparisons(operator.operators)


class Specifications:
    """The valid specifications, found by entity, metadata key and NRN."""

    def __init__(self, specifications: list[Specification]) -> None:
        self._by_key: dict[tuple[str, str], list[Specification]] = defaultdict(list)
        for specification in specifications:
            self._by_key[specification.entity, specification.metadata].append(specification)
        for found in self._by_key.values():
            found.sort(key=lambda s: -len(s.nrn.segments))

    def in_force(self, entity: str, metadata: str, nrn: Nrn) -> Specification | None:
        """The deepest specification at `nrn` or above it: a deeper one overrides."""
        for specification in self._by_key.get((entity, metadata), ()):
            if specification.nrn.contains(nrn):
                return specification
        return None

    def declared(self, entity: str, metadata: str) -> list[Specification]:
        return self._by_key.get((entity, metadata), [])

    def keys(self, entity: str) -> list[str]:
        return sorted(key for (e, key) in self._by_key if e == entity)


def _leaf_paths(schema: object, prefix: tuple[str, ...] = (), depth: int = 0) -> Iterator[str]:
    if depth > 8 or not isinstance(schema, dict):
        return
    properties = schema.get("properties")
    if isinstance(schema.get("items"), dict):
        yield from _leaf_paths(schema["items"], prefix, depth + 1)
    if not isinstance(properties, dict):
        return
    for key, child in properties.items():
        path = (*prefix, key)
        yield ".".join(path)
        yield from _leaf_paths(child, path, depth + 1)


def _suggest_path(schema: object, wanted: tuple[str, ...]) -> str | None:
    """The declared path meant by `wanted`: one that ends with it, else the closest."""
    paths = list(_leaf_paths(schema))
    wanted_text = ".".join(wanted)
    ending = sorted((p for p in paths if p.endswith("." + wanted_text)), key=len)
    if ending:
        return ending[0]
    close = difflib.get_close_matches(wanted_text, paths, n=1, cutoff=0.6)
    return close[0] if close else None


class Checker:
    def __init__(self, program: Program, model: EntityModel) -> None:
        self.program = program
        self.model = model
        self.diagnostics: set[Diagnostic] = set()

    def report(self, diagnostic: Diagnostic) -> None:
        self.diagnostics.add(diagnostic)

    # --- specifications ---

    def specifications(self) -> Specifications:
        valid: list[Specification] = []
        first_at: dict[tuple[str, str, str], Specification] = {}
        for specification in self.program.specifications:
            if specification.entity not in self.model.entities:
                self.report(
                    error(
                        "RG030",
                        specification.entity_span,
                        f'unknown entity "{specification.entity}"',
                        help=did_you_mean(specification.entity, self.model.entities),
                    )
                )
                continue
            if not self._schema_is_valid(specification):
                # Still declared, so its paths do not add "no specification" noise.
                specification = dataclasses.replace(specification, schema=True)
            key = (specification.entity, specification.metadata, specification.nrn.text)
            if key in first_at:
                first = first_at[key]
                self.report(
                    error(
                        "RG041",
                        specification.span,
                        f"a second specification for {key[0]}.metadata.{key[1]} at {key[2]}",
                        help=f'"{first.name}" at {first.span} already specifies it',
                    )
                )
                continue
            first_at[key] = specification
            valid.append(specification)
        return Specifications(valid)

    def _schema_is_valid(self, specification: Specification) -> bool:
        schema = specification.schema
        try:
            validator = jsonschema.validators.validator_for(
                schema, default=jsonschema.Draft202012Validator
            )
            validator.check_schema(schema)
        except jsonschema.exceptions.SchemaError as exc:
            where = ".".join(str(p) for p in exc.absolute_path) or "the top"
            self.report(
                error(
                    "RG040",
                    specification.schema_span,
                    f'the schema of "{specification.name}" is not valid JSON Schema: '
                    f"at {where}: {exc.message}",
                )
            )
            return False
        return True

    # --- policies and actions ---

    def policies(self) -> dict[str, Policy]:
        by_name: dict[str, Policy] = {}
        for policy in self.program.policies:
            if policy.name in by_name:
                self.report(
                    error(
                        "RG051",
                        policy.span,
                        f'a second policy named "{policy.name}"',
                        help=f"actions bind policies by name; the first is at "
                        f"{by_name[policy.name].span}",
                    )
                )
                continue
            by_name[policy.name] = policy
        return by_name

    def actions(self, policies: dict[str, Policy]) -> dict[str, list[Action]]:
        """Checks the actions; returns the actions each policy is bound to."""
        bound: dict[str, list[Action]] = defaultdict(list)
        ids: dict[str, Action] = {}
        for action in self.program.actions:
            if action.id in ids:
                self.report(
                    error(
                        "RG052",
                        action.span,
                        f'a second action with id "{action.id}"',
                        help=(
                            'give the payload an explicit "id"'
                            if action.id_is_derived
                            else f"the first is at {ids[action.id].span}"
                        ),
                    )
                )
            ids.setdefault(action.id, action)
            if action.action not in self.model.actions:
                self.report(
                    error(
                        "RG055",
                        action.action_span,
                        f'unknown approval action "{action.action}"',
                        help=did_you_mean(action.action, self.model.actions)
                        or f"approval actions are {', '.join(self.model.actions)}",
                    )
                )
            elif action.entity != action.action.split(":")[0]:
                self.report(
                    error(
                        "RG012",
                        action.entity_span,
                        f"the entity of a {action.action} action is "
                        f'"{action.action.split(":")[0]}", not "{action.entity}"',
                    )
                )
            for reference in action.policies:
                policy = policies.get(reference.name)
                if policy is None:
                    self.report(
                        error(
                            "RG050",
                            reference.span,
                            f'unknown policy "{reference.name}"',
                            help=did_you_mean(reference.name, policies),
                        )
                    )
                    continue
                bound[policy.name].append(action)
                if not policy.nrn.contains(action.nrn):
                    self.report(
                        warning(
                            "RG054",
                            reference.span,
                            f'policy "{policy.name}" is defined at {policy.nrn.text}, '
                            f"outside the action's NRN {action.nrn.text}",
                            help="a policy applies below the NRN it is defined at",
                        )
                    )
        return bound

    # --- waivers ---

    def waivers(self, policies: dict[str, Policy], now: datetime) -> None:
        for waiver in self.program.waivers:
            if waiver.policy.name not in policies:
                self.report(
                    error(
                        "RG050",
                        waiver.policy.span,
                        f'waiver "{waiver.name}" names an unknown policy "{waiver.policy.name}"',
                        help=did_you_mean(waiver.policy.name, policies),
                    )
                )
            shown = waiver.expires.isoformat().replace("+00:00", "Z")
            if waiver.expires <= now:
                self.report(
                    warning(
                        "RG057",
                        waiver.expires_span,
                        f'waiver "{waiver.name}" expired at {shown}; it no longer applies',
                        help="remove it, or renew it with a new review",
                    )
                )
            elif waiver.expires - now <= WAIVER_NOTICE:
                self.report(
                    warning(
                        "RG058",
                        waiver.expires_span,
                        f'waiver "{waiver.name}" expires at {shown}, within '
                        f"{WAIVER_NOTICE.days} days",
                        help=f"owner: {waiver.owner}",
                    )
                )

    # --- paths ---

    def policy_paths(
        self, policy: Policy, actions: list[Action], specifications: Specifications
    ) -> None:
        if not actions:
            self.report(
                warning(
                    "RG053",
                    policy.span,
                    f'policy "{policy.name}" is bound to no action, so it decides nothing',
                    help="list it in an action's `policies`",
                )
            )
        contexts = sorted({a.nrn for a in actions}, key=lambda n: n.text) or [policy.nrn]
        for condition in field_conditions(policy.conditions):
            if not self._entity(condition.path, actions):
                continue
            for nrn in contexts:
                resolved = self._path(condition.path, nrn, specifications)
                if resolved is not None:
                    self._operand_types(condition, resolved)

    def _entity(self, path: Path, actions: list[Action]) -> bool:
        entity = path.segments[0]
        if entity not in self.model.entities:
            self.report(
                error(
                    "RG030",
                    path.segment_span(0),
                    f'unknown entity "{entity}" in path "{path.text}"',
                    help=did_you_mean(entity, self.model.entities)
                    or f"paths start with an entity: {', '.join(self.model.entities)}",
                )
            )
            return False
        for action in actions:
            visible = self.model.actions.get(action.action)
            if visible is not None and entity not in visible:
                self.report(
                    error(
                        "RG033",
                        path.segment_span(0),
                        f'"{path.text}" reads {entity}, which a {action.action} action cannot '
                        f'see (bound to action "{action.id}" at {action.span})',
                        help=f"{action.action} policies can read {', '.join(visible)}",
                    )
                )
        return True

    def _path(self, path: Path, nrn: Nrn, specifications: Specifications) -> Resolved | None:
        entity, segments = path.segments[0], path.segments
        attributes = self.model.attributes[entity]
        if len(segments) == 1:
            return Resolved(())
        if segments[1] != "metadata":
            schema = {"type": "object", "properties": attributes, "additionalProperties": False}
            found = resolve(schema, segments[1:])
            if isinstance(found, Unresolved):
                known = (*found.known, "metadata") if found.index == 0 else found.known
                index = 1 + found.index
                self.report(
                    error(
                        "RG031",
                        path.segment_span(index),
                        f'unknown field "{segments[index]}" in '
                        f'"{".".join(segments[:index]) or entity}"',
                        help=did_you_mean(segments[index], known),
                    )
                )
                return None
            return found
        if len(segments) == 2:
            return Resolved(())
        key = segments[2]
        specification = specifications.in_force(entity, key, nrn)
        if specification is None:
            elsewhere = specifications.declared(entity, key)
            if elsewhere:
                hint = (
                    f'"{elsewhere[0].name}" is declared at {elsewhere[0].nrn.text}, which does '
                    f"not cover {nrn.text}; declare it at an ancestor NRN"
                )
            else:
                hint = did_you_mean(key, specifications.keys(entity)) or (
                    "declare a specification for it, or fix the path"
                )
            self.report(
                error(
                    "RG032",
                    path.segment_span(2),
                    f'no metadata specification for "{entity}.metadata.{key}" at {nrn.text}',
                    help=hint,
                )
            )
            return None
        found = resolve(specification.schema, segments[3:])
        if isinstance(found, Unresolved):
            index = 3 + found.index
            suggestion = _suggest_path(specification.schema, segments[index:])
            prefix = ".".join(segments[:index])
            self.report(
                error(
                    "RG031",
                    path.segment_span(index),
                    f'unknown field "{segments[index]}" in "{prefix}" '
                    f'(specification "{specification.name}" at {specification.span})',
                    help=f'did you mean "{".".join(segments[:3])}.{suggestion}"?'
                    if suggestion
                    else did_you_mean(segments[index], found.known),
                )
            )
            return None
        return found

    def _operand_types(self, condition: FieldCondition, resolved: Resolved) -> None:
        types = resolved.types
        if types is None or "array" in types:
            return
        path = condition.path.text
        shown = "/".join(sorted(types - {"integer"} if "number" in types else types))
        for comparison in _comparisons(condition.operators):
            values = comparison.value if comparison.op in ("$in", "$nin") else [comparison.value]
            for value in values:
                kind = json_type(value)
                if value is None or kind in types:
                    continue
                if comparison.op in ORDERING_OPS and kind == "integer" and "number" in types:
                    continue
                hint = None
                if isinstance(value, str) and types & {"integer", "number"}:
                    hint = f"write the number without quotes: {value}"
                self.report(
                    error(
                        "RG035",
                        comparison.value_span,
                        f'"{path}" is {shown}; comparing it with {kind} '
                        f"{_shown_value(value)} never matches",
                        help=hint,
                    )
                )


def _shown_value(value: object) -> str:
    return json.dumps(value)


def check(program: Program, now: datetime | None = None) -> list[Diagnostic]:
    """`now` dates the waivers (default: the current time)."""
    checker = Checker(program, entity_model())
    specifications = checker.specifications()
    policies = checker.policies()
    bound = checker.actions(policies)
    for policy in policies.values():
        checker.policy_paths(policy, bound.get(policy.name, []), specifications)
    checker.waivers(policies, now or datetime.now(UTC))
    return sorted(checker.diagnostics)
