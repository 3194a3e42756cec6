# METADATA
# title: The anchor
# description: |
#   What an experienced OPA engineer would write by hand for the benchmark's
#   policies (bench/corpus.py), to measure regate's bundle against: the actions
#   are data, indexed by approval action, NRN and dimensions
#   (data.anchor.index, written by bench/anchor.py), and each kind of check a
#   policy makes is a rule.  It decides what regate decides (the result, and
#   each applying action's) for every valid request of the benchmark, and
#   explains nothing.
package anchor

# METADATA
# title: Decision
# entrypoint: true
decision := {"result": result, "actions": actions}

# The strictest result of the applying actions; approve when none applies.
default result := "approve"

result := "deny" if {
	some action in actions
	action.result == "deny"
} else := "manual" if {
	some action in actions
	action.result == "manual"
}

# The applying actions, by id.
actions := [{"id": id, "result": _result(action)} |
	some [id, action] in sort([[action.id, action] | some action in _applying])
]

# An action applies at the request's NRN and above it, when its dimensions are a
# subset of the request's: the index holds it under that subset's key.
_applying contains action if {
	some nrn in _nrns
	some key in _dimension_keys
	some action in data.anchor.index[input.action][nrn][key]
}

# The NRN and its ancestors: organization=1, organization=1:account=2, ...
_nrns := [concat(":", array.slice(segments, 0, n)) |
	segments := split(input.nrn, ":")
	some n in numbers.range(1, count(segments))
]

# The key of each subset of the request's dimensions, as the index writes it:
# "country=ar,environment=production" (keys sorted, "" for none).
_dimension_keys contains concat(",", [concat("=", [key, _dimensions[key]]) | some key in subset]) if {
	keys := sort(object.keys(_dimensions))
	some mask in numbers.range(0, bits.lsh(1, count(keys)) - 1)
	subset := [key | some i, key in keys; bits.and(mask, bits.lsh(1, i)) != 0]
}

_dimensions := object.get(input.entities, ["scope", "dimensions"], {})

_result(action) := action.on_success if {
	every policy in action.policies {
		passes(policy.check, policy)
	}
} else := action.on_fail

# --- The checks policies make, one rule each ---

_build := input.entities.build

_metadata := input.entities.build.metadata

passes("coverage", policy) if _metadata.coverage.code.coverage >= policy.min

passes("vulnerabilities", policy) if {
	_metadata.security.vulnerabilities.critical == 0
	_metadata.security.vulnerabilities.high <= policy.max_high
}

# (A negated comparison goes through a rule: OPA 1.22 reads a missing ref
# outside `not`, which would make `not x > 0` undefined rather than true.)
passes("no_secrets", _) if not _leaks_secrets

_leaks_secrets if _metadata.security.secrets.total > 0

passes("tests_or_branch", _) if _metadata.quality.tests.failed == 0

passes("tests_or_branch", policy) if _build.branch in policy.branches

passes("tier_and_lint", policy) if {
	input.entities.scope.tier in policy.tiers
	_metadata.quality.lint.warnings < policy.max_warnings
}

passes("owned_and_built", _) if {
	_ownership.team
	_build.status == "successful"
}

passes("auto_scaling", _) if input.entities.scope.capabilities.auto_scaling == true

passes("owned", _) if _ownership.team

passes("memory", policy) if input.entities.scope.requested_spec.memory_in_gb <= policy.max_gb

passes("not_failed_or_retired", _) if {
	not _failed
	not _retiring
}

_failed if input.entities.scope.status == "failed"

_retiring if _ownership.lifecycle in {"experimental", "retired"}

_ownership := input.entities.application.metadata.ownership
