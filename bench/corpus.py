"""Realistic regate source projects of a given size, for the benchmarks.

A corpus is an NRN tree of organisations, accounts, namespaces and applications
with approval actions spread over its levels (filtered by the dimensions
environment, country and tier), policies bound to those actions, and the
metadata specifications for every path the policies read.  It is written as
regate sources (`*.rg` plus schema files), with three sample requests:

- `several`: a production deployment that several actions apply to, at every
  level of its NRN;
- `one`: a production deployment in an organisation that holds one action;
- `none`: the same deployment to staging, which that action's dimension rejects.

The same size always gives the same bytes (a seeded generator), so runs compare.
"""

from __future__ import annotations

import json
import random
from dataclasses import dataclass
from pathlib import Path


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

ORGANIZATIONS = 2  # for the random actions; the sample requests have two more of their own
ACCOUNTS_PER_ORGANIZATION = 4
NAMESPACES_PER_ACCOUNT = 5
POLICIES_PER_FILE = 500  # one file per team-sized chunk, as a repository would hold them

DIMENSIONS = {
    "environment": ("production", "staging", "development"),
    "country": ("ar", "br", "mx", "us", "es"),
    "tier": ("gold", "silver", "bronze"),
}
# How often an action is placed at each level, and which approval action it is.
LEVELS = {"organization": 2, "account": 8, "namespace": 25, "application": 65}
ACTION_NAMES = {
    "deployment:create": 70,
    "scope:create": 10,
    "scope:write": 10,
    "scope:delete": 5,
    "scope:stop": 5,
}

# The sample requests sit in organisations of their own, so that the same actions
# apply to them at every size: the random actions are the scale around them, in
# the same catalog, looked up the same way.
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


def _deployment_conditions(rng: random.Random) -> object:
    """Conditions a deployment:create policy would hold (it may read the build)."""
    choice = rng.randrange(6)
    if choice == 0:
        return {"build.metadata.coverage.code.coverage": {"$gte": rng.choice((60, 70, 80, 90))}}
    if choice == 1:
        return {
            "build.metadata.security.vulnerabilities.critical": {"$eq": 0},
            "build.metadata.security.vulnerabilities.high": {"$lte": rng.randrange(0, 10)},
        }
    if choice == 2:
        return {"build.metadata.security.secrets.total": {"$not": {"$gt": 0}}}
    if choice == 3:
        return {
            "$or": [
                {"build.metadata.quality.tests.failed": 0},
                {"build.branch": {"$in": ["main", "release"]}},
            ]
        }
    if choice == 4:
        return {
            "scope.tier": {"$in": rng.sample(DIMENSIONS["tier"], 2)},
            "build.metadata.quality.lint.warnings": {"$lt": rng.choice((10, 50, 100))},
        }
    return {"application.metadata.ownership.team": {"$exists": True}, "build.status": "successful"}


def _scope_conditions(rng: random.Random) -> object:
    """Conditions a scope:* policy would hold (no build to read)."""
    choice = rng.randrange(4)
    if choice == 0:
        return {"scope.capabilities.auto_scaling": True}
    if choice == 1:
        return {"application.metadata.ownership.team": {"$exists": True}}
    if choice == 2:
        return {"scope.requested_spec.memory_in_gb": {"$lte": rng.choice((2, 4, 8, 16))}}
    return {
        "$nor": [
            {"scope.status": "failed"},
            {"application.metadata.ownership.lifecycle": {"$in": ["experimental", "retired"]}},
        ]
    }


@dataclass(frozen=True)
class _Action:
    id: str
    action: str
    nrn: str
    dimensions: dict[str, str]
    policies: list[str]


def _nrn_tree(size: Size) -> dict[str, list[str]]:
    """Level → the NRNs at that level, for the organisations random actions go to."""
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


def _actions(size: Size, rng: random.Random) -> list[_Action]:
    tree = _nrn_tree(size)
    actions = [
        _Action(f"pinned-{i + 1}", "deployment:create", nrn, dimensions, [])
        for i, (nrn, dimensions) in enumerate(PINNED_ACTIONS)
    ]
    while len(actions) < size.actions:
        level = rng.choices(list(LEVELS), list(LEVELS.values()))[0]
        dimensions = {
            key: rng.choice(values)
            for key, values in DIMENSIONS.items()
            if rng.random() < (0.7 if key == "environment" else 0.3)
        }
        name = rng.choices(list(ACTION_NAMES), list(ACTION_NAMES.values()))[0]
        number = len(actions) + 1
        actions.append(
            _Action(
                f"{name.replace(':', '-')}-{number:05d}",
                name,
                rng.choice(tree[level]),
                dimensions,
                [],
            )
        )
    return actions


def _json(value: object) -> str:
    return json.dumps(value, sort_keys=True)


def write_corpus(size: Size, directory: Path, seed: int = 8) -> None:
    """Write the sources and the sample requests of `size` into `directory`."""
    if size.actions < len(PINNED_ACTIONS) or size.policies < size.actions:
        raise ValueError(
            f"{size.name}: needs at least {len(PINNED_ACTIONS)} actions, and a policy each"
        )
    rng = random.Random(seed)
    actions = _actions(size, rng)
    # Every action binds some policies (none is left unbound), defined at its NRN.
    policy_blocks: list[str] = []
    for number in range(1, size.policies + 1):
        action = actions[(number - 1) % len(actions)]
        name = f"P{number:05d} {action.action} gate"
        action.policies.append(name)
        conditions = (
            _deployment_conditions(rng)
            if action.action == "deployment:create"
            else _scope_conditions(rng)
        )
        policy_blocks.append(
            f'policy "{name}" {{\n  nrn        = "{action.nrn}"\n'
            f"  conditions = {_json(conditions)}\n}}\n"
        )

    directory.mkdir(parents=True, exist_ok=True)
    (directory / "schemas").mkdir(exist_ok=True)
    (directory / "policies").mkdir(exist_ok=True)
    (directory / "requests").mkdir(exist_ok=True)
    for start in range(0, len(policy_blocks), POLICIES_PER_FILE):
        chunk = policy_blocks[start : start + POLICIES_PER_FILE]
        name = f"team-{start // POLICIES_PER_FILE + 1:03d}.rg"
        (directory / "policies" / name).write_text("\n".join(chunk))

    action_blocks = []
    for action in actions:
        dimensions_line = (
            f"  dimensions        = {_json(action.dimensions)}\n" if action.dimensions else ""
        )
        action_blocks.append(
            f'action "{action.id}" {{\n'
            f'  action            = "{action.action}"\n'
            f'  nrn               = "{action.nrn}"\n'
            f"{dimensions_line}"
            f"  on_policy_success = approve\n"
            f"  on_policy_fail    = {rng.choice(('manual', 'deny'))}\n"
            f"  policies          = {_json(action.policies)}\n}}\n"
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

    for name, (nrn, dimensions) in REQUESTS.items():
        (directory / "requests" / f"{name}.json").write_text(
            json.dumps(_request(nrn, dimensions), indent=2, sort_keys=True) + "\n"
        )


# Request name → (application NRN, scope dimensions).
REQUESTS = {
    "none": (ONE_NRN, {"environment": "staging", "country": "ar", "tier": "gold"}),
    "one": (ONE_NRN, {"environment": "production", "country": "ar", "tier": "gold"}),
    "several": (SEVERAL_NRN, {"environment": "production", "country": "ar", "tier": "gold"}),
}


def _request(application_nrn: str, dimensions: dict[str, str]) -> object:
    return {
        "action": "deployment:create",
        "nrn": f"{application_nrn}:scope=1",
        "entities": {
            "scope": {
                "dimensions": dimensions,
                "tier": dimensions["tier"],
                "status": "active",
                "capabilities": {"auto_scaling": True},
            },
            "build": {
                "status": "successful",
                "branch": "main",
                "metadata": {
                    "coverage": {"code": {"coverage": 84.5, "lines": 12000}},
                    "security": {
                        "vulnerabilities": {"critical": 0, "high": 2, "medium": 11},
                        "secrets": {"total": 0},
                    },
                    "quality": {"tests": {"failed": 0}, "lint": {"warnings": 17}},
                },
            },
            "application": {"metadata": {"ownership": {"team": "payments"}}},
            "deployment": {},
            "release": {},
            "namespace": {},
            "account": {},
            "organization": {},
        },
    }
