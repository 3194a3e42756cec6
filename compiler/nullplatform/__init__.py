"""The real nullplatform model: its Terraform (configuration, variables, state), its API
payloads, `regate import` (they become regate sources) and `regate export` (regate
sources become what Terraform applies or the API takes).  docs/import.md lists every
resource, data source and payload shape, and what becomes of each attribute."""
