# The guide's two approval policies.  Its own paths do not exist in its own
# schemas ("build.metadata.coverage.coverage", "build.metadata.security.critical");
# `regate check` reports both, and these are the corrected paths.

policy "Code Coverage" {
  nrn        = "organization=1:account=2:namespace=3"
  conditions = {
    "build.metadata.coverage.code.coverage": {"$gte": 80}
  }
}

policy "Security" {
  nrn        = "organization=1:account=2:namespace=3"
  conditions = {
    "build.metadata.security.security.vulnerabilities.critical": {"$eq": 0}
  }
}

# A leaked secret is a good blocker (DevSecOps quality gates): it denies outright.
# Missing secret-scan evidence does not block here; $not matches a missing field.
policy "No Leaked Secrets" {
  nrn        = "organization=1"
  conditions = {
    "build.metadata.security.security.secrets.total": {"$not": {"$gt": 0}}
  }
}
