# The DevSecOps gate stack's policies: one delivery decision per release moment,
# each backed by machine-readable evidence (README.md).  Counts read 0 where a
# policy needs nothing found: a missing document fails the condition, so a gate
# never passes on a scan that did not run.

# --- merge request gate: stop bad new code early (new findings against main) ---

policy "No New High SAST Findings" {
  nrn        = "organization=1"
  conditions = {
    "merge_request.metadata.sast.security.findings.critical": 0,
    "merge_request.metadata.sast.security.findings.high": 0
  }
}

policy "No Secrets In The Change" {
  nrn        = "organization=1"
  conditions = {
    "merge_request.metadata.secrets.security.secrets.total": 0
  }
}

policy "No New Vulnerable Dependencies" {
  nrn        = "organization=1"
  conditions = {
    "merge_request.metadata.dependencies.security.vulnerabilities.critical": 0,
    "merge_request.metadata.dependencies.security.vulnerabilities.high": 0
  }
}

policy "No New IaC Misconfigurations" {
  nrn        = "organization=1"
  conditions = {
    "merge_request.metadata.iac.security.findings.critical": 0,
    "merge_request.metadata.iac.security.findings.high": 0
  }
}

# SonarQube's quality gate on new code, and its new-code coverage.
policy "New Code Quality Gate" {
  nrn        = "organization=1"
  conditions = {
    "merge_request.metadata.quality.quality_gate.passed": true,
    "merge_request.metadata.quality.quality_gate.metrics.new_coverage": {"$gte": 80}
  }
}

policy "Not A Draft" {
  nrn        = "organization=1"
  conditions = {
    "merge_request.draft": {"$ne": true}
  }
}

# --- package gate: stop unsafe artifacts from promotion ---

policy "Image Without High Vulnerabilities" {
  nrn        = "organization=1"
  conditions = {
    "artifact.metadata.image.security.vulnerabilities.critical": 0,
    "artifact.metadata.image.security.vulnerabilities.high": 0
  }
}

# What the SBOM's scan found, less what VEX statements say does not affect it.
policy "SBOM Without Critical Vulnerabilities" {
  nrn        = "organization=1"
  conditions = {
    "artifact.metadata.sbom.security.vulnerabilities.critical": 0
  }
}

policy "Artifact Provenance Verified" {
  nrn        = "organization=1"
  conditions = {
    "artifact.metadata.provenance.provenance.verified": true,
    "artifact.metadata.provenance.provenance.builder": {
      "$regex": "^https://github.com/slsa-framework/slsa-github-generator/"
    },
    "artifact.metadata.provenance.provenance.source": "https://github.com/slsa-framework/example-package"
  }
}

policy "Allowed Registry" {
  nrn        = "organization=1"
  conditions = {
    "artifact.registry": {"$in": ["registry.example.com", "ghcr.io"]}
  }
}

# --- production gate: protect the high-trust environment ---

policy "Production Image Without High Vulnerabilities" {
  nrn        = "organization=1"
  conditions = {
    "build.metadata.image.security.vulnerabilities.critical": 0,
    "build.metadata.image.security.vulnerabilities.high": 0
  }
}

policy "Production Provenance Verified" {
  nrn        = "organization=1"
  conditions = {
    "build.metadata.provenance.provenance.verified": true,
    "build.metadata.provenance.provenance.builder": {
      "$regex": "^https://github.com/slsa-framework/slsa-github-generator/"
    }
  }
}
