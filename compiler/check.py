"""Check pass: the program against the entity model, the metadata specifications
and itself.  Produces diagnostics only; later passes assume a program without errors.
"""

from __future__ import annotations

import contextlib
import dataclasses
import difflib
import json
from collections import defaultdict
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from functools import cache, lru_cache
from typing import Any, TypeVar

import jsonschema
import jsonschema.exceptions
import jsonschema_rs

from compiler.ast import (
    Action,
    All,
    Checklist,
    Comparison,
    DynamicPattern,
    ElemMatch,
    Exists,
    Expr,
    FieldCondition,
    FieldOperator,
    FieldRef,
    JsonValue,
    Logical,
    Mod,
    NotOp,
    Nrn,
    Path,
    Policy,
    Program,
    Query,
    Regex,
    Size,
    Span,
    Specification,
    TypeOp,
)
from compiler.bindings import bind
from compiler.constraints import (
    Interval,
    impossible,
    is_number,
    is_numeric,
    operator_interval,
    same_json,
    schema_interval,
)
from compiler.diagnostics import Diagnostic, did_you_mean, error, warning
from compiler.entities import EntityModel, entity_model, extend_model
from compiler.expr_types import Reference, check_expression
from compiler.schema import (
    Resolved,
    Unresolved,
    is_required,
    json_type,
    ref_problems,
    resolve,
)

ORDERING_OPS = ("$gt", "$gte", "$lt", "$lte")
_Condition = TypeVar("_Condition", FieldCondition, Expr)
# Waivers and exceptions expiring this soon get a warning, so their owners renew or
# remove them.
WAIVER_NOTICE = timedelta(days=14)
# How far out an exception may expire, unless `--max-exception-days` says otherwise:
# a quarter, so that each is reviewed at least that often.
MAX_EXCEPTION_DAYS = 90


def _nested(query: Query, kind: type[_Condition]) -> Iterator[_Condition]:
    """Every condition of `kind` in a query, nested ones included, in source order."""
    for condition in query.conditions:
        if isinstance(condition, Logical):
            for clause in condition.clauses:
                yield from _nested(clause, kind)
        elif isinstance(condition, kind):
            yield condition


def field_conditions(query: Query) -> Iterator[FieldCondition]:
    """Every field condition of a query, nested ones included, in source order."""
    return _nested(query, FieldCondition)


def expr_conditions(query: Query) -> Iterator[Expr]:
    """Every `$expr` of a query, nested ones included, in source order."""
    return _nested(query, Expr)


# How sure a condition beside an `$expr` makes a field: present, or present and not null.
Guards = dict[str, str]


def guarded_exprs(query: Query, inherited: Guards | None = None) -> Iterator[tuple[Expr, Guards]]:
    """Each `$expr` of a query, with the paths that the conditions which must hold
    beside it (in its query document, its `$and` clauses and the documents around
    them) require to be present ("present") or present and not null ("nonnull")."""
    guards = dict(inherited or {})
    own: list[Expr] = []
    elsewhere: list[Logical] = []
    conjunction = [query]
    while conjunction:
        for condition in conjunction.pop().conditions:
            if isinstance(condition, FieldCondition):
                strength = _guard(condition.operators)
                if strength and guards.get(condition.path.text) != "nonnull":
                    guards[condition.path.text] = strength
            elif isinstance(condition, Expr):
                own.append(condition)
            elif condition.op == "$and":
                conjunction.extend(condition.clauses)
            else:
                elsewhere.append(condition)
    for expr in own:
        yield expr, guards
    for logical in elsewhere:
        for clause in logical.clauses:
            yield from guarded_exprs(clause, guards)


def _guard(operators: tuple[FieldOperator, ...]) -> str | None:
    """ "nonnull" when an operator holds only for a present value that is not null,
    "present" when one holds only for a present value."""
    found = None
    for operator in operators:
        match operator:
            case Comparison(op="$eq" | "$gt" | "$gte" | "$lt" | "$lte", value=value) if (
                value is not None
            ):
                return "nonnull"
            case Comparison(op="$ne", value=None):
                return "nonnull"
            case Comparison(op="$in", value=listed) if listed and None not in listed:
                return "nonnull"
            case TypeOp(aliases=aliases) if "null" not in aliases:
                return "nonnull"
            case Regex() | Mod() | Size() | ElemMatch() | DynamicPattern():
                return "nonnull"
            case All(values=values, elem_matches=matches) if (values or matches) and (
                None not in values
            ):
                return "nonnull"
            case Exists(present=True):
                found = "present"
    return found


def dynamic_patterns(query: Query) -> Iterator[DynamicPattern]:
    """Every `$dynamicPattern` of a query, inside `$elemMatch` too."""
    for condition in field_conditions(query):
        yield from _patterns_in(condition.operators)


def _patterns_in(operators: tuple[FieldOperator, ...]) -> Iterator[DynamicPattern]:
    for operator in operators:
        if isinstance(operator, DynamicPattern):
            yield operator
        elif isinstance(operator, NotOp):
            yield from _patterns_in(operator.operators)
        elif isinstance(operator, ElemMatch):
            yield from _patterns_in(operator.operators)
            if operator.query is not None:
                yield from dynamic_patterns(operator.query)
        elif isinstance(operator, All):
            yield from _patterns_in(operator.elem_matches)


class Specifications:
    """The valid specifications, found by entity, metadata key and NRN."""

    def __init__(self, specifications: list[Specification]) -> None:
        self._by_key: dict[tuple[str, str], list[Specification]] = defaultdict(list)
        for specification in specifications:
            self._by_key[specification.entity, specification.metadata].append(specification)
        for found in self._by_key.values():
            found.sort(key=lambda s: -len(s.nrn.segments))
        self._in_force: dict[tuple[str, str, str], Specification | None] = {}

    def in_force(self, entity: str, metadata: str, nrn: Nrn) -> Specification | None:
        """The deepest specification at `nrn` or above it: a deeper one overrides."""
        key = (entity, metadata, nrn.text)
        if key not in self._in_force:
            self._in_force[key] = next(
                (s for s in self._by_key.get((entity, metadata), ()) if s.nrn.contains(nrn)),
                None,
            )
        return self._in_force[key]

    def declared(self, entity: str, metadata: str) -> list[Specification]:
        return self._by_key.get((entity, metadata), [])

    def below(self, entity: str, metadata: str, nrn: Nrn) -> list[Specification]:
        """The specifications strictly below `nrn`: they override for requests there."""
        return [
            s
            for s in self._by_key.get((entity, metadata), ())
            if nrn.contains(s.nrn) and s.nrn.text != nrn.text
        ]

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


@cache
def _meta_validator(validator_class: Any) -> Any:
    return validator_class(validator_class.META_SCHEMA)


@lru_cache(maxsize=1024)
def _schema_problem(schema_json: str) -> str | None:
    """What makes a schema invalid against its meta-schema, or None.  Keyed by the
    schema's text: the same schema declared at several NRNs is validated once."""
    schema = json.loads(schema_json)
    # The common case, fast: jsonschema-rs is about 1,000 times quicker at it.  What
    # it cannot judge (an unknown $schema, ...) or rejects, jsonschema judges and names.
    with contextlib.suppress(Exception):
        if jsonschema_rs.meta.is_valid(schema):
            return None
    validator_class = jsonschema.validators.validator_for(
        schema, default=jsonschema.Draft202012Validator
    )
    found = jsonschema.exceptions.best_match(_meta_validator(validator_class).iter_errors(schema))
    if found is None:
        return None
    where = ".".join(str(p) for p in found.absolute_path) or "the top"
    return f"at {where}: {found.message}"


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
        self._resolved: dict[tuple[Span, tuple[str, ...]], tuple[Resolved | Unresolved, bool]] = {}

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
            if not self._schema_is_valid(specification) or not self._refs_resolve(specification):
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
        problem = _schema_problem(json.dumps(specification.schema, sort_keys=True))
        if problem is not None:
            self.report(
                error(
                    "RG040",
                    specification.schema_span,
                    f'the schema of "{specification.name}" is not valid JSON Schema: {problem}',
                )
            )
        return problem is None

    def _refs_resolve(self, specification: Specification) -> bool:
        """RG042/RG043 for each `$ref` the checker cannot follow to a schema."""
        problems = ref_problems(specification.schema)
        for problem in problems:
            code = "RG042" if problem.dangling else "RG043"
            if not problem.dangling:
                hint: str | None = "copy the schema into $defs and refer to it as #/$defs/NAME"
            elif problem.cycle:
                hint = "give one of the references in the cycle a schema of its own"
            else:
                offered = [r for r in _local_refs(specification.schema) if r != problem.ref]
                hint = did_you_mean(problem.ref, offered)
            self.report(
                error(
                    code,
                    specification.schema_span,
                    f'the schema of "{specification.name}" has "{problem.keyword}": '
                    f'"{problem.ref}" at {problem.pointer}: {problem.reason}',
                    help=hint,
                )
            )
        return not problems

    # --- policies and actions ---

    def actions(self) -> None:
        for action in self.program.actions:
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
            elif action.entity not in self.model.action_entities[action.action]:
                self.report(
                    error(
                        "RG012",
                        action.entity_span,
                        f"the entity of a {action.action} action is "
                        f'"{self.model.entity_of(action.action)}", not "{action.entity}"',
                    )
                )

    # --- waivers ---

    def waivers(self, now: datetime) -> None:
        for waiver in self.program.waivers:
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

    # --- finding exceptions ---

    def exceptions(self, now: datetime, max_days: int) -> None:
        first_at: dict[tuple[str, str], Span] = {}
        horizon = now + timedelta(days=max_days)
        for exception in self.program.exceptions:
            key = (exception.nrn.text, exception.name)
            if key in first_at:
                self.report(
                    error(
                        "RG148",
                        exception.span,
                        f'a second exception named "{exception.name}" at {exception.nrn.text}',
                        help=f"the first is at {first_at[key]}",
                    )
                )
            first_at.setdefault(key, exception.span)
            shown = exception.expires.isoformat().replace("+00:00", "Z")
            if exception.expires <= now:
                self.report(
                    warning(
                        "RG145",
                        exception.expires_span,
                        f'exception "{exception.name}" expired at {shown}; its findings count '
                        "again",
                        help="remove it, or renew it after a review"
                        + (f" ({exception.review_trigger})" if exception.review_trigger else ""),
                    )
                )
            elif exception.expires - now <= WAIVER_NOTICE:
                self.report(
                    warning(
                        "RG146",
                        exception.expires_span,
                        f'exception "{exception.name}" expires at {shown}, within '
                        f"{WAIVER_NOTICE.days} days",
                        help=f"owner: {exception.owner}",
                    )
                )
            elif exception.expires > horizon:
                self.report(
                    error(
                        "RG147",
                        exception.expires_span,
                        f'exception "{exception.name}" expires at {shown}, more than '
                        f"{max_days} days from now",
                        help=f"an exception is reviewed at least every {max_days} days: expire "
                        "it sooner, or allow longer ones with --max-exception-days",
                    )
                )

    # --- entities declared beyond nullplatform's ---

    def entity_attributes(self) -> None:
        """Each declared attribute's schema is valid JSON Schema (RG143)."""
        for declaration in self.program.entities:
            schemas = declaration.attributes if isinstance(declaration.attributes, dict) else {}
            for name, span in declaration.attribute_spans:
                schema = schemas[name]
                problem = _schema_problem(json.dumps(schema, sort_keys=True))
                if problem is None:
                    problem = next((p.reason for p in ref_problems(schema)), None)
                if problem is not None:
                    self.report(
                        error(
                            "RG143",
                            span,
                            f'attribute "{name}" of entity "{declaration.name}" is not a JSON '
                            f"Schema regate can use: {problem}",
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
        for query in (policy.conditions, policy.selector):
            if query is not None:
                self.query_paths(query, policy.nrn, actions, specifications)

    def checklist_paths(
        self, checklist: Checklist, actions: list[Action], specifications: Specifications
    ) -> None:
        """A checklist's queries, as a policy's conditions, for the actions using it."""
        for item in checklist.items:
            for query in (item.query, item.applies_when):
                if query is not None:
                    self.query_paths(query, checklist.nrn, actions, specifications)

    def query_paths(
        self, query: Query, nrn: Nrn, actions: list[Action], specifications: Specifications
    ) -> None:
        """Every path of `query` for requests of the actions it decides (at `nrn` when
        none does): entity visible, field known, operators and values of its type."""
        contexts = sorted({a.nrn for a in actions}, key=lambda n: n.text) or [nrn]
        fields: dict[str, list[Field]] = {}
        pending = [c for c in field_conditions(query) if self._entity(c.path, actions)]
        while pending:
            condition = pending.pop(0)
            found = [
                field
                for nrn in contexts
                for field in self._path(condition.path, nrn, specifications)
            ]
            fields.setdefault(condition.path.text, []).extend(found)
            for field in found:
                self._operand_types(condition, field)
                self._constraints(condition, field)
            if found and all("array" in (f.resolved.types or {"array"}) for f in found):
                pending.extend(elem_match_conditions(condition))
        for conjunction in _conjunctions(query):
            for path, operators in conjunction.items():
                known = fields.get(path)
                if known and all(f.resolved.single_valued for f in known):
                    self._contradictions(path, operators)
        for expr, guards in guarded_exprs(query):

            def reference(ref: FieldRef, guards: Guards = guards) -> Reference:
                return self._reference(ref.path, actions, contexts, specifications, guards)

            for diagnostic in check_expression(expr.expression, reference):
                self.report(diagnostic)
        for pattern in dynamic_patterns(query):
            self._placeholders(pattern, actions, contexts, specifications)

    def _reference(
        self,
        path: Path,
        actions: list[Action],
        contexts: list[Nrn],
        specifications: Specifications,
        guards: Guards,
    ) -> Reference:
        """What an `$expr` field reference may evaluate to (aggregation reads a path
        through an array as the array of what it reaches)."""
        if not self._entity(path, actions):
            return Reference(None, None, None)
        found = [field for nrn in contexts for field in self._path(path, nrn, specifications)]
        if not found:
            return Reference(None, None, None)
        types: set[str] | None = set()
        for field in found:
            kinds = frozenset({"array"}) if field.resolved.through_array else field.resolved.types
            if kinds is None or types is None:
                types = None
                continue
            types |= {"number" if kind == "integer" else kind for kind in kinds}
        guard = guards.get(path.text)
        absent = next((f for f in found if not f.present), None)
        missing = None
        if absent is not None and guard is None:
            missing = f"may be missing ({absent.origin} does not require it)"
        null = None
        if guard != "nonnull" and (types is None or "null" in types):
            origin = found[0].origin
            null = (
                f"may be null (its type is not constrained: {origin})"
                if types is None
                else f"may be null ({origin} allows null)"
            )
        return Reference(None if types is None else frozenset(types), missing, null)

    def _placeholders(
        self,
        pattern: DynamicPattern,
        actions: list[Action],
        contexts: list[Nrn],
        specifications: Specifications,
    ) -> None:
        """A placeholder's path is checked as a condition's path, and must be able to
        hold a string or a number (its text fills the placeholder)."""
        for placeholder in pattern.fields:
            path = placeholder.path
            if placeholder.relative:
                if path.segments[0] not in self.model.entities:
                    continue  # the condition's own path reports it
            elif not self._entity(path, actions):
                continue
            for nrn in contexts:
                for field in self._path(path, nrn, specifications):
                    types = field.resolved.types
                    if types is None or types & {"string", "number", "integer"}:
                        continue
                    self.report(
                        error(
                            "RG034",
                            path.span,
                            f"placeholder {{{placeholder.name}}} is filled with a string or a "
                            f'number, but "{path.text}" is {_types_text(types)}',
                            help="the placeholder cannot be filled, so the condition never holds",
                        )
                    )

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

    def _path(self, path: Path, nrn: Nrn, specifications: Specifications) -> list[Field]:
        """What `path` reads for requests at `nrn` and below: one field per schema in force."""
        entity, segments = path.segments[0], path.segments
        if len(segments) == 1 or segments[1:] == ("metadata",):
            return [Field(Resolved(()), ENTITY_MODEL, required=False)]
        if segments[1] != "metadata":
            return self._attribute(path)
        key = segments[2]
        in_force = specifications.in_force(entity, key, nrn)
        if in_force is None:
            self._no_specification(path, nrn, specifications)
            return []
        found: list[Field] = []
        for specification in [in_force, *specifications.below(entity, key, nrn)]:
            origin = f'specification "{specification.name}" at {specification.span}'
            resolved, required = self._resolve(specification, segments[3:])
            if isinstance(resolved, Unresolved):
                self._unknown_metadata_field(path, specification, resolved, origin, nrn)
                continue
            schema, below = specification.schema, segments[3:]
            present = bool(below) and all(
                is_required(schema, below[:n]) for n in range(1, len(below) + 1)
            )
            found.append(Field(resolved, origin, required, present))
        return found

    def _resolve(
        self, specification: Specification, segments: tuple[str, ...]
    ) -> tuple[Resolved | Unresolved, bool]:
        """`segments` down a specification's schema, and whether the field is required;
        remembered, since many policies read the same paths."""
        key = (specification.span, segments)
        if key not in self._resolved:
            schema = specification.schema
            self._resolved[key] = (resolve(schema, segments), is_required(schema, segments))
        return self._resolved[key]

    def _attribute(self, path: Path) -> list[Field]:
        entity, segments = path.segments[0], path.segments
        found = self.model.resolve_attribute(entity, segments[1:])
        if isinstance(found, Resolved):
            return [Field(found, ENTITY_MODEL, required=False)]
        known = (*found.known, "metadata") if found.index == 0 else found.known
        index = 1 + found.index
        self.report(
            error(
                "RG031",
                path.segment_span(index),
                f'unknown field "{segments[index]}" in "{".".join(segments[:index])}"',
                help=did_you_mean(segments[index], known),
            )
        )
        return []

    def _no_specification(self, path: Path, nrn: Nrn, specifications: Specifications) -> None:
        entity, key = path.segments[0], path.segments[2]
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

    def _unknown_metadata_field(
        self,
        path: Path,
        specification: Specification,
        found: Unresolved,
        origin: str,
        nrn: Nrn,
    ) -> None:
        segments = path.segments
        index = 3 + found.index
        suggestion = _suggest_path(specification.schema, segments[index:])
        prefix = ".".join(segments[:index])
        if suggestion:
            hint: str | None = f'did you mean "{".".join(segments[:3])}.{suggestion}"?'
        elif specification.nrn.text != nrn.text and nrn.contains(specification.nrn):
            hint = (
                f"the action at {nrn.text} also decides requests at {specification.nrn.text}, "
                f'where "{specification.name}" overrides the specification above it'
            )
        else:
            hint = did_you_mean(segments[index], found.known) or (
                f"fields here: {', '.join(found.known)}" if found.known else None
            )
        self.report(
            error(
                "RG031",
                path.segment_span(index),
                f'unknown field "{segments[index]}" in "{prefix}" ({origin})',
                help=hint,
            )
        )

    # --- operators and values against types and constraints ---

    def _operand_types(self, condition: FieldCondition, field: Field) -> None:
        subject = f'"{condition.path.text}"'
        self._operators_against(subject, condition.operators, field.resolved)

    def _operators_against(
        self, subject: str, operators: tuple[FieldOperator, ...], resolved: Resolved
    ) -> None:
        """Errors for operators that never apply to the field's type, and literals it
        can never equal or compare with.  `subject` names the field in messages."""
        types, offered = resolved.types, resolved.element_types
        if types is None or offered is None:
            return
        shown = _types_text(offered)
        for operator in operators:
            if isinstance(operator, NotOp):
                self._operators_against(subject, operator.operators, resolved)
                continue
            if isinstance(operator, Comparison):
                if operator.op in ORDERING_OPS and not offered & ORDERED_TYPES:
                    message = f"{operator.op} orders numbers or strings, but {subject} is {shown}"
                    help = "compare it with $eq, $ne, $in or $nin"
                    self.report(error("RG034", operator.span, message, help))
                    continue
                values = operator.value if operator.op in ("$in", "$nin") else [operator.value]
                self._literal_types(subject, operator, values, offered)
                continue
            # Array operators need the field itself to be an array; $regex and $mod
            # need the values it offers (itself or its items) to be strings or numbers.
            kind = type(operator)
            # $all over a path through an array sees every item's value: it needs no array.
            own = kind in ARRAY_OPERATORS and not (kind is All and resolved.through_array)
            needs = frozenset({"array"}) if own else OFFERED_NEEDS.get(kind)
            if needs is not None and not (types if own else offered) & needs:
                field_types = _types_text(types if own else offered)
                message = f"{OPERATOR_TEXT[kind]}, but {subject} is {field_types}"
                hint = 'for one value, write {"$eq": value}' if kind is All else None
                self.report(error("RG034", operator.span, message, hint))
                continue
            if isinstance(operator, TypeOp):
                wanted = {t for alias in operator.aliases for t in TYPE_ALIASES[alias]}
                if not wanted & (types | offered):
                    aliases = ", ".join(json.dumps(a) for a in operator.aliases)
                    message = f"$type {aliases} never matches {subject}, which is {shown}"
                    self.report(error("RG034", operator.span, message))
            elif isinstance(operator, All):
                self._literal_types(subject, operator, list(operator.values), offered)
                for match in operator.elem_matches:
                    self._operators_against(subject, (match,), resolved)
            elif isinstance(operator, ElemMatch):
                items = f"an item of {subject}"
                self._operators_against(items, operator.operators, resolved.items)

    def _literal_types(
        self,
        subject: str,
        operator: Comparison | All,
        values: list[JsonValue],
        types: frozenset[str],
    ) -> None:
        ordering = isinstance(operator, Comparison) and operator.op in ORDERING_OPS
        span = operator.value_span if isinstance(operator, Comparison) else operator.span
        for value in values:
            kind = json_type(value)
            if value is None or kind in types:
                continue
            if ordering and kind == "number" and "integer" in types:
                continue  # 80.5 orders against integers
            hint = None
            if isinstance(value, str) and types & {"integer", "number"}:
                hint = f"write the number without quotes: {value}"
            self.report(
                error(
                    "RG035",
                    span,
                    f"{subject} is {_types_text(types)}; comparing it with {kind} "
                    f"{json.dumps(value)} never matches",
                    help=hint,
                )
            )

    def _constraints(self, condition: FieldCondition, field: Field) -> None:
        """Warnings for operators that hold for no value, or every value, the field can have."""
        path, resolved = condition.path.text, field.resolved
        types = resolved.types
        if types is None or "array" in types:
            return  # an array matches through any of its items: no single value to judge
        for operator in condition.operators:
            if isinstance(operator, Exists):
                if not operator.present and field.required:
                    self._exists_on_required(condition.path, operator, field)
                continue
            if not isinstance(operator, Comparison):
                continue
            if operator.op in ORDERING_OPS:
                self._ordering(path, operator, field)
                continue
            values = operator.value if operator.op in ("$in", "$nin") else [operator.value]
            reasons = [(v, impossible(v, resolved.schemas)) for v in values if v is not None]
            excluded = [(v, reason) for v, reason in reasons if reason]
            every = len(excluded) == len(values)
            if not excluded or (not every and operator.op != "$in"):
                continue
            shown = f'"{path}": {json.dumps({operator.op: operator.value})}'
            reason = excluded[0][1]
            if operator.op in ("$ne", "$nin"):
                message = f"{shown} holds for every value the field can have: {reason}"
                self._value_warning("RG037", operator, message, field, ALWAYS_HELP)
            elif every:
                message = f"{shown} holds for no value the field can have: {reason}"
                self._value_warning("RG036", operator, message, field, NEVER_HELP)
            else:
                listed = ", ".join(json.dumps(v) for v, _ in excluded)
                message = f"{shown} lists {listed}, which the field can never have: {reason}"
                self._value_warning("RG036", operator, message, field, "remove it, or fix it")

    def _ordering(self, path: str, comparison: Comparison, field: Field) -> None:
        schemas = field.resolved.schemas
        if not is_number(comparison.value) or not all(is_numeric(s, or_null=True) for s in schemas):
            return
        accepted = operator_interval(comparison.op, comparison.value)
        allowed = [schema_interval(s) for s in schemas]
        shown = f'"{path}": {_operator_text(comparison)}'
        never = [a for a in allowed if a.meet(accepted).is_empty]
        if len(never) == len(allowed):
            culprit = never[0].high if accepted.low else never[0].low
            assert culprit is not None
            message = f"{shown} holds for no value the field can have: {culprit.text}"
            self._value_warning("RG036", comparison, message, field, NEVER_HELP)
        elif (
            field.resolved.single_valued
            and all(is_numeric(s) for s in schemas)
            and all(a.within(accepted) for a in allowed)
        ):
            culprit = allowed[0].low if accepted.low else allowed[0].high
            assert culprit is not None
            message = f"{shown} holds for every value the field can have: {culprit.text}"
            self._value_warning("RG037", comparison, message, field, ALWAYS_HELP)

    def _value_warning(
        self, code: str, comparison: Comparison, message: str, field: Field, help: str
    ) -> None:
        self.report(warning(code, comparison.value_span, f"{message} ({field.origin})", help))

    def _exists_on_required(self, path: Path, operator: Exists, field: Field) -> None:
        document = ".".join(path.segments[:3])
        self.report(
            warning(
                "RG039",
                operator.span,
                f'"{path.text}" is required ({field.origin}), so {{"$exists": false}} '
                f'holds only when "{document}" itself is missing',
                help=f'to require the metadata to be missing, write {{"{document}": '
                '{"$exists": false}}',
            )
        )

    def _contradictions(self, path: str, operators: list[FieldOperator]) -> None:
        """One diagnostic for the first operator that no value can satisfy with those before."""
        clash = first_contradiction(operators)
        if clash is None:
            return
        later, earlier = clash
        self.report(
            warning(
                "RG038",
                later.span,
                f'"{path}": {_operator_text(later)} contradicts {_operator_text(earlier)}: '
                "no value satisfies both, so the conditions never hold together",
                help='if either may hold, put them in "$or"',
            )
        )


ENTITY_MODEL = "entity model compiler/entities.json"
ORDERED_TYPES = frozenset({"integer", "number", "string"})
ARRAY_OPERATORS = (Size, ElemMatch, All)
OFFERED_NEEDS: dict[type, frozenset[str]] = {
    Regex: frozenset({"string"}),
    DynamicPattern: frozenset({"string"}),
    Mod: frozenset({"integer", "number"}),
}
OPERATOR_TEXT: dict[type, str] = {
    Size: "$size counts the items of an array",
    ElemMatch: "$elemMatch matches the items of an array",
    All: "$all matches arrays",
    Regex: "$regex matches strings",
    DynamicPattern: "$dynamicPattern matches strings",
    Mod: "$mod divides numbers",
}
# $type aliases (docs/semantics.md) → the JSON Schema types whose values have them.
TYPE_ALIASES: dict[str, frozenset[str]] = {
    "double": frozenset({"number", "integer"}),
    "int": frozenset({"integer", "number"}),
    "long": frozenset({"integer", "number"}),
    "decimal": frozenset(),
    "string": frozenset({"string"}),
    "object": frozenset({"object"}),
    "array": frozenset({"array"}),
    "bool": frozenset({"boolean"}),
    "null": frozenset({"null"}),
}
NEVER_HELP = "the condition can never pass; fix the value, or the specification"
ALWAYS_HELP = "the specification already guarantees it; tighten the condition, or drop it"


@dataclass(frozen=True)
class Field:
    """What a path reads in one context: its schema, and where that schema comes from."""

    resolved: Resolved
    origin: str  # for messages: `specification "Coverage" at f.rg:2:16`
    required: bool  # its parent object lists it in `required`
    # Every object on its way from the metadata document lists its key in `required`.
    present: bool = False


def _conjunctions(query: Query) -> Iterator[dict[str, list[FieldOperator]]]:
    """For each query document, nested ones included: the operators that must all
    hold, by path ($and clauses join their parent's conjunction)."""
    pending = [query]
    while pending:
        by_path: dict[str, list[FieldOperator]] = defaultdict(list)
        conjunction = [pending.pop()]
        while conjunction:
            for condition in conjunction.pop().conditions:
                if isinstance(condition, FieldCondition):
                    by_path[condition.path.text].extend(condition.operators)
                elif isinstance(condition, Expr):
                    continue
                elif condition.op == "$and":
                    conjunction.extend(condition.clauses)
                else:
                    pending.extend(condition.clauses)
        for operators in by_path.values():
            operators.sort(key=lambda operator: operator.span)
        yield by_path


def _elem_matches(operators: tuple[FieldOperator, ...]) -> Iterator[ElemMatch]:
    for operator in operators:
        if isinstance(operator, ElemMatch):
            yield operator
        elif isinstance(operator, NotOp):
            yield from _elem_matches(operator.operators)
        elif isinstance(operator, All):
            yield from operator.elem_matches


def elem_match_conditions(condition: FieldCondition) -> Iterator[FieldCondition]:
    """The conditions of its `$elemMatch` query documents, their paths joined to the
    field's: `{"a": {"$elemMatch": {"b": 1}}}` reads `a.b` of one item, which resolves
    as `a.b` does (a path reaches into array items)."""
    outer = condition.path
    for match in _elem_matches(condition.operators):
        for inner in field_conditions(match.query) if match.query else ():
            offset = inner.path.text_offset
            path = Path(
                f"{outer.text}.{inner.path.text}",
                outer.segments + inner.path.segments,
                inner.path.span,
                # Spans of the inner segments stay right; the outer ones are checked already.
                None if offset is None else offset - len(outer.text) - 1,
            )
            yield FieldCondition(path, inner.operators, inner.span)


def _types_text(types: frozenset[str]) -> str:
    return "/".join(sorted(types - {"integer"} if "number" in types else types))


def _operator_text(operator: Comparison | Exists) -> str:
    if isinstance(operator, Exists):
        return json.dumps({"$exists": operator.present})
    return json.dumps({operator.op: operator.value})


def first_contradiction(
    operators: list[FieldOperator],
) -> tuple[Comparison | Exists, Comparison | Exists] | None:
    """The first operator that contradicts an earlier one on a single-valued field."""
    interval = Interval()
    setters: dict[str, Comparison] = {}  # the operators that set interval.low/high
    equal: Comparison | None = None
    exists: Exists | None = None
    presence: Comparison | None = None  # an operator that needs the field to be present
    for operator in operators:
        if isinstance(operator, Exists):
            if exists is not None and exists.present != operator.present:
                return operator, exists
            if not operator.present and presence is not None:
                return operator, presence
            exists = exists or operator
            continue
        if not isinstance(operator, Comparison) or operator.op not in (*ORDERING_OPS, "$eq"):
            continue
        if operator.value is None:
            continue
        if exists is not None and not exists.present:
            return operator, exists
        presence = presence or operator
        if operator.op == "$eq":
            if equal is not None and not same_json(equal.value, operator.value):
                return operator, equal
            equal = equal or operator
        if not is_number(operator.value):
            continue
        accepted = operator_interval(operator.op, operator.value)
        met = interval.meet(accepted)
        if met.is_empty:
            clashes_high = Interval(accepted.low, interval.high).is_empty
            earlier = setters["high"] if clashes_high else setters["low"]
            return operator, earlier
        if met.low != interval.low:
            setters["low"] = operator
        if met.high != interval.high:
            setters["high"] = operator
        interval = met
    return None


def check(
    program: Program, now: datetime | None = None, max_exception_days: int = MAX_EXCEPTION_DAYS
) -> list[Diagnostic]:
    """`now` dates the waivers and exceptions (default: the current time); an exception
    may expire at most `max_exception_days` after it."""
    model, declared = extend_model(entity_model(), program.entities)
    checker = Checker(program, model)
    checker.diagnostics.update(declared)
    checker.entity_attributes()
    bindings, found = bind(program)
    checker.diagnostics.update(found)
    specifications = checker.specifications()
    checker.actions()
    bound = bindings.actions_of(program)
    for policy in program.policies:
        checker.policy_paths(policy, bound.get(policy.span, []), specifications)
    using: dict[Span, list[Action]] = defaultdict(list)
    for action in program.actions:
        checklist = bindings.checklist_of(action)
        if checklist is not None:
            using[checklist.span].append(action)
    for checklist in program.checklists:
        checker.checklist_paths(checklist, using[checklist.span], specifications)
    checker.waivers(now or datetime.now(UTC))
    checker.exceptions(now or datetime.now(UTC), max_exception_days)
    return sorted(checker.diagnostics)


def _local_refs(schema: object) -> list[str]:
    """The references a schema's $defs and definitions offer, for suggestions."""
    if not isinstance(schema, dict):
        return []
    return [
        f"#/{keyword}/{name}"
        for keyword in ("$defs", "definitions")
        if isinstance(schema.get(keyword), dict)
        for name in schema[keyword]
    ]


def gating(program: Program, where: Span) -> list[Diagnostic]:
    """What makes a bundle of these sources approve without checking anything: no action
    at all (RG005, at `where`, the first source argument), a policy without conditions
    (RG007).  (An action without policies decides `manual`: RG047.)"""
    found: list[Diagnostic] = []
    if not program.actions:
        found.append(
            error(
                "RG005",
                where,
                "the sources declare no approval action, so a bundle of them would approve "
                "every request",
                help='declare one: action "id" { action = "deployment:create", nrn = ..., '
                "policies = [...] }",
            )
        )
    for policy in program.policies:
        if not policy.conditions.conditions:
            found.append(
                warning(
                    "RG007",
                    policy.conditions.span,
                    f'policy "{policy.name}" has no conditions, so it always passes',
                    help="give it conditions, or remove it",
                )
            )
    return found
