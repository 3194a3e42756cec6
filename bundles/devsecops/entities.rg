# The release moments of the DevSecOps gate stack that nullplatform's model has no
# approval action for: merging a merge request and promoting a built artifact to a
# registry.  Each entity block declares the entity, its actions and what their
# policies can read (docs/language.md, "entity"); deployments stay nullplatform's.

entity "merge_request" {
  description = "A merge request (a pull request) into a protected branch"
  actions     = ["merge_request:merge"]
  sees        = ["merge_request", "application", "namespace", "account", "organization"]
  attributes  = {
    "iid": {"type": "integer"},
    "source_branch": {"type": "string"},
    "target_branch": {"type": "string"},
    "author": {"type": "string"},
    "draft": {"type": "boolean"}
  }
}

entity "artifact" {
  description = "A built image or package, promoted to the registry it is deployed from"
  actions     = ["artifact:promote"]
  sees        = ["artifact", "build", "application", "namespace", "account", "organization"]
  attributes  = {
    "registry": {"type": "string"},
    "repository": {"type": "string"},
    "digest": {"type": "string", "pattern": "^sha256:[0-9a-f]{64}$"}
  }
}

entity "release_candidate" {
  description = "A release candidate, promoted towards production once it is verified"
  actions     = ["release_candidate:promote"]
  sees        = [
    "release_candidate",
    "release",
    "build",
    "application",
    "namespace",
    "account",
    "organization"
  ]
  attributes = {"semver": {"type": "string"}}
}
