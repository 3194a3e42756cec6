"""Signed bundles: `.signatures.json` in OPA's format, so an OPA started with
`--verification-key` activates the bundle only if nobody changed a byte of it.

The signature is a JWT (PyJWT) whose payload lists every file of the bundle
with its SHA-256.  OPA hashes a data file (`.manifest`, `data.json`) over a
canonical encoding of its value, and any other file over its bytes; `file_hash`
does the same, and tests/test_signing.py checks it against `opa sign`.

Every algorithm signs deterministically, so a signed bundle is as reproducible
as an unsigned one: RS256 (PKCS#1 v1.5) and HS256 are by nature, and ES256
takes its nonce from the key and the message (RFC 6979) instead of at random.
"""

from __future__ import annotations

import hashlib
import json
import warnings
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

import jwt
from cryptography.hazmat.primitives.asymmetric import ec
from jwt.algorithms import ECAlgorithm, get_default_algorithms
from jwt.utils import der_to_raw_signature

from compiler.ast import JsonValue, Span
from compiler.diagnostics import Diagnostic, error

ALGORITHMS = ("RS256", "ES256", "HS256")
SIGNATURES_FILE = ".signatures.json"


class _DeterministicES256(ECAlgorithm):
    """PyJWT's ES256, but with RFC 6979 nonces: the same key and payload give
    the same signature, which verifies as any ECDSA signature does."""

    def sign(self, msg: bytes, key: ec.EllipticCurvePrivateKey) -> bytes:
        der = key.sign(msg, ec.ECDSA(self.hash_alg(), deterministic_signing=True))
        return der_to_raw_signature(der, key.curve)


def _signer() -> jwt.PyJWS:
    """A JWS signer for ALGORITHMS, ES256 made deterministic."""
    signer = jwt.PyJWS(algorithms=[a for a in ALGORITHMS if a in get_default_algorithms()])
    signer.unregister_algorithm("ES256")
    signer.register_algorithm("ES256", _DeterministicES256(ECAlgorithm.SHA256))
    return signer


@dataclass(frozen=True)
class SigningKey:
    algorithm: str
    secret: str  # a PEM private key (RS256, ES256) or an HMAC secret (HS256)
    scope: str | None
    shown_as: str  # how diagnostics name the key: its path, never a secret
    key_id: str | None = None  # the JWT's `kid`: the name of the key in OPA's `keys`


def load_key(
    given: str, algorithm: str, scope: str | None, key_id: str | None = None
) -> SigningKey | Diagnostic:
    """`--signing-key`: a file holding the key; for HS256, as with `opa build`, a
    value that names no file is the secret itself."""
    path = Path(given)
    if path.is_file():
        try:
            return SigningKey(algorithm, path.read_text(encoding="utf-8"), scope, given, key_id)
        except (OSError, UnicodeDecodeError) as exc:
            reason = getattr(exc, "strerror", None) or str(exc)
            return error("RG001", Span(given, 1, 1, 1, 1), f"cannot read {given}: {reason}")
    if algorithm == "HS256":
        return SigningKey(algorithm, given, scope, "--signing-key", key_id)
    return error(
        "RG001",
        Span(given, 1, 1, 1, 1),
        f"cannot read signing key {given}: no such file",
        help=f"{algorithm} signs with a PEM private key file",
    )


def _go_json(value: JsonValue) -> str:
    """A JSON value encoded as OPA's bundle hasher encodes it: object keys
    sorted, no spaces, non-ASCII kept, and U+2028/U+2029 escaped as Go does."""
    if isinstance(value, dict):
        members = (f"{_go_json(key)}:{_go_json(value[key])}" for key in sorted(value))
        return "{" + ",".join(members) + "}"
    if isinstance(value, list):
        return "[" + ",".join(_go_json(item) for item in value) + "]"
    text = json.dumps(value, ensure_ascii=False, allow_nan=False)
    return text.replace("\u2028", "\\u2028").replace("\u2029", "\\u2029")


# Files OPA reads as JSON values and hashes over their canonical encoding; it
# hashes any other file (modules, schemas/*.json) over its bytes.
JSON_HASHED = ("data.json", ".manifest")


def file_hash(path: str, content: bytes) -> str:
    if path.rsplit("/", 1)[-1] in JSON_HASHED:
        content = _go_json(json.loads(content)).encode()
    return hashlib.sha256(content).hexdigest()


def signatures(files: Mapping[str, bytes], key: SigningKey) -> bytes | Diagnostic:
    """The `.signatures.json` of a bundle's files, or why the key cannot sign."""
    payload: dict[str, JsonValue] = {
        "files": [
            {"name": path, "hash": file_hash(path, files[path]), "algorithm": "SHA-256"}
            for path in sorted(files)
        ]
    }
    if key.scope is not None:
        payload["scope"] = key.scope
    try:
        with warnings.catch_warnings():
            # PyJWT warns about HMAC secrets under 32 bytes; OPA accepts them and
            # docs/hardening.md says what to use.  A stray warning is noise on stderr.
            warnings.simplefilter("ignore")
            # The claims encoded as jwt.encode encodes them, then signed.
            claims = json.dumps(payload, separators=(",", ":")).encode()
            # With a `kid`, an OPA that pulls the bundle (from a registry, a bundle
            # server) finds its key by name without `signing.keyid` in its config.
            headers = {"kid": key.key_id} if key.key_id is not None else None
            token = _signer().encode(claims, key.secret, algorithm=key.algorithm, headers=headers)
    except (jwt.PyJWTError, ValueError, TypeError) as exc:
        return error(
            "RG060",
            Span(key.shown_as, 1, 1, 1, 1),
            f"cannot sign with {key.shown_as} as {key.algorithm}: {exc}",
            help="RS256 takes an RSA private key, ES256 a P-256 EC private key (PEM); "
            "HS256 a secret",
        )
    return (json.dumps({"signatures": [token]}, indent=2) + "\n").encode()
