"""`regate sidecar-config`: the files it writes are what a real OPA (v1.22.2)
runs with, and what it refuses it refuses before writing anything."""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path

import pytest
import yaml
from click.testing import CliRunner
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec

from compiler.cli import main
from tests.conftest import REPO, load_request, run_cli, write_sources
from tests.fleet.conftest import FleetSidecar, build_bundle, revision_of, wait_for
from tests.fleet.registry import PASSWORD, USER, Registry

REFERENCE = "registry.example.com/policies/quality-gates:production"


def sidecar_config(tmp_path: Path, *arguments: str):  # type: ignore[no-untyped-def]
    return run_cli("sidecar-config", *arguments, "-o", str(tmp_path / "sidecar"))


def written(tmp_path: Path) -> dict[str, object]:
    return dict(yaml.safe_load((tmp_path / "sidecar" / "opa-config.yaml").read_text()))


def test_the_configuration_names_service_bundle_key_scope_logs_and_status(fleet_key, tmp_path):
    result = sidecar_config(
        tmp_path, REFERENCE, "--verification-key", str(fleet_key.public), "--key-id", "fleet",
        "--scope", "production", "--label", "region=eu-west-1",
        "--persistence-dir", "/var/opa",
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    directory = tmp_path / "sidecar"
    assert result.stdout == (
        "opa run --server --addr 127.0.0.1:8181 --optimize-store-for-read-speed "
        f"--config-file {directory}/opa-config.yaml\n"
    )
    assert written(tmp_path) == {
        "services": {"registry": {"url": "https://registry.example.com", "type": "oci"}},
        "bundles": {
            "quality-gates": {
                "service": "registry",
                "resource": REFERENCE,
                "polling": {"min_delay_seconds": 10, "max_delay_seconds": 30},
                "persist": True,
                "signing": {"keyid": "fleet", "scope": "production"},
            }
        },
        "keys": {"fleet": {"key": fleet_key.public.read_text(), "algorithm": "RS256"}},
        "decision_logs": {"console": True},
        "status": {"console": True},
        "labels": {"region": "eu-west-1"},
        "persistence_directory": "/var/opa",
    }
    assert not (directory / "mask.rego").exists()


def test_several_bundles_from_several_registries(tmp_path):
    result = sidecar_config(
        tmp_path, "a.example.com/tenants/org-1:prod", "org-2=b.example.com:5000/tenants/x:prod",
        "--unsigned", "--plain-http",
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    config = written(tmp_path)
    assert config["services"] == {
        "registry-1": {"url": "http://a.example.com", "type": "oci"},
        "registry-2": {"url": "http://b.example.com:5000", "type": "oci"},
    }
    assert {name: b["service"] for name, b in config["bundles"].items()} == {  # type: ignore[attr-defined]
        "org-1": "registry-1",
        "org-2": "registry-2",
    }
    assert "keys" not in config


USAGE_ERRORS = {
    "no verification": ([REFERENCE], "give one of --verification-key (RS256, ES256), "),
    "two verifications": (
        [REFERENCE, "--unsigned", "--verification-key-env", "SECRET"],
        "not --verification-key-env and --unsigned",
    ),
    "scope unsigned": ([REFERENCE, "--unsigned", "--scope", "p"], "--unsigned has none"),
    "env for RS256": (
        [REFERENCE, "--verification-key-env", "SECRET"],
        "with --signing-alg RS256 give the public key file",
    ),
    "env name": (
        [REFERENCE, "--verification-key-env", "not a name", "--signing-alg", "HS256"],
        "is not an environment variable name",
    ),
    "bad reference": (["policies/qg:production", "--unsigned"], "names no registry"),
    "no tag": (["r.example.com/policies/qg", "--unsigned"], "must name a tag"),
    "same name": (
        ["r.example.com/a/qg:1", "s.example.com/b/qg:2", "--unsigned"],
        "two bundles named 'qg': name each, NAME=REF",
    ),
    "mask entity": ([REFERENCE, "--unsigned", "--mask", "bild.metadata.x"], 'did you mean "build"'),
    "mask empty": ([REFERENCE, "--unsigned", "--mask", "build..x"], "has an empty segment"),
    "polling": ([REFERENCE, "--unsigned", "--poll-min", "9", "--poll-max", "3"], "at least"),
    "label": ([REFERENCE, "--unsigned", "--label", "region"], "is not KEY=VALUE"),
}


@pytest.mark.parametrize("case", sorted(USAGE_ERRORS))
def test_usage_errors_write_nothing(tmp_path, case):
    arguments, message = USAGE_ERRORS[case]
    result = sidecar_config(tmp_path, *arguments)
    assert result.exit_code == 2, result.output
    assert message in result.stderr
    assert not (tmp_path / "sidecar").exists()


def test_keys_a_sidecar_cannot_use_are_refused(fleet_key, tmp_path):
    ec_public = tmp_path / "ec.pub"
    ec_public.write_bytes(
        ec.generate_private_key(ec.SECP384R1())
        .public_key()
        .public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
    )
    cases = [
        ([str(fleet_key.private)], f"{fleet_key.private} is a private key: a sidecar needs only "
         f"the public key\nhelp: openssl pkey -in {fleet_key.private} -pubout -out public.pem"),
        ([str(tmp_path / "missing.pub")], "cannot read verification key"),
        ([str(REPO / "README.md")], "is not a PEM public key\nhelp: RS256 needs an RSA public key"),
        ([str(fleet_key.public), "--signing-alg", "ES256"], "cannot verify ES256 signatures"),
        ([str(ec_public), "--signing-alg", "ES256"], "cannot verify ES256 signatures"),
        ([str(fleet_key.public), "--signing-alg", "HS256"],
         "HS256 verifies with the signing secret, which must not be written"),
    ]  # fmt: skip
    for arguments, message in cases:
        result = sidecar_config(tmp_path, REFERENCE, "--verification-key", *arguments)
        assert result.exit_code == 1, result.output
        assert "error[RG122]: " in result.stderr
        assert message in result.stderr
        assert "PRIVATE KEY" not in result.output
        assert not (tmp_path / "sidecar").exists()


def test_the_mask_policy_is_fmt_and_strict_clean(opa, tmp_path):
    result = sidecar_config(
        tmp_path, REFERENCE, "--unsigned", "--mask", "build.metadata.security",
        "--mask", "scope.dimensions",
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    mask = tmp_path / "sidecar" / "mask.rego"
    assert result.stdout.endswith(f" {mask}\n")
    for check in (["fmt", "--list", "--fail"], ["check", "--strict"]):
        done = subprocess.run([opa, *check, str(mask)], capture_output=True, text=True)
        assert done.returncode == 0, done.stdout + done.stderr


SECRET = 31337.5  # a value no log may show once its field is masked
MASKED_SOURCES = {
    "specifications.rg": """
specification "Secrets" {
  entity   = build
  metadata = vault
  nrn      = "organization=1"
  schema   = {"type": "object", "properties": {
    "token": {"type": "number"},
    "leases": {"type": "array", "items": {"type": "object", "properties": {"ttl": {"type": "number"}}}}}}
}
""",
    "policies.rg": """
policy "Token" {
  nrn        = "organization=1"
  conditions = {"build.metadata.vault.token": {"$lt": 10}}
}
policy "Token or leases" {
  nrn        = "organization=1"
  conditions = {"$or": [{"build.metadata.vault.token": {"$eq": 0}},
                        {"build.metadata.vault.leases": {"$elemMatch": {"ttl": {"$lt": 5}}}}]}
}
""",
    "actions.rg": """
action "deploy" {
  entity         = deployment
  action         = "deployment:create"
  nrn            = "organization=1"
  on_policy_fail = deny
  policies       = ["Token", "Token or leases"]
}
""",
}


def test_masked_fields_leave_no_trace_in_the_decision_logs(opa, registry, fleet_sidecar, tmp_path):
    """Masked in the logged request and in what failed conditions (nested under $or
    and $elemMatch) say the request held; the client still gets it all."""
    bundle = tmp_path / "masked.tar.gz"
    assert run_cli("build", str(write_sources(tmp_path / "src", MASKED_SOURCES)),
                   "-o", str(bundle)).exit_code == 0  # fmt: skip
    reference = f"{registry.host}/policies/masked:production"
    assert run_cli("publish", str(bundle), reference, "--plain-http").exit_code == 0
    result = sidecar_config(
        tmp_path, reference, "--unsigned", "--plain-http", "--poll-min", "1", "--poll-max", "1",
        "--mask", "build.metadata.vault",
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    sidecar = fleet_sidecar(tmp_path / "sidecar", tmp_path / "sidecar.log")
    request = {
        "action": "deployment:create",
        "nrn": "organization=1:account=2",
        "entities": {"scope": {"dimensions": {}}, "build": {"metadata": {"vault": {
            "token": SECRET, "leases": [{"ttl": SECRET}, {"ttl": SECRET + 1}]}}}},
    }  # fmt: skip
    wait_for("the bundle", lambda: sidecar.decide(request).get("revision") == revision_of(bundle))
    decision = sidecar.decide(request)
    assert decision["result"] == "deny"
    assert str(SECRET) in json.dumps(decision)  # the client sees what failed
    sidecar.stop()

    logged = [
        json.loads(line)
        for line in (tmp_path / "sidecar.log").read_text().splitlines()
        if '"Decision Log"' in line
    ]
    assert len(logged) >= 2
    for event in logged:
        text = json.dumps(event)
        assert str(SECRET) not in text and str(SECRET + 1) not in text
        assert event["input"]["entities"]["build"]["metadata"] == {}
    erased = set(logged[-1]["erased"])
    assert "/input/entities/build/metadata/vault" in erased
    assert any(p.endswith("/elements") for p in erased), erased  # the $elemMatch's elements
    # $lt; under $or, $eq and the array $elemMatch reached
    assert sum(p.endswith("/actual") for p in erased) == 3, erased


def test_hs256_and_registry_credentials_come_from_the_sidecars_environment(
    opa, fleet_sidecar, tmp_path
):
    """The secret and the registry password are in no file: OPA reads ${VARIABLE}."""
    secret = "an HS256 secret shared by the build and the fleet only"
    locked_dir = tmp_path / "locked"
    locked_dir.mkdir()
    locked = Registry(locked_dir, with_auth=True)
    try:
        bundle = build_bundle(
            tmp_path, 80, "--signing-key", secret, "--signing-alg", "HS256",
            "--signing-key-id", "fleet",
        )  # fmt: skip
        reference = f"{locked.host}/policies/qg:production"
        published = CliRunner().invoke(
            main, ["publish", str(bundle), reference, "--plain-http"],
            env={"REGATE_REGISTRY_USERNAME": USER, "REGATE_REGISTRY_PASSWORD": PASSWORD},
        )  # fmt: skip
        assert published.exit_code == 0, published.output
        result = sidecar_config(
            tmp_path, reference, "--plain-http", "--signing-alg", "HS256",
            "--verification-key-env", "BUNDLE_SECRET", "--key-id", "fleet",
            "--registry-auth-env", "REGISTRY_AUTH", "--poll-min", "1", "--poll-max", "1",
        )  # fmt: skip
        assert result.exit_code == 0, result.output
        text = (tmp_path / "sidecar" / "opa-config.yaml").read_text()
        assert secret not in text and PASSWORD not in text
        config = written(tmp_path)
        assert config["keys"] == {"fleet": {"key": "${BUNDLE_SECRET}", "algorithm": "HS256"}}
        assert config["services"]["registry"]["credentials"] == {  # type: ignore[index]
            "bearer": {"scheme": "Basic", "token": "${REGISTRY_AUTH}"}
        }

        environment = {"BUNDLE_SECRET": secret, "REGISTRY_AUTH": f"{USER}:{PASSWORD}"}
        saved = {k: os.environ.get(k) for k in environment}
        os.environ.update(environment)  # the sidecar process inherits them
        try:
            sidecar: FleetSidecar = fleet_sidecar(tmp_path / "sidecar", tmp_path / "opa.log")
        finally:
            for key, value in saved.items():
                os.environ.pop(key) if value is None else os.environ.__setitem__(key, value)
        request = load_request("01-coverage-70.json")
        wait_for(
            "the bundle", lambda: sidecar.decide(request).get("revision") == revision_of(bundle)
        )
    finally:
        locked.stop()
