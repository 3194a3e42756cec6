"""docs/deploy/kubernetes.yaml runs: its `regate sidecar-config` command and its OPA
container's arguments, environment and probes, with the registry, the paths and
the ports moved to this machine, make a sidecar that activates a signed bundle
from a real registry, answers the probes and logs decisions."""

from __future__ import annotations

import json
import os
import re
import shlex
import subprocess
import urllib.request
from typing import Any

import pytest
import yaml
from click.testing import CliRunner

from compiler.cli import main
from tests.conftest import REPO, free_port, load_request, stop_process
from tests.fleet.conftest import build_bundle, revision_of, wait_for
from tests.fleet.registry import PASSWORD, USER, Registry

MANIFEST = REPO / "docs" / "deploy" / "kubernetes.yaml"
pytestmark = pytest.mark.opa


def documented_command() -> list[str]:
    """The `regate sidecar-config` command in the manifest's header comment."""
    text = MANIFEST.read_text()
    match = re.search(r"^#   (regate sidecar-config .*?)$\n(?!#     )", text, re.M | re.S)
    assert match, "no regate sidecar-config command in the header"
    joined = re.sub(r"\\\n#\s+", " ", match.group(1))
    return shlex.split(joined)


def opa_container() -> dict[str, Any]:
    (deployment,) = yaml.safe_load_all(MANIFEST.read_text())
    (container,) = [c for c in deployment["spec"]["template"]["spec"]["containers"]
                    if c["name"] == "opa"]  # fmt: skip
    return dict(container)


def test_the_opa_image_is_the_version_regate_is_tested_with():
    version = re.search(r'^OPA_VERSION="v(.+)"$', (REPO / "scripts/bootstrap.sh").read_text(), re.M)
    assert version
    assert opa_container()["image"] == f"openpolicyagent/opa:{version.group(1)}-static"


def test_the_kubernetes_sidecar_runs(opa, fleet_key, tmp_path):
    registry_dir = tmp_path / "registry"
    registry_dir.mkdir()
    registry = Registry(registry_dir, with_auth=True)
    process = None
    try:
        documented_reference = "registry.example.com/policies/quality-gates:production"
        reference = documented_reference.replace("registry.example.com", registry.host)
        bundle = build_bundle(
            tmp_path, 80, "--signing-key", str(fleet_key.private), "--signing-key-id", "fleet",
            "--scope", "production",
        )  # fmt: skip
        published = CliRunner().invoke(
            main, ["publish", str(bundle), reference, "--plain-http"],
            env={"REGATE_REGISTRY_USERNAME": USER, "REGATE_REGISTRY_PASSWORD": PASSWORD},
        )  # fmt: skip
        assert published.exit_code == 0, published.output

        command = documented_command()
        assert command[:3] == ["regate", "sidecar-config", documented_reference]
        config_dir = tmp_path / "opa"
        arguments = [
            {documented_reference: reference, "public.pem": str(fleet_key.public),
             "/var/opa": str(tmp_path / "persist"), "opa/": str(config_dir)}.get(a, a)
            for a in command[2:]
        ]  # fmt: skip
        written = CliRunner().invoke(main, ["sidecar-config", *arguments, "--plain-http"])
        assert written.exit_code == 0, written.output
        mounted = {m["name"]: m["mountPath"] for m in opa_container()["volumeMounts"]}
        assert sorted(p.name for p in config_dir.iterdir()) == ["mask.rego", "opa-config.yaml"]

        container = opa_container()
        port, diagnostic = free_port(), free_port()
        args = [
            a.replace(mounted["opa-config"], str(config_dir))
            .replace("127.0.0.1:8181", f"127.0.0.1:{port}")
            .replace("=:8282", f"=127.0.0.1:{diagnostic}")
            for a in container["args"]
        ]
        environment = {variable["name"]: f"{USER}:{PASSWORD}" for variable in container["env"]}
        assert environment.keys() == {"REGISTRY_AUTH"}
        log = tmp_path / "opa.log"
        process = subprocess.Popen(
            [opa, *args], stdout=log.open("wb"), stderr=subprocess.STDOUT,
            env={**os.environ, **environment},
        )  # fmt: skip

        def probe(name: str) -> int:
            spec = container[name]["httpGet"]
            assert spec["port"] == 8282
            url = f"http://127.0.0.1:{diagnostic}{spec['path']}"
            with urllib.request.urlopen(url, timeout=5) as answer:
                return int(answer.status)

        wait_for("the readiness probe", lambda: probe("readinessProbe") == 200)
        assert probe("livenessProbe") == 200
        body = json.dumps({"input": load_request("01-coverage-70.json")}).encode()
        url = f"http://127.0.0.1:{port}/v1/data/regate/decision"
        with urllib.request.urlopen(url, body, 5) as answer:
            decision = json.load(answer)["result"]
        assert (decision["revision"], decision["result"]) == (revision_of(bundle), "manual")
    finally:
        if process is not None:
            stop_process(process)
        registry.stop()
    logged = [json.loads(line) for line in log.read_text().splitlines()]
    decisions = [e for e in logged if e.get("msg") == "Decision Log"]
    assert len(decisions) == 1
    assert "security" not in decisions[0]["input"]["entities"]["build"]["metadata"]
