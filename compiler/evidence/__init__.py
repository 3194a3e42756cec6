"""Evidence in: scanner and coverage reports → metadata documents (docs/evidence.md).

One module per report format (`trivy`, `grype`, `semgrep`, `gitleaks`, `sarif`,
`cobertura`, `lcov`, `coveragepy`, `jacoco`); `report` reads and checks a report
file, `formats` lists the formats and recognises them, `mapping` turns measures
into a document shaped for a specification, `specification` validates it, and
`commands` is the command line (`regate metadata from`, `regate gate`).
"""
