# Build metadata the quality gates read: the two catalogs of the
# "Enforce build quality gates for prod deployments" guide, with the optional
# fields `regate metadata from ...` fills in.

specification "Coverage Schema" {
  description = "Schema for code coverage configuration"
  entity      = build
  metadata    = coverage
  nrn         = "organization=1"
  schema      = file("schemas/coverage.json")
}

specification "Security Schema" {
  description = "Schema for security configuration"
  entity      = build
  metadata    = security
  nrn         = "organization=1"
  schema      = file("schemas/security.json")
}
