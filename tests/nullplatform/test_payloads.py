"""API payloads in every shape nullplatform answers become regate sources that keep ids,
names, selectors, checklists, time limits and associations; every key is written or
reported, and a key that might change a decision and has no place in regate stops the
import unless --allow-lossy."""

from __future__ import annotations

import json

from tests.conftest import run_cli, write_sources

NRN = "organization=1:account=2"


def action(**more: object) -> dict[str, object]:
    return {
        "id": 1001,
        "nrn": NRN,
        "entity": "deployment",
        "action": "deployment:create",
        "on_policy_success": "approve",
        "on_policy_fail": "manual",
        **more,
    }


def policy(**more: object) -> dict[str, object]:
    return {"id": 2001, "nrn": NRN, "name": "Coverage", "conditions": {"build.x": 1}, **more}


def imported(tmp_path, payloads: object, *options: str) -> tuple[int, str, str]:
    sources = write_sources(tmp_path / "in", {"org.json": json.dumps(payloads, indent=2)})
    result = run_cli("import", str(sources), "-o", "-", *options)
    return result.exit_code, result.stdout, result.stderr


def test_an_action_names_its_policies_by_name_id_or_body_and_each_is_written_by_id(tmp_path):
    payloads = [
        policy(),
        policy(id=2002, name="Security", conditions={"build.y": 0}),
        policy(id=2003, name="Size", conditions={"build.z": 1}),
        action(policies=["Coverage", 2002, {"policy_id": "2003"}]),
    ]
    status, text, stderr = imported(tmp_path, payloads)
    assert status == 0, stderr
    assert (
        "  policies          = [\n"
        "    2001, # Coverage\n"
        "    2002, # Security\n"
        "    2003 # Size\n"
        "  ]\n"
    ) in text


def test_keys_regate_does_not_know_stop_the_import_unless_allowed(tmp_path):
    payloads = [action(quorum=2, status="paused", created_at="2025-01-01T00:00:00Z")]
    status, text, stderr = imported(tmp_path, payloads)
    assert (status, text) == (1, "")
    org = tmp_path / "in/org.json"
    assert (
        f"{org}:9:5: error[RG093]: action 1001: `quorum` = 2 cannot be imported (an attribute "
        "regate does not know action payloads to have)\n"
    ) in stderr
    assert (
        f'{org}:10:15: error[RG093]: action 1001: `status` = "paused" cannot be imported '
        "(regate does not know how nullplatform decides with an object of this status)\n"
    ) in stderr
    status, text, stderr = imported(tmp_path, payloads, "--allow-lossy")
    assert status == 0
    assert text.startswith(
        "# imported from org.json:2\n"
        "# ignored: created_at (when it was created)\n"
        "# not imported (--allow-lossy): quorum = 2 (an attribute regate does not know action "
        "payloads to have)\n"
        '# not imported (--allow-lossy): status = "paused" (regate does not know how nullplatform '
        "decides with an object of this status)\n"
        "action {\n"
    )
    assert stderr.endswith(
        "org.json:2: ignored: created_at (when it was created)\n"
        "org.json:2: not imported (--allow-lossy): quorum = 2 (an attribute regate does not know "
        'action payloads to have); status = "paused" (regate does not know how nullplatform '
        "decides with an object of this status)\n"
    )


def test_a_checklist_link_replaces_the_policies_an_api_action_still_lists(tmp_path):
    payloads = [
        action(
            checklist_specification_id="spec_1",
            checklist_template_id="spec_1",
            on_checklist_fail="deny",
            policies=[policy()],
        ),
        {
            "id": "spec_1",
            "nrn": NRN,
            "name": "Review",
            "definition": {"items": [{"id": "ok", "type": "manual", "behavior": "gate"}]},
            "status": "active",
        },
    ]
    status, text, stderr = imported(tmp_path, payloads)
    assert status == 0, stderr
    assert '  checklist         = "spec_1" # Review\n  on_checklist_fail = deny\n' in text
    assert (
        "# ignored: checklist_template_id (the legacy name of checklist_specification_id)\n"
        "# ignored: policies (id 2001: the policies it used before its checklist; nullplatform "
        "decides with the checklist)\n"
    ) in text
    # The policy is still an object of the organisation, bound to nothing.
    assert 'policy "Coverage" {\n  id         = 2001\n' in text
    payloads[0]["checklist_template_id"] = "spec_0"
    status, _, stderr = imported(tmp_path, payloads)
    assert status == 1
    assert (
        '`checklist_template_id` = "spec_0" cannot be imported (it names another checklist than checklist_specification_id)'
        in stderr
    )


def test_associations_bind_by_id_and_name_what_is_not_imported(tmp_path):
    payloads = [
        action(id=1003),
        policy(),
        {"approval_action_id": "1003", "approval_policy_id": "2001"},
        {"approval_action_id": 1009, "approval_policy_id": 2001},
    ]
    status, _, stderr = imported(tmp_path, payloads)
    assert status == 1
    assert (
        "error[RG092]: the association refers to approval action id 1009, which the imported "
        "files do not define\n"
    ) in stderr
    del payloads[3]
    status, text, stderr = imported(tmp_path, payloads)
    assert status == 0, stderr
    assert "  policies          = [\n    2001 # Coverage\n  ]\n" in text


def test_lists_that_miss_pages_and_files_that_hold_no_object_are_errors(tmp_path):
    status, _, stderr = imported(
        tmp_path, {"paging": {"total": 3, "offset": 0, "limit": 1}, "results": [policy()]}
    )
    assert status == 1
    assert "error[RG059]: this list holds results 1 to 1 of 3" in stderr
    sources = write_sources(
        tmp_path / "other",
        {"schema.json": json.dumps({"type": "object"}), "request.json": json.dumps({"a": 1})},
    )
    result = run_cli("import", str(sources), "-o", "-")
    assert result.exit_code == 1
    assert result.stderr == (
        f"{sources}:1:1: error[RG094]: {sources} holds no nullplatform approval object "
        "(specification, policy, checklist or action)\n"
        "help: import the Terraform configuration, state or API payloads that hold them\n"
        "\n"
        "1 error, 0 warnings\n"
    )


def test_an_empty_selector_dimensions_or_description_is_their_default(tmp_path):
    payloads = [
        policy(selector={}, description=""),
        policy(id=2002, name="Selected", selector={"scope.dimensions.environment": "production"}),
        action(dimensions={}, on_policy_success=None, on_policy_fail=None, policies=[2001, 2002]),
    ]
    status, text, stderr = imported(tmp_path, payloads)
    assert status == 0, stderr
    assert "description" not in text
    assert '  selector   = {"scope.dimensions.environment": "production"}\n' in text
    assert "  dimensions" not in text
    # nullplatform sets `manual` for what an action leaves out: written out.
    assert "  on_policy_success = manual\n  on_policy_fail    = manual\n" in text
