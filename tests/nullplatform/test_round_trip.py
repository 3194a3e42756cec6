"""import → export → import gives the same sources, over the fixtures and over generated
organisations, in both formats; and the imported sources decide as the payloads they
came from, before and after the round trip, on a real OPA."""

from __future__ import annotations

import json
import re
import tempfile
from pathlib import Path

import pytest
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from compiler.nullplatform.export import export_sources
from compiler.nullplatform.importer import import_sources
from compiler.opa import eval_bundle
from tests.conftest import REPO, build, run_cli, without_locations
from tests.nullplatform.conftest import FIXTURES, without_comments
from tests.strategies import nasty_text


def write(files: dict[str, str], directory: Path) -> Path:
    directory.mkdir(parents=True)
    for name, text in files.items():
        (directory / name).write_text(text)
    return directory


def round_trip(source: Path, fmt: str, work: Path) -> tuple[dict[str, str], dict[str, str]]:
    """The sources imported from `source`, and those imported from their export; an
    export or import that fails raises with its diagnostics."""
    first = import_sources(str(source), environment={})
    assert first.files, [d.message for d in first.diagnostics]
    exported = export_sources([str(write(first.files, work / "first"))], fmt)
    if not exported.files:
        codes = sorted({d.code for d in exported.diagnostics if d.severity == "error"})
        raise Refused(", ".join(codes))
    again = import_sources(str(write(exported.files, work / fmt)), environment={})
    assert again.files, [d.message for d in again.diagnostics]
    return first.files, again.files


class Refused(Exception):
    """Export refused the sources (the codes of its errors)."""


def unlabelled(files: dict[str, str]) -> dict[str, str]:
    """The sources as the API keeps them: nullplatform actions have no names."""
    return {
        name: re.sub(r'^action "[^"]*" \{', "action {", text, flags=re.M)
        for name, text in files.items()
    }


# Each fixture, each format: stable, stable but for action labels (the API has no
# names for actions), or refused with these codes.
ROUND_TRIPS = [
    ("upgrade-associations", "terraform", "stable"),  # with the provider's $expr policy
    ("upgrade-associations", "api", "labels"),
    ("show-json", "terraform", "stable"),
    ("upgrade-inline", "terraform", "stable"),
    ("upgrade-inline", "api", "labels"),
    ("upgrade-migrated", "terraform", "stable"),
    ("upgrade-migrated", "api", "labels"),
    ("examples/approval-action", "terraform", "stable"),
    ("examples/approval-action", "api", "labels"),
    ("examples/approval-policy", "terraform", "stable"),
    ("examples/approval-policy", "api", "stable"),
    ("examples/policy-association", "terraform", "stable"),
    ("examples/policy-association", "api", "labels"),
    ("examples/metadata-specification", "terraform", "stable"),
    ("examples/metadata-specification", "api", "stable"),
    ("examples/checklist", "terraform", "stable"),
    ("examples/checklist", "api", "RG093"),  # no ids: the API associates by ids
    ("guide-checklist-migration", "terraform", "stable"),
    ("guide-checklist-migration", "api", "labels"),
    ("api-payloads", "terraform", "RG093"),  # time_to_reply: the provider has none
    ("api-payloads", "api", "stable"),
    ("docs-policy", "terraform", "stable"),
    ("docs-policy", "api", "stable"),
    ("../seed-000", "terraform", "stable"),
    ("../seed-000", "api", "RG093"),
    ("../seed-000-terraform", "terraform", "stable"),
    ("../seed-002", "terraform", "stable"),
    ("../seed-002", "api", "stable"),
    ("../../../bundles/quality-gates-api", "terraform", "stable"),
]


@pytest.mark.parametrize(("folder", "fmt", "expected"), ROUND_TRIPS)
def test_import_export_import_of_each_fixture_is_stable(folder, fmt, expected, tmp_path):
    source = (FIXTURES / folder).resolve()
    if expected.startswith("RG"):
        with pytest.raises(Refused, match=expected):
            round_trip(source, fmt, tmp_path)
        return
    first, again = round_trip(source, fmt, tmp_path)
    first = unlabelled(first) if expected == "labels" else first
    assert without_comments(again) == without_comments(first)


REQUESTS = (
    [
        {
            "action": "deployment:create",
            "nrn": "organization=1:account=2:namespace=3:application=4",
            "entities": {
                "scope": {"dimensions": {"environment": "production"}},
                "build": {
                    "metadata": {
                        "coverage": {"code": {"coverage": coverage}},
                        "security": {
                            "security": {"vulnerabilities": {"critical": critical, "high": 0}}
                        },
                    }
                },
            },
        }
        for coverage, critical in ((85, 0), (70, 0), (90, 2))
    ]
    + [
        {
            "action": "scope:write",
            "nrn": "organization=1:account=2:namespace=3",
            "entities": {
                "scope": {
                    "dimensions": {"environment": "production"},
                    "capabilities": {"auto_scaling": {"instances": {"min_amount": amount}}},
                }
            },
        }
        for amount in (1, 3)
    ]
    + [
        {
            "action": "deployment:create",
            "nrn": "organization=1:account=2:namespace=3",
            "entities": {
                "scope": {"dimensions": {"environment": "staging"}},
                "build": {"metadata": {"diff": {"files": files}}},
            },
            **({"checklist": {"qa_sign_off": "passed"}} if signed else {}),
        }
        for files, signed in ((10, False), (10, True), (80, True))
    ]
    + [
        {
            "action": "parameter:read-secrets",
            "nrn": "organization=1:account=2:namespace=3",
            "entities": {"parameter": {"dimensions": {"environment": "production"}}},
        }
    ]
)


@pytest.mark.opa
def test_imported_payloads_decide_as_the_payloads_before_and_after_a_round_trip(tmp_path, opa):
    original = FIXTURES / "api-payloads"
    first = import_sources(str(original), environment={})
    imported = write(first.files, tmp_path / "imported")
    exported = export_sources([str(imported)], "api")
    again = import_sources(str(write(exported.files, tmp_path / "api")), environment={})
    round_tripped = write(again.files, tmp_path / "round-tripped")
    bundles = []
    for name, sources in (("original", original), ("imported", imported), ("again", round_tripped)):
        (tmp_path / name / "bundle").mkdir(parents=True)
        bundles.append(build([sources], tmp_path / name / "bundle"))
    results = []
    for request in REQUESTS:
        before, *after = (without_locations(eval_bundle(str(b), request)) for b in bundles)
        assert after == [before, before], request
        results.append(before["result"])
    # Policies; the checklist of the migrated action (a manual item unsigned, signed, a
    # failed condition item); a secret.
    assert results == [
        "approve",
        "manual",
        "manual",
        "deny",
        "manual",
        "manual",
        "approve",
        "deny",
        "manual",
    ]


# --- Generated organisations ---

PATH_SEGMENTS = st.sampled_from(["coverage", "percent", "with space", "ñandú", "a.b", "x-y"])
NRNS = ["organization=1", "organization=1:account=2", "organization=1:account=3:namespace=4"]
values = st.one_of(
    st.integers(-(2**53), 2**53),
    st.floats(allow_nan=False, allow_infinity=False, width=32),
    st.booleans(),
    st.none(),
    nasty_text,
)


@st.composite
def conditions(draw: st.DrawFn, depth: int = 2) -> dict[str, object]:
    found: dict[str, object] = {}
    for _ in range(draw(st.integers(1, 3))):
        path = "build.metadata." + ".".join(draw(st.lists(PATH_SEGMENTS, min_size=1, max_size=2)))
        kind = draw(st.integers(0, 3 if depth else 2))
        if kind == 0:
            found[path] = draw(values)
        elif kind == 1:
            found[path] = {draw(st.sampled_from(["$gte", "$lt", "$ne"])): draw(values)}
        elif kind == 2:
            found[path] = {"$in": draw(st.lists(values, max_size=3))}
        else:
            found["$or"] = draw(st.lists(conditions(depth - 1), min_size=1, max_size=2))
    return found


@st.composite
def organisations(draw: st.DrawFn) -> list[dict[str, object]]:
    """An organisation as API payloads: policies (some with selectors), maybe a
    checklist, actions bound to policies or the checklist; with ids or without."""
    with_ids = draw(st.booleans())
    payloads: list[dict[str, object]] = []
    policies = []
    for i in range(draw(st.integers(0, 3))):
        policy: dict[str, object] = {
            "nrn": draw(st.sampled_from(NRNS)),
            "name": f"Policy {i} {draw(nasty_text)}",
            "conditions": draw(conditions()),
        }
        if with_ids:
            policy["id"] = 2000 + i
        if draw(st.booleans()):
            policy["selector"] = {"scope.dimensions.environment": draw(nasty_text)}
        policies.append(policy)
    payloads.extend(policies)
    checklist = None
    if draw(st.booleans()):
        checklist = {
            "nrn": "organization=1",
            "name": draw(nasty_text) or "review",
            "description": draw(nasty_text),
            "definition": {
                "items": [
                    {
                        "id": "review",
                        "type": "manual",
                        "behavior": "gate",
                        "title": draw(nasty_text),
                    }
                ],
                "execution_trigger": draw(st.sampled_from(["explicit", "any_approval"])),
            },
        }
        if with_ids:
            checklist["id"] = "spec_1"
        payloads.append(checklist)
    combinations = draw(
        st.lists(
            st.tuples(
                st.sampled_from(["deployment:create", "scope:create", "scope:delete"]),
                st.sampled_from(NRNS),
                st.dictionaries(
                    st.sampled_from(["environment", "country"]), nasty_text, max_size=2
                ),
            ),
            max_size=3,
            unique_by=lambda c: (c[0], c[1], json.dumps(c[2], sort_keys=True)),
        )
    )
    for i, (name, nrn, dimensions) in enumerate(combinations):
        action: dict[str, object] = {
            "nrn": nrn,
            "entity": name.split(":")[0],
            "action": name,
            "dimensions": dimensions,
            "on_policy_success": draw(st.sampled_from(["approve", "manual"])),
            "on_policy_fail": draw(st.sampled_from(["manual", "deny"])),
        }
        if with_ids:
            action["id"] = 1000 + i
        if checklist is not None and draw(st.booleans()):
            action["checklist"] = checklist.get("id", checklist["name"])
            action["on_checklist_fail"] = draw(st.sampled_from(["deny", "pending", "manual"]))
        elif policies:
            bound = draw(st.lists(st.sampled_from(policies), max_size=2, unique_by=id))
            action["policies"] = [p.get("id", p["name"]) for p in bound]
        payloads.append(action)
    return payloads


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(organisations())
def test_generated_organisations_round_trip_through_both_formats(payloads):
    with tempfile.TemporaryDirectory() as directory:
        work = Path(directory)
        source = work / "payloads"
        source.mkdir()
        (source / "org.json").write_text(json.dumps(payloads, ensure_ascii=False))
        # Nothing to import is RG094, tested elsewhere.
        assume(any(p.get("action") or p.get("conditions") or p.get("definition") for p in payloads))
        first, again = round_trip(source, "terraform", work / "terraform")
        assert without_comments(again) == without_comments(first)
        with_ids = all("id" in p for p in payloads)
        if with_ids:
            first, again = round_trip(source, "api", work / "api")
            assert without_comments(again) == without_comments(first)


def test_the_quality_gates_example_exports_what_nullplatform_has_no_place_for_as_errors(tmp_path):
    """bundles/quality-gates has waivers and test blocks: refused unless --allow-lossy."""
    result = export_sources([str(REPO / "bundles/quality-gates")], "terraform")
    assert result.files == {}
    assert {d.code for d in result.diagnostics if d.severity == "error"} == {"RG093"}
    allowed = export_sources([str(REPO / "bundles/quality-gates")], "terraform", allow_lossy=True)
    assert "nullplatform.tf" in allowed.files


@pytest.mark.opa
@pytest.mark.parametrize("fmt", ["terraform", "api"])
def test_an_organisation_kept_in_regate_goes_to_nullplatform_and_back_passing_its_tests(
    fmt, tmp_path, opa
):
    """bundles/platform-org, exported (its test blocks and, in Terraform, its secrets'
    time limits left out with --allow-lossy) and imported again, passes the tests the
    original passes: its test blocks and every generated boundary case."""
    organisation = REPO / "bundles/platform-org"
    exported = export_sources([str(organisation)], fmt, allow_lossy=True)
    assert exported.files, [d.message for d in exported.diagnostics]
    again = import_sources(str(write(exported.files, tmp_path / fmt)), environment={})
    assert again.files, [d.message for d in again.diagnostics]
    imported = write(again.files, tmp_path / "imported")
    (imported / "tests.rg").write_text((organisation / "tests.rg").read_text())
    result = run_cli("test", str(imported))
    assert result.exit_code == 0, result.stdout + result.stderr
    # Every test block and generated boundary case of the original, passed.
    assert result.stdout == run_cli("test", str(organisation)).stdout
    assert " passed, 0 failed (17 from test blocks" in result.stdout
