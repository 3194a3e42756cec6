# The release gate's checklist: what decides on its own (the DAST baseline), what
# another system reports (contract checks) and what a person signs.

checklist "Release readiness" {
  nrn        = "organization=1"
  definition = {
    "execution_trigger": "explicit",
    "items": [
      {
        "id": "dast_baseline",
        "type": "condition",
        "behavior": "gate",
        "severity": "critical",
        "title": "The DAST baseline finds no high-risk alert",
        "query": {
          "release_candidate.metadata.dast.security.findings.critical": 0,
          "release_candidate.metadata.dast.security.findings.high": 0
        }
      },
      {
        "id": "dast_medium",
        "type": "condition",
        "behavior": "informational",
        "severity": "minor",
        "title": "The DAST baseline finds no medium-risk alert",
        "query": {"release_candidate.metadata.dast.security.findings.medium": 0}
      },
      {
        "id": "contract_checks",
        "type": "external",
        "behavior": "gate",
        "severity": "major",
        "title": "The OpenAPI contract checks pass"
      },
      {
        "id": "release_approval",
        "type": "manual",
        "behavior": "gate",
        "severity": "major",
        "title": "The release manager signs off"
      }
    ]
  }
}
