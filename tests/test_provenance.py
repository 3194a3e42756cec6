"""Provenance: DSSE envelopes of SLSA statements, verified against `--key`, never
`verified: true` without a signature that verifies."""

from __future__ import annotations

import base64
import json
from pathlib import Path
from typing import Any

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, padding, rsa

from compiler.evidence.provenance import pae
from tests.conftest import run_cli
from tests.test_evidence import failure, metadata
from tests.test_evidence_real import REAL

ENVELOPE = REAL / "provenance/slsa-github-generator-v1.2.1.intoto.jsonl"
BUILDER = (
    "https://github.com/slsa-framework/slsa-github-generator/.github/workflows/"
    "generator_generic_slsa3.yml@refs/tags/v1.2.1"
)
VERIFIED = {
    "provenance": {
        "verified": True,
        "builder": BUILDER,
        "source": "https://github.com/slsa-framework/example-package",
        "ref": "refs/heads/main",
        "digests": ["sha256:ec8ff1bb40da2a36e3e9113dd7a5dd452c5125f7013e849519c0754b3c9fda89"],
    }
}


def public_pem(key: Any) -> bytes:
    return bytes(
        key.public_key().public_bytes(
            serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
        )
    )


@pytest.fixture
def signer_key(tmp_path: Path) -> Path:
    """The public key of the Sigstore certificate the real envelope carries."""
    envelope = json.loads(ENVELOPE.read_text())
    certificate = x509.load_pem_x509_certificate(envelope["signatures"][0]["cert"].encode())
    path = tmp_path / "signer.pub"
    path.write_bytes(
        certificate.public_key().public_bytes(
            serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
        )
    )
    return path


def test_a_published_envelope_verifies_with_its_signers_key(signer_key):
    assert metadata("provenance", str(ENVELOPE), "--key", str(signer_key)) == VERIFIED


def test_a_certificate_serves_as_the_key(tmp_path):
    certificate = tmp_path / "signer.crt"
    certificate.write_text(json.loads(ENVELOPE.read_text())["signatures"][0]["cert"])
    assert metadata("provenance", str(ENVELOPE), "--key", str(certificate)) == VERIFIED


def unverified(report: Path, why: str, help: str, *arguments: str) -> None:
    result = run_cli("metadata", "from", "provenance", str(report), *arguments)
    assert result.exit_code == 0
    assert json.loads(result.stdout) == {"provenance": {"verified": False}}
    assert result.stderr == (
        f"{report}:1:1: warning[RG111]: the provenance is not verified ({why}); the document "
        f"says verified: false\nhelp: {help}\n\n0 errors, 1 warning\n"
    )


def test_without_a_key_nothing_is_claimed():
    unverified(ENVELOPE, "no --key was given", "give the signer's public key with --key KEY.pem")


def test_another_key_verifies_nothing(tmp_path):
    other = tmp_path / "other.pub"
    other.write_bytes(public_pem(ec.generate_private_key(ec.SECP256R1())))
    unverified(
        ENVELOPE,
        f"no signature verifies with {other}",
        "check that the key is the signer's; the statement may have been altered",
        "--key",
        str(other),
    )


def test_an_altered_statement_does_not_verify(tmp_path, signer_key):
    envelope = json.loads(ENVELOPE.read_text())
    statement = json.loads(base64.b64decode(envelope["payload"]))
    statement["predicate"]["builder"]["id"] = "https://example.com/my-own-builder@v1"
    envelope["payload"] = base64.b64encode(json.dumps(statement).encode()).decode()
    altered = tmp_path / "altered.intoto.jsonl"
    altered.write_text(json.dumps(envelope))
    unverified(
        altered,
        f"no signature verifies with {signer_key}",
        "check that the key is the signer's; the statement may have been altered",
        "--key",
        str(signer_key),
    )


# A SLSA v1 statement as slsa-github-generator's generic workflow writes them.
STATEMENT_V1 = {
    "_type": "https://in-toto.io/Statement/v1",
    "subject": [
        {
            "name": "payments-api.tar.gz",
            "digest": {
                "sha256": "5678ac3a5ad1a3c0e4ce2b3ac28c5b4e8b2f0b1e2d3c4b5a69788796a5b4c3d2"
            },
        }
    ],
    "predicateType": "https://slsa.dev/provenance/v1",
    "predicate": {
        "buildDefinition": {
            "buildType": "https://slsa-framework.github.io/github-actions-buildtypes/workflow/v1",
            "externalParameters": {
                "workflow": {
                    "ref": "refs/tags/v1.8.2",
                    "repository": "https://github.com/octo-org/payments-api",
                    "path": ".github/workflows/release.yml",
                }
            },
            "resolvedDependencies": [
                {
                    "uri": "git+https://github.com/octo-org/payments-api@refs/tags/v1.8.2",
                    "digest": {"gitCommit": "c27d339ee6075c1f744c5d4b200f7901aad2c369"},
                }
            ],
        },
        "runDetails": {
            "builder": {
                "id": "https://github.com/slsa-framework/slsa-github-generator/.github/"
                "workflows/generator_generic_slsa3.yml@refs/tags/v2.0.0"
            },
            "metadata": {"invocationId": "https://github.com/octo-org/payments-api/actions/runs/1"},
        },
    },
}


def sign(private: Any, message: bytes) -> bytes:
    if isinstance(private, ec.EllipticCurvePrivateKey):
        # The hash that goes with the curve, as securesystemslib and cosign sign.
        digest = hashes.SHA384() if private.curve.key_size == 384 else hashes.SHA256()
        return bytes(private.sign(message, ec.ECDSA(digest)))
    if isinstance(private, rsa.RSAPrivateKey):
        scheme = padding.PSS(padding.MGF1(hashes.SHA256()), padding.PSS.MAX_LENGTH)
        return bytes(private.sign(message, scheme, hashes.SHA256()))
    return bytes(private.sign(message))


def signed_envelope(private: Any, statement: Any = STATEMENT_V1) -> dict[str, Any]:
    body = json.dumps(statement).encode()
    kind = "application/vnd.in-toto+json"
    return {
        "payloadType": kind,
        "payload": base64.b64encode(body).decode(),
        "signatures": [
            {"keyid": "", "sig": base64.b64encode(sign(private, pae(kind, body))).decode()}
        ],
    }


KEYS = {
    "ecdsa-p256": lambda: ec.generate_private_key(ec.SECP256R1()),
    "ecdsa-p384": lambda: ec.generate_private_key(ec.SECP384R1()),
    "rsa-pss": lambda: rsa.generate_private_key(public_exponent=65537, key_size=2048),
    "ed25519": ed25519.Ed25519PrivateKey.generate,
}


@pytest.mark.parametrize("kind", list(KEYS))
def test_a_slsa_v1_statement_signed_with_a_key_verifies(tmp_path, kind):
    private = KEYS[kind]()
    (tmp_path / "key.pub").write_bytes(public_pem(private))
    (tmp_path / "provenance.intoto.jsonl").write_text(json.dumps(signed_envelope(private)) + "\n")
    found = metadata(
        "provenance", str(tmp_path / "provenance.intoto.jsonl"), "--key", str(tmp_path / "key.pub")
    )
    assert found == {
        "provenance": {
            "verified": True,
            "builder": STATEMENT_V1["predicate"]["runDetails"]["builder"]["id"],  # type: ignore[index]
            "source": "https://github.com/octo-org/payments-api",
            "ref": "refs/tags/v1.8.2",
            "digests": ["sha256:5678ac3a5ad1a3c0e4ce2b3ac28c5b4e8b2f0b1e2d3c4b5a69788796a5b4c3d2"],
        }
    }


def test_a_sigstore_bundle_is_read_for_its_envelope(tmp_path):
    private = ec.generate_private_key(ec.SECP256R1())
    (tmp_path / "key.pub").write_bytes(public_pem(private))
    bundle = {
        "mediaType": "application/vnd.dev.sigstore.bundle.v0.3+json",
        "verificationMaterial": {},
        "dsseEnvelope": signed_envelope(private),
    }
    (tmp_path / "bundle.json").write_text(json.dumps(bundle))
    found = metadata(
        "provenance", str(tmp_path / "bundle.json"), "--key", str(tmp_path / "key.pub")
    )
    assert found["provenance"]["verified"] is True


def envelope_with(change: Any) -> dict[str, Any]:
    envelope = json.loads(ENVELOPE.read_text())
    change(envelope)
    return envelope


def _statement(envelope: dict[str, Any], **members: Any) -> None:
    statement = json.loads(base64.b64decode(envelope["payload"]))
    envelope["payload"] = base64.b64encode(json.dumps({**statement, **members}).encode()).decode()


BAD = [
    (
        envelope_with(lambda e: e.update(payload="not base64!")),
        "payload is not base64",
    ),
    (
        envelope_with(lambda e: e.update(payloadType="application/json")),
        'payloadType is "application/json"; expected application/vnd.in-toto+json',
    ),
    (
        envelope_with(lambda e: _statement(e, predicateType="https://spdx.dev/Document")),
        'payload.predicateType is "https://spdx.dev/Document"; expected SLSA provenance',
    ),
    (
        envelope_with(lambda e: _statement(e, subject=[])),
        "the statement's subject is empty",
    ),
    (
        envelope_with(lambda e: e.update(payload=base64.b64encode(b"[1, 2").decode())),
        "its payload is not a JSON in-toto statement",
    ),
]


@pytest.mark.parametrize(("envelope", "message"), BAD, ids=[m for _, m in BAD])
def test_bad_envelopes_are_errors(tmp_path, signer_key, envelope, message):
    report = tmp_path / "provenance.intoto.jsonl"
    report.write_text(json.dumps(envelope))
    stderr = failure("provenance", str(report), "--key", str(signer_key))
    assert stderr.startswith(f"{report}:1:")
    assert "error[RG072]: " in stderr
    assert message in stderr


def test_two_envelopes_are_refused(tmp_path):
    report = tmp_path / "two.intoto.jsonl"
    report.write_text(ENVELOPE.read_text() + "\n" + ENVELOPE.read_text() + "\n")
    assert "it holds 2 envelopes; expected one" in failure("provenance", str(report))


def test_a_key_that_is_no_public_key_is_an_error(tmp_path):
    key = tmp_path / "key.pem"
    key.write_text("not a key\n")
    assert failure("provenance", str(ENVELOPE), "--key", str(key)).startswith(
        f"{key}:1:1: error[RG076]: {key} is not a public key regate can use"
    )


def test_a_key_for_reports_without_provenance_is_an_error(signer_key):
    report = REAL / "grype/chainguard-ruby.json"
    assert failure("grype", str(report), "--key", str(signer_key)).startswith(
        f"{signer_key}:1:1: error[RG076]: {signer_key} is a key provenance is verified with, "
        f"but none of {report} is provenance"
    )
