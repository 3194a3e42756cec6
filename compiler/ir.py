"""The IR: what lower produces and emit renders.  Rego-shaped, but holding raw
values; emit escapes every one of them on the way into the templates."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from compiler.ast import JsonValue


@dataclass(frozen=True)
class Test:
    """`mongo.<function>(mongo.values_at(<root>, path)[, operand])`, perhaps negated.

    `root` is None for the request's entities (`input.entities`), or the name of
    the variable holding the array element an `$elemMatch` is testing."""

    function: str
    root: str | None
    path: tuple[str, ...]
    operand: JsonValue
    has_operand: bool
    negated: bool
    comment: str
    kind: Literal["test"] = "test"


@dataclass(frozen=True)
class Each:
    """`some <variable> in mongo.<function>(mongo.values_at(<root>, path))`: binds
    each array element an `$elemMatch` considers."""

    variable: str
    function: str
    root: str | None
    path: tuple[str, ...]
    comment: str
    kind: Literal["each"] = "each"


@dataclass(frozen=True)
class RuleRef:
    """A reference to a helper rule, perhaps negated; `argument` is the element
    variable passed to a helper function inside an `$elemMatch`."""

    rule: str
    negated: bool
    argument: str | None = None
    kind: Literal["ref"] = "ref"


@dataclass(frozen=True)
class Always:
    """The body of an empty query, which every request matches."""

    kind: Literal["always"] = "always"


@dataclass(frozen=True)
class Never:
    """`{$all: []}`, which MongoDB never matches."""

    comment: str
    kind: Literal["never"] = "never"


Expr = Test | Each | RuleRef | Always | Never
Body = tuple[Expr, ...]


@dataclass(frozen=True)
class HelperRule:
    """A private rule: true when any of its bodies holds ($or, $nor, $not,
    $elemMatch).  Inside an `$elemMatch` it is a function of the element,
    named `parameter`."""

    name: str
    comment: str
    bodies: tuple[Body, ...]
    parameter: str | None = None


@dataclass(frozen=True)
class PolicyRule:
    rule: str  # the rule's name in package regate.policies
    name: str  # the policy's name in the sources
    source: str  # file:line, relative to the source root
    nrn: str
    conditions: JsonValue  # the conditions as written, for the rule's comment
    body: Body
    helpers: tuple[HelperRule, ...]


@dataclass(frozen=True)
class PolicyModule:
    path: str  # inside the bundle, e.g. regate/policies/policies.rego
    source: str  # the source file, relative to the source root
    policies: tuple[PolicyRule, ...]


@dataclass(frozen=True)
class BundleIR:
    modules: tuple[PolicyModule, ...]
    catalog: JsonValue  # data.regate.catalog without its revision
