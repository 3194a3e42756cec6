"""Evidence in: reports → metadata documents, and decisions kept (docs/evidence.md).

One module per report format: scanners (`trivy`, `grype`, `semgrep`, `gitleaks`,
`sarif`, `osv_scanner`, `npm_audit`, `pip_audit`, `govulncheck`, `checkov`, `zap`,
`sonarqube` issues, `cyclonedx`), coverage (`cobertura`, `lcov`, `coveragepy`,
`jacoco`), SonarQube's quality gate (`sonarqube`) and build `provenance`.
`report` reads and checks a report file and holds what a report measures (values
and findings with their identities, new ones against a baseline); `formats` lists
the formats and recognises them; `mapping` turns measures into a document shaped
for a specification; `specification` validates it; `keys` loads `--key`;
`record` writes and verifies decision records; `commands` is the command line
(`regate metadata from`, `regate gate`, `regate record verify`).
"""
