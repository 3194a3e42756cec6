# Production deployments in namespace 3: auto-approve when both gates pass,
# otherwise ask a human.
action "deployment-create-production" {
  entity            = deployment
  action            = "deployment:create"
  nrn               = "organization=1:account=2:namespace=3"
  dimensions        = {"environment": "production"}
  on_policy_success = approve
  on_policy_fail    = manual
  policies          = ["Code Coverage", "Security"]
}

# Every production deployment of the organization: never with a leaked secret.
action "deployment-create-production-secrets" {
  entity            = deployment
  action            = "deployment:create"
  nrn               = "organization=1"
  dimensions        = {"environment": "production"}
  on_policy_success = approve
  on_policy_fail    = deny
  policies          = ["No Leaked Secrets"]
}
