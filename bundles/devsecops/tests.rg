# What each gate must decide (`regate test bundles/devsecops`).  Tests that depend on
# an exception's expiry give `now`: the time OPA's clock reads for them.

# --- merge request gate ---

test "a clean merge request merges" {
  action   = "merge_request:merge"
  nrn      = "organization=1:account=2:namespace=3:application=4"
  entities = {
    "merge_request.draft": false,
    "merge_request.metadata.sast.security.findings": {
      "critical": 0,
      "high": 0,
      "medium": 2,
      "low": 0,
      "info": 0,
      "total": 2
    },
    "merge_request.metadata.secrets.security.secrets": {"total": 0},
    "merge_request.metadata.dependencies.security.vulnerabilities": {
      "critical": 0,
      "high": 0,
      "medium": 0,
      "low": 0,
      "unknown": 0,
      "total": 0
    },
    "merge_request.metadata.iac.security.findings": {
      "critical": 0,
      "high": 0,
      "medium": 0,
      "low": 0,
      "info": 0,
      "total": 0
    },
    "merge_request.metadata.quality.quality_gate": {
      "status": "OK",
      "passed": true,
      "metrics": {"new_coverage": 86.5}
    }
  }
  expect  = approve
  actions = ["merge-request-gate"]
}

test "a secret in the change blocks the merge" {
  action   = "merge_request:merge"
  nrn      = "organization=1:account=2"
  entities = {
    "merge_request.metadata.sast.security.findings": {"critical": 0, "high": 0, "total": 0},
    "merge_request.metadata.secrets.security.secrets": {"total": 1},
    "merge_request.metadata.dependencies.security.vulnerabilities": {
      "critical": 0,
      "high": 0,
      "total": 0
    },
    "merge_request.metadata.iac.security.findings": {"critical": 0, "high": 0, "total": 0},
    "merge_request.metadata.quality.quality_gate": {
      "status": "OK",
      "passed": true,
      "metrics": {"new_coverage": 90}
    }
  }
  expect  = deny
  failing = ["No Secrets In The Change"]
}

test "new high findings, a vulnerable dependency and a failed quality gate block the merge" {
  action   = "merge_request:merge"
  nrn      = "organization=1:account=2"
  entities = {
    "merge_request.draft": true,
    "merge_request.metadata.sast.security.findings": {"critical": 0, "high": 1, "total": 1},
    "merge_request.metadata.secrets.security.secrets": {"total": 0},
    "merge_request.metadata.dependencies.security.vulnerabilities": {
      "critical": 1,
      "high": 0,
      "total": 1
    },
    "merge_request.metadata.iac.security.findings": {"critical": 0, "high": 3, "total": 3},
    "merge_request.metadata.quality.quality_gate": {
      "status": "ERROR",
      "passed": false,
      "metrics": {"new_coverage": 82.5}
    }
  }
  expect  = deny
  failing = [
    "No New High SAST Findings",
    "No New Vulnerable Dependencies",
    "No New IaC Misconfigurations",
    "New Code Quality Gate",
    "Not A Draft"
  ]
}

test "a merge request without its SAST scan does not merge" {
  action   = "merge_request:merge"
  nrn      = "organization=1:account=2"
  entities = {
    "merge_request.metadata.secrets.security.secrets": {"total": 0},
    "merge_request.metadata.dependencies.security.vulnerabilities": {
      "critical": 0,
      "high": 0,
      "total": 0
    },
    "merge_request.metadata.iac.security.findings": {"critical": 0, "high": 0, "total": 0},
    "merge_request.metadata.quality.quality_gate": {
      "status": "OK",
      "passed": true,
      "metrics": {"new_coverage": 90}
    }
  }
  expect  = deny
  failing = ["No New High SAST Findings"]
}

# --- package gate ---

test "a verified, clean artifact for an allowed registry is promoted" {
  action   = "artifact:promote"
  nrn      = "organization=1:account=3"
  entities = {
    "artifact.registry": "ghcr.io",
    "artifact.metadata.image.security.vulnerabilities": {
      "critical": 0,
      "high": 0,
      "medium": 4,
      "low": 1,
      "unknown": 0,
      "total": 5
    },
    "artifact.metadata.sbom.security.vulnerabilities": {
      "critical": 0,
      "high": 0,
      "medium": 0,
      "low": 1,
      "unknown": 0,
      "total": 1
    },
    "artifact.metadata.provenance.provenance": {
      "verified": true,
      "builder": "https://github.com/slsa-framework/slsa-github-generator/.github/workflows/generator_generic_slsa3.yml@refs/tags/v1.2.1",
      "source": "https://github.com/slsa-framework/example-package"
    }
  }
  expect  = approve
  actions = ["package-gate"]
}

test "an unverified artifact for another registry is not promoted" {
  action   = "artifact:promote"
  nrn      = "organization=1:account=3"
  entities = {
    "artifact.registry": "docker.io",
    "artifact.metadata.image.security.vulnerabilities": {"critical": 0, "high": 0, "total": 0},
    "artifact.metadata.sbom.security.vulnerabilities": {"critical": 1, "total": 1},
    "artifact.metadata.provenance.provenance": {"verified": false}
  }
  expect  = deny
  failing = [
    "SBOM Without Critical Vulnerabilities",
    "Artifact Provenance Verified",
    "Allowed Registry"
  ]
}

# The three findings Grype reports for the uri ReDoS (tests/fixtures/reports/real/grype):
# the exception at account 2 names them all while it is in force.
test "the uri exception lets account 2 promote the ruby image" {
  action   = "artifact:promote"
  nrn      = "organization=1:account=2:namespace=3"
  now      = "2027-01-15T00:00:00Z"
  entities = {
    "artifact.registry": "registry.example.com",
    "artifact.metadata.image": {
      "security": {
        "vulnerabilities": {
          "critical": 0,
          "high": 3,
          "medium": 0,
          "low": 0,
          "unknown": 0,
          "total": 3
        }
      },
      "findings": [
        {
          "format": "grype",
          "category": "vulnerabilities",
          "id": "CVE-2023-28755",
          "severity": "high",
          "package": "ruby-3.0",
          "target": "apk"
        },
        {
          "format": "grype",
          "category": "vulnerabilities",
          "id": "CVE-2023-28755",
          "severity": "high",
          "package": "uri",
          "target": "gem"
        },
        {
          "format": "grype",
          "category": "vulnerabilities",
          "id": "GHSA-hv5j-3h9f-99c2",
          "severity": "high",
          "package": "uri",
          "target": "gem",
          "aliases": ["CVE-2023-28755"]
        }
      ]
    },
    "artifact.metadata.sbom.security.vulnerabilities": {"critical": 0, "total": 0},
    "artifact.metadata.provenance.provenance": {
      "verified": true,
      "builder": "https://github.com/slsa-framework/slsa-github-generator/.github/workflows/generator_generic_slsa3.yml@refs/tags/v1.2.1",
      "source": "https://github.com/slsa-framework/example-package"
    }
  }
  expect = approve
}

test "the uri exception does not reach account 3" {
  action   = "artifact:promote"
  nrn      = "organization=1:account=3"
  now      = "2027-01-15T00:00:00Z"
  entities = {
    "artifact.registry": "registry.example.com",
    "artifact.metadata.image": {
      "security": {"vulnerabilities": {"critical": 0, "high": 1, "total": 1}},
      "findings": [
        {
          "format": "grype",
          "category": "vulnerabilities",
          "id": "CVE-2023-28755",
          "severity": "high",
          "package": "uri",
          "target": "gem"
        }
      ]
    },
    "artifact.metadata.sbom.security.vulnerabilities": {"critical": 0, "total": 0},
    "artifact.metadata.provenance.provenance": {
      "verified": true,
      "builder": "https://github.com/slsa-framework/slsa-github-generator/.github/workflows/generator_generic_slsa3.yml@refs/tags/v1.2.1",
      "source": "https://github.com/slsa-framework/example-package"
    }
  }
  expect  = deny
  failing = ["Image Without High Vulnerabilities"]
}

test "an exception never hides a finding it does not name" {
  action   = "artifact:promote"
  nrn      = "organization=1:account=2"
  now      = "2027-01-15T00:00:00Z"
  entities = {
    "artifact.registry": "registry.example.com",
    "artifact.metadata.image": {
      "security": {"vulnerabilities": {"critical": 0, "high": 2, "total": 2}},
      "findings": [
        {
          "format": "grype",
          "category": "vulnerabilities",
          "id": "CVE-2023-28755",
          "severity": "high",
          "package": "uri",
          "target": "gem"
        },
        {
          "format": "grype",
          "category": "vulnerabilities",
          "id": "CVE-2023-36617",
          "severity": "high",
          "package": "uri",
          "target": "gem"
        }
      ]
    },
    "artifact.metadata.sbom.security.vulnerabilities": {"critical": 0, "total": 0},
    "artifact.metadata.provenance.provenance": {
      "verified": true,
      "builder": "https://github.com/slsa-framework/slsa-github-generator/.github/workflows/generator_generic_slsa3.yml@refs/tags/v1.2.1",
      "source": "https://github.com/slsa-framework/example-package"
    }
  }
  expect  = deny
  failing = ["Image Without High Vulnerabilities"]
}

# --- release gate ---

test "a clean DAST baseline, passed contract checks and a sign-off promote the release" {
  action   = "release_candidate:promote"
  nrn      = "organization=1:account=2"
  entities = {
    "release_candidate.metadata.dast.security.findings": {
      "critical": 0,
      "high": 0,
      "medium": 1,
      "low": 3,
      "info": 0,
      "total": 4
    }
  }
  checklist = {"contract_checks": "passed", "release_approval": "passed"}
  expect    = approve
}

test "a high-risk DAST alert blocks the release" {
  action   = "release_candidate:promote"
  nrn      = "organization=1:account=2"
  entities = {
    "release_candidate.metadata.dast.security.findings": {
      "critical": 0,
      "high": 1,
      "medium": 0,
      "total": 1
    }
  }
  checklist = {"contract_checks": "passed", "release_approval": "passed"}
  expect    = deny
}

test "the release waits for the contract checks" {
  action   = "release_candidate:promote"
  nrn      = "organization=1:account=2"
  entities = {
    "release_candidate.metadata.dast.security.findings": {
      "critical": 0,
      "high": 0,
      "medium": 0,
      "total": 0
    }
  }
  expect = pending
}

test "the release waits for the release manager" {
  action   = "release_candidate:promote"
  nrn      = "organization=1:account=2"
  entities = {
    "release_candidate.metadata.dast.security.findings": {
      "critical": 0,
      "high": 0,
      "medium": 0,
      "total": 0
    }
  }
  checklist = {"contract_checks": "passed"}
  expect    = manual
}

# --- production gate ---

test "clean verified evidence goes to the protected environment's approver" {
  action   = "deployment:create"
  nrn      = "organization=1:account=3:namespace=5:application=6:scope=7"
  entities = {
    "scope.dimensions": {"environment": "production"},
    "build.metadata.image.security.vulnerabilities": {
      "critical": 0,
      "high": 0,
      "medium": 2,
      "total": 2
    },
    "build.metadata.provenance.provenance": {
      "verified": true,
      "builder": "https://github.com/slsa-framework/slsa-github-generator/.github/workflows/generator_generic_slsa3.yml@refs/tags/v1.2.1"
    }
  }
  expect  = manual
  actions = ["production-gate"]
}

test "a critical vulnerability or unverified provenance never reaches production" {
  action   = "deployment:create"
  nrn      = "organization=1:account=3:namespace=5:application=6:scope=7"
  entities = {
    "scope.dimensions": {"environment": "production"},
    "build.metadata.image.security.vulnerabilities": {"critical": 1, "high": 0, "total": 1},
    "build.metadata.provenance.provenance": {"verified": false}
  }
  expect  = deny
  failing = ["Production Image Without High Vulnerabilities", "Production Provenance Verified"]
}

# A build scanned while the exception was in force: deployed before its expiry it
# goes to the approver; deployed after it, the same build is denied.
test "a build deployed while the exception is in force goes to the approver" {
  action   = "deployment:create"
  nrn      = "organization=1:account=2:namespace=3:application=4:scope=5"
  now      = "2027-01-30T23:59:59Z"
  entities = {
    "scope.dimensions": {"environment": "production"},
    "build.metadata.image": {
      "security": {"vulnerabilities": {"critical": 0, "high": 1, "total": 1}},
      "findings": [
        {
          "format": "grype",
          "category": "vulnerabilities",
          "id": "GHSA-hv5j-3h9f-99c2",
          "severity": "high",
          "package": "uri",
          "target": "gem",
          "aliases": ["CVE-2023-28755"]
        }
      ]
    },
    "build.metadata.provenance.provenance": {
      "verified": true,
      "builder": "https://github.com/slsa-framework/slsa-github-generator/.github/workflows/generator_generic_slsa3.yml@refs/tags/v1.2.1"
    }
  }
  expect = manual
}

test "the same build deployed after the exception expired is denied" {
  action   = "deployment:create"
  nrn      = "organization=1:account=2:namespace=3:application=4:scope=5"
  now      = "2027-01-31T00:00:00Z"
  entities = {
    "scope.dimensions": {"environment": "production"},
    "build.metadata.image": {
      "security": {"vulnerabilities": {"critical": 0, "high": 1, "total": 1}},
      "findings": [
        {
          "format": "grype",
          "category": "vulnerabilities",
          "id": "GHSA-hv5j-3h9f-99c2",
          "severity": "high",
          "package": "uri",
          "target": "gem",
          "aliases": ["CVE-2023-28755"]
        }
      ]
    },
    "build.metadata.provenance.provenance": {
      "verified": true,
      "builder": "https://github.com/slsa-framework/slsa-github-generator/.github/workflows/generator_generic_slsa3.yml@refs/tags/v1.2.1"
    }
  }
  expect  = deny
  failing = ["Production Image Without High Vulnerabilities"]
}

test "a staging deployment is not the production gate's" {
  action   = "deployment:create"
  nrn      = "organization=1:account=2:namespace=3:application=4:scope=5"
  entities = {"scope.dimensions": {"environment": "staging"}}
  expect   = approve
  actions  = []
}
