# The evidence each gate reads, as `regate gate --evidence ENTITY.KEY=REPORT` makes it
# (docs/evidence.md).  Scanner documents may carry their findings list
# (`--with-findings`): the finding exceptions (exceptions.rg) apply to it.

# --- merge request gate: changed code and configuration ---

specification "MR SAST" {
  entity   = merge_request
  metadata = sast
  nrn      = "organization=1"
  schema   = file("schemas/security.json")
}

specification "MR Secrets" {
  entity   = merge_request
  metadata = secrets
  nrn      = "organization=1"
  schema   = file("schemas/security.json")
}

specification "MR Dependencies" {
  entity   = merge_request
  metadata = dependencies
  nrn      = "organization=1"
  schema   = file("schemas/security.json")
}

specification "MR IaC" {
  entity   = merge_request
  metadata = iac
  nrn      = "organization=1"
  schema   = file("schemas/security.json")
}

specification "MR Quality" {
  entity   = merge_request
  metadata = quality
  nrn      = "organization=1"
  schema   = file("schemas/quality.json")
}

# --- package gate: the artifact before it is promoted ---

specification "Artifact Image Scan" {
  entity   = artifact
  metadata = image
  nrn      = "organization=1"
  schema   = file("schemas/security.json")
}

specification "Artifact SBOM" {
  entity   = artifact
  metadata = sbom
  nrn      = "organization=1"
  schema   = file("schemas/security.json")
}

specification "Artifact Provenance" {
  entity   = artifact
  metadata = provenance
  nrn      = "organization=1"
  schema   = file("schemas/provenance.json")
}

# --- release gate: the running release candidate ---

specification "Release DAST" {
  entity   = release_candidate
  metadata = dast
  nrn      = "organization=1"
  schema   = file("schemas/security.json")
}

# --- production gate: the build a deployment ships ---

specification "Build Image Scan" {
  entity   = build
  metadata = image
  nrn      = "organization=1"
  schema   = file("schemas/security.json")
}

specification "Build Provenance" {
  entity   = build
  metadata = provenance
  nrn      = "organization=1"
  schema   = file("schemas/provenance.json")
}
