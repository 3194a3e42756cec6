"""Test blocks and `regate test`: parsed, checked, run by a real `opa test`, reported at the sources."""

from __future__ import annotations

from pathlib import Path

import pytest

from compiler.driver import check_sources
from compiler.testing import CommentedCondition, policy_lines
from tests.conftest import QUALITY_GATES, REPO, run_cli, write_sources

GATE = """
policy "Coverage" {
  nrn        = "organization=1"
  conditions = {"build.metadata.coverage.line": {"$gte": 80}, "build.metadata.coverage.branch": {"$gte": 50}}
}
policy "Tier" {
  nrn        = "organization=1"
  conditions = {"scope.tier": "gold"}
}
action "prod" {
  action            = "deployment:create"
  nrn               = "organization=1"
  dimensions        = {"environment": "production"}
  on_policy_success = approve
  policies          = ["Coverage"]
}
action "scopes" {
  action   = "scope:create"
  nrn      = "organization=1"
  policies = ["Tier"]
}
specification "Coverage" {
  entity   = build
  metadata = coverage
  nrn      = "organization=1"
  schema   = {}
}
"""


def project(tmp_path: Path, tests: str) -> Path:
    return write_sources(tmp_path / "project", {"gate.rg": GATE, "tests.rg": tests})


def relative(text: str, tmp_path: Path) -> str:
    return text.replace(str(tmp_path) + "/", "")


def diagnostics_text(tmp_path: Path, tests: str) -> str:
    result = run_cli("check", str(project(tmp_path, tests)))
    assert result.exit_code == 1
    return relative(result.stderr, tmp_path)


# --- the language ---


def test_a_test_block_builds_its_request_from_dotted_paths(tmp_path):
    source = project(
        tmp_path,
        """
test "high coverage" {
  action   = "deployment:create"
  nrn      = "organization=1:account=2"
  entities = {
    "scope.dimensions.environment": "production",
    "build.metadata.coverage": {"line": 90, "branch.total": 4},
  }
  expect   = approve
  failing  = []
  actions  = ["prod"]
}
""",
    )
    result = check_sources([str(source)])
    assert result.diagnostics == []
    assert result.program is not None
    (test,) = result.program.tests
    assert test.request == {
        "action": "deployment:create",
        "nrn": "organization=1:account=2",
        "entities": {
            "scope": {"dimensions": {"environment": "production"}},
            "build": {"metadata": {"coverage": {"line": 90, "branch": {"total": 4}}}},
        },
    }
    assert (test.expect, test.failing, [a.value for a in test.applying or ()]) == (
        "approve",
        (),
        ["prod"],
    )


def test_a_test_block_reads_a_whole_request_from_a_file(tmp_path):
    source = project(tmp_path, 'test "t" {\n  request = file("req.json")\n  expect = deny\n}\n')
    (source / "req.json").write_text('{"action": "scope:create", "nrn": "organization=1"}')
    result = check_sources([str(source / "gate.rg"), str(source / "tests.rg")])
    assert result.diagnostics == []
    assert result.program is not None
    assert result.program.tests[0].request == {"action": "scope:create", "nrn": "organization=1"}


def test_a_bad_expectation_is_reported_with_a_suggestion(tmp_path):
    text = diagnostics_text(
        tmp_path,
        'test "t" {\n  action = "scope:create"\n  nrn = "organization=1"\n  expect = aprove\n}\n',
    )
    assert text == (
        "project/tests.rg:4:12: error[RG012]: `expect` must be approve, manual, pending or deny, "
        'not "aprove"\n'
        " 4 |   expect = aprove\n"
        "   |            ^^^^^^\n"
        'help: did you mean "approve"?\n'
        "\n"
        "1 error, 0 warnings\n"
    )


def test_request_and_its_parts_are_not_given_together(tmp_path):
    text = diagnostics_text(
        tmp_path,
        'test "t" {\n  request = {}\n  nrn = "organization=1"\n  expect = approve\n}\n',
    )
    assert text == (
        "project/tests.rg:3:3: error[RG012]: a test gives either `request` or `nrn`, not both\n"
        ' 3 |   nrn = "organization=1"\n'
        "   |   ^^^\n"
        "help: `request` is the whole input; `action`, `nrn` and `entities` build one\n"
        "\n"
        "1 error, 0 warnings\n"
    )


def test_a_field_set_twice_through_dotted_paths_is_an_error(tmp_path):
    text = diagnostics_text(
        tmp_path,
        'test "t" {\n  action = "scope:create"\n  nrn = "organization=1"\n'
        '  entities = {"scope": {"tier": "gold"}, "scope.tier": "silver"}\n'
        "  expect = approve\n}\n",
    )
    assert "project/tests.rg:4:42: error[RG015]: " in text
    assert '"scope.tier" sets a field that an earlier key of this object sets' in text


def test_tests_name_known_policies_and_actions_and_each_other_once(tmp_path):
    block = (
        'test "t" {\n  action = "scope:create"\n  nrn = "organization=1"\n  expect = approve\n'
        '  failing = ["Tiers"]\n  actions = ["scope"]\n}\n'
    )
    text = diagnostics_text(tmp_path, block + block)
    assert text == (
        'project/tests.rg:5:14: error[RG050]: unknown policy "Tiers"\n'
        ' 5 |   failing = ["Tiers"]\n'
        "   |              ^^^^^^^\n"
        'help: did you mean "Tier"?\n'
        "\n"
        'project/tests.rg:6:14: error[RG081]: unknown action id "scope"\n'
        ' 6 |   actions = ["scope"]\n'
        "   |              ^^^^^^^\n"
        'help: did you mean "scopes"?\n'
        "\n"
        'project/tests.rg:8:6: error[RG080]: a second test named "t"\n'
        ' 8 | test "t" {\n'
        "   |      ^^^\n"
        "help: the first is at project/tests.rg:1:6\n"
        "\n"
        'project/tests.rg:12:14: error[RG050]: unknown policy "Tiers"\n'
        ' 12 |   failing = ["Tiers"]\n'
        "    |              ^^^^^^^\n"
        'help: did you mean "Tier"?\n'
        "\n"
        'project/tests.rg:13:14: error[RG081]: unknown action id "scope"\n'
        ' 13 |   actions = ["scope"]\n'
        "    |              ^^^^^^^\n"
        'help: did you mean "scopes"?\n'
        "\n"
        "5 errors, 0 warnings\n"
    )


# --- regate test, against a real OPA ---


@pytest.mark.opa
def test_quality_gates_pass_their_tests_with_full_coverage():
    result = run_cli("test", "--coverage", str(QUALITY_GATES))
    assert (result.exit_code, result.stderr) == (0, "")
    assert result.stdout == (
        "26 passed, 0 failed (11 from test blocks, 15 generated boundary cases)\n"
        "coverage: 3/3 policies, 3/3 conditions exercised by the test blocks\n"
    )


@pytest.mark.opa
def test_the_two_team_organisation_passes_its_tests_with_full_coverage():
    result = run_cli("test", "--coverage", str(REPO / "bundles" / "platform-org"))
    assert (result.exit_code, result.stderr) == (0, "")
    assert result.stdout == (
        "61 passed, 0 failed (17 from test blocks, 44 generated boundary cases)\n"
        "coverage: 5/5 policies, 5/5 conditions exercised by the test blocks\n"
    )


@pytest.mark.opa
def test_a_failing_test_is_reported_at_its_source_line(tmp_path):
    source = project(
        tmp_path,
        """# coverage below the gate
test "low coverage approves" {
  action   = "deployment:create"
  nrn      = "organization=1"
  entities = {"scope.dimensions.environment": "production",
              "build.metadata.coverage": {"line": 70, "branch": 60}}
  expect   = approve
  failing  = []
}

test "gold tier approves" {
  action   = "scope:create"
  nrn      = "organization=1"
  entities = {"scope.tier": "gold", "scope.dimensions": {}}
  expect   = manual
}
""",
    )
    result = run_cli("test", str(source))
    assert result.exit_code == 1
    assert (
        result.stdout == "21 passed, 1 failed (2 from test blocks, 20 generated boundary cases)\n"
    )
    assert relative(result.stderr, tmp_path) == (
        'project/tests.rg:2:6: error[RG082]: test "low coverage approves" failed: expected '
        'approve, got manual; expected failing policies [], got ["Coverage"]\n'
        ' 2 | test "low coverage approves" {\n'
        "   |      ^^^^^^^^^^^^^^^^^^^^^^^\n"
        "help: the decision: manual; prod: manual (Coverage failed)\n"
        "\n"
        "1 error, 0 warnings\n"
    )


@pytest.mark.opa
def test_coverage_names_the_policies_and_conditions_no_test_exercised(tmp_path):
    source = project(
        tmp_path,
        """test "low line coverage asks a human" {
  action   = "deployment:create"
  nrn      = "organization=1"
  entities = {"scope.dimensions.environment": "production", "build.metadata.coverage.line": 70}
  expect   = manual
}
""",
    )
    result = run_cli("test", "--coverage", str(source))
    assert result.exit_code == 0, result.stderr
    assert result.stdout == (
        "21 passed, 0 failed (1 from test blocks, 20 generated boundary cases)\n"
        "coverage: 1/2 policies, 1/3 conditions exercised by the test blocks\n"
    )
    assert relative(result.stderr, tmp_path) == (
        'project/gate.rg:4:63: warning[RG085]: no test exercises this condition of policy "Coverage"\n'
        ' 4 |   conditions = {"build.metadata.coverage.line": {"$gte": 80}, "build.metadata.coverage.branch": {"$gte": 50}}\n'
        "   |                                                               ^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^\n"
        "help: add a test block whose request reaches it\n"
        "\n"
        'project/gate.rg:6:8: warning[RG084]: no test exercises policy "Tier"\n'
        ' 6 | policy "Tier" {\n'
        "   |        ^^^^^^\n"
        "help: add a test block whose request reaches an action bound to it\n"
        "\n"
        "0 errors, 2 warnings\n"
    )


@pytest.mark.opa
def test_coverage_counts_an_expr_condition(tmp_path):
    """An $expr is a condition of its policy: a test that stops before it leaves it
    unexercised (RG085 at the $expr), one that reaches it exercises it."""
    source = tmp_path / "budget.rg"
    source.write_text(
        """specification "FinOps" {
  entity   = application
  metadata = finops
  nrn      = "organization=1"
  schema   = {"type": "object", "properties": {"cost": {"type": "number"}, "budget": {"type": "number"}},
              "required": ["cost", "budget"]}
}

policy "Budget" {
  nrn        = "organization=1"
  conditions = {
    "application.metadata.finops.budget": {"$gt": 0},
    "$expr": {"$lte": ["$application.metadata.finops.cost", "$application.metadata.finops.budget"]}
  }
}

action "scope" {
  action   = "scope:create"
  nrn      = "organization=1"
  policies = ["Budget"]
}

test "no budget asks a human" {
  action   = "scope:create"
  nrn      = "organization=1"
  entities = {"scope.dimensions": {}, "application.metadata.finops": {"cost": 1, "budget": 0}}
  expect   = manual
}
"""
    )
    result = run_cli("test", "--coverage", str(source))
    assert result.exit_code == 0, result.stderr
    assert "coverage: 1/1 policies, 1/2 conditions exercised" in result.stdout
    assert (
        'budget.rg:13:5: warning[RG085]: no test exercises this condition of policy "Budget"'
        in (result.stderr)
    )
    text = source.read_text().replace('"budget": 0}', '"budget": 10}')
    source.write_text(text.replace("expect   = manual", "expect   = manual\n  failing  = []"))
    result = run_cli("test", "--coverage", str(source))
    assert "coverage: 1/1 policies, 2/2 conditions exercised" in result.stdout


def test_sources_with_errors_are_not_tested(tmp_path):
    source = project(tmp_path, 'test "t" { expect = approve }\n')
    result = run_cli("test", str(source))
    assert result.exit_code == 1
    assert result.stdout == ""
    assert "error[RG011]: test is missing `action`" in result.stderr


def test_policy_lines_map_rego_rows_to_conditions():
    rego = (
        "package regate.policies\n"
        "\n"
        '# Policy "Gate" (p.rg:2), at organization=1:\n'
        '# {"a": {"$gte": 1}}\n'
        "gate if {\n"
        "\t# a $gte 1 (p.rg:4)\n"
        "\tconditions.a_gte_1\n"
        "}\n"
        "\n"
        '# Policy "Other" (p.rg:7), at organization=1:\n'
        "# {}\n"
        "other if {\n"
        "\ttrue\n"
        "}\n"
    )
    gate, other = policy_lines(rego)
    assert (gate.rule, sorted(gate.rows), gate.conditions) == (
        "gate",
        [3, 4, 5, 6, 7, 8, 9],
        (CommentedCondition(7, "a $gte 1", "p.rg", 4),),
    )
    assert (other.rule, sorted(other.rows), other.conditions) == ("other", [10, 11, 12, 13, 14], ())


@pytest.mark.opa
def test_a_condition_with_several_operators_counts_once(tmp_path):
    source = write_sources(
        tmp_path,
        {
            "p.rg": """
policy "Range" {
  nrn        = "organization=1"
  conditions = {"scope.capabilities.replicas": {"$gte": 2, "$lte": 10}}
}
action "a" { action = "scope:create"  nrn = "organization=1"  policies = ["Range"] }
test "one replica asks a human" {
  action   = "scope:create"
  nrn      = "organization=1"
  entities = {"scope.capabilities.replicas": 1, "scope.dimensions": {}}
  expect   = manual
}
"""
        },
    )
    result = run_cli("test", "--coverage", str(source))
    assert (result.exit_code, result.stderr) == (0, "")
    assert result.stdout.splitlines()[1] == (
        "coverage: 1/1 policies, 1/1 conditions exercised by the test blocks"
    )


@pytest.mark.opa
def test_a_test_whose_request_the_bundle_refuses_says_why(tmp_path):
    source = project(
        tmp_path,
        'test "no scope" {\n  action = "deployment:create"\n  nrn = "organization=1"\n'
        "  expect = approve\n}\n",
    )
    result = run_cli("test", str(source))
    assert result.exit_code == 1
    assert (
        "help: the decision: deny; the request is malformed: input.entities.scope: "
        "error[RQ010]: is missing; a deployment:create request carries it"
    ) in result.stderr
