# The web team (account 3): 80 % coverage, and a person decides when it fails.

policy "Code Coverage" {
  id         = 2201
  nrn        = "organization=1:account=3"
  conditions = {
    "build.metadata.coverage.percent": {"$gte": 80}
  }
}

action "web production deployments" {
  id                = 1201
  entity            = deployment
  action            = "deployment:create"
  nrn               = "organization=1:account=3"
  dimensions        = {"environment": "production"}
  on_policy_success = approve
  on_policy_fail    = manual
  policies          = ["Code Coverage", "PCI applications"]
}
