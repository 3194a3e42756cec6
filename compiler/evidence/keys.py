"""Public keys given on the command line (`--key`, `record verify --verification-key`)."""

from __future__ import annotations

from typing import Any

from cryptography import x509
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, rsa
from cryptography.hazmat.primitives.serialization import load_pem_public_key

from compiler.ast import Span
from compiler.diagnostics import error
from compiler.evidence.report import EvidenceError

PublicKey = ec.EllipticCurvePublicKey | rsa.RSAPublicKey | ed25519.Ed25519PublicKey


def load_public_key(path: str) -> PublicKey:
    """A PEM public key, or the key of a PEM certificate; RG076 for anything else."""
    where = Span(path, 1, 1, 1, 1)
    try:
        with open(path, "rb") as handle:
            content = handle.read(1024 * 1024)
    except OSError as exc:
        message = f"cannot read the key {path}: {exc.strerror or exc}"
        raise EvidenceError([error("RG076", where, message)]) from None
    key: Any
    try:
        if b"-----BEGIN CERTIFICATE-----" in content:
            key = x509.load_pem_x509_certificate(content).public_key()
        else:
            key = load_pem_public_key(content)
    except ValueError as exc:
        detail = str(exc).splitlines()[0] if str(exc) else "not a PEM public key"
        raise EvidenceError(
            [
                error(
                    "RG076",
                    where,
                    f"{path} is not a public key regate can use ({detail})",
                    help="give a PEM public key (BEGIN PUBLIC KEY) or certificate: "
                    "ECDSA, RSA or Ed25519",
                )
            ]
        ) from None
    if not isinstance(key, ec.EllipticCurvePublicKey | rsa.RSAPublicKey | ed25519.Ed25519PublicKey):
        message = f"{path} holds a {type(key).__name__}; expected an ECDSA, RSA or Ed25519 key"
        raise EvidenceError([error("RG076", where, message)])
    return key
