# Policies, checklists and actions of the whole organisation.

# PCI applications are reviewed by a person before each production deployment:
# the selector makes the policy take part only for them (elsewhere it neither
# passes nor fails), and its condition never holds, so it always fails there.
policy "PCI applications" {
  id         = 2001
  nrn        = "organization=1"
  selector   = {"application.metadata.metadata_application.PCI": "Yes"}
  conditions = {
    "application.metadata.metadata_application.PCI": {"$ne": "Yes"}
  }
}

# Production scopes go through a checklist instead of policies (nullplatform's
# checklist specification): auto-scaling is read from the request, a capacity
# review is signed by a person for important tiers only.  A failed gate leaves
# the request to its requester (`pending`, nullplatform's default).
checklist "Production scope readiness" {
  id         = "spec_7c1d2e3f4a5b6c7d"
  nrn        = "organization=1"
  definition = {
    "execution_trigger": "any_approval",
    "items": [
      {
        "id": "auto_scaling",
        "type": "condition",
        "behavior": "gate",
        "severity": "major",
        "title": "Auto-scaling is on",
        "query": {"scope.capabilities.auto_scaling": true}
      },
      {
        "id": "capacity_review",
        "type": "manual",
        "behavior": "gate",
        "title": "Capacity reviewed by SRE",
        "applies_when": {"scope.tier": "important"}
      }
    ]
  }
}

action "production scopes" {
  id         = 1001
  entity     = scope
  action     = "scope:create"
  nrn        = "organization=1"
  dimensions = {"environment": "production"}
  checklist  = "Production scope readiness"
}

# Reading a production secret: only the organisation's own people, and a person
# decides.  A request to reveal secret values carries the dimensions of the
# values (the parameter's), which select the action.  The approved access lasts
# 8 hours; approvers have nullplatform's documented 3 days to answer
# (time_to_reply, unset here).
policy "Company accounts" {
  id         = 2002
  nrn        = "organization=1"
  conditions = {
    "user.email": {"$regex": "@example\\.com$"}
  }
}

action "secret readers" {
  id                      = 1002
  entity                  = parameter
  action                  = "parameter:read-secrets"
  nrn                     = "organization=1"
  dimensions              = {"environment": "production"}
  on_policy_success       = manual
  on_policy_fail          = deny
  policies                = ["Company accounts"]
  allowed_time_to_execute = 28800000
}

# A service's name starts with its application's slug (nullplatform's documented
# $dynamicPattern: the placeholder is filled from the request, regex-escaped).
policy "Service names" {
  id         = 2003
  nrn        = "organization=1"
  conditions = {
    "service.name": {
      "$dynamicPattern": {
        "template": "^{application}-[a-z0-9-]+$",
        "fields": {"application": {"path": "application.slug"}}
      }
    }
  }
}

action "service creation" {
  id                = 1003
  entity            = service
  action            = "service:action:create"
  nrn               = "organization=1"
  on_policy_success = approve
  on_policy_fail    = deny
  policies          = ["Service names"]
}
