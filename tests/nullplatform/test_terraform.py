"""Terraform as Terraform reads it: variables with Terraform's precedence, locals,
templates and jsonencode; what only Terraform or nullplatform knows (data sources,
slugs, other resources' attributes, count and for_each) from the state beside the
configuration, or an error that names it and how to provide it; what is not
imported, reported per resource."""

from __future__ import annotations

import json
import textwrap
from pathlib import Path

from tests.conftest import run_cli, write_sources

POLICY = """
resource "nullplatform_approval_policy" "p" {
  nrn        = %s
  name       = "P"
  conditions = jsonencode({ "build.metadata.coverage.percent" = { "$gte" = 80 } })
}
"""


def imported(directory: Path, *options: str) -> tuple[int, str, str]:
    """Exit status, the written sources (-o -) and what import said on stderr."""
    result = run_cli("import", str(directory), "-o", "-", *options)
    return result.exit_code, result.stdout, result.stderr


def nrn_of(text: str) -> list[str]:
    return [
        line.split("=", 1)[1].strip()
        for line in text.splitlines()
        if line.strip().startswith("nrn ")
    ]


def state(*resources: dict[str, object]) -> str:
    return json.dumps(
        {
            "version": 4,
            "terraform_version": "1.9.8",
            "serial": 1,
            "lineage": "l",
            "outputs": {},
            "resources": list(resources),
        },
        indent=2,
    )


def resource(
    type: str, name: str, attributes: dict[str, object], mode: str = "managed", **more: object
) -> dict[str, object]:
    return {
        "mode": mode,
        "type": type,
        "name": name,
        "provider": "p",
        "instances": [{"schema_version": 0, "attributes": attributes, **more}],
    }


def test_variables_take_terraforms_precedence(tmp_path, monkeypatch):
    """default < TF_VAR_ < terraform.tfvars < terraform.tfvars.json < *.auto.tfvars
    (lexical) < -var and -var-file in the order given."""
    config = tmp_path / "config"
    declarations = "".join(f'variable "{n}" {{ default = "d" }}\n' for n in "abcdefg")
    template = ":".join(f"{n}=${{var.{n}}}" for n in "abcdefg")
    write_sources(
        config,
        {
            "main.tf": declarations + POLICY % f'"organization=1:{template}"',
            "terraform.tfvars": 'c = "tfvars"\nd = "tfvars"\ne = "tfvars"\nf = "tfvars"\n',
            "terraform.tfvars.json": json.dumps({"d": "json", "e": "json", "f": "json"}),
            "a.auto.tfvars": 'e = "auto-a"\nf = "auto-a"\n',
            "b.auto.tfvars.json": json.dumps({"f": "auto-b"}),
            "prod.tfvars": 'g = "named"\n',
        },
    )
    monkeypatch.setenv("TF_VAR_b", "env")
    monkeypatch.setenv("TF_VAR_c", "env")
    status, text, stderr = imported(config)
    assert status == 0, stderr
    assert nrn_of(text) == ['"organization=1:a=d:b=env:c=tfvars:d=json:e=auto-a:f=auto-b:g=d"']
    # A variable file Terraform does not read by itself is reported, not read.
    assert "prod.tfvars: not read; Terraform reads it only when named: pass -var-file" in stderr
    # -var and -var-file apply in the order given.
    named = str(config / "prod.tfvars")
    _, text, _ = imported(config, "-var", "g=flag", "-var-file", named)
    assert nrn_of(text)[0].endswith(':g=named"')
    _, text, _ = imported(config, "-var-file", named, "-var", "g=flag")
    assert nrn_of(text)[0].endswith(':g=flag"')


def test_typed_variables_locals_and_templates_evaluate_as_terraform_does(tmp_path):
    config = write_sources(
        tmp_path,
        {
            "main.tf": textwrap.dedent(
                """
                variable "account" { type = number }
                variable "dimensions" { type = map(string) }
                locals {
                  organization = 1
                  nrn          = "organization=${local.organization}:account=${var.account}"
                }
                resource "nullplatform_approval_action" "gate" {
                  nrn        = local.nrn
                  entity     = "scope"
                  action     = "scope:create"
                  dimensions = var.dimensions
                }
                """
            )
        },
    )
    status, text, stderr = imported(
        config, "-var", "account=42", "-var", 'dimensions={ tier = 1, environment = "prod" }'
    )
    assert status == 0, stderr
    assert '  nrn               = "organization=1:account=42"' in text
    # A map of strings, its keys sorted as the parser sorts them.
    assert '  dimensions        = {"environment": "prod", "tier": "1"}' in text


def test_variable_values_that_cannot_be_read_are_errors(tmp_path):
    config = write_sources(
        tmp_path,
        {
            "main.tf": 'variable "n" { type = number }\n' + POLICY % '"organization=${var.n}"',
            "terraform.tfvars": 'undeclared = 1\nn = "ten"\n',
        },
    )
    status, _, stderr = imported(config, "-var", "nope=1", "-var", "missing-equals")
    assert status == 1
    assert (
        f'{config}/terraform.tfvars:1:1: warning[RG096]: a value for "undeclared", which no variable block declares'
        in stderr
    )
    assert f'{config}/terraform.tfvars:2:1: error[RG096]: var.n is "ten", not a number' in stderr
    assert '-var nope:1:1: error[RG096]: -var nope: no variable block declares "nope"' in stderr
    assert "command line:1:1: error[RG096]: -var missing-equals: expected NAME=VALUE" in stderr


def test_what_only_terraform_knows_is_an_error_naming_it_and_how_to_provide_it(tmp_path):
    config = write_sources(
        tmp_path,
        {
            "main.tf": textwrap.dedent(
                """
                data "nullplatform_application" "app" {
                  id = 1
                }
                resource "nullplatform_approval_policy" "from_data" {
                  nrn        = data.nullplatform_application.app.nrn
                  name       = "D"
                  conditions = jsonencode({})
                }
                resource "nullplatform_approval_policy" "from_function" {
                  nrn        = lower("ORGANIZATION=1")
                  name       = "F"
                  conditions = jsonencode({})
                }
                resource "nullplatform_approval_policy" "by_slug" {
                  account    = "platform"
                  name       = "S"
                  conditions = jsonencode({})
                }
                resource "nullplatform_approval_policy" "counted" {
                  count      = 2
                  nrn        = "organization=1"
                  name       = "C${count.index}"
                  conditions = jsonencode({})
                }
                resource "nullplatform_approval_policy" "nowhere" {
                  name       = "N"
                  conditions = jsonencode({})
                }
                """
            )
        },
    )
    status, text, stderr = imported(config)
    assert (status, text) == (1, "")
    main = config / "main.tf"
    state_help = "help: import with the Terraform state (terraform.tfstate, or `terraform show -json` output)"
    assert (
        f"{main}:6:16: error[RG091]: cannot import `nrn`: data.nullplatform_application.app.nrn "
        "is read from nullplatform by Terraform\n"
    ) in stderr
    assert (
        f"{main}:11:16: error[RG091]: cannot import `nrn`: `lower(...)`: regate evaluates no "
        "function but jsonencode\n"
    ) in stderr
    assert (
        f"{main}:16:3: error[RG091]: cannot import nullplatform_approval_policy.by_slug: "
        "`account` is a slug, which nullplatform resolves to the NRN when Terraform applies it\n"
    ) in stderr
    assert (
        f"{main}:21:3: error[RG091]: cannot import nullplatform_approval_policy.counted: `count` "
        "makes instances only Terraform counts\n"
    ) in stderr
    assert (
        f"{main}:26:1: error[RG091]: cannot import nullplatform_approval_policy.nowhere: it has no "
        "`nrn`, so the provider builds one from its API key's organisation\n"
    ) in stderr
    assert stderr.count(state_help + "\n") == 1  # the data source
    assert stderr.count(state_help + ", which holds every instance\n") == 1
    assert stderr.count(state_help + ", which holds the NRN, or write `nrn`") == 2
    assert stderr.endswith("5 errors, 0 warnings\n")


def test_the_state_beside_the_configuration_knows_them(tmp_path):
    application = "organization=1:account=2:namespace=3:application=4"
    write_sources(
        tmp_path,
        {
            "main.tf": textwrap.dedent(
                """
                data "nullplatform_application" "app" {
                  id = 4
                }
                resource "nullplatform_approval_policy" "by_slug" {
                  account    = "platform"
                  name       = "S"
                  conditions = jsonencode({})
                }
                resource "nullplatform_approval_action" "counted" {
                  for_each = toset(["production", "staging"])
                  nrn      = data.nullplatform_application.app.nrn
                  entity   = "deployment"
                  action   = "deployment:create"
                  dimensions = {
                    environment = each.key
                  }
                  policies = [nullplatform_approval_policy.by_slug.id]
                }
                """
            ),
            "terraform.tfstate": state(
                resource("nullplatform_application", "app", {"id": 4, "nrn": application}, "data"),
                resource(
                    "nullplatform_approval_policy",
                    "by_slug",
                    {"account": "platform", "nrn": "organization=1:account=2", "id": "2001"},
                ),
                {
                    "mode": "managed",
                    "type": "nullplatform_approval_action",
                    "name": "counted",
                    "provider": "p",
                    "each": "map",
                    "instances": [
                        {
                            "index_key": env,
                            "attributes": {
                                "id": str(1000 + i),
                                "nrn": application,
                                "entity": "deployment",
                                "action": "deployment:create",
                                "dimensions": {"environment": env},
                                "on_policy_success": "manual",
                                "on_policy_fail": "manual",
                                "policies": ["2001"],
                            },
                        }
                        for i, env in enumerate(["production", "staging"])
                    ],
                },
            ),
        },
    )
    status, text, stderr = imported(tmp_path)
    assert status == 0, stderr
    assert nrn_of(text) == [
        '"organization=1:account=2"',
        f'"{application}"',
        f'"{application}"',
    ]
    assert 'action "counted[\\"production\\"]" {' in text
    assert '  dimensions        = {"environment": "staging"}' in text
    assert "# ignored: account (a slug of its NRN, which is imported)" in text
    assert (
        'main.tf:10 nullplatform_approval_action.counted["production"] (state: terraform.tfstate): '
        "ignored: for_each (a Terraform meta-argument: how Terraform manages the resource)"
    ) in stderr


def test_a_state_alone_imports_what_it_holds_and_an_empty_one_is_an_error(tmp_path):
    stored = tmp_path / "terraform.tfstate"
    stored.write_text(
        state(
            resource(
                "nullplatform_approval_policy",
                "p",
                {
                    "id": "7",
                    "name": "P",
                    "nrn": "organization=1",
                    "conditions": '{"build.metadata.x": 1}',
                    "selector": '{"scope.dimensions.environment": "production"}',
                    "account": None,
                },
            ),
            resource("nullplatform_scope", "s", {"id": "9"}),
        )
    )
    status, text, stderr = imported(stored)
    assert status == 0, stderr
    assert (
        stderr == "terraform.tfstate:27 nullplatform_scope.s: skipped, not an approval resource\n"
    )
    assert text == (
        "# imported from terraform.tfstate:8 nullplatform_approval_policy.p\n"
        'policy "P" {\n'
        "  id         = 7\n"
        '  nrn        = "organization=1"\n'
        '  selector   = {"scope.dimensions.environment": "production"}\n'
        "  conditions = {\n"
        '    "build.metadata.x": 1\n'
        "  }\n"
        "}\n"
    )
    stored.write_text(state(resource("nullplatform_scope", "s", {"id": "9"})))
    status, _, stderr = imported(stored)
    assert status == 1
    assert f"{stored}:1:1: error[RG094]: {stored} holds no nullplatform approval object" in stderr


def test_states_regate_cannot_use_are_errors(tmp_path):
    old = tmp_path / "old.tfstate"
    old.write_text(json.dumps({"version": 3, "serial": 1, "lineage": "l", "modules": []}))
    plan = tmp_path / "plan.json"
    plan.write_text(
        json.dumps({"format_version": "1.2", "terraform_version": "1.9.8", "planned_values": {}})
    )
    for given, message in (
        (old, "is a Terraform state of format version 3; regate reads version 4"),
        (plan, "is a Terraform plan: what it plans is not applied yet"),
    ):
        status, _, stderr = imported(given)
        assert status == 1
        assert f"error[RG095]: {given} {message}" in stderr
    two = write_sources(
        tmp_path / "two",
        {"main.tf": POLICY % '"organization=1"', "a.tfstate": state(), "b.tfstate": state()},
    )
    status, _, stderr = imported(two)
    assert (status, "error[RG095]: two Terraform states in .: a.tfstate, b.tfstate" in stderr) == (
        1,
        True,
    )
    # --state names the one to use.
    status, _, stderr = imported(two, "--state", str(two / "a.tfstate"))
    assert status == 0, stderr


def test_terraform_show_json_is_read_like_the_state_it_shows(tmp_path):
    shown = tmp_path / "show.json"
    shown.write_text(
        json.dumps(
            {
                "format_version": "1.0",
                "terraform_version": "1.9.8",
                "values": {
                    "root_module": {
                        "child_modules": [
                            {
                                "address": "module.gates",
                                "resources": [
                                    {
                                        "address": "module.gates.nullplatform_approval_policy.p",
                                        "mode": "managed",
                                        "type": "nullplatform_approval_policy",
                                        "name": "p",
                                        "provider_name": "registry.terraform.io/nullplatform/nullplatform",
                                        "schema_version": 0,
                                        "values": {
                                            "id": "5",
                                            "name": "P",
                                            "nrn": "organization=1",
                                            "conditions": "{}",
                                            "selector": "{}",
                                        },
                                        "sensitive_values": {},
                                    }
                                ],
                            }
                        ]
                    }
                },
            },
            indent=2,
        )
    )
    status, text, stderr = imported(shown)
    assert status == 0, stderr
    assert text.startswith(
        "# imported from show.json:10 module.gates.nullplatform_approval_policy.p\n"
    )


def test_the_configuration_is_imported_and_a_state_that_disagrees_is_a_warning(tmp_path):
    config = write_sources(
        tmp_path,
        {
            "main.tf": POLICY % '"organization=1"',
            "terraform.tfstate": state(
                resource(
                    "nullplatform_approval_policy",
                    "p",
                    {
                        "id": "3",
                        "name": "P",
                        "nrn": "organization=1",
                        "conditions": '{"build.metadata.coverage.percent":{"$gte":70}}',
                        "selector": "{}",
                    },
                )
            ),
        },
    )
    status, text, stderr = imported(config)
    assert status == 0
    assert '"build.metadata.coverage.percent": {"$gte": 80}' in text
    assert (
        f"{config}/main.tf:5:3: warning[RG097]: nullplatform_approval_policy.p: `conditions` is "
        '{"build.metadata.coverage.percent": {"$gte": 80}} here and '
        '"{\\"build.metadata.coverage.percent\\":{\\"$gte\\":70}}" in terraform.tfstate\n'
    ) in stderr


def test_attributes_regate_does_not_know_stop_the_import_unless_allowed(tmp_path):
    config = write_sources(
        tmp_path,
        {
            "main.tf": textwrap.dedent(
                """
                resource "nullplatform_approval_action" "gate" {
                  nrn           = "organization=1"
                  entity        = "deployment"
                  action        = "deployment:create"
                  quorum        = 2
                  escalation {
                    after = "1h"
                  }
                }
                """
            )
        },
    )
    status, text, stderr = imported(config)
    assert (status, text) == (1, "")
    main = config / "main.tf"
    assert (
        f"{main}:6:3: error[RG093]: nullplatform_approval_action.gate: `quorum` = 2 cannot be imported (an attribute "
        "regate does not know nullplatform_approval_action to have)\n"
    ) in stderr
    assert f"{main}:7:3: error[RG093]: nullplatform_approval_action.gate: `escalation` = " in stderr
    assert "help: regate cannot tell whether it changes a decision; pass --allow-lossy" in stderr
    status, text, stderr = imported(config, "--allow-lossy")
    assert status == 0
    assert (
        "# not imported (--allow-lossy): quorum = 2 (an attribute regate does not know "
        "nullplatform_approval_action to have)\n"
    ) in text
    assert "warning[RG093]: nullplatform_approval_action.gate: `quorum` not imported" in stderr


def test_other_resources_modules_and_hooks_are_reported_not_imported(tmp_path):
    config = write_sources(
        tmp_path,
        {
            "main.tf": POLICY % '"organization=1"'
            + textwrap.dedent(
                """
                resource "nullplatform_technology_template" "java" {
                  name = "Java"
                }
                resource "aws_s3_bucket" "logs" {}
                module "gates" {
                  source = "./gates"
                }
                resource "nullplatform_entity_hook_action" "notify" {
                  nrn    = "organization=1"
                  entity = "scope"
                  action = "scope:create"
                  when   = "before"
                  on     = "create"
                  type   = "hook"
                }
                """
            ),
            "terraform.tfstate.backup": state(),
        },
    )
    status, _, stderr = imported(config)
    assert status == 0, stderr
    assert (
        f"{config}/main.tf:15:1: warning[RG018]: nullplatform_entity_hook_action.notify is an entity hook action"
        in stderr
    )
    assert stderr.endswith(
        "main.tf:8 nullplatform_technology_template.java: skipped, not an approval resource (another nullplatform resource)\n"
        "main.tf:11 aws_s3_bucket.logs: skipped, not an approval resource\n"
        "main.tf:12 module.gates: not read; import its directory (or this one with its state) to import the approval resources it manages\n"
        "terraform.tfstate.backup: skipped, a backup of an earlier state\n"
    )


def test_import_blocks_and_checklist_links_give_ids(tmp_path):
    config = write_sources(
        tmp_path,
        {
            "main.tf": POLICY % '"organization=1"'
            + textwrap.dedent(
                """
                import {
                  to = nullplatform_approval_policy.p
                  id = "2001"
                }
                resource "nullplatform_checklist_specification" "c" {
                  nrn        = "organization=1"
                  name       = "C"
                  definition = "{\\"items\\": [{\\"id\\": \\"ok\\", \\"type\\": \\"manual\\", \\"behavior\\": \\"gate\\"}]}"
                }
                resource "nullplatform_approval_action" "a" {
                  nrn    = "organization=1"
                  entity = "deployment"
                  action = "deployment:create"
                }
                resource "nullplatform_approval_action_checklist_specification_association" "a" {
                  approval_action_id         = nullplatform_approval_action.a.id
                  checklist_specification_id = nullplatform_checklist_specification.c.id
                }
                """
            )
        },
    )
    status, _, stderr = imported(config)
    assert status == 1
    assert (
        "error[RG091]: cannot import `checklist_specification_id`: "
        "nullplatform_checklist_specification.c.id is the specification's own id (<nrn>/<name>), "
        "which the provider refuses\n"
    ) in stderr
    assert (
        "help: link its version: nullplatform_checklist_specification.c.current_version_id"
        in stderr
    )
    main = config / "main.tf"
    main.write_text(
        main.read_text().replace(
            "checklist_specification.c.id", "checklist_specification.c.current_version_id"
        )
        + 'import {\n  to = nullplatform_approval_action_checklist_specification_association.a\n  id = "77"\n}\n'
    )
    status, text, stderr = imported(config)
    assert status == 0, stderr
    assert "  id         = 2001\n" in text
    assert "  id                = 77\n" in text
    assert '  checklist         = "C"\n' in text


def test_a_terraform_syntax_error_is_located(tmp_path):
    config = write_sources(tmp_path, {"main.tf": 'resource "x" "y" {\n  a = = 1\n}\n'})
    status, _, stderr = imported(config)
    assert status == 1
    assert stderr == (
        f'{config}/main.tf:2:7: error[RG002]: Terraform syntax error: unexpected "= 1"\n'
        " 2 |   a = = 1\n"
        "   |       ^\n"
        "\n"
        "1 error, 0 warnings\n"
    )


def test_override_files_moved_blocks_and_json_configuration_as_terraform_reads_them(tmp_path):
    config = write_sources(
        tmp_path,
        {
            "main.tf": POLICY.replace('"p"', '"renamed"') % '"organization=1"'
            + "moved {\n  from = nullplatform_approval_policy.p\n  to   = nullplatform_approval_policy.renamed\n}\n",
            "prod_override.tf": (
                'resource "nullplatform_approval_policy" "renamed" {\n'
                '  nrn = "organization=1:account=2"\n'
                "}\n"
            ),
            "extra.tf.json": json.dumps({"resource": {}}),
            "terraform.tfstate": state(
                resource(
                    "nullplatform_approval_policy",
                    "p",
                    {
                        "id": "11",
                        "name": "P",
                        "nrn": "organization=1:account=2",
                        "conditions": "{}",
                    },
                )
            ),
        },
    )
    status, text, stderr = imported(config)
    assert status == 0, stderr
    # The override's NRN, and the id the state holds under the name before `moved`.
    assert '  id         = 11\n  nrn        = "organization=1:account=2"\n' in text
    assert "in the state but not in the configuration" not in stderr
    assert (
        "extra.tf.json: not read; regate reads Terraform written in HCL (.tf), not JSON" in stderr
    )
    (config / "other_override.tf").write_text(
        'resource "nullplatform_approval_policy" "nothing" {}\n'
    )
    status, _, stderr = imported(config)
    assert status == 1
    assert (
        'error[RG091]: the override of `resource "nullplatform_approval_policy" "nothing"` has no '
        "block to override"
    ) in stderr


def test_a_tf_file_named_alone_is_read_with_the_state_beside_it(tmp_path):
    from tests.nullplatform.conftest import FIXTURES

    main = FIXTURES / "upgrade-associations/main.tf"
    result = run_cli("import", str(main), "-o", "-")
    assert result.exit_code == 0, result.stderr
    assert (
        "# imported from main.tf:12 nullplatform_approval_policy.PCI (state: terraform.tfstate)"
        in result.stdout
    )


def test_numbers_no_float_holds_are_errors_not_infinity(tmp_path):
    config = write_sources(
        tmp_path,
        {
            "main.tf": POLICY.replace('{ "$gte" = 80 }', "1e400") % '"organization=1"'
            + POLICY.replace('"p"', '"q"')
            .replace('"P"', '"Q"')
            .replace(
                'jsonencode({ "build.metadata.coverage.percent" = { "$gte" = 80 } })',
                '"{\\"a\\": 1e999}"',
            )
            % '"organization=1"'
        },
    )
    status, _, stderr = imported(config)
    assert status == 1
    assert "error[RG091]: cannot import `conditions`: the number 1e400 is out of range" in stderr
    assert (
        "error[RG091]: `conditions` is a string but not JSON: number 1e999 is out of range"
        in stderr
    )


def test_each_directory_is_its_own_configuration(tmp_path):
    """Two teams' configurations with the same resource names bind each their own."""
    team = (
        POLICY
        + 'resource "nullplatform_approval_action" "gate" {\n'
        + "  nrn      = %s\n"
        + '  entity   = "deployment"\n'
        + '  action   = "deployment:create"\n'
        + "  policies = [nullplatform_approval_policy.p.id]\n"
        + "}\n"
    )
    write_sources(
        tmp_path,
        {
            "a/main.tf": team % ('"organization=1:account=2"', '"organization=1:account=2"'),
            "b/main.tf": team.replace('"P"', '"Q"')
            % ('"organization=1:account=3"', '"organization=1:account=3"'),
        },
    )
    status, text, stderr = imported(tmp_path)
    assert status == 0, stderr
    assert text.count('  policies          = ["P"]') == 1
    assert text.count('  policies          = ["Q"]') == 1
    status, _, stderr = imported(tmp_path / "missing")
    assert status == 1
    assert f"error[RG001]: cannot read {tmp_path}/missing: no such file or directory" in stderr


def test_an_association_imported_by_id_alone_is_read_from_its_id(tmp_path):
    """`terraform import` of an association keeps only its id, `<action id>-<policy id>`."""
    stored = tmp_path / "terraform.tfstate"
    stored.write_text(
        state(
            resource(
                "nullplatform_approval_policy",
                "p",
                {"id": "2001", "name": "P", "nrn": "organization=1", "conditions": "{}"},
            ),
            resource(
                "nullplatform_approval_action",
                "a",
                {
                    "id": "1001",
                    "nrn": "organization=1",
                    "entity": "scope",
                    "action": "scope:create",
                },
            ),
            resource(
                "nullplatform_approval_action_policy_association",
                "a_p",
                {"id": "1001-2001", "approval_action_id": None, "approval_policy_id": None},
            ),
        )
    )
    status, text, stderr = imported(stored)
    assert status == 0, stderr
    assert "  policies          = [\n    2001 # P\n  ]\n" in text


def test_a_state_holds_checklists_their_versions_and_links(tmp_path):
    stored = tmp_path / "terraform.tfstate"
    definition = {"items": [{"id": "ok", "type": "manual", "behavior": "gate"}]}
    stored.write_text(
        state(
            resource(
                "nullplatform_checklist_specification",
                "review",
                {
                    "id": "organization=1/review",
                    "current_version_id": "spec_0000000000000007",
                    "version": 3,
                    "name": "review",
                    "nrn": "organization=1",
                    "description": None,
                    "definition": json.dumps(definition),
                },
            ),
            resource(
                "nullplatform_approval_action",
                "a",
                {
                    "id": "1001",
                    "nrn": "organization=1",
                    "entity": "deployment",
                    "action": "deployment:create",
                    "on_checklist_fail": "pending",
                    "checklist_specification_id": "spec_0000000000000007",
                },
            ),
            resource(
                "nullplatform_approval_action_checklist_specification_association",
                "a",
                {
                    "id": "1001",
                    "approval_action_id": "1001",
                    "checklist_specification_id": "spec_0000000000000007",
                    "timeouts": None,
                },
            ),
        )
    )
    status, text, stderr = imported(stored)
    assert status == 0, stderr
    assert (
        "# ignored: version (the number of its current version)\n"
        "# ignored: id (<nrn>/<name>, its NRN and name)\n"
        'checklist "review" {\n'
        '  id         = "spec_0000000000000007"\n'
    ) in text
    assert (
        '  checklist         = "spec_0000000000000007" # review\n  on_checklist_fail = pending\n'
    ) in text
