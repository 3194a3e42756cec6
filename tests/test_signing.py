"""Signed bundles: a real OPA with --verification-key activates what `regate build
--signing-key` wrote, and refuses the same bundle with one byte changed."""

from __future__ import annotations

import base64
import io
import json
import subprocess
import tarfile
import time
import urllib.request
from dataclasses import dataclass
from pathlib import Path

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa

from compiler.bundle import tar_gz, write_directory
from compiler.driver import compile_sources
from compiler.signing import file_hash
from tests.conftest import QUALITY_GATES, free_port, load_request, run_cli, write_sources

HMAC_SECRET = "a shared secret of at least 32 bytes, for HS256"


def pem_pair(private: rsa.RSAPrivateKey | ec.EllipticCurvePrivateKey) -> tuple[bytes, bytes]:
    secret = private.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )
    public = private.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    return secret, public


@pytest.fixture(scope="module")
def keys(tmp_path_factory) -> dict[str, tuple[str, str]]:
    """Algorithm → (--signing-key, --verification-key)."""
    directory = tmp_path_factory.mktemp("keys")
    found = {"HS256": (HMAC_SECRET, HMAC_SECRET)}
    for algorithm, private in (
        ("RS256", rsa.generate_private_key(public_exponent=65537, key_size=2048)),
        ("ES256", ec.generate_private_key(ec.SECP256R1())),
    ):
        secret, public = pem_pair(private)
        (directory / f"{algorithm}.pem").write_bytes(secret)
        (directory / f"{algorithm}.pub").write_bytes(public)
        found[algorithm] = (
            str(directory / f"{algorithm}.pem"),
            str(directory / f"{algorithm}.pub"),
        )
    return found


def claims(bundle: Path) -> dict[str, object]:
    """The JWT payload of a bundle's .signatures.json."""
    with tarfile.open(bundle) as archive:
        member = archive.extractfile("/.signatures.json")
        assert member is not None
        (token,) = json.load(member)["signatures"]
    payload = token.split(".")[1]
    return dict(json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4))))


@dataclass(frozen=True)
class Served:
    decision: dict[str, object] | None  # None: OPA refused to start with the bundle
    log: str


def serve(opa: str, bundle: Path, verification: list[str], request: object) -> Served:
    """Start `opa run --server` on the bundle, ask it one decision, stop it."""
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    process = subprocess.Popen(
        [opa, "run", "--server", "--addr", f"127.0.0.1:{port}", "--bundle", str(bundle),
         *verification],
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
    )  # fmt: skip
    try:
        deadline = time.monotonic() + 30
        while process.poll() is None and time.monotonic() < deadline:
            try:
                urllib.request.urlopen(f"{url}/health?bundles=true", timeout=2)
            except OSError:
                time.sleep(0.1)
                continue
            body = json.dumps({"input": request}).encode()
            with urllib.request.urlopen(f"{url}/v1/data/regate/decision", body, 5) as answer:
                return Served(json.load(answer)["result"], "")
    finally:
        if process.poll() is None:
            process.terminate()
        log, _ = process.communicate(timeout=10)
    return Served(None, log)


@pytest.mark.opa
@pytest.mark.parametrize("algorithm", ["RS256", "ES256", "HS256"])
def test_opa_activates_a_signed_bundle_and_refuses_it_tampered(opa, keys, tmp_path, algorithm):
    signing_key, verification_key = keys[algorithm]
    bundle = tmp_path / "bundle.tar.gz"
    built = run_cli(
        "build", str(QUALITY_GATES), "-o", str(bundle),
        "--signing-key", signing_key, "--signing-alg", algorithm, "--scope", "production",
    )  # fmt: skip
    assert built.exit_code == 0, built.output
    assert claims(bundle)["scope"] == "production"
    request = load_request("02-coverage-85-no-critical.json")
    verify = ["--verification-key", verification_key, "--signing-alg", algorithm]

    served = serve(opa, bundle, [*verify, "--scope", "production"], request)
    assert served.decision is not None, served.log
    assert served.decision["result"] == "approve"

    wrong_scope = serve(opa, bundle, [*verify, "--scope", "staging"], request)
    assert wrong_scope.decision is None
    assert "scope mismatch" in wrong_scope.log

    tampered = tmp_path / "tampered.tar.gz"
    with tarfile.open(bundle) as archive:
        files = {
            member.name.lstrip("/"): archive.extractfile(member).read()  # type: ignore[union-attr]
            for member in archive.getmembers()
        }
    original = files["regate/decision.rego"]
    files["regate/decision.rego"] = original.replace(b'"deny"', b'"approve"', 1)
    assert files["regate/decision.rego"] != original
    tampered.write_bytes(tar_gz(files))
    refused = serve(opa, tampered, [*verify, "--scope", "production"], request)
    assert refused.decision is None
    assert "regate/decision.rego: digest mismatch" in refused.log


@pytest.mark.opa
def test_file_hashes_agree_with_opa_sign(opa, tmp_path):
    # The catalog (JSON, hashed over OPA's canonical encoding) holds text whose
    # encodings differ between JSON libraries: line separators, controls, HTML.
    write_sources(
        tmp_path / "src",
        {
            "a.rg": 'action "x\\u2028y\\u2029<&>\\b\\f\\u001b\\u007fé😀" {\n'
            '  action = "deployment:create"\n  nrn = "organization=1"\n'
            '  dimensions = {"environment": "line\\nbreak \\"quoted\\" \\\\ tab\\t"}\n}\n'
        },
    )
    result = compile_sources([str(tmp_path / "src")])
    assert result.files is not None
    write_directory(str(tmp_path / "bundle"), result.files)
    signed = subprocess.run(
        [opa, "sign", "--bundle", ".", "--signing-key", HMAC_SECRET, "--signing-alg", "HS256",
         "-o", str(tmp_path)],
        cwd=tmp_path / "bundle", capture_output=True, text=True,
    )  # fmt: skip
    assert signed.returncode == 0, signed.stderr
    (token,) = json.loads((tmp_path / ".signatures.json").read_text())["signatures"]
    payload = token.split(".")[1]
    opa_files = json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))["files"]
    assert {f["name"]: f["hash"] for f in opa_files} == {
        path: file_hash(path, content) for path, content in result.files.items()
    }


def test_a_missing_key_file_is_a_diagnostic_and_nothing_is_written(tmp_path):
    bundle = tmp_path / "bundle.tar.gz"
    result = run_cli("build", str(QUALITY_GATES), "-o", str(bundle), "--signing-key", "missing.pem")
    assert result.exit_code == 1
    assert result.stderr == (
        "missing.pem:1:1: error[RG001]: cannot read signing key missing.pem: no such file\n"
        "help: RS256 signs with a PEM private key file\n\n1 error, 0 warnings\n"
    )
    assert not bundle.exists()


def test_a_key_of_the_wrong_kind_is_a_diagnostic_and_nothing_is_written(keys, tmp_path):
    bundle = tmp_path / "bundle.tar.gz"
    ec_key = keys["ES256"][0]
    result = run_cli(
        "build", str(QUALITY_GATES), "-o", str(bundle), "--signing-key", ec_key,
        "--signing-alg", "RS256",
    )  # fmt: skip
    assert result.exit_code == 1
    first = result.stderr.splitlines()[0]
    assert first.startswith(f"{ec_key}:1:1: error[RG060]: cannot sign with {ec_key} as RS256: ")
    assert "help: RS256 takes an RSA private key, ES256 a P-256 EC private key (PEM)" in (
        result.stderr
    )
    assert not bundle.exists()


def test_signing_leaves_the_bundle_contents_unchanged(keys, tmp_path):
    plain, signed = tmp_path / "plain.tar.gz", tmp_path / "signed.tar.gz"
    assert run_cli("build", str(QUALITY_GATES), "-o", str(plain)).exit_code == 0
    assert (
        run_cli(
            "build", str(QUALITY_GATES), "-o", str(signed), "--signing-key", keys["RS256"][0]
        ).exit_code
        == 0
    )

    def members(bundle: Path) -> dict[str, bytes]:
        with tarfile.open(fileobj=io.BytesIO(bundle.read_bytes())) as archive:
            return {
                m.name: archive.extractfile(m).read()  # type: ignore[union-attr]
                for m in archive.getmembers()
            }

    signed_files = members(signed)
    assert signed_files.pop("/.signatures.json")
    assert signed_files == members(plain)
    assert [f["name"] for f in claims(signed)["files"]] == sorted(  # type: ignore[attr-defined]
        name.lstrip("/") for name in signed_files
    )


@pytest.mark.parametrize("algorithm", ["RS256", "ES256", "HS256"])
def test_a_signed_bundle_is_byte_identical_from_build_to_build(keys, tmp_path, algorithm):
    """ES256 included: its nonce comes from the key and the message (RFC 6979)."""
    first, second = tmp_path / "first.tar.gz", tmp_path / "second.tar.gz"
    for bundle in (first, second):
        signing = ["--signing-key", keys[algorithm][0], "--signing-alg", algorithm]
        result = run_cli("build", str(QUALITY_GATES), "-o", str(bundle), *signing)
        assert result.exit_code == 0, result.output
    assert first.read_bytes() == second.read_bytes()


def jwt_header(bundle: Path) -> dict[str, object]:
    with tarfile.open(bundle) as archive:
        member = archive.extractfile("/.signatures.json")
        assert member is not None
        (token,) = json.load(member)["signatures"]
    header = token.split(".")[0]
    return dict(json.loads(base64.urlsafe_b64decode(header + "=" * (-len(header) % 4))))


@pytest.mark.parametrize("algorithm", ["RS256", "ES256", "HS256"])
def test_a_signing_key_id_is_the_signature_kid(keys, tmp_path, algorithm):
    """OPA finds the verification key by the `kid` when its config names no keyid
    (tests/fleet/test_publish.py shows it on a registry)."""
    named, unnamed = tmp_path / "named.tar.gz", tmp_path / "unnamed.tar.gz"
    signing = ["--signing-key", keys[algorithm][0], "--signing-alg", algorithm]
    for bundle, extra in ((named, ["--signing-key-id", "fleet"]), (unnamed, [])):
        result = run_cli("build", str(QUALITY_GATES), "-o", str(bundle), *signing, *extra)
        assert result.exit_code == 0, result.output
    assert jwt_header(named) == {"alg": algorithm, "kid": "fleet", "typ": "JWT"}
    assert jwt_header(unnamed) == {"alg": algorithm, "typ": "JWT"}
    assert claims(named) == claims(unnamed)


def test_a_signing_key_id_without_a_key_is_a_usage_error(tmp_path):
    bundle = tmp_path / "bundle.tar.gz"
    result = run_cli("build", str(QUALITY_GATES), "-o", str(bundle), "--signing-key-id", "fleet")
    assert result.exit_code == 2
    assert "--signing-key-id names the key of a signature: give --signing-key" in result.stderr
    assert not bundle.exists()
