"""The fleet, with real parts on loopback: a real OCI registry (docker-registry),
`regate publish` pushing signed bundles to it, and two real `opa run --server`
sidecars started from the configuration `regate sidecar-config` wrote, polling
every second.

The timeline (about 20 s):
1. revision 1 is published; both sidecars activate it and decide;
2. revision 2 is published; both reach it within the polling interval;
3. an unsigned bundle, a tampered one and one signed for another scope are
   published in turn; each is refused, both sidecars keep deciding with
   revision 2, /health stays 200, and their status says why;
4. the registry goes down: decisions go on with revision 2, status reports the
   failed downloads; it comes back and revision 3 reaches both;
5. `regate audit` reads the sidecars' decision logs.
"""

from __future__ import annotations

import json
import tarfile
import time
from pathlib import Path

import pytest

from compiler.bundle import tar_gz
from tests.conftest import load_request, run_cli
from tests.fleet.conftest import FleetSidecar, build_bundle, revision_of, wait_for

pytestmark = pytest.mark.opa

POLL_SECONDS = 1
# Reaching a sidecar: up to one polling interval, then download, verification and
# activation (well under a second for this bundle); the margin is for a loaded machine.
REACH_SECONDS = POLL_SECONDS + 5
REQUEST = "01-coverage-70.json"  # coverage 70: manual at a threshold of 80, approve at 60


def tampered(bundle: Path, directory: Path) -> Path:
    """The signed bundle with its decision flipped after signing."""
    with tarfile.open(bundle) as archive:
        files = {
            m.name.lstrip("/"): archive.extractfile(m).read()  # type: ignore[union-attr]
            for m in archive.getmembers()
        }
    original = files["regate/decision.rego"]
    files["regate/decision.rego"] = original.replace(b'"deny"', b'"approve"', 1)
    assert files["regate/decision.rego"] != original
    out = directory / "tampered.tar.gz"
    out.write_bytes(tar_gz(files))
    return out


def test_a_fleet_pulls_signed_bundles_from_a_registry(
    registry, fleet_sidecar, fleet_key, stranger_key, tmp_path
):
    reference = f"{registry.host}/policies/quality-gates:production"
    sign = ["--signing-key", str(fleet_key.private), "--signing-key-id", "fleet"]
    production = [*sign, "--scope", "production"]
    request = load_request(REQUEST)

    def publish(bundle: Path) -> None:
        published = run_cli("publish", str(bundle), reference, "--plain-http")
        assert published.exit_code == 0, published.output

    first = build_bundle(tmp_path, 80, *production)
    publish(first)
    config = tmp_path / "sidecar"
    written = run_cli(
        "sidecar-config", reference, "-o", str(config), "--plain-http",
        "--verification-key", str(fleet_key.public), "--key-id", "fleet",
        "--scope", "production", "--poll-min", str(POLL_SECONDS),
        "--poll-max", str(POLL_SECONDS), "--mask", "build.metadata.security",
    )  # fmt: skip
    assert written.exit_code == 0, written.output
    fleet = [fleet_sidecar(config, tmp_path / f"sidecar-{n}.log") for n in (1, 2)]

    def decisions() -> list[tuple[str, str]]:
        return [(d["revision"], d["result"]) for d in (s.decide(request) for s in fleet)]

    def all_at(revision: str) -> bool:
        return all(s.decide(request).get("revision") == revision for s in fleet)

    # 1. Revision 1: both activate it and decide.
    wait_for("both sidecars to activate revision 1", lambda: all_at(revision_of(first)))
    assert decisions() == [(revision_of(first), "manual")] * 2
    assert all(s.get("/health?bundles=true") == (200, {}) for s in fleet)

    # 2. Revision 2 reaches both within the polling interval.
    second = build_bundle(tmp_path, 60, *production)
    publish(second)
    took = wait_for("revision 2", lambda: all_at(revision_of(second)), REACH_SECONDS)
    assert decisions() == [(revision_of(second), "approve")] * 2
    print(f"revision 2 reached both sidecars {took:.1f} s after `regate publish` returned")

    # 3. Bad bundles are refused; the last good revision keeps deciding.
    refused = [
        (build_bundle(tmp_path, 70, name="unsigned.tar.gz"), "missing .signatures.json"),
        (tampered(build_bundle(tmp_path, 70, *production), tmp_path), "digest mismatch"),
        (build_bundle(tmp_path, 70, *sign, "--scope", "staging", name="staging.tar.gz"),
         "scope mismatch"),
        (build_bundle(tmp_path, 70, "--signing-key", str(stranger_key.private),
                      "--signing-key-id", "fleet", "--scope", "production",
                      name="stranger.tar.gz"),
         "crypto/rsa: verification error"),
    ]  # fmt: skip
    for bundle, reason in refused:
        publish(bundle)

        def reported(sidecar: FleetSidecar, reason: str = reason) -> bool:
            return reason in sidecar.bundle_status("quality-gates").get("message", "")

        wait_for(f"both sidecars to refuse a bundle ({reason})", lambda: all(map(reported, fleet)))
        for sidecar in fleet:
            status = sidecar.bundle_status("quality-gates")
            assert (status["code"], status["active_revision"]) == (
                "bundle_error",
                revision_of(second),
            ), status
            assert sidecar.get("/health?bundles=true") == (200, {})
        assert decisions() == [(revision_of(second), "approve")] * 2

    # 4. A registry outage: decisions go on; when it is back, a new revision arrives.
    registry.stop()
    wait_for(
        "both sidecars to report the registry down",
        lambda: all(
            "connection refused" in s.bundle_status("quality-gates").get("message", "")
            for s in fleet
        ),
    )
    for _ in range(3):  # a few polls without a registry
        assert decisions() == [(revision_of(second), "approve")] * 2
        time.sleep(POLL_SECONDS / 2)
    registry.start()
    third = build_bundle(tmp_path, 70, *production)
    publish(third)
    wait_for("revision 3 after the outage", lambda: all_at(revision_of(third)), REACH_SECONDS * 2)
    assert decisions() == [(revision_of(third), "approve")] * 2
    for sidecar in fleet:
        sidecar.stop()

    # 5. The decision logs: every decision of both sidecars, the masked field erased.
    logs = [str(s.log) for s in fleet]
    audited = run_cli("audit", *logs, "--newest", revision_of(third), "--format", "json")
    assert audited.exit_code == 0, audited.output
    report = json.loads(audited.stdout)
    by_revision = report["revisions"]
    assert set(by_revision) == {revision_of(r) for r in (first, second, third)}
    # Each decision names its revision, but those asked before any bundle was active.
    assert report["decisions"] == sum(by_revision.values()) + report["undefined"]
    assert (
        report["stale"]["decisions"]
        == by_revision[revision_of(first)] + by_revision[revision_of(second)]
    )
    assert "/input/entities/build/metadata/security" in report["masked"]
    for log in logs:
        for line in Path(log).read_text().splitlines():
            event = json.loads(line)
            if event.get("msg") == "Decision Log":
                assert "security" not in event["input"]["entities"]["build"]["metadata"]
