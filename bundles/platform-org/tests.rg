# What the organisation decides, scenario by scenario: `regate test bundles/platform-org`.

test "payments needs 90 coverage and denies below it" {
  action   = "deployment:create"
  nrn      = "organization=1:account=2:namespace=21:application=211:scope=2111"
  entities = {"scope.dimensions.environment": "production", "build.metadata.coverage.percent": 85}
  expect   = deny
  failing  = ["Code Coverage"]
  actions  = [1101]
}

test "web approves 85 coverage: its own Code Coverage asks for 80" {
  action   = "deployment:create"
  nrn      = "organization=1:account=3:namespace=31"
  entities = {"scope.dimensions.environment": "production", "build.metadata.coverage.percent": 85}
  expect   = approve
  failing  = []
  actions  = [1201]
}

test "web asks a person below 80" {
  action   = "deployment:create"
  nrn      = "organization=1:account=3:namespace=31"
  entities = {"scope.dimensions.environment": "production", "build.metadata.coverage.percent": 75}
  expect   = manual
  failing  = ["Code Coverage"]
}

test "a PCI application is reviewed by a person whatever its coverage" {
  action   = "deployment:create"
  nrn      = "organization=1:account=3:namespace=31:application=311"
  entities = {
    "scope.dimensions.environment": "production",
    "application.metadata.metadata_application.PCI": "Yes",
    "build.metadata.coverage.percent": 95
  }
  expect  = manual
  failing = ["PCI applications"]
}

test "payments denies a PCI application: its failures deny" {
  action   = "deployment:create"
  nrn      = "organization=1:account=2:namespace=21:application=211"
  entities = {
    "scope.dimensions.environment": "production",
    "application.metadata.metadata_application.PCI": "Yes",
    "build.metadata.coverage.percent": 95
  }
  expect  = deny
  failing = ["PCI applications"]
}

test "staging deployments are not gated" {
  action   = "deployment:create"
  nrn      = "organization=1:account=2:namespace=21"
  entities = {"scope.dimensions.environment": "staging"}
  expect   = approve
  actions  = []
}

test "a production scope with auto-scaling passes its checklist" {
  action   = "scope:create"
  nrn      = "organization=1:account=3:namespace=31:application=311"
  entities = {
    "scope.dimensions.environment": "production",
    "scope.capabilities.auto_scaling": true,
    "scope.tier": "standard"
  }
  expect  = approve
  actions = [1001]
}

test "an important production scope waits for its capacity review" {
  action   = "scope:create"
  nrn      = "organization=1:account=3:namespace=31:application=311"
  entities = {
    "scope.dimensions.environment": "production",
    "scope.capabilities.auto_scaling": true,
    "scope.tier": "important"
  }
  expect = manual
}

test "a signed capacity review lets an important scope through" {
  action   = "scope:create"
  nrn      = "organization=1:account=3:namespace=31:application=311"
  entities = {
    "scope.dimensions.environment": "production",
    "scope.capabilities.auto_scaling": true,
    "scope.tier": "important"
  }
  checklist = {"capacity_review": "passed"}
  expect    = approve
}

test "a production scope without auto-scaling is left to its requester" {
  action   = "scope:create"
  nrn      = "organization=1:account=2:namespace=21:application=211"
  entities = {
    "scope.dimensions.environment": "production",
    "scope.capabilities.auto_scaling": false
  }
  expect = pending
}

test "a colleague may ask a person for a secret" {
  action   = "parameter:read-secrets"
  nrn      = "organization=1:account=2:namespace=21:application=211"
  entities = {"user.email": "alice@example.com", "parameter.dimensions.environment": "production"}
  expect   = manual
  failing  = []
  actions  = [1002]
}

test "anyone else is denied a secret" {
  action   = "parameter:read-secrets"
  nrn      = "organization=1:account=2:namespace=21:application=211"
  entities = {
    "user.email": "eve@example.com.evil.test",
    "parameter.dimensions.environment": "production"
  }
  expect  = deny
  failing = ["Company accounts"]
}

test "a development secret is not gated" {
  action   = "parameter:read-secrets"
  nrn      = "organization=1:account=2:namespace=21:application=211"
  entities = {
    "user.email": "eve@example.com.evil.test",
    "parameter.dimensions.environment": "development"
  }
  expect  = approve
  actions = []
}

test "a secret request without dimensions covers every value, production's too" {
  action   = "parameter:read-secrets"
  nrn      = "organization=1:account=2:namespace=21:application=211"
  entities = {"user.email": "eve@example.com.evil.test", "parameter.name": "DB_PASSWORD"}
  expect   = deny
  actions  = [1002]
}

test "a service named after its application is created" {
  action   = "service:action:create"
  nrn      = "organization=1:account=3:namespace=31:application=311"
  entities = {"service.name": "checkout-redis", "application.slug": "checkout"}
  expect   = approve
  actions  = [1003]
}

test "a service named otherwise is denied" {
  action   = "service:action:create"
  nrn      = "organization=1:account=3:namespace=31:application=311"
  entities = {"service.name": "redis-checkout", "application.slug": "checkout"}
  expect   = deny
  failing  = ["Service names"]
}

test "a service without its application's slug is denied" {
  action   = "service:action:create"
  nrn      = "organization=1:account=3:namespace=31:application=311"
  entities = {"service.name": "checkout-redis"}
  expect   = deny
  failing  = ["Service names"]
}
