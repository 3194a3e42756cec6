"""Tenant-sized bundles (`regate build --split-by`): the router and the tenant
bundles, loaded together in a real OPA, decide every request as the one bundle
does; a sidecar that holds only some tenants decides theirs alike and denies the
others, saying which bundle it lacks; a sidecar pulls them from a registry."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
import tarfile
from pathlib import Path
from typing import Any

import pytest

from compiler.driver import check_sources
from compiler.fleet.tenants import Tenant, moved
from compiler.opa import BATCH_QUERY
from tests.conftest import QUALITY_GATES, REPO, load_request, run_cli
from tests.fleet.conftest import revision_of, wait_for

sys.path.insert(0, str(REPO / "bench"))
from corpus import SIZES, write_corpus
from corpus import request as sample_request

pytestmark = pytest.mark.opa

ACTIONS = ("deployment:create", "scope:create", "scope:delete")
DIMENSIONS = (
    {"environment": "production", "country": "ar", "tier": "gold"},
    {"environment": "staging", "country": "br", "tier": "silver"},
)


def requests() -> dict[str, Any]:
    """Requests at every level of the benchmark corpus's NRN tree, in organisations
    with actions and without, in accounts with a bundle of their own and without, for
    several actions and scopes; and malformed ones."""
    nrns = ["organization=1", "organization=9:account=1", "organization=1:account=99:namespace=1"]
    for organization in (1, 2, 3, 4):
        for account in (1, 2, 4):
            nrns += [
                f"organization={organization}:account={account}",
                f"organization={organization}:account={account}:namespace=1:application=1:scope=1",
                f"organization={organization}:account={account}:namespace=3:application=1",
            ]
    found: dict[str, Any] = {}
    for nrn in nrns:
        for action in ACTIONS:
            for n, dimensions in enumerate(DIMENSIONS):
                request = sample_request("x", dimensions)
                found[f"{nrn} {action} {n}"] = {**request, "action": action, "nrn": nrn}
    found["not an object"] = "deploy"
    found["no nrn"] = {"action": "deployment:create", "entities": {}}
    found["nrn not a string"] = {"action": "deployment:create", "nrn": 1, "entities": {}}
    return found


def decide(opa: str, bundles: list[Path], batch: dict[str, Any], tmp_path: Path) -> Any:
    """Every request in one `opa eval` over the bundles; revisions left out."""
    (tmp_path / "batch.json").write_text(json.dumps({"requests": batch}))
    loaded = [a for b in bundles for a in ("--bundle", str(b))]
    done = subprocess.run(
        [opa, "eval", *loaded, "--input", str(tmp_path / "batch.json"), "--format", "json",
         BATCH_QUERY],
        capture_output=True, text=True, check=False,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    decisions = json.loads(done.stdout)["result"][0]["expressions"][0]["value"]
    return {name: {k: v for k, v in d.items() if k != "revision"} for name, d in decisions.items()}


@pytest.fixture(scope="module")
def corpus(tmp_path_factory: pytest.TempPathFactory) -> Path:
    directory = tmp_path_factory.mktemp("corpus")
    write_corpus(SIZES["medium"], directory)
    return directory


@pytest.mark.parametrize("split_by", ["organization", "account"])
def test_the_split_bundles_decide_as_the_one_bundle(opa, corpus, tmp_path, split_by):
    whole = tmp_path / "whole.tar.gz"
    assert run_cli("build", str(corpus), "-o", str(whole)).exit_code == 0
    out = tmp_path / "split"
    built = run_cli("build", str(corpus), "-o", str(out), "--split-by", split_by)
    assert built.exit_code == 0, built.output
    index = json.loads((out / "bundles.json").read_text())["bundles"]
    bundles = {name: out / f"{name}.tar.gz" for name in index}
    assert sorted(p.name for p in out.iterdir()) == sorted(
        ["bundles.json", *(p.name for p in bundles.values())]
    )
    expected_nrns = {
        "organization": {f"organization={o}" for o in (1, 2, 3, 4)},
        "account": {f"organization={o}:account={a}" for o in (1, 2) for a in (1, 2, 3, 4)}
        | {"organization=1", "organization=2", "organization=3", "organization=3:account=1",
           "organization=4:account=1"},
    }[split_by]  # fmt: skip
    assert {entry["nrn"] for name, entry in index.items() if name != "regate"} == expected_nrns
    whole_actions = sum(1 for line in (corpus / "actions.rg").read_text().splitlines()
                        if line.startswith("action "))  # fmt: skip
    assert max(e["actions"] for e in index.values()) < whole_actions

    batch = requests()
    expected = decide(opa, [whole], batch, tmp_path)
    assert sum(bool(d["actions"]) for d in expected.values()) >= 40  # not all empty
    assert decide(opa, list(bundles.values()), batch, tmp_path) == expected

    # A sidecar with the router and one tenant: that tenant's requests decide alike,
    # any other tenant's are denied, naming the bundle the sidecar lacks.
    tenant = "organization_1" if split_by == "organization" else "organization_1_account_2"
    served = index[tenant]["nrn"]
    partial = decide(opa, [bundles["regate"], bundles[tenant]], batch, tmp_path)
    for name, decision in partial.items():
        nrn = batch[name].get("nrn") if isinstance(batch[name], dict) else None
        covering = [n for n in (e["nrn"] for e in index.values()) if n and isinstance(nrn, str)
                    and f"{nrn}:".startswith(f"{n}:")]  # fmt: skip
        if not covering or max(covering, key=len) == served:
            assert decision == expected[name], name
        else:
            owner = max(covering, key=len)
            assert decision == {
                "result": "deny",
                "actions": [],
                "errors": [
                    f"this OPA does not serve the bundle of {owner} ({index_id(index, owner)}): "
                    "its configuration must pull it"
                ],
            }, name


PLATFORM_ORG = REPO / "bundles" / "platform-org"


@pytest.mark.parametrize("split_by", ["organization", "account"])
def test_selectors_checklists_and_secrets_decide_alike_split(opa, tmp_path, split_by):
    """bundles/platform-org: two teams' accounts, a selector, a checklist with a manual
    item, parameter:read-secrets; its test blocks' requests, at other NRNs too."""
    whole = tmp_path / "whole.tar.gz"
    assert run_cli("build", str(PLATFORM_ORG), "-o", str(whole)).exit_code == 0
    out = tmp_path / "split"
    built = run_cli("build", str(PLATFORM_ORG), "-o", str(out), "--split-by", split_by)
    assert built.exit_code == 0, built.output
    program = check_sources([str(PLATFORM_ORG)]).program
    assert program is not None
    batch: dict[str, Any] = {}
    for test in program.tests:
        request = test.request
        assert isinstance(request, dict)
        batch[test.name] = request
        for n, nrn in enumerate(("organization=1", "organization=1:account=3:namespace=9",
                                 "organization=2:account=2")):  # fmt: skip
            batch[f"{test.name} at {n}"] = {**request, "nrn": nrn}
    expected = decide(opa, [whole], batch, tmp_path)
    assert {d["result"] for d in expected.values()} >= {"approve", "manual", "deny"}
    assert decide(opa, sorted(out.glob("*.tar.gz")), batch, tmp_path) == expected


def index_id(index: dict[str, Any], nrn: str) -> str:
    (name,) = [n for n, e in index.items() if e["nrn"] == nrn]
    return name


def test_every_split_bundle_is_fmt_and_strict_clean_and_roots_do_not_overlap(opa, tmp_path):
    out = tmp_path / "split"
    assert (
        run_cli("build", str(QUALITY_GATES), "-o", str(out), "--split-by", "account").exit_code == 0
    )
    roots = []
    for bundle in sorted(out.glob("*.tar.gz")):
        directory = tmp_path / bundle.name.removesuffix(".tar.gz")
        with tarfile.open(bundle) as archive:
            archive.extractall(directory, filter="data")
        roots += json.loads((directory / ".manifest").read_text())["roots"]
        for check in (["fmt", "--list", "--fail", str(directory)],
                      ["check", "--strict", "--bundle", str(directory)]):  # fmt: skip
            done = subprocess.run([opa, *check], capture_output=True, text=True)
            assert done.returncode == 0, (bundle.name, done.stdout + done.stderr)
    assert sorted(roots) == [
        "regate",
        "regate_tenants/common",
        "regate_tenants/organization_1",
        "regate_tenants/organization_1_account_2",
    ]


def test_moving_rewrites_code_never_strings_or_comments():
    tenant = Tenant(("organization=1",), "organization_1")
    text = (
        "package regate.policies\n\nimport data.regate.conditions\n\n"
        "# data.regate.catalog is read below\nx := data.regate.catalog.revision if "
        '"data.regate.x" != `package regate`\n'
        "y := data.regate_tenants.other.decision\n"
    )
    assert moved(text, tenant) == (
        "package regate_tenants.organization_1.policies\n\n"
        "import data.regate_tenants.organization_1.conditions\n\n"
        "# data.regate.catalog is read below\n"
        "x := data.regate_tenants.organization_1.catalog.revision if "
        '"data.regate.x" != `package regate`\n'
        "y := data.regate_tenants.other.decision\n"
    )


def test_a_rebuild_removes_the_bundle_of_a_tenant_that_is_gone(tmp_path):
    sources = tmp_path / "sources"
    sources.mkdir()
    for name in ("policies.rg", "specifications.rg", "actions.rg"):
        (sources / name).write_text((QUALITY_GATES / name).read_text())
    shutil.copytree(QUALITY_GATES / "schemas", sources / "schemas")
    out = tmp_path / "split"
    first = run_cli("build", str(sources), "-o", str(out), "--split-by", "account")
    assert first.exit_code == 0, first.output
    assert (out / "organization_1_account_2.tar.gz").exists()
    (out / "notes.txt").write_text("not regate's")

    actions = (sources / "actions.rg").read_text()
    production = actions.index('action "deployment-create-production"')
    secrets = actions.index("# Every production deployment")
    (sources / "actions.rg").write_text(actions[:production] + actions[secrets:])
    policies = (sources / "policies.rg").read_text()
    (sources / "policies.rg").write_text(policies[policies.index('policy "No Leaked Secrets"') :])
    second = run_cli("build", str(sources), "-o", str(out), "--split-by", "account")
    assert second.exit_code == 0, second.output
    assert (
        f"{out}/organization_1_account_2.tar.gz: removed, no action is at or above its NRN now"
        in (second.stdout)
    )
    assert sorted(p.name for p in out.iterdir()) == [
        "bundles.json", "notes.txt", "organization_1.tar.gz", "regate.tar.gz"
    ]  # fmt: skip


def test_split_usage_errors(tmp_path):
    tests = run_cli("build", str(QUALITY_GATES), "-o", str(tmp_path / "o"), "--split-by",
                    "account", "--with-tests")  # fmt: skip
    assert tests.exit_code == 2
    assert "--with-tests is for one bundle" in tests.stderr
    (tmp_path / "file").write_text("")
    file = run_cli(
        "build", str(QUALITY_GATES), "-o", str(tmp_path / "file"), "--split-by", "account"
    )
    assert file.exit_code == 1
    assert "error[RG061]: cannot write" in file.stderr
    assert "with --split-by, the output is a directory" in file.stderr
    level = run_cli("build", str(QUALITY_GATES), "-o", str(tmp_path / "o"), "--split-by", "team")
    assert level.exit_code == 2


def test_a_sidecar_pulls_the_router_and_its_tenant_from_a_registry(
    registry, fleet_key, fleet_sidecar, tmp_path
):
    out = tmp_path / "split"
    signing = ["--signing-key", str(fleet_key.private), "--signing-key-id", "fleet",
               "--scope", "production"]  # fmt: skip
    built = run_cli("build", str(QUALITY_GATES), "-o", str(out), "--split-by", "account", *signing)
    assert built.exit_code == 0, built.output
    references = []
    for name in ("regate", "organization_1_account_2"):
        reference = f"{registry.host}/policies/{name.replace('_', '-')}:production"
        published = run_cli("publish", str(out / f"{name}.tar.gz"), reference, "--plain-http")
        assert published.exit_code == 0, published.output
        references.append(f"{name}={reference}")
    written = run_cli(
        "sidecar-config", *references, "-o", str(tmp_path / "sidecar"), "--plain-http",
        "--verification-key", str(fleet_key.public), "--key-id", "fleet", "--scope", "production",
        "--poll-min", "1", "--poll-max", "1",
    )  # fmt: skip
    assert written.exit_code == 0, written.output
    sidecar = fleet_sidecar(tmp_path / "sidecar", tmp_path / "sidecar.log")
    request = load_request("01-coverage-70.json")  # organization=1:account=2:...
    tenant_revision = revision_of(out / "organization_1_account_2.tar.gz")
    wait_for(
        "the tenant's bundle", lambda: sidecar.decide(request).get("revision") == tenant_revision
    )
    whole = tmp_path / "whole.tar.gz"
    assert run_cli("build", str(QUALITY_GATES), "-o", str(whole)).exit_code == 0
    expected = json.loads(run_cli("decide", "--bundle", str(whole), "--input",
                                  str(QUALITY_GATES / "requests" / "01-coverage-70.json")).stdout)  # fmt: skip
    decision = sidecar.decide(request)
    assert {k: v for k, v in decision.items() if k != "revision"} == {
        k: v for k, v in expected.items() if k != "revision"
    }
    # Another account of organization 1: its organisation's bundle decides, which
    # this sidecar does not pull.
    elsewhere = sidecar.decide({**request, "nrn": "organization=1:account=7"})
    assert (elsewhere["result"], elsewhere["errors"]) == (
        "deny",
        ["this OPA does not serve the bundle of organization=1 (organization_1): "
         "its configuration must pull it"],
    )  # fmt: skip
    assert sidecar.bundle_status("regate").get("active_revision") == revision_of(
        out / "regate.tar.gz"
    )
