"""`regate publish BUNDLE REF` against a real registry (docker-registry on
127.0.0.1): what it pushes is what OPA pulls; what it refuses, it refuses before
anything leaves the machine, with the exit status the README documents."""

from __future__ import annotations

import base64
import gzip
import hashlib
import io
import json
import tarfile
import time
import urllib.request

import pytest
from click.testing import CliRunner

from compiler.bundle import tar_gz
from compiler.cli import main
from compiler.fleet.registry import CONFIG_MEDIA_TYPE, LAYER_MEDIA_TYPE, REVISION_ANNOTATION
from tests.conftest import QUALITY_GATES, free_port, load_request, run_cli
from tests.fleet.conftest import build_bundle, revision_of, wait_for
from tests.fleet.registry import PASSWORD, USER, Registry


def publish(*arguments: str, env: dict[str, str] | None = None):  # type: ignore[no-untyped-def]
    # An empty DOCKER_CONFIG directory unless the test gives one: no credentials of
    # the machine's own user reach the test registry.
    environment = {"DOCKER_CONFIG": "/nonexistent", "REGATE_REGISTRY_USERNAME": None,
                   "REGATE_REGISTRY_PASSWORD": None, **(env or {})}  # fmt: skip
    return CliRunner().invoke(main, ["publish", *arguments], env=environment)


def repositories(registry: Registry) -> list[str]:
    with urllib.request.urlopen(f"{registry.url}/v2/_catalog", timeout=5) as answer:
        return list(json.load(answer)["repositories"])


def test_publish_pushes_the_bundle_as_opa_pulls_it(registry, tmp_path):
    bundle = tmp_path / "bundle.tar.gz"
    assert run_cli("build", str(QUALITY_GATES), "-o", str(bundle)).exit_code == 0
    reference = f"{registry.host}/policies/quality-gates:production"

    result = publish(str(bundle), reference, "--plain-http")

    assert result.exit_code == 0, result.output
    manifest, digest = registry.manifest("policies/quality-gates", "production")
    assert result.stdout == (
        f"published {bundle} to {reference}@{digest}: revision {revision_of(bundle)}, "
        "roots regate, unsigned\n"
    )
    assert manifest["mediaType"] == "application/vnd.oci.image.manifest.v1+json"
    assert manifest["annotations"] == {REVISION_ANNOTATION: revision_of(bundle)}
    config = manifest["config"]
    assert config["mediaType"] == CONFIG_MEDIA_TYPE  # type: ignore[index]
    assert registry.blob("policies/quality-gates", config["digest"]) == b"{}"  # type: ignore[index]
    (layer,) = manifest["layers"]  # type: ignore[misc]
    assert layer["mediaType"] == LAYER_MEDIA_TYPE
    content = registry.blob("policies/quality-gates", layer["digest"])
    assert content == bundle.read_bytes()
    assert layer["digest"] == "sha256:" + hashlib.sha256(content).hexdigest()

    # The same bundle again, from another file name: the same manifest.
    again = tmp_path / "renamed.tar.gz"
    again.write_bytes(bundle.read_bytes())
    assert publish(str(again), reference, "--plain-http").exit_code == 0
    assert registry.manifest("policies/quality-gates", "production")[1] == digest


def test_a_signature_names_its_key_so_opa_finds_it_without_a_keyid(
    registry, fleet_key, fleet_sidecar, tmp_path
):
    """OPA v1.22.2 pulling a signed bundle from a registry with a config that names
    no `signing.keyid` takes the key from the signature's `kid`: without one it
    refuses the bundle ("verification key ID is empty")."""
    request = load_request("01-coverage-70.json")
    results = {}
    for key_id in ("fleet", None):
        named = ["--signing-key-id", key_id] if key_id else []
        bundle = build_bundle(
            tmp_path, 80, "--signing-key", str(fleet_key.private), *named,
            name=f"bundle-{key_id}.tar.gz",
        )  # fmt: skip
        reference = f"{registry.host}/policies/kid-{key_id or 'none'}:production"
        assert publish(str(bundle), reference, "--plain-http").exit_code == 0
        config = tmp_path / f"config-{key_id}"
        config.mkdir()
        opa_config = {
            "services": {"registry": {"url": registry.url, "type": "oci"}},
            "bundles": {"regate": {"service": "registry", "resource": reference, "signing": {},
                                   "polling": {"min_delay_seconds": 1, "max_delay_seconds": 1}}},
            "keys": {"fleet": {"key": fleet_key.public.read_text(), "algorithm": "RS256"}},
            "status": {"console": True},
        }  # fmt: skip
        (config / "opa-config.yaml").write_text(json.dumps(opa_config))
        sidecar = fleet_sidecar(config, tmp_path / f"sidecar-{key_id}.log")
        wait_for(
            "the bundle to be activated or refused",
            lambda s=sidecar: (
                bool(s.bundle_status("regate").get("code"))
                or s.decide(request).get("revision") is not None
            ),
        )
        results[key_id] = (
            sidecar.decide(request).get("revision"),
            sidecar.bundle_status("regate").get("message"),
        )
    assert results["fleet"][0] is not None
    assert results[None] == (None, "unexpected error verification key ID is empty")


def bundle_with(files: dict[str, bytes]) -> bytes:
    return tar_gz(files)


MANIFEST = b'{"revision": "abc", "roots": ["regate"], "rego_version": 1}'
NOT_BUNDLES = {
    "text.tar.gz": (b"hello\n", "not a gzipped tar archive"),
    "gzipped-text.tar.gz": (gzip.compress(b"hello\n" * 100), "not a gzipped tar archive"),
    "empty.tar.gz": (b"", "not a gzipped tar archive"),
    "truncated.tar.gz": (bundle_with({".manifest": MANIFEST})[:40], "not a gzipped tar archive"),
    "no-manifest.tar.gz": (bundle_with({"regate/a.rego": b"package regate\n"}), "has no .manifest"),
    "manifest-not-json.tar.gz": (bundle_with({".manifest": b"{roots"}), ".manifest is not JSON"),
    "manifest-a-list.tar.gz": (bundle_with({".manifest": b"[]"}), "not a JSON object"),
    "no-revision.tar.gz": (bundle_with({".manifest": b'{"roots": ["regate"]}'}), "no revision"),
    "other-roots.tar.gz": (
        bundle_with({".manifest": b'{"revision": "r", "roots": ["regate", "system"]}'}),
        'roots are ["regate", "system"], not regate\'s',
    ),
    "no-roots.tar.gz": (
        bundle_with({".manifest": b'{"revision": "r"}'}), "roots are null, not regate's"
    ),
    "look-alike-root.tar.gz": (
        bundle_with({".manifest": b'{"revision": "r", "roots": ["regatex"]}'}),
        "not regate's",
    ),
    "bad-signatures.tar.gz": (
        bundle_with({".manifest": MANIFEST, ".signatures.json": b'{"signatures": ["a.b.c"]}'}),
        ".signatures.json is not OPA's format",
    ),
    "signatures-not-json.tar.gz": (
        bundle_with({".manifest": MANIFEST, ".signatures.json": b"\xff"}),
        ".signatures.json is not JSON",
    ),
}  # fmt: skip


@pytest.mark.parametrize("name", sorted(NOT_BUNDLES))
def test_publish_refuses_what_is_not_a_regate_bundle_and_pushes_nothing(registry, tmp_path, name):
    content, reason = NOT_BUNDLES[name]
    path = tmp_path / name
    path.write_bytes(content)

    result = publish(str(path), f"{registry.host}/policies/x:production", "--plain-http")

    assert result.exit_code == 1, result.output
    first = result.stderr.splitlines()[0]
    assert first.startswith(f"{path}:1:1: error[RG120]: {path} is not a regate bundle: "), first
    assert reason in first
    assert "Traceback" not in result.output
    assert repositories(registry) == []


def test_publish_refuses_a_missing_file_and_a_directory(registry, tmp_path):
    for path, reason in (
        (tmp_path / "missing.tar.gz", "no such file"),
        (tmp_path, "it is a directory"),
    ):
        result = publish(str(path), f"{registry.host}/policies/x:production", "--plain-http")
        assert result.exit_code == 1
        assert result.stderr.startswith(f"{path}:1:1: error[RG120]: cannot read bundle {path}: ")
        assert reason in result.stderr


BAD_REFERENCES = {
    "quality-gates": "names no registry and repository",
    "policies/quality-gates:production": "names no registry",
    "https://127.0.0.1:5000/policies/qg:production": "is a URL",
    "127.0.0.1:5000/Policies/qg:production": "a repository name is lower case",
    "127.0.0.1:5000/policies/qg": "must name a tag",
    "127.0.0.1:5000/policies/qg@sha256:" + "a" * 64: "must name a tag (and no digest)",
    "127.0.0.1:5000/policies/qg:bad tag": "is not an OCI reference",
    "127.0.0.1:5000/policies//qg:production": "is not an OCI reference",
    "127.0.0.1:5000/policies/qg:" + "t" * 129: "is not an OCI reference",
    "": "names no registry and repository",
}


@pytest.mark.parametrize("reference", sorted(BAD_REFERENCES))
def test_a_bad_reference_is_a_usage_error(tmp_path, reference):
    bundle = tmp_path / "bundle.tar.gz"
    bundle.write_bytes(tar_gz({".manifest": MANIFEST}))
    result = publish(str(bundle), reference)
    assert result.exit_code == 2
    assert "Invalid value for REF: " in result.stderr
    assert BAD_REFERENCES[reference] in result.stderr


def test_registry_failures_exit_3_at_once_with_what_to_do(registry, tmp_path):
    bundle = tmp_path / "bundle.tar.gz"
    assert run_cli("build", str(QUALITY_GATES), "-o", str(bundle)).exit_code == 0

    nobody = f"127.0.0.1:{free_port()}/policies/qg:production"
    started = time.monotonic()
    down = publish(str(bundle), nobody, "--plain-http")
    assert time.monotonic() - started < 5  # one attempt, no retries with back-off
    assert down.exit_code == 3
    assert down.stderr == (
        f"regate: error[RG121]: cannot publish {bundle} to {nobody}: cannot connect to "
        f"{nobody.split('/')[0]}: Connection refused\n"
    )

    tls = publish(str(bundle), f"{registry.host}/policies/qg:production")
    assert tls.exit_code == 3
    assert f"TLS with {registry.host} failed" in tls.stderr
    assert "help: a registry served over plain HTTP (on 127.0.0.1, say) needs --plain-http" in (
        tls.stderr
    )
    assert repositories(registry) == []


@pytest.fixture
def locked_registry(tmp_path):  # type: ignore[no-untyped-def]
    directory = tmp_path / "locked"
    directory.mkdir()
    server = Registry(directory, with_auth=True)
    yield server
    server.stop()


def test_credentials_come_from_the_environment_or_the_docker_config(locked_registry, tmp_path):
    bundle = tmp_path / "bundle.tar.gz"
    assert run_cli("build", str(QUALITY_GATES), "-o", str(bundle)).exit_code == 0
    reference = f"{locked_registry.host}/policies/qg:production"
    host = locked_registry.host

    anonymous = publish(str(bundle), reference, "--plain-http")
    assert anonymous.exit_code == 3
    assert f"{host} asks for credentials for policies/qg" in anonymous.stderr
    assert f"help: log in with `docker login {host}`" in anonymous.stderr

    wrong = publish(str(bundle), reference, "--plain-http", env={
        "REGATE_REGISTRY_USERNAME": USER, "REGATE_REGISTRY_PASSWORD": "not the password"})  # fmt: skip
    assert wrong.exit_code == 3
    assert f"{host} refused the credentials for policies/qg" in wrong.stderr
    assert "not the password" not in wrong.output

    half = publish(str(bundle), reference, "--plain-http", env={"REGATE_REGISTRY_USERNAME": USER})
    assert half.exit_code == 2
    assert "set both REGATE_REGISTRY_USERNAME and REGATE_REGISTRY_PASSWORD" in half.stderr

    environment = publish(str(bundle), reference, "--plain-http", env={
        "REGATE_REGISTRY_USERNAME": USER, "REGATE_REGISTRY_PASSWORD": PASSWORD})  # fmt: skip
    assert environment.exit_code == 0, environment.output

    docker = tmp_path / "docker"
    docker.mkdir()
    token = base64.b64encode(f"{USER}:{PASSWORD}".encode()).decode()
    (docker / "config.json").write_text(json.dumps({"auths": {host: {"auth": token}}}))
    logged_in = publish(
        str(bundle),
        f"{host}/policies/qg:staging",
        "--plain-http",
        env={"DOCKER_CONFIG": str(docker)},
    )
    assert logged_in.exit_code == 0, logged_in.output
    assert locked_registry.manifest("policies/qg", "staging")[0]["annotations"] == {
        REVISION_ANNOTATION: revision_of(bundle)
    }


def test_publish_reports_the_signature_it_pushes(registry, fleet_key, tmp_path):
    bundle = build_bundle(
        tmp_path, 80, "--signing-key", str(fleet_key.private), "--signing-key-id", "fleet",
        "--scope", "production",
    )  # fmt: skip
    result = publish(str(bundle), f"{registry.host}/policies/qg:production", "--plain-http")
    assert result.exit_code == 0, result.output
    assert result.stdout.endswith(
        f': revision {revision_of(bundle)}, roots regate, signed RS256 (key id "fleet", '
        'scope "production")\n'
    )
    with tarfile.open(fileobj=io.BytesIO(bundle.read_bytes())) as archive:
        assert "/.signatures.json" in archive.getnames()
