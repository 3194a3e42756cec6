"""Decision records: `regate gate --record DIR` and `regate record verify`."""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import stat
from datetime import UTC, datetime
from pathlib import Path

import pytest
from click.testing import Result
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa

from compiler.evidence.record import write_record
from compiler.evidence.report import EvidenceError
from tests.conftest import build, run_cli
from tests.test_evidence_real import REAL
from tests.test_gate_evidence import BASE, HEAD, SOURCES, gate
from tests.test_provenance import public_pem
from tests.test_vex import SBOM, VEX

pytestmark = pytest.mark.opa


@pytest.fixture(scope="module")
def bundle(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return build([SOURCES], tmp_path_factory.mktemp("record-gate"))


def decide(bundle: Path, records: Path, *signing: str) -> tuple[Result, Path]:
    """The merge gate on real Checkov reports (a deny), recorded; the record's path."""
    result = gate(
        bundle, "review", "--with-findings", "--record", str(records), *signing,
        "--evidence", f"build.new_security={HEAD}", "--baseline", f"build.new_security={BASE}",
        "--evidence", f"build.security={BASE}",
    )  # fmt: skip
    written = sorted(records.glob("*.json"))
    assert result.exit_code == 4, result.stderr
    assert len(written) == 1
    return result, written[0]


def verify(record: Path, *arguments: str) -> Result:
    return run_cli("record", "verify", str(record), *arguments)


def test_a_decision_is_recorded_once_read_only_and_verifies(bundle, tmp_path):
    result, record = decide(bundle, tmp_path / "records")
    assert result.stderr == f"regate: decision recorded in {record}\n"
    assert stat.S_IMODE(record.stat().st_mode) == 0o444
    content = json.loads(record.read_text())
    assert content["decision"]["result"] == "deny"
    assert content["revision"] == content["decision"]["revision"]
    assert content["request"]["nrn"] == "organization=1:account=2:namespace=3"
    new = content["request"]["entities"]["build"]["metadata"]["new_security"]
    assert {f["id"] for f in new["findings"]} == {"CKV_AWS_23", "CKV_AWS_24", "CKV2_AWS_5"}
    assert content["evidence"] == [
        {"key": "build.new_security", "path": str(HEAD), "format": "checkov",
         "sha256": hashlib.sha256(HEAD.read_bytes()).hexdigest()},
        {"key": "build.security", "path": str(BASE), "format": "checkov",
         "sha256": hashlib.sha256(BASE.read_bytes()).hexdigest()},
    ]  # fmt: skip
    assert content["baselines"] == [
        {"key": "build.new_security", "path": str(BASE), "format": "checkov",
         "sha256": hashlib.sha256(BASE.read_bytes()).hexdigest()},
    ]  # fmt: skip
    assert content["vex"] == []
    assert content["exceptions"] == []
    assert record.name.endswith(f"-{content['id'][:12]}.json")
    checked = verify(record, "--check-files")
    assert (checked.exit_code, checked.stderr) == (0, "")
    assert checked.stdout == (
        f"{record}: verified (its content, 3 files): deny at {content['time']} "
        f"(bundle revision {content['revision']})\n"
    )


def test_a_changed_record_does_not_verify(bundle, tmp_path):
    _, record = decide(bundle, tmp_path / "records")
    content = json.loads(record.read_text())
    content["decision"]["result"] = "approve"
    os.chmod(record, 0o644)
    record.write_text(json.dumps(content, indent=2))
    result = verify(record)
    assert (result.exit_code, result.stdout) == (1, "")
    assert result.stderr == (
        f"{record}:1:1: error[RG078]: {record} does not verify: its content was changed after "
        "it was written (it no longer hashes to its id)\n\n1 error, 0 warnings\n"
    )


def test_a_changed_evidence_file_is_found(bundle, tmp_path):
    head = tmp_path / "head.json"
    shutil.copy(HEAD, head)
    result = gate(
        bundle, "review", "--record", str(tmp_path / "records"),
        "--evidence", f"build.new_security={head}", "--evidence", f"build.security={head}",
    )  # fmt: skip
    assert result.exit_code == 4
    (record,) = (tmp_path / "records").glob("*.json")
    head.write_text(head.read_text().replace("CKV_AWS_24", "CKV_AWS_00"))
    checked = verify(record, "--check-files")
    assert checked.exit_code == 1
    assert f"{head} is not the file the decision was made on (SHA-256 differs)" in checked.stderr


@pytest.mark.parametrize("algorithm", ["RS256", "ES256", "HS256"])
def test_signed_records_verify_with_the_key_and_only_with_it(bundle, tmp_path, algorithm):
    if algorithm == "HS256":
        private_arg = verification = other = "a-shared-secret-of-at-least-32-bytes!"
        other = "another-shared-secret-of-32-bytes-or-more"
    else:
        generate = (
            (lambda: rsa.generate_private_key(public_exponent=65537, key_size=2048))
            if algorithm == "RS256"
            else (lambda: ec.generate_private_key(ec.SECP256R1()))
        )
        private, stranger = generate(), generate()
        (tmp_path / "key.pem").write_bytes(
            private.private_bytes(
                serialization.Encoding.PEM,
                serialization.PrivateFormat.PKCS8,
                serialization.NoEncryption(),
            )
        )
        (tmp_path / "key.pub").write_bytes(public_pem(private))
        (tmp_path / "other.pub").write_bytes(public_pem(stranger))
        private_arg = str(tmp_path / "key.pem")
        verification, other = str(tmp_path / "key.pub"), str(tmp_path / "other.pub")
    _, record = decide(
        bundle, tmp_path / "records", "--signing-key", private_arg, "--signing-alg", algorithm
    )
    assert json.loads(record.read_text())["signature"].count(".") == 2  # a compact JWS
    good = verify(record, "--verification-key", verification)
    assert (good.exit_code, good.stderr) == (0, "")
    assert "verified (its content, its signature)" in good.stdout
    bad = verify(record, "--verification-key", other)
    assert bad.exit_code == 1
    assert "its signature does not verify with" in bad.stderr
    unchecked = verify(record)
    assert unchecked.exit_code == 1
    assert "it is signed: give --verification-key to verify the signature" in unchecked.stderr


def test_an_unsigned_record_does_not_pass_for_signed(bundle, tmp_path):
    _, record = decide(bundle, tmp_path / "records")
    private = ec.generate_private_key(ec.SECP256R1())
    (tmp_path / "key.pub").write_bytes(public_pem(private))
    result = verify(record, "--verification-key", str(tmp_path / "key.pub"))
    assert result.exit_code == 1
    assert "does not verify: it is not signed" in result.stderr


WAIVER = """
waiver "quality gate on legacy code" {
  policy  = "Quality Gate Passed"
  nrn     = "organization=1"
  owner   = "team-payments"
  reason  = "legacy module; new-code conditions are tracked in SEC-42"
  expires = "2099-12-31"
}
"""


def test_waivers_the_decision_used_are_recorded(tmp_path):
    sources = tmp_path / "sources"
    shutil.copytree(SOURCES, sources)
    (sources / "waivers.rg").write_text(WAIVER)
    waived = build([sources], tmp_path)
    result = run_cli(
        "gate", "--bundle", str(waived), "--action", "deployment:create", "--nrn", "organization=1",
        "--dimension", "environment=staging", "--record", str(tmp_path / "records"),
        "--evidence", f"build.quality={REAL / 'sonarqube/project_status-example.json'}",
    )  # fmt: skip
    assert result.exit_code == 0, result.stdout + result.stderr
    (record,) = (tmp_path / "records").glob("*.json")
    (used,) = json.loads(record.read_text())["exceptions"]
    assert (used["action"], used["policy"]) == ("release-gate", "Quality Gate Passed")
    assert used["waiver"]["name"] == "quality gate on legacy code"
    assert used["waiver"]["owner"] == "team-payments"


def test_a_record_is_never_written_over(tmp_path):
    now = datetime(2026, 5, 14, 9, 30, tzinfo=UTC)
    decision = {"result": "deny", "actions": [], "revision": "r1"}
    files: dict[str, list[dict[str, str]]] = {"evidence": [], "baselines": [], "vex": []}
    first = write_record(str(tmp_path), {"action": "a"}, decision, files, None, now)
    with pytest.raises(EvidenceError) as raised:
        write_record(str(tmp_path), {"action": "a"}, decision, files, None, now)
    assert raised.value.diagnostics[0].code == "RG077"
    assert "it exists already" in raised.value.diagnostics[0].message
    assert sorted(p.name for p in tmp_path.iterdir()) == [Path(first).name]


def test_a_record_that_cannot_be_written_fails_the_gate(bundle, tmp_path):
    blocked = tmp_path / "records"
    blocked.write_text("a file, not a directory")
    result = gate(
        bundle, "review", "--record", str(blocked),
        "--evidence", f"build.new_security={HEAD}", "--evidence", f"build.security={HEAD}",
    )  # fmt: skip
    assert result.exit_code == 1
    assert f"error[RG077]: cannot write a decision record in {blocked}" in result.stderr


def test_a_file_that_is_no_record(tmp_path):
    record = tmp_path / "record.json"
    record.write_text('{"id": "x"}')
    result = verify(record)
    assert result.exit_code == 1
    assert "does not verify: it lacks record, time, regate, revision" in result.stderr


def test_the_vex_a_decision_used_is_recorded(bundle, tmp_path):
    vex = tmp_path / "vex.cdx.json"
    vex.write_text(json.dumps(VEX))
    result = gate(
        bundle, "review", "--record", str(tmp_path / "records"),
        "--evidence", f"build.new_security={SBOM}", "--vex", f"build.new_security={vex}",
        "--evidence", f"build.security={HEAD}",
    )  # fmt: skip
    assert result.exit_code == 0, result.stdout + result.stderr
    (record,) = (tmp_path / "records").glob("*.json")
    content = json.loads(record.read_text())
    assert content["vex"] == [
        {"key": "build.new_security", "path": str(vex), "format": "cyclonedx",
         "sha256": hashlib.sha256(vex.read_bytes()).hexdigest()},
    ]  # fmt: skip
    assert verify(record, "--check-files").exit_code == 0
