"""nullplatform's `$dynamicPattern`, decided by a real OPA.

tests/fixtures/nullplatform/dynamic-pattern.json holds the documentation's
example policy (service names prefixed by their application's tag) with the
evaluation it documents, and the cases that pin regate's reading where the
documentation is silent: where a field's path starts, what fills a
placeholder, and that a placeholder's text is data, not pattern.
"""

from __future__ import annotations

import json

import pytest

from compiler.lower import rule_names
from compiler.parse import parse_source
from compiler.sources import Source
from tests.conftest import REPO
from tests.mongo_harness import policy_verdicts

FIXTURE = json.loads((REPO / "tests/fixtures/nullplatform/dynamic-pattern.json").read_text())


def _sources() -> str:
    policies = FIXTURE["policies"]
    blocks = [
        f'policy {json.dumps(name)} {{\n  nrn = "organization=1"\n'
        f"  conditions = {json.dumps(conditions)}\n}}"
        for name, conditions in policies.items()
    ]
    blocks.append(
        'action "services" {\n  action = "service:action:create"\n  nrn = "organization=1"\n'
        f"  policies = {json.dumps(list(policies))}\n}}"
    )
    return "\n\n".join(blocks) + "\n"


@pytest.mark.opa
def test_dynamic_pattern_decides_as_documented(opa, tmp_path):
    source = tmp_path / "services.rg"
    source.write_text(_sources())
    file, _ = parse_source(Source(str(source), "services.rg", source.read_text(), True))
    assert file is not None
    spans = rule_names(file.policies)
    rules = {policy.name: spans[policy.span] for policy in file.policies}
    cases = FIXTURE["cases"]
    requests = [
        (
            rules[case["policy"]],
            {
                "action": "service:action:create",
                "nrn": "organization=1",
                "entities": case["entities"],
            },
        )
        for case in cases
    ]
    found = policy_verdicts(opa, tmp_path, [source], requests)
    wrong = [
        f"{c['policy']}: {c['why']} ({c['source']}): got {v.matched}"
        for c, v in zip(cases, found, strict=True)
        if v.matched != c["match"]
    ]
    assert wrong == []
    # A policy fails exactly when its explanation lists a failure.
    assert [v.matched for v in found] == [v.failures == [] for v in found]


@pytest.mark.opa
def test_the_explanation_shows_the_pattern_as_filled(opa, tmp_path):
    """The documented evaluation shows `expected` as the filled pattern; regate's entry
    has it (with the template's `^`), the template and what the field held."""
    source = tmp_path / "services.rg"
    source.write_text(_sources())
    request = {
        "action": "service:action:create",
        "nrn": "organization=1",
        "entities": {"service": {"name": "acme-service-123", "tags": {"application": "acme-app"}}},
    }
    [verdict] = policy_verdicts(opa, tmp_path, [source], [("acme_service_rules", request)])
    assert verdict.failures == [
        {
            "path": "service.name",
            "operator": "$dynamicPattern",
            "template": "^{application}-[a-zA-Z0-9_-]+$",
            "expected": "^acme-app-[a-zA-Z0-9_-]+$",
            "fields": {"application": {"path": "service.tags.application", "actual": "acme-app"}},
            "actual": "acme-service-123",
            "source": "services.rg:3",
        }
    ]
    unfilled = {**request, "entities": {"service": {"name": "acme-app-1", "tags": {}}}}
    [verdict] = policy_verdicts(opa, tmp_path, [source], [("acme_service_rules", unfilled)])
    assert verdict.failures[0]["fields"] == {
        "application": {"path": "service.tags.application", "missing": True}
    }
    assert "expected" not in verdict.failures[0]
