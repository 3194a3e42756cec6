"""regate: MongoDB-style approval policies compiled to checked OPA/Rego bundles."""

__version__ = "0.1.0"
