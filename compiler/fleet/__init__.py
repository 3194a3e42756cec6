"""regate on OPA's own distribution: a bundle published to an OCI registry
(`publish`), the configuration of the OPA sidecars that pull it
(`sidecar_config`), and a summary of their decision logs (`audit`).
See docs/deploy.md."""
