# The four gates of the stack, each at a real release moment.

# Merge request gate (minutes): SAST, secrets and dependency delta against the
# target branch, IaC lint, SonarQube's quality gate on new code.
action "merge-request-gate" {
  action            = "merge_request:merge"
  nrn               = "organization=1"
  on_policy_success = approve
  on_policy_fail    = deny
  policies          = [
    "No New High SAST Findings",
    "No Secrets In The Change",
    "No New Vulnerable Dependencies",
    "No New IaC Misconfigurations",
    "New Code Quality Gate",
    "Not A Draft"
  ]
}

# Package gate (minutes): image scan, SBOM with VEX, verified provenance,
# restricted registry target.
action "package-gate" {
  action            = "artifact:promote"
  nrn               = "organization=1"
  on_policy_success = approve
  on_policy_fail    = deny
  policies          = [
    "Image Without High Vulnerabilities",
    "SBOM Without Critical Vulnerabilities",
    "Artifact Provenance Verified",
    "Allowed Registry"
  ]
}

# Release gate (minutes to low tens): the DAST baseline decides on its own, the
# contract checks are reported by the system that runs them, the release manager
# signs off.
action "release-gate" {
  action         = "release_candidate:promote"
  nrn            = "organization=1"
  on_policy_fail = deny
  checklist      = "Release readiness"
}

# Production gate (short manual + automated): the evidence is checked here, and a
# named approver of the protected environment always decides (rollback readiness,
# evidence review).
action "production-gate" {
  entity            = deployment
  action            = "deployment:create"
  nrn               = "organization=1"
  dimensions        = {"environment": "production"}
  on_policy_success = manual
  on_policy_fail    = deny
  policies          = [
    "Production Image Without High Vulnerabilities",
    "Production Provenance Verified"
  ]
}
