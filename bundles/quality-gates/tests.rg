# What the quality gates decide, scenario by scenario: `regate test bundles/quality-gates`.
# The first six are the guide's sample requests (requests/*.json); the rest give
# only the fields that matter.

test "coverage below 80 asks a human" {
  request = file("requests/01-coverage-70.json")
  expect  = manual
  failing = ["Code Coverage"]
  actions = ["deployment-create-production", "deployment-create-production-secrets"]
}

test "good coverage, no critical vulnerability and no secret approves" {
  request = file("requests/02-coverage-85-no-critical.json")
  expect  = approve
  failing = []
}

test "a critical vulnerability asks a human" {
  request = file("requests/03-critical-vulnerability.json")
  expect  = manual
  failing = ["Security"]
}

test "a leaked secret denies" {
  request = file("requests/04-leaked-secret.json")
  expect  = deny
  failing = ["No Leaked Secrets"]
}

test "staging is not gated" {
  request = file("requests/05-staging.json")
  expect  = approve
  actions = []
}

test "another namespace is gated only on secrets" {
  request = file("requests/06-other-namespace.json")
  expect  = approve
  actions = ["deployment-create-production-secrets"]
}

test "coverage of exactly 80 passes" {
  action   = "deployment:create"
  nrn      = "organization=1:account=2:namespace=3:application=4:scope=5"
  entities = {
    "scope.dimensions.environment": "production",
    "build.metadata.coverage.code.coverage": 80,
    "build.metadata.security.security.vulnerabilities": {"critical": 0, "high": 0}
  }
  expect  = approve
  failing = []
}

test "missing coverage evidence asks a human" {
  action   = "deployment:create"
  nrn      = "organization=1:account=2:namespace=3"
  entities = {
    "scope.dimensions.environment": "production",
    "build.metadata.security.security.vulnerabilities": {"critical": 0, "high": 0}
  }
  expect  = manual
  failing = ["Code Coverage"]
}

test "a leaked secret denies in any namespace, whatever the other gates say" {
  action   = "deployment:create"
  nrn      = "organization=1:account=7"
  entities = {
    "scope.dimensions.environment": "production",
    "build.metadata.security.security.vulnerabilities": {"critical": 0, "high": 0},
    "build.metadata.security.security.secrets.total": 1
  }
  expect  = deny
  failing = ["No Leaked Secrets"]
  actions = ["deployment-create-production-secrets"]
}

test "scope actions are not gated" {
  action   = "scope:create"
  nrn      = "organization=1:account=2:namespace=3"
  entities = {"scope.dimensions.environment": "production"}
  expect   = approve
  actions  = []
}

test "a request without an NRN is denied" {
  request = {"action": "deployment:create", "entities": {}}
  expect  = deny
  actions = []
}
