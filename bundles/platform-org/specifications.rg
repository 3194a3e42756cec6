# Metadata specifications of the whole organisation (ids as nullplatform gives them).

specification "Coverage" {
  id       = "0b7f6c1e-5a1d-4c59-9e0a-3f1c2d4b5a60"
  entity   = build
  metadata = coverage
  nrn      = "organization=1"
  schema   = {
    "type": "object",
    "properties": {"percent": {"type": "number", "minimum": 0, "maximum": 100}},
    "required": ["percent"]
  }
}

specification "Application" {
  id       = "6a2e4d1c-8b3f-4f7a-a1c2-9d8e7f6a5b40"
  entity   = application
  metadata = metadata_application
  nrn      = "organization=1"
  schema   = {
    "type": "object",
    "properties": {"PCI": {"enum": ["Yes", "No"]}, "owner": {"type": "string"}}
  }
}
