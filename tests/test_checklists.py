"""Checklists and policy selectors, decided by a real OPA as nullplatform documents them.

The checklist shapes follow the Terraform provider's checklist specification
resource and its guide "Migrate approval policies to checklists" (condition
items carrying a policy's query, a `human_sign_off` manual gate, the execution
trigger, `on_checklist_fail` defaulting from `on_policy_fail`); the selector is
the policy's pre-filter nullplatform reports as `selected`."""

from __future__ import annotations

import json
import textwrap
from pathlib import Path

import pytest

from compiler.diagnostics import render_all_text
from compiler.driver import check_sources
from compiler.opa import eval_bundle
from tests.conftest import build, write_sources

pytestmark = pytest.mark.opa

SPECIFICATION = """
specification "Coverage" {
  entity   = build
  metadata = coverage
  nrn      = "organization=1"
  schema   = {"type": "object", "properties": {"percent": {"type": "number"}}}
}
"""

CHECKLIST = """
checklist "Production readiness" {
  id          = "spec_4b1f0c2e9a7d3e11"
  nrn         = "organization=1"
  description = "What a production deployment needs"
  definition  = {
    "execution_trigger": "explicit",
    "items": [
      {"id": "coverage", "type": "condition", "behavior": "gate", "severity": "major",
       "title": "Coverage of at least 80 %",
       "query": {"build.metadata.coverage.percent": {"$gte": 80}}},
      {"id": "weekend", "type": "condition", "behavior": "informational",
       "title": "Not deployed on a weekend", "query": {"deployment.strategy": "blue-green"}},
      {"id": "pentest", "type": "external", "behavior": "gate", "title": "Penetration test",
       "applies_when": {"scope.dimensions.environment": "production"}},
      {"id": "human_sign_off", "type": "manual", "behavior": "gate",
       "title": "A reviewer signs off"}
    ]
  }
}
"""


def action(on_checklist_fail: str | None = None, on_policy_fail: str = "manual") -> str:
    extra = f"  on_checklist_fail = {on_checklist_fail}\n" if on_checklist_fail else ""
    return (
        'action "production" {\n'
        '  action         = "deployment:create"\n'
        '  nrn            = "organization=1"\n'
        '  checklist      = "Production readiness"\n'
        f"  on_policy_fail = {on_policy_fail}\n{extra}}}\n"
    )


def request(
    coverage: float, states: dict[str, str] | None = None, environment: str = "production"
) -> dict[str, object]:
    found: dict[str, object] = {
        "action": "deployment:create",
        "nrn": "organization=1:account=2",
        "entities": {
            "scope": {"dimensions": {"environment": environment}},
            "build": {"metadata": {"coverage": {"percent": coverage}}},
        },
    }
    if states is not None:
        found["checklist"] = states
    return found


def compile_project(tmp_path: Path, *texts: str) -> Path:
    sources = write_sources(tmp_path / "src", {"org.rg": "\n".join(texts)})
    result = check_sources([str(sources)])
    assert result.ok, render_all_text(result.diagnostics, result.texts)
    return build([sources], tmp_path)


def states(decision: dict[str, object]) -> dict[str, str]:
    (entry,) = decision["actions"]  # type: ignore[misc]
    return {item["id"]: item["state"] for item in entry["checklist"]["items"]}


def test_a_checklist_passes_only_when_every_gate_has_passed(tmp_path):
    bundle = compile_project(tmp_path, SPECIFICATION, CHECKLIST, action())
    signed = {"pentest": "passed", "human_sign_off": "passed"}
    decision = eval_bundle(str(bundle), request(90, signed))
    assert decision["result"] == "approve"
    # An informational item never blocks; a clean pass approves whatever
    # on_policy_success says (nullplatform lands it auto_approved).
    assert states(decision) == {
        "coverage": "passed",
        "weekend": "failed",
        "pentest": "passed",
        "human_sign_off": "passed",
    }
    (entry,) = decision["actions"]
    assert entry["checklist"]["id"] == "spec_4b1f0c2e9a7d3e11"
    assert entry["checklist"]["execution_trigger"] == "explicit"


def test_items_not_yet_known_never_approve(tmp_path):
    bundle = compile_project(tmp_path, SPECIFICATION, CHECKLIST, action())
    # Nothing reported: the external gate is awaited (pending) before the person is asked.
    assert eval_bundle(str(bundle), request(90))["result"] == "pending"
    # The external check passed: a person must still sign off.
    decision = eval_bundle(str(bundle), request(90, {"pentest": "passed"}))
    assert decision["result"] == "manual"
    assert states(decision)["human_sign_off"] == "pending"
    # Outside production the pentest does not apply at all.
    staging = eval_bundle(str(bundle), request(90, {"human_sign_off": "passed"}, "staging"))
    assert staging["result"] == "approve"
    assert states(staging)["pentest"] == "skipped"
    # A state regate does not know is no pass: the request is refused, saying why.
    odd = eval_bundle(str(bundle), request(90, {"pentest": "passed", "human_sign_off": "ok"}))
    assert odd["result"] == "deny"
    assert [(e["code"], e["path"]) for e in odd["errors"]] == [
        ("RQ019", "input.checklist.human_sign_off")
    ]


@pytest.mark.parametrize(
    ("on_checklist_fail", "on_policy_fail", "expected"),
    [
        (None, "manual", "pending"),  # unset: pending, unless on_policy_fail is deny
        (None, "deny", "deny"),
        ("manual", "deny", "manual"),
        ("deny", "manual", "deny"),
        ("pending", "deny", "pending"),
    ],
)
def test_a_failed_gate_takes_on_checklist_fail(
    tmp_path, on_checklist_fail, on_policy_fail, expected
):
    bundle = compile_project(
        tmp_path, SPECIFICATION, CHECKLIST, action(on_checklist_fail, on_policy_fail)
    )
    signed = {"pentest": "passed", "human_sign_off": "passed"}
    decision = eval_bundle(str(bundle), request(70, signed))
    assert decision["result"] == expected
    (entry,) = decision["actions"]
    assert entry["on_checklist_fail"] == expected
    (coverage,) = [i for i in entry["checklist"]["items"] if i["id"] == "coverage"]
    assert coverage["state"] == "failed"
    assert coverage["failures"] == [
        {
            "path": "build.metadata.coverage.percent",
            "operator": "$gte",
            "expected": 80,
            "actual": 70,
            "source": "org.rg:19",
        }
    ]
    # A manual item reported failed fails its gate too.
    rejected = eval_bundle(
        str(bundle), request(90, {"pentest": "passed", "human_sign_off": "failed"})
    )
    assert rejected["result"] == expected


def test_an_override_rescues_failed_gates(tmp_path):
    checklist = CHECKLIST.replace(
        '"title": "A reviewer signs off"}',
        '"title": "A reviewer signs off"},\n'
        '      {"id": "cto_override", "type": "manual", "behavior": "override", "title": "CTO"}',
    )
    bundle = compile_project(tmp_path, SPECIFICATION, checklist, action("deny"))
    failing = request(50, {"pentest": "failed"})
    assert eval_bundle(str(bundle), failing)["result"] == "deny"
    failing["checklist"] = {"pentest": "failed", "cto_override": "passed"}
    assert eval_bundle(str(bundle), failing)["result"] == "approve"


def test_a_checklist_payload_and_its_association_decide_alike(tmp_path):
    payloads = [
        {
            "id": "spec_4b1f0c2e9a7d3e11",
            "nrn": "organization=1",
            "name": "Production readiness",
            "description": None,
            "status": "active",
            "version": 2,
            "definition": {
                "items": [
                    {
                        "id": "coverage",
                        "type": "condition",
                        "behavior": "gate",
                        "query": {"build.metadata.coverage.percent": {"$gte": 80}},
                    }
                ],
                "execution_trigger": "automatic_approval",
            },
        },
        {
            "id": 1001,
            "nrn": "organization=1",
            "entity": "deployment",
            "action": "deployment:create",
            "dimensions": {"environment": "production"},
            "on_policy_success": "approve",
            "on_policy_fail": "deny",
            "on_checklist_fail": None,
        },
        {"approval_action_id": "1001", "checklist_specification_id": "spec_4b1f0c2e9a7d3e11"},
    ]
    sources = write_sources(
        tmp_path / "src", {"spec.rg": SPECIFICATION, "org.json": json.dumps(payloads)}
    )
    result = check_sources([str(sources)])
    assert result.ok, render_all_text(result.diagnostics, result.texts)
    bundle = build([sources], tmp_path)
    assert eval_bundle(str(bundle), request(85))["result"] == "approve"
    assert eval_bundle(str(bundle), request(75))["result"] == "deny"


POLICIES = """
policy "Production coverage" {
  nrn        = "organization=1"
  selector   = {"scope.dimensions.environment": "production"}
  conditions = {"build.metadata.coverage.percent": {"$gte": 80}}
}

policy "Any coverage" {
  nrn        = "organization=1"
  selector   = {}
  conditions = {"build.metadata.coverage.percent": {"$gte": 50}}
}

action "deployments" {
  action            = "deployment:create"
  nrn               = "organization=1"
  on_policy_success = approve
  on_policy_fail    = deny
  policies          = ["Production coverage", "Any coverage"]
}
"""


def test_a_policy_its_selector_leaves_out_neither_passes_nor_fails(tmp_path):
    bundle = compile_project(tmp_path, SPECIFICATION, POLICIES)
    production = eval_bundle(str(bundle), request(70))
    assert production["result"] == "deny"
    staging = eval_bundle(str(bundle), request(70, environment="staging"))
    assert staging["result"] == "approve"
    (entry,) = staging["actions"]
    assert entry["policies"] == [
        {
            "name": "Production coverage",
            "source": "org.rg:10",
            "selected": False,
            "selector": {"scope.dimensions.environment": "production"},
        },
        {"name": "Any coverage", "source": "org.rg:16", "passed": True},
    ]
    # A failing policy outside its selection is not evaluated at all.
    assert eval_bundle(str(bundle), request(40, environment="staging"))["result"] == "deny"


def test_selectors_are_checked_like_conditions(tmp_path):
    sources = write_sources(
        tmp_path / "src",
        {
            "org.rg": SPECIFICATION
            + textwrap.dedent(
                """
                policy "P" {
                  nrn        = "organization=1"
                  selector   = {"scope.dimensions.enviroment": {"$gt": true}, "build.metadata.coverag": 1}
                  conditions = {"build.metadata.coverage.percent": {"$gte": 80}}
                }
                action "a" {
                  action   = "scope:create"
                  nrn      = "organization=1"
                  policies = ["P"]
                }
                """
            )
        },
    )
    result = check_sources([str(sources)])
    codes = sorted(d.code for d in result.diagnostics)
    assert "RG035" in codes  # a string dimension ordered against a boolean
    assert "RG033" in codes  # build is not visible to scope:create
    assert "RG032" in codes  # no specification for build.metadata.coverag


def test_explain_shows_items_selectors_and_what_each_awaits(tmp_path):
    from compiler import explain

    bundle = compile_project(tmp_path, SPECIFICATION, CHECKLIST, action("deny"))
    text = explain.render(eval_bundle(str(bundle), request(70, {"pentest": "passed"})))
    lines = text.splitlines()
    assert lines[0] == "denied (bundle revision " + lines[0].split("revision ")[1]
    assert lines[1:] == [
        '  action "production" (deployment:create at organization=1) denies',
        '    checklist "spec_4b1f0c2e9a7d3e11" "Production readiness" (org.rg:10): '
        "a failed gate makes it deny",
        "      item coverage (condition gate, major): Coverage of at least 80 %: failed",
        "        build.metadata.coverage.percent is 70, needs ≥ 80 (org.rg:19)",
        "      item weekend (condition informational): Not deployed on a weekend: failed",
        '        deployment.strategy is missing, needs = "blue-green" (org.rg:21)',
        "      item pentest (external gate): Penetration test: passed",
        "      item human_sign_off (manual gate): A reviewer signs off: pending (awaits a person)",
    ]
    bundle = compile_project(tmp_path / "selectors", SPECIFICATION, POLICIES)
    text = explain.render(eval_bundle(str(bundle), request(70, environment="staging")))
    assert (
        '    policy "Production coverage" (org.rg:10) not applicable: selector '
        '{"scope.dimensions.environment": "production"} did not match'
    ) in text.splitlines()


def test_boundary_tests_cover_selectors_and_checklist_items_and_catch_a_drift(tmp_path):
    from compiler.bundle import write_directory
    from compiler.driver import compile_sources
    from compiler.testing import run_tests

    sources = write_sources(
        tmp_path / "src", {"org.rg": "\n".join([SPECIFICATION, CHECKLIST, action(), POLICIES])}
    )
    result = compile_sources([str(sources)], with_tests=True)
    assert result.files is not None and result.tests is not None
    (module,) = result.tests.generated
    assert [(p.package, p.title, len(p.cases) > 1) for p in module.policies] == [
        ("policies", 'policy "Production coverage" (org.rg:38)', True),
        ("selectors", 'the selector of policy "Production coverage" (org.rg:38)', True),
        ("policies", 'policy "Any coverage" (org.rg:44)', True),
        ("checklists", 'item coverage of checklist "Production readiness" (org.rg:17)', True),
        ("checklists", 'item weekend of checklist "Production readiness" (org.rg:20)', True),
        (
            "checklists",
            'applies_when of item pentest of checklist "Production readiness" (org.rg:22)',
            True,
        ),
    ]
    directory = tmp_path / "bundle"
    write_directory(str(directory), result.files)
    assert run_tests(result, str(directory)).failures == ()
    # The compiled selector drifts from the source: staging instead of production, in
    # the test it shares (regate.conditions).
    shared = result.files["regate/conditions/conditions.rego"].decode()
    drifted = shared.replace('== "production"', '== "staging"').replace(
        '"production" in', '"staging" in'
    )
    assert drifted != shared
    result.files["regate/conditions/conditions.rego"] = drifted.encode()
    write_directory(str(tmp_path / "drifted"), result.files)
    failures = run_tests(result, str(tmp_path / "drifted")).failures
    assert {f.code for f in failures} == {"RG083"}
    # The selector and the pentest's applies_when make that test; nothing else fails.
    failed = {f.message.split(" failed: ")[0].split(" of ", 1)[1] for f in failures}
    assert failed == {
        'the selector of policy "Production coverage"',
        'applies_when of item pentest of checklist "Production readiness"',
    }
