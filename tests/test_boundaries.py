"""Generated boundary tests: regate's own reading of conditions, and `opa test` on the bundle alone."""

from __future__ import annotations

import json
import subprocess

import pytest

from compiler.ast import Query
from compiler.boundaries import UnknownOperator, boundaries, matches
from compiler.bundle import tar_gz, write_directory
from compiler.driver import check_sources, compile_sources
from compiler.opa import eval_bundle
from compiler.parse import parse_source
from compiler.sources import Source
from compiler.testing import run_tests
from tests.conftest import QUALITY_GATES, REPO, build, load_request, write_sources

RICH = """
specification "Release" {
  entity   = build
  metadata = release
  nrn      = "organization=1"
  schema   = {
    "type": "object",
    "properties": {
      "tags": {"type": "array", "items": {"type": "string"}},
      "channel": {"type": "string"},
      "signed": {"type": "boolean"},
      "extra": {}
    }
  }
}

policy "Release" {
  nrn        = "organization=1"
  conditions = {
    "build.metadata.release.tags": "stable",
    "$or": [
      {"build.metadata.release.channel": {"$in": ["ga", "lts"]}},
      {"build.metadata.release.signed": true}
    ],
    "$nor": [{"build.metadata.release.extra": {"$exists": true}}],
    "scope.tier": {"$nin": ["gold"], "$ne": null},
    "build.metadata.release.channel": {"$not": {"$lt": "a", "$gt": "z"}}
  }
}

policy "Any" {
  nrn        = "organization=1"
  conditions = {}
}

action "gate" {
  action   = "deployment:create"
  nrn      = "organization=1"
  policies = ["Release", "Any"]
}
"""

FINDINGS = """
specification "Scan" {
  entity   = build
  metadata = scan
  nrn      = "organization=1"
  schema   = {
    "type": "object",
    "properties": {
      "findings": {"type": "array", "items": {"type": "object", "properties": {
        "severity": {"type": "string"}, "count": {"type": "integer"}}}}
    }
  }
}
policy "No critical finding" {
  nrn        = "organization=1"
  conditions = {"build.metadata.scan.findings.severity": {"$ne": "critical"},
                "build.metadata.scan.findings.count": {"$lt": 10}}
}
action "gate" { action = "deployment:create"  nrn = "organization=1"  policies = ["No critical finding"] }
"""
EXAMPLES = {"rich": RICH, "findings": FINDINGS}


def query(text: str) -> Query:
    source = Source(
        "q.rg", "q.rg", f'policy "q" {{ nrn = "organization=1" conditions = {text} }}', True
    )
    file, diagnostics = parse_source(source)
    assert file is not None and diagnostics == []
    return file.policies[0].conditions


# regate's reading of a condition, one row per rule of docs/language.md ("Conditions").
READINGS = [
    ('{"a.b": 1}', {"a": {"b": 1}}, True),
    ('{"a.b": 1}', {"a": {"b": 1.0}}, True),
    ('{"a.b": 1}', {"a": {"b": True}}, False),
    ('{"a.b": 1}', {"a": {"b": [0, 1]}}, True),
    ('{"a.b": 1}', {"a": [{"b": 2}, {"b": 1}]}, True),
    ('{"a.b": null}', {}, True),
    ('{"a.b": null}', {"a": {"b": 0}}, False),
    ('{"a.b": null}', {"a": [{"c": 1}]}, True),
    ('{"a.b": null}', {"a": [1]}, False),
    ('{"a.b": {"$gte": null}}', {}, True),
    ('{"a.b": {"$gt": null}}', {"a": {"b": None}}, False),
    ('{"a.b": {"$gt": false}}', {"a": {"b": True}}, True),
    ('{"a.0": 1}', {"a": [[1]]}, False),
    ('{"a.b": {"$ne": 1}}', {}, True),
    ('{"a.b": {"$gt": 1}}', {"a": {"b": "2"}}, False),
    ('{"a.b": {"$gt": "1"}}', {"a": {"b": "2"}}, True),
    ('{"a.b": {"$gte": 80}}', {"a": {"b": [70, 90]}}, True),
    ('{"a.b": {"$lt": 80}}', {"a": {"b": []}}, False),
    ('{"a.b": {"$in": [1, 2]}}', {"a": {"b": 2}}, True),
    ('{"a.b": {"$nin": [1, 2]}}', {}, True),
    ('{"a.b": {"$exists": true}}', {"a": {"b": None}}, True),
    ('{"a.b": {"$exists": false}}', {"a": {"b": None}}, False),
    ('{"a.b": {"$not": {"$gte": 80}}}', {}, True),
    ('{"a.1": "y"}', {"a": ["x", "y"]}, True),
    ('{"a.b": [1, 2]}', {"a": {"b": [1, 2]}}, True),
    ('{"$or": [{"a": 1}, {"b": 1}]}', {"b": 1}, True),
    ('{"$nor": [{"a": 1}, {"b": 1}]}', {"b": 1}, False),
    ('{"$and": [{"a": 1}, {"b": 1}]}', {"a": 1}, False),
    ('{"a.b": {"$size": 2}}', {"a": {"b": [1, [2, 3]]}}, True),
    ('{"a.b": {"$size": 2}}', {"a": [{"b": [1]}, {"b": [1, 2]}]}, True),
    ('{"a.b": {"$size": 1}}', {"a": {"b": [[1, 2]]}}, True),
    ('{"a.b": {"$size": 2}}', {"a": {"b": [[1, 2]]}}, False),
    ('{"a.b": {"$size": 0}}', {}, False),
    ('{"a.b": {"$mod": [4, 1]}}', {"a": {"b": 9.9}}, True),
    ('{"a.b": {"$mod": [4, -1]}}', {"a": {"b": -9}}, True),
    ('{"a.b": {"$mod": [4, 1]}}', {"a": {"b": -9}}, False),
    ('{"a.b": {"$mod": [-4, 1]}}', {"a": {"b": 9}}, True),
    ('{"a.b": {"$mod": [2, 0]}}', {"a": {"b": [3, 4]}}, True),
    ('{"a.b": {"$mod": [2, 0]}}', {"a": {"b": "4"}}, False),
    ('{"a.b": {"$mod": [2, 1]}}', {"a": {"b": True}}, False),
    ('{"a.b": {"$type": "int"}}', {"a": {"b": 2147483647}}, True),
    ('{"a.b": {"$type": "int"}}', {"a": {"b": 2147483648}}, False),
    ('{"a.b": {"$type": "long"}}', {"a": {"b": 2147483648}}, True),
    ('{"a.b": {"$type": "double"}}', {"a": {"b": 2**64}}, True),
    ('{"a.b": {"$type": "double"}}', {"a": {"b": 5.0}}, True),
    ('{"a.b": {"$type": "number"}}', {"a": {"b": True}}, False),
    ('{"a.b": {"$type": "string"}}', {"a": {"b": [1, "x"]}}, True),
    ('{"a.b": {"$type": "array"}}', {"a": {"b": []}}, True),
    ('{"a.b": {"$type": "null"}}', {}, False),
    ('{"a.b": {"$all": [1, 2]}}', {"a": {"b": [2, 3, 1]}}, True),
    ('{"a.b": {"$all": [1, 2]}}', {"a": {"b": [1, 3]}}, False),
    ('{"a.b": {"$all": [1]}}', {"a": {"b": 1}}, True),
    ('{"a.b": {"$all": []}}', {"a": {"b": []}}, False),
    ('{"a.b": {"$all": [[1, 2]]}}', {"a": {"b": [1, 2]}}, True),
]


@pytest.mark.parametrize(("conditions", "entities", "expected"), READINGS)
def test_regate_reads_conditions_with_mongodb_semantics(conditions, entities, expected):
    assert matches(query(conditions), entities) is expected


def test_regate_reads_mongodb_conformance_cases_as_mongodb_does():
    """The cases of tests/fixtures/conformance (MongoDB's documented answers) whose
    operators the generator reads: its reading must give MongoDB's answer on each."""
    read = 0
    for fixture in sorted((REPO / "tests/fixtures/conformance").glob("*.json")):
        for case in json.loads(fixture.read_text()):
            conditions = query(json.dumps(case["condition"]))
            try:
                found = matches(conditions, case["document"])
            except UnknownOperator:
                continue
            read += 1
            assert found is case["match"], case["why"]
    assert read >= 80


def test_quality_gates_boundaries_are_read_from_the_conditions_and_the_schemas():
    result = check_sources([str(QUALITY_GATES)])
    assert result.program is not None
    found = {
        b.owner.name: [(c.description, c.expected) for c in b.cases]
        for b in boundaries(result.program)
    }
    coverage = "build.metadata.coverage.code.coverage"
    assert found["Code Coverage"] == [
        (f"{coverage} = 80", True),
        (f"{coverage} = 81, just above 80", True),
        (f"{coverage} = 79, just below 80", False),
        (f"{coverage} missing", False),
        (f'{coverage} = "80", a string: wrong type', False),
    ]
    secrets = "build.metadata.security.security.secrets.total"
    assert found["No Leaked Secrets"] == [
        (f"{secrets} = 0", True),
        (f"{secrets} = -1, just below 0", True),
        (f"{secrets} missing", True),
        (f'{secrets} = "0", a string: wrong type', True),
        (f"{secrets} = 1, just above 0", False),
    ]
    first = boundaries(result.program)[0].cases[0].input
    assert first == {
        "action": "deployment:create",
        "nrn": "organization=1:account=2:namespace=3",
        "entities": {"build": {"metadata": {"coverage": {"code": {"coverage": 80}}}}},
    }


def test_array_cases_where_the_schema_allows_an_array(tmp_path):
    result = check_sources([str(write_sources(tmp_path, {"p.rg": RICH}))])
    assert result.program is not None
    release = boundaries(result.program)[0]
    tags = [(c.description, c.expected) for c in release.cases if "tags" in c.description]
    assert tags == [
        ('build.metadata.release.tags = "stable"', True),
        ('build.metadata.release.tags = ["stable"], an array holding it', True),
        ('build.metadata.release.tags = "stabl", just below "stable"', False),
        ('build.metadata.release.tags = "stablea", just above "stable"', False),
        ("build.metadata.release.tags missing", False),
        ("build.metadata.release.tags = 0, an integer: wrong type", False),
        ('build.metadata.release.tags = ["stabl"], an array without it', False),
        ("build.metadata.release.tags = [], an empty array", False),
    ]
    # Each path decides the policy in some case: the cases are not all one result.
    for path in ("channel", "signed", "scope.tier"):
        results = {c.expected for c in release.cases if path in c.description}
        assert results == {True, False}, path


def test_an_operator_the_generator_does_not_know_skips_the_policy_with_a_reason(tmp_path):
    unread = RICH.replace(
        '"build.metadata.release.tags": "stable"',
        '"build.metadata.release.tags": {"$regex": "^s"}',
    )
    result = compile_sources([str(write_sources(tmp_path, {"p.rg": unread}))], with_tests=True)
    assert result.files is not None and result.tests is not None
    (module,) = result.tests.generated
    assert [(p.title, p.skipped, len(p.cases)) for p in module.policies] == [
        (
            'policy "Release" (p.rg:17)',
            "the boundary generator does not know operator $regex yet",
            0,
        ),
        ('policy "Any" (p.rg:31)', None, 1),
    ]
    rego = result.files["regate/tests/boundaries/p_test.rego"].decode()
    assert (
        '# policy "Release" (p.rg:17): no boundary tests, '
        "the boundary generator does not know operator $regex yet"
    ) in rego


def test_paths_through_an_array_of_objects_are_built_through_it(tmp_path):
    result = check_sources([str(write_sources(tmp_path, {"p.rg": FINDINGS}))])
    assert result.program is not None
    (policy,) = boundaries(result.program)
    found = [
        (c.description, c.expected, c.input["entities"]["build"]["metadata"]["scan"])
        for c in policy.cases
        if "another element" in c.description
    ]
    severity, count = "build.metadata.scan.findings.severity", "build.metadata.scan.findings.count"
    assert found == [
        (
            f'{severity} = "critical" in another element of the array',
            False,
            {"findings": [{"severity": "critica", "count": 9}, {"severity": "critical"}]},
        ),
        (
            f"{count} = 10 in another element of the array",
            True,  # the first element's 9 matches $lt 10: any element may
            {"findings": [{"severity": "critica", "count": 9}, {"count": 10}]},
        ),
    ]


@pytest.mark.opa
@pytest.mark.parametrize("example", ["quality-gates", "rich", "findings"])
def test_opa_test_on_the_built_bundle_alone_passes_the_boundary_tests(example, opa, tmp_path):
    sources = (
        QUALITY_GATES
        if example == "quality-gates"
        else write_sources(tmp_path, {"p.rg": EXAMPLES[example]})
    )
    result = compile_sources([str(sources)], with_tests=True)
    assert result.files is not None and result.tests is not None
    cases = sum(len(p.cases) for m in result.tests.generated for p in m.policies)
    bundle = tmp_path / "bundle"
    write_directory(str(bundle), result.files)
    for target in (str(bundle), str(build([sources], tmp_path, with_tests=True))):
        done = subprocess.run(
            [opa, "test", "--bundle", target, "--run", "boundaries", "--format", "json"],
            capture_output=True,
            text=True,
        )
        assert done.returncode == 0, done.stdout + done.stderr
        outcomes = json.loads(done.stdout)
        assert len(outcomes) == cases >= 5
        assert all(not o.get("fail") for o in outcomes)


@pytest.mark.opa
def test_a_compiled_policy_that_disagrees_fails_its_boundary_test(tmp_path):
    result = compile_sources([str(QUALITY_GATES)], with_tests=True)
    assert result.files is not None
    conditions = result.files["regate/conditions/conditions.rego"].decode()
    # The compiled gate drifts from the source: 81 instead of 80, in the test over
    # the field's ref (SharedTest.plain_path) and over what the path rule reached alike.
    for test in ("coverage.code.coverage >= 80\n", "candidate >= 80\n"):
        assert conditions.count(test) == 1, test
        conditions = conditions.replace(test, test.replace("80", "81"))
    result.files["regate/conditions/conditions.rego"] = conditions.encode()
    write_directory(str(tmp_path), result.files)
    run = run_tests(result, str(tmp_path))
    assert run.passed == 24
    generated, written = run.failures  # sorted by file
    assert (str(written.span), written.code) == (f"{QUALITY_GATES}/tests.rg:42:6", "RG082")
    assert (str(generated.span), generated.code) == (f"{QUALITY_GATES}/policies.rg:5:8", "RG083")
    assert generated.message == (
        'generated boundary case 1 of policy "Code Coverage" failed: '
        "build.metadata.coverage.code.coverage = 80: regate reads the conditions as true, "
        "the compiled policy says false"
    )


def test_test_data_changes_neither_the_revision_nor_what_decisions_read(tmp_path):
    with_tests = compile_sources([str(QUALITY_GATES)], with_tests=True).files
    without = compile_sources([str(QUALITY_GATES)]).files
    assert with_tests is not None and without is not None
    assert with_tests[".manifest"] == without[".manifest"]
    assert with_tests["regate/catalog/data.json"] == without["regate/catalog/data.json"]
    added = set(with_tests) - set(without)
    assert added == {
        "regate/boundaries/data.json",
        "regate/tests/boundaries/policies_test.rego",
        "regate/tests/cases/data.json",
        "regate/tests/tests_test.rego",
    }
    assert not any(
        b"data.regate.boundaries" in with_tests[p] for p in with_tests if "tests/" not in p
    )
    again = compile_sources([str(QUALITY_GATES)], with_tests=True).files
    assert tar_gz(with_tests) == tar_gz(again or {})


@pytest.mark.opa
def test_decisions_are_the_same_with_the_test_data_in_the_bundle(tmp_path):
    request = load_request("01-coverage-70.json")
    with_tests = build([QUALITY_GATES], tmp_path, with_tests=True)
    (tmp_path / "plain").mkdir()
    without = build([QUALITY_GATES], tmp_path / "plain")
    assert eval_bundle(str(with_tests), request) == eval_bundle(str(without), request)


def test_boundary_module_paths_follow_the_sources(tmp_path):
    sources = write_sources(tmp_path, {"teams/a.rg": RICH})
    result = compile_sources([str(sources)], with_tests=True)
    assert result.files is not None
    assert sorted(p for p in result.files if "tests" in p or "boundaries" in p) == [
        "regate/boundaries/data.json",
        "regate/tests/boundaries/teams.a_test.rego",
    ]


# Every v0 operator on fields the schemas leave untyped (so the array cases are generated too).
OPERATOR_FORMS = [
    '{"scope.capabilities.x": 1}',
    '{"scope.capabilities.x": null}',
    '{"scope.capabilities.x": [1, 2]}',
    '{"scope.capabilities.x": {"$eq": "a"}}',
    '{"scope.capabilities.x": {"$ne": true}}',
    '{"scope.capabilities.x": {"$gt": 1.5}}',
    '{"scope.capabilities.x": {"$gte": "m"}}',
    '{"scope.capabilities.x": {"$lt": 0}}',
    '{"scope.capabilities.x": {"$lte": -2}}',
    '{"scope.capabilities.x": {"$gte": null}}',
    '{"scope.capabilities.x": {"$gt": false}}',
    '{"scope.capabilities.x.y": null}',
    '{"scope.capabilities.x": {"$in": [1, "1", null]}}',
    '{"scope.capabilities.x": {"$nin": [false, {"a": 1}]}}',
    '{"scope.capabilities.x": {"$exists": true}}',
    '{"scope.capabilities.x": {"$exists": false}}',
    '{"scope.capabilities.x": {"$not": {"$gte": 3, "$lt": 5}}}',
    '{"scope.capabilities.x": {"$type": "string"}}',
    '{"scope.capabilities.x": {"$type": ["int", "null"]}}',
    '{"scope.capabilities.x": {"$type": "long"}}',
    '{"scope.capabilities.x": {"$type": "number"}}',
    '{"scope.capabilities.x": {"$not": {"$type": ["array", "object"]}}}',
    '{"scope.capabilities.x": {"$all": ["a", "b"]}}',
    '{"scope.capabilities.x": {"$all": [1]}}',
    '{"scope.capabilities.x": {"$all": [[1, 2]]}}',
    '{"scope.capabilities.x": {"$not": {"$all": [true, null]}}}',
    '{"scope.capabilities.x": {"$size": 2}}',
    '{"scope.capabilities.x": {"$size": 0}}',
    '{"scope.capabilities.x.y": {"$size": 1}}',
    '{"scope.capabilities.x": {"$mod": [4, 1]}}',
    '{"scope.capabilities.x": {"$mod": [3, -1]}}',
    '{"scope.capabilities.x": {"$not": {"$mod": [2, 0]}, "$exists": true}}',
    '{"scope.capabilities.x": {"$gte": 1, "$lt": 3}, "scope.capabilities.y.z": "on"}',
    '{"$or": [{"scope.capabilities.x": 1}, {"scope.capabilities.y": {"$gt": 2}}]}',
    '{"$nor": [{"scope.capabilities.x": 1}, {"scope.capabilities.y": {"$exists": true}}]}',
    '{"$and": [{"scope.capabilities.x.0": "a"}, {"scope.capabilities.x": {"$ne": "b"}}]}',
]


@pytest.mark.opa
def test_every_operator_form_passes_its_boundary_tests_in_opa(opa, tmp_path):
    policies = "\n".join(
        f'policy "p{n}" {{ nrn = "organization=1" conditions = {form} }}'
        for n, form in enumerate(OPERATOR_FORMS)
    )
    names = ", ".join(f'"p{n}"' for n in range(len(OPERATOR_FORMS)))
    action = f'action "a" {{ action = "scope:create" nrn = "organization=1" policies = [{names}] }}'
    result = compile_sources(
        [str(write_sources(tmp_path, {"p.rg": policies + "\n" + action}))], with_tests=True
    )
    assert result.files is not None and result.tests is not None
    policies_found = [p for m in result.tests.generated for p in m.policies]
    assert [p.skipped for p in policies_found] == [None] * len(OPERATOR_FORMS)
    for policy in policies_found:  # every policy has cases on both sides of its boundaries
        assert {c.expected for c in policy.cases} == {True, False}, policy.title
    # Over 500 lines in one module (Regal's file-length): numbered parts, every case run.
    modules = sorted(p for p in result.files if p.startswith("regate/tests/boundaries/"))
    assert modules[-1] == "regate/tests/boundaries/p_test.rego"
    assert modules[:-1] == [
        f"regate/tests/boundaries/p.part{n}_test.rego" for n in range(2, len(modules) + 1)
    ]
    assert len(modules) > 1
    assert all(len(result.files[m].splitlines()) <= 500 for m in modules)
    write_directory(str(tmp_path / "bundle"), result.files)
    run = run_tests(result, str(tmp_path / "bundle"))
    assert run.failures == ()
    assert run.passed == run.generated == sum(len(p.cases) for p in policies_found) > 150


def test_ordering_against_an_array_is_left_to_the_rego(tmp_path):
    source = 'policy "p" { nrn = "organization=1" conditions = {"scope.capabilities.v": {"$gt": [1, 2]}} }'
    result = check_sources([str(write_sources(tmp_path, {"p.rg": source}))])
    assert result.program is not None
    (found,) = boundaries(result.program)
    assert (found.skipped, found.cases) == (
        "the boundary generator does not know operator $gt with an array operand yet",
        (),
    )
