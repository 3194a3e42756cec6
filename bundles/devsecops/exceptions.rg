# Finding-level exceptions: explicit, owned and time-bounded (docs/decisions.md,
# "Finding exceptions").  While one is in force, by OPA's clock at decision time,
# the findings it names do not count in the evidence of requests at or below its
# NRN; each decision lists the exceptions it used and the expired ones that would
# have applied.

# The uri gem's ReDoS, in the ruby base image of account 2's services: Grype reports
# it three times (CVE-2023-28755 in ruby-3.0 and the uri gem, and GHSA-hv5j-3h9f-99c2,
# whose alias is the CVE).  No package: all three.
exception "uri ReDoS in the ruby base image" {
  nrn                   = "organization=1:account=2"
  rule                  = "CVE-2023-28755"
  owner                 = "appsec@example.com"
  reason                = "the services parse no untrusted URIs; the base image update is scheduled"
  compensating_controls = ["WAF rate limits on the public endpoints"]
  expires               = "2027-01-31T00:00:00Z"
  review_trigger        = "the base image ships uri 0.12.1 or later"
}
