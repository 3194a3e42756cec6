"""Realistic regate source projects of a given size and shape, for the benchmarks.

A corpus is an NRN tree of organisations, accounts, namespaces and applications
with approval actions (filtered by the dimensions environment, country and
tier), policies bound to those actions, and the metadata specifications for
every path the policies read.  It is written as regate sources (`*.rg` plus
schema files) with sample requests, and held as a `Model` that the anchor
(bench/anchor.py) is written from, without regate's compiler.

Two shapes:

- `spread`: actions spread over the levels of two organisations' trees, few at
  any one NRN;
- `dense`: the dimension-dense organisation: at its organisation and at every
  account and namespace, many actions for the same NRN, differing by approval
  action and by dimensions (environment x country x tier).

Both hold the same pinned actions, which the sample requests meet at every
size: `approve` (a production deployment that actions at its organisation,
account, namespace and application apply to, all of whose policies pass),
`fail` (the same deployment with a build that fails some of them) and `none`
(a staging deployment that no action applies to).  The rest of the actions are
the scale around them, in the same catalog (for `dense`, at the NRNs the
sample requests are decided at, with dimensions that never match theirs).

`sampled_requests` draws requests over a corpus's tree, dimensions and metadata,
on both sides of every condition, for comparing two deciders.  The same size,
shape and seed always give the same bytes.
"""

from __future__ import annotations

import json
import random
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any


@dataclass(frozen=True)
class Size:
    name: str
    policies: int
    actions: int


SIZES = {
    size.name: size
    for size in (
        Size("tiny", 12, 6),  # for the smoke test only
        Size("small", 100, 20),
        Size("medium", 1_000, 200),
        Size("large", 10_000, 2_000),
    )
}
SHAPES = ("spread", "dense")

ORGANIZATIONS = 2  # for the spread actions; the sample requests have two more of their own
ACCOUNTS_PER_ORGANIZATION = 4
NAMESPACES_PER_ACCOUNT = 5
POLICIES_PER_FILE = 500  # one file per team-sized chunk, as a repository would hold them
DENSE_ACTIONS_PER_NRN = 80

DIMENSIONS = {
    "environment": ("production", "staging", "development"),
    "country": ("ar", "br", "mx", "us", "es"),
    "tier": ("gold", "silver", "bronze"),
}
# How often a spread action is placed at each level, and which approval action it is.
LEVELS = {"organization": 2, "account": 8, "namespace": 25, "application": 65}
ACTION_NAMES = {
    "deployment:create": 70,
    "scope:create": 10,
    "scope:write": 10,
    "scope:delete": 5,
    "scope:stop": 5,
}

# The sample requests sit in organisations of their own, so that the same actions
# apply to them at every size.
SEVERAL = f"organization={ORGANIZATIONS + 1}"
SEVERAL_NRN = f"{SEVERAL}:account=1:namespace=1:application=1"
ONE_NRN = f"organization={ORGANIZATIONS + 2}:account=1:namespace=1:application=1"
PINNED_ACTIONS: tuple[tuple[str, dict[str, str]], ...] = (
    (SEVERAL, {"environment": "production"}),
    (f"{SEVERAL}:account=1", {"country": "ar"}),
    (f"{SEVERAL}:account=1:namespace=1", {"environment": "production", "tier": "gold"}),
    (SEVERAL_NRN, {}),
    (ONE_NRN, {"environment": "production"}),
)
REQUEST_DIMENSIONS = {"environment": "production", "country": "ar", "tier": "gold"}

SCHEMAS: dict[tuple[str, str], object] = {
    ("build", "coverage"): {
        "type": "object",
        "properties": {
            "code": {
                "type": "object",
                "properties": {
                    "coverage": {"type": "number", "minimum": 0, "maximum": 100},
                    "lines": {"type": "integer", "minimum": 0},
                },
                "required": ["coverage"],
            }
        },
    },
    ("build", "security"): {
        "type": "object",
        "properties": {
            "vulnerabilities": {
                "type": "object",
                "properties": {
                    "critical": {"type": "integer"},
                    "high": {"type": "integer"},
                    "medium": {"type": "integer"},
                },
            },
            "secrets": {"type": "object", "properties": {"total": {"type": "integer"}}},
        },
    },
    ("build", "quality"): {
        "type": "object",
        "properties": {
            "tests": {"type": "object", "properties": {"failed": {"type": "integer"}}},
            "lint": {"type": "object", "properties": {"warnings": {"type": "integer"}}},
        },
    },
    ("application", "ownership"): {
        "type": "object",
        "properties": {
            "team": {"type": "string"},
            "lifecycle": {"type": "string", "enum": ["experimental", "supported", "retired"]},
        },
    },
}


@dataclass(frozen=True)
class Check:
    """A policy's conditions, as the kind of check it is and its parameters: the
    anchor decides the kind by a hand-written rule, regate compiles `conditions`."""

    kind: str
    parameters: dict[str, Any]

    @property
    def conditions(self) -> object:
        p = self.parameters
        match self.kind:
            case "coverage":
                return {"build.metadata.coverage.code.coverage": {"$gte": p["min"]}}
            case "vulnerabilities":
                return {
                    "build.metadata.security.vulnerabilities.critical": {"$eq": 0},
                    "build.metadata.security.vulnerabilities.high": {"$lte": p["max_high"]},
                }
            case "no_secrets":
                return {"build.metadata.security.secrets.total": {"$not": {"$gt": 0}}}
            case "tests_or_branch":
                return {
                    "$or": [
                        {"build.metadata.quality.tests.failed": 0},
                        {"build.branch": {"$in": p["branches"]}},
                    ]
                }
            case "tier_and_lint":
                return {
                    "scope.tier": {"$in": p["tiers"]},
                    "build.metadata.quality.lint.warnings": {"$lt": p["max_warnings"]},
                }
            case "owned_and_built":
                return {
                    "application.metadata.ownership.team": {"$exists": True},
                    "build.status": "successful",
                }
            case "auto_scaling":
                return {"scope.capabilities.auto_scaling": True}
            case "owned":
                return {"application.metadata.ownership.team": {"$exists": True}}
            case "memory":
                return {"scope.requested_spec.memory_in_gb": {"$lte": p["max_gb"]}}
            case "not_failed_or_retired":
                return {
                    "$nor": [
                        {"scope.status": "failed"},
                        {
                            "application.metadata.ownership.lifecycle": {
                                "$in": ["experimental", "retired"]
                            }
                        },
                    ]
                }
        raise ValueError(self.kind)


def _deployment_check(rng: random.Random) -> Check:
    """A check a deployment:create policy would make (it may read the build)."""
    choice = rng.randrange(6)
    if choice == 0:
        return Check("coverage", {"min": rng.choice((60, 70, 80, 90))})
    if choice == 1:
        return Check("vulnerabilities", {"max_high": rng.randrange(0, 10)})
    if choice == 2:
        return Check("no_secrets", {})
    if choice == 3:
        return Check("tests_or_branch", {"branches": ["main", "release"]})
    if choice == 4:
        # gold always among them: the `approve` sample request's scope is gold.
        tiers = ["gold", rng.choice(("silver", "bronze"))]
        rng.shuffle(tiers)
        return Check("tier_and_lint", {"tiers": tiers, "max_warnings": rng.choice((10, 50, 100))})
    return Check("owned_and_built", {})


def _scope_check(rng: random.Random) -> Check:
    """A check a scope:* policy would make (no build to read)."""
    choice = rng.randrange(4)
    if choice == 0:
        return Check("auto_scaling", {})
    if choice == 1:
        return Check("owned", {})
    if choice == 2:
        return Check("memory", {"max_gb": rng.choice((2, 4, 8, 16))})
    return Check("not_failed_or_retired", {})


# What the pinned actions' policies check: the `fail` sample request fails the
# first two of them (its coverage, a critical vulnerability), in each action.
PINNED_CHECKS = (
    Check("coverage", {"min": 80}),
    Check("vulnerabilities", {"max_high": 5}),
    Check("no_secrets", {}),
    Check("tests_or_branch", {"branches": ["main", "release"]}),
    Check("tier_and_lint", {"tiers": ["gold", "silver"], "max_warnings": 50}),
)


@dataclass(frozen=True)
class Policy:
    name: str
    nrn: str
    check: Check


@dataclass
class Action:
    id: str
    action: str
    nrn: str
    dimensions: dict[str, str]
    on_policy_fail: str = "manual"
    policies: list[Policy] = field(default_factory=list)


@dataclass(frozen=True)
class Model:
    """What a corpus holds, for the anchor and for sampling requests."""

    shape: str
    actions: tuple[Action, ...]
    applications: tuple[str, ...]  # application NRNs requests are sampled at


def _spread_tree(size: Size) -> dict[str, list[str]]:
    """Level → the NRNs at that level, for the organisations spread actions go to."""
    applications_per_namespace = max(
        1, size.actions // (ORGANIZATIONS * ACCOUNTS_PER_ORGANIZATION * NAMESPACES_PER_ACCOUNT)
    )
    tree: dict[str, list[str]] = {level: [] for level in LEVELS}
    for o in range(1, ORGANIZATIONS + 1):
        organization = f"organization={o}"
        tree["organization"].append(organization)
        for a in range(1, ACCOUNTS_PER_ORGANIZATION + 1):
            account = f"{organization}:account={a}"
            tree["account"].append(account)
            for n in range(1, NAMESPACES_PER_ACCOUNT + 1):
                namespace = f"{account}:namespace={n}"
                tree["namespace"].append(namespace)
                tree["application"].extend(
                    f"{namespace}:application={p}" for p in range(1, applications_per_namespace + 1)
                )
    return tree


def _dense_tree(generated: int) -> list[str]:
    """The dense organisation's NRNs actions go to: the organisation, then enough
    accounts and namespaces (account=1:namespace=1 among them) for about
    DENSE_ACTIONS_PER_NRN actions at each."""
    needed = -(-generated // DENSE_ACTIONS_PER_NRN)
    accounts, namespaces = 1, 1
    while 1 + accounts + accounts * namespaces < needed:
        if namespaces <= accounts:
            namespaces += 1
        else:
            accounts += 1
    nrns = [SEVERAL]
    for a in range(1, accounts + 1):
        nrns.append(f"{SEVERAL}:account={a}")
        nrns.extend(f"{SEVERAL}:account={a}:namespace={n}" for n in range(1, namespaces + 1))
    return nrns


def _action_name(rng: random.Random) -> str:
    return rng.choices(list(ACTION_NAMES), list(ACTION_NAMES.values()))[0]


def _spread_actions(size: Size, rng: random.Random, actions: list[Action]) -> tuple[str, ...]:
    tree = _spread_tree(size)
    while len(actions) < size.actions:
        level = rng.choices(list(LEVELS), list(LEVELS.values()))[0]
        dimensions = {
            key: rng.choice(values)
            for key, values in DIMENSIONS.items()
            if rng.random() < (0.7 if key == "environment" else 0.3)
        }
        name = _action_name(rng)
        number = len(actions) + 1
        actions.append(
            Action(
                f"{name.replace(':', '-')}-{number:05d}", name, rng.choice(tree[level]), dimensions
            )
        )
    return tuple(tree["application"])


def _dense_actions(size: Size, rng: random.Random, actions: list[Action]) -> tuple[str, ...]:
    nrns = _dense_tree(size.actions - len(actions))
    taken = {(a.action, a.nrn, json.dumps(a.dimensions, sort_keys=True)) for a in actions}
    while len(actions) < size.actions:
        # Mostly every dimension (the environment x country x tier grid), some fewer;
        # never a subset of the sample requests' own, so the same actions apply to
        # them at every size.
        keys = [k for k in DIMENSIONS if rng.random() < 0.85] or ["environment"]
        dimensions = {key: rng.choice(DIMENSIONS[key]) for key in keys}
        if dimensions.items() <= REQUEST_DIMENSIONS.items():
            continue
        name, nrn = _action_name(rng), rng.choice(nrns)
        key = (name, nrn, json.dumps(dimensions, sort_keys=True))
        if key in taken:  # nullplatform keeps an action, NRN and dimensions unique
            continue
        taken.add(key)
        number = len(actions) + 1
        actions.append(Action(f"{name.replace(':', '-')}-{number:05d}", name, nrn, dimensions))
    applications = [
        f"{nrn}:application={p}" for nrn in nrns if ":namespace=" in nrn for p in (1, 2, 3)
    ]
    return tuple(applications)


def model(size: Size, shape: str = "spread", seed: int = 8) -> Model:
    """The corpus of `size` and `shape`: its actions, each with its policies."""
    if size.actions < len(PINNED_ACTIONS) or size.policies < size.actions:
        raise ValueError(
            f"{size.name}: needs at least {len(PINNED_ACTIONS)} actions, and a policy each"
        )
    if shape not in SHAPES:
        raise ValueError(f"unknown shape {shape!r}; shapes are {', '.join(SHAPES)}")
    rng = random.Random(seed)
    actions = [
        Action(f"pinned-{i + 1}", "deployment:create", nrn, dimensions)
        for i, (nrn, dimensions) in enumerate(PINNED_ACTIONS)
    ]
    grow = _spread_actions if shape == "spread" else _dense_actions
    applications = grow(size, rng, actions)
    for action in actions:
        action.on_policy_fail = rng.choice(("manual", "deny"))
    # Every action binds some policies (none is left unbound), defined at its NRN; the
    # pinned actions' first ones make the same checks at every size and shape.
    for number in range(1, size.policies + 1):
        action = actions[(number - 1) % len(actions)]
        deployment = action.action == "deployment:create"
        check = _deployment_check(rng) if deployment else _scope_check(rng)
        if action.id.startswith("pinned-") and len(action.policies) < len(PINNED_CHECKS):
            check = PINNED_CHECKS[len(action.policies)]
        action.policies.append(Policy(f"P{number:05d} {action.action} gate", action.nrn, check))
    return Model(shape, tuple(actions), (SEVERAL_NRN, ONE_NRN, *applications))


def _json(value: object) -> str:
    return json.dumps(value, sort_keys=True)


def write_corpus(size: Size, directory: Path, shape: str = "spread", seed: int = 8) -> Model:
    """Write the sources and the sample requests of `size` and `shape` into `directory`."""
    corpus = model(size, shape, seed)
    policies = [p for action in corpus.actions for p in action.policies]
    policies.sort(key=lambda p: p.name)
    policy_blocks = [
        f'policy "{p.name}" {{\n  nrn        = "{p.nrn}"\n'
        f"  conditions = {_json(p.check.conditions)}\n}}\n"
        for p in policies
    ]
    directory.mkdir(parents=True, exist_ok=True)
    for sub in ("schemas", "policies", "requests"):
        (directory / sub).mkdir(exist_ok=True)
    for start in range(0, len(policy_blocks), POLICIES_PER_FILE):
        chunk = policy_blocks[start : start + POLICIES_PER_FILE]
        name = f"team-{start // POLICIES_PER_FILE + 1:03d}.rg"
        (directory / "policies" / name).write_text("\n".join(chunk))

    action_blocks = []
    for action in corpus.actions:
        dimensions_line = (
            f"  dimensions        = {_json(action.dimensions)}\n" if action.dimensions else ""
        )
        action_blocks.append(
            f'action "{action.id}" {{\n'
            f'  action            = "{action.action}"\n'
            f'  nrn               = "{action.nrn}"\n'
            f"{dimensions_line}"
            f"  on_policy_success = approve\n"
            f"  on_policy_fail    = {action.on_policy_fail}\n"
            f"  policies          = {_json([p.name for p in action.policies])}\n}}\n"
        )
    (directory / "actions.rg").write_text("\n".join(action_blocks))

    specification_blocks = []
    for (entity, key), schema in SCHEMAS.items():
        (directory / "schemas" / f"{entity}-{key}.json").write_text(
            json.dumps(schema, indent=2, sort_keys=True) + "\n"
        )
        for o in range(1, ORGANIZATIONS + 3):
            specification_blocks.append(
                f'specification "{entity} {key} of organization {o}" {{\n'
                f"  entity   = {entity}\n  metadata = {key}\n"
                f'  nrn      = "organization={o}"\n'
                f'  schema   = file("schemas/{entity}-{key}.json")\n}}\n'
            )
    (directory / "specifications.rg").write_text("\n".join(specification_blocks))

    for name, request in REQUESTS.items():
        (directory / "requests" / f"{name}.json").write_text(
            json.dumps(request, indent=2, sort_keys=True) + "\n"
        )
    return corpus


# --- requests ---

# A build every policy of the corpus passes, and one whose coverage and critical
# vulnerabilities fail some of them (those checks).
PASSING_BUILD: dict[str, Any] = {
    "status": "successful",
    "branch": "main",
    "metadata": {
        "coverage": {"code": {"coverage": 95, "lines": 12000}},
        "security": {
            "vulnerabilities": {"critical": 0, "high": 0, "medium": 11},
            "secrets": {"total": 0},
        },
        "quality": {"tests": {"failed": 0}, "lint": {"warnings": 3}},
    },
}
FAILING_BUILD: dict[str, Any] = {
    **PASSING_BUILD,
    "metadata": {
        **PASSING_BUILD["metadata"],
        "coverage": {"code": {"coverage": 65, "lines": 12000}},
        "security": {
            "vulnerabilities": {"critical": 1, "high": 0, "medium": 11},
            "secrets": {"total": 0},
        },
    },
}


def request(
    application_nrn: str,
    dimensions: dict[str, str],
    build: dict[str, Any] | None = None,
    action: str = "deployment:create",
) -> dict[str, Any]:
    """A request at a scope of the application, its build passing unless given."""
    return {
        "action": action,
        "nrn": f"{application_nrn}:scope=1",
        "entities": {
            "scope": {
                "dimensions": dimensions,
                "tier": dimensions.get("tier", "gold"),
                "status": "active",
                "capabilities": {"auto_scaling": True},
                "requested_spec": {"memory_in_gb": 1},
            },
            "build": json.loads(json.dumps(build or PASSING_BUILD)),
            "application": {
                "metadata": {"ownership": {"team": "payments", "lifecycle": "supported"}}
            },
            "deployment": {},
            "release": {},
            "namespace": {},
            "account": {},
            "organization": {},
        },
    }


# The sample requests the benchmark times: name → request.
REQUESTS = {
    "none": request(ONE_NRN, {**REQUEST_DIMENSIONS, "environment": "staging"}),
    "approve": request(SEVERAL_NRN, REQUEST_DIMENSIONS),
    "fail": request(SEVERAL_NRN, REQUEST_DIMENSIONS, FAILING_BUILD),
}
# How many actions each sample request finds applying, at every size and shape.
EXPECTED_ACTIONS = {"none": 0, "approve": 4, "fail": 4}


def _sampled_build(rng: random.Random) -> dict[str, Any]:
    """A build whose fields fall on either side of the corpus's thresholds, or are missing."""
    documents: dict[str, Any] = {}
    code = {
        "coverage": rng.choice((55, 60, 65, 70, 75, 80, 85, 90, 95.5)),
        **({"lines": rng.randrange(0, 50_000)} if rng.random() < 0.5 else {}),
    }
    vulnerabilities = {
        key: value
        for key, value in (
            ("critical", rng.choice((0, 0, 1))),
            ("high", rng.randrange(0, 12)),
            ("medium", rng.randrange(0, 30)),
        )
        if rng.random() < 0.9
    }
    if rng.random() < 0.9:
        documents["coverage"] = {"code": code}
    if rng.random() < 0.9:
        security: dict[str, Any] = {"vulnerabilities": vulnerabilities}
        if rng.random() < 0.8:
            security["secrets"] = {"total": rng.choice((0, 0, 2))}
        documents["security"] = security
    if rng.random() < 0.9:
        documents["quality"] = {
            key: value
            for key, value in (
                ("tests", {"failed": rng.choice((0, 0, 1))}),
                ("lint", {"warnings": rng.choice((5, 30, 70, 120))}),
            )
            if rng.random() < 0.9
        }
    build: dict[str, Any] = {"metadata": documents}
    for key, values in (("status", ("successful", "failed")), ("branch", ("main", "release", "x"))):
        if rng.random() < 0.9:
            build[key] = rng.choice(values)
    return build


def sampled_requests(corpus: Model, count: int, seed: int = 1) -> list[dict[str, Any]]:
    """`count` valid requests over the corpus's applications, dimensions and checks."""
    rng = random.Random(seed)
    found = []
    for _ in range(count):
        dimensions = {
            key: rng.choice(values) for key, values in DIMENSIONS.items() if rng.random() < 0.8
        }
        name = _action_name(rng)
        sampled = request(rng.choice(corpus.applications), dimensions, _sampled_build(rng), name)
        entities = sampled["entities"]
        scope = entities["scope"]
        scope["tier"] = rng.choice(DIMENSIONS["tier"])
        scope["status"] = rng.choice(("active", "active", "failed"))
        scope["capabilities"] = {"auto_scaling": rng.random() < 0.7}
        scope["requested_spec"] = {"memory_in_gb": rng.choice((1, 2, 4, 8, 16, 32))}
        ownership = {
            key: value
            for key, value in (
                ("team", "payments"),
                ("lifecycle", rng.choice(("experimental", "supported", "retired"))),
            )
            if rng.random() < 0.8
        }
        entities["application"] = {"metadata": {"ownership": ownership}}
        if name != "deployment:create":
            del entities["build"]
        found.append(sampled)
    return found
