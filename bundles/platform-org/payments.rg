# The payments team (account 2): 90 % coverage for production.

policy "Code Coverage" {
  id         = 2101
  nrn        = "organization=1:account=2"
  conditions = {
    "build.metadata.coverage.percent": {"$gte": 90}
  }
}

action "payments production deployments" {
  id                = 1101
  entity            = deployment
  action            = "deployment:create"
  nrn               = "organization=1:account=2"
  dimensions        = {"environment": "production"}
  on_policy_success = approve
  on_policy_fail    = deny
  # Resolved at the action's NRN and above: the payments team's own policy, and
  # the organisation's PCI policy (organization.rg).
  policies          = ["Code Coverage", "PCI applications"]
}
