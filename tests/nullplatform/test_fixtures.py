"""Fixtures from the real product (tests/fixtures/nullplatform/README.md): each imports
losslessly — what it does not write is reported — or is refused for a reason a user
can act on.  The written sources and the report are pinned by snapshots; an update is
a reviewed change."""

from __future__ import annotations

import shutil

import pytest

from tests.conftest import run_cli
from tests.nullplatform.conftest import FIXTURES, read_dir

IMPORTED = [
    "upgrade-associations",
    "upgrade-inline",
    "upgrade-migrated",
    "show-json",
    "examples/approval-action",
    "examples/approval-policy",
    "examples/policy-association",
    "examples/metadata-specification",
    "examples/checklist",
    "guide-checklist-migration",
    "api-payloads",
    "docs-policy",
]


@pytest.mark.parametrize("folder", IMPORTED)
def test_each_fixture_imports_and_reports_what_it_does_not_write(folder, tmp_path, snapshot):
    out = tmp_path / "out"
    result = run_cli("import", str(FIXTURES / folder), "-o", str(out))
    assert result.exit_code == 0, result.stderr
    report = result.stderr.replace(str(FIXTURES), "<fixtures>").replace(str(out), "<out>")
    assert {"report": report, **read_dir(out)} == snapshot


def test_an_entity_hook_action_alone_is_reported_and_imports_nothing(tmp_path):
    folder = FIXTURES / "examples/entity-hook-action"
    result = run_cli("import", str(folder), "-o", str(tmp_path / "out"))
    assert result.exit_code == 1
    assert result.stderr == (
        f"{folder}:1:1: error[RG094]: {folder} holds no nullplatform approval object "
        "(specification, policy, checklist or action)\n"
        "help: import the Terraform configuration, state or API payloads that hold them\n"
        "\n"
        f"{folder}/main.tf:25:1: warning[RG018]: nullplatform_entity_hook_action.scope_create is an "
        "entity hook action: it decides no approval, so it is not imported\n"
        ' 25 | resource "nullplatform_entity_hook_action" "scope_create" {\n'
        "    | ^^^^^^^^\n"
        "help: entity hooks notify a channel before or after an entity operation\n"
        "\n"
        "1 error, 1 warning\n"
    )
    assert not (tmp_path / "out").exists()


@pytest.mark.parametrize(
    ("folder", "first_error"),
    [
        (
            "upgrade-associations",
            "main.tf:13:10: error[RG091]: cannot import `nrn`: var.nrn_namespace has no value\n"
            " 13 |   nrn  = var.nrn_namespace\n"
            "    |          ^^^^^^^^^^^^^^^^^\n"
            "help: pass -var nrn_namespace=VALUE or a -var-file, set it in terraform.tfvars beside "
            "the .tf, or import with the Terraform state\n",
        ),
        (
            "examples/approval-action",
            "main.tf:59:3: error[RG091]: cannot import nullplatform_approval_action.scope_create: "
            "`account` is a slug, which nullplatform resolves to the NRN when Terraform applies it\n"
            ' 59 |   account = "platform-team"\n'
            "    |   ^^^^^^^\n"
            "help: import with the Terraform state (terraform.tfstate, or `terraform show -json` "
            "output), which holds the NRN, or write `nrn`\n",
        ),
        (
            "examples/approval-policy",
            "main.tf:26:10: error[RG091]: cannot import `nrn`: data.nullplatform_application.app.nrn "
            "is read from nullplatform by Terraform\n"
            " 26 |   nrn  = data.nullplatform_application.app.nrn\n"
            "    |          ^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^\n"
            "help: import with the Terraform state (terraform.tfstate, or `terraform show -json` "
            "output)\n",
        ),
    ],
)
def test_without_its_state_a_configuration_is_refused_naming_what_to_provide(
    folder, first_error, tmp_path
):
    configuration = tmp_path / "configuration"
    shutil.copytree(FIXTURES / folder, configuration, ignore=shutil.ignore_patterns("*.tfstate"))
    result = run_cli("import", str(configuration), "-o", str(tmp_path / "out"))
    assert result.exit_code == 1
    assert result.stderr.startswith(f"{configuration}/{first_error}")
    assert not (tmp_path / "out").exists()
    # Named with --state, the state that was beside it is enough.
    if (FIXTURES / folder / "terraform.tfstate").exists():
        state = str(FIXTURES / folder / "terraform.tfstate")
        result = run_cli("import", str(configuration), "-o", "-", "--state", state)
        assert result.exit_code == 0, result.stderr


def test_the_state_alone_and_its_show_json_import_the_same_objects(tmp_path):
    alone = run_cli("import", str(FIXTURES / "upgrade-associations/terraform.tfstate"), "-o", "-")
    shown = run_cli("import", str(FIXTURES / "show-json"), "-o", "-")
    assert alone.exit_code == shown.exit_code == 0
    # The same blocks, from different places of different files.
    assert [line for line in alone.stdout.splitlines() if not line.startswith("#")] == [
        line for line in shown.stdout.splitlines() if not line.startswith("#")
    ]
