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
import os
import warnings
from collections.abc import Mapping
from dataclasses import dataclass

import jwt
from cryptography.exceptions import UnsupportedAlgorithm
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from jwt.algorithms import ECAlgorithm, get_default_algorithms
from jwt.utils import der_to_raw_signature

from compiler.ast import JsonValue, Span
from compiler.diagnostics import COMMAND_LINE, Diagnostic, error
from compiler.sources import Unreadable, read_bounded

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
    secret: str | bytes  # a PEM private key (RS256, ES256) or an HMAC secret (HS256)
    scope: str | None
    shown_as: str  # how diagnostics name the key: its path, never a secret
    key_id: str | None = None  # the JWT's `kid`: the name of the key in OPA's `keys`


MAX_KEY_BYTES = 1024 * 1024  # a PEM key or a secret is a few KiB; a larger file is not one
MIN_SECRET_BYTES = 32  # RFC 7518, 3.2: an HS256 key as long as the hash, or longer
MIN_RSA_BITS = 2048
KEY_FILE_SUFFIXES = (".pem", ".key", ".txt", ".secret", ".jwk", ".json", ".crt", ".der")
KIND_HELP = "RS256 takes an RSA private key, ES256 a P-256 EC private key (PEM); HS256 a secret"


def _names_a_file(given: str) -> bool:
    """Whether an HS256 `--signing-key` that names no file was meant to: a secret given
    inline is a word, a path has a separator or a key file's suffix."""
    return (
        any(c in given for c in "/\\")
        or given.startswith((".", "~"))
        or given.lower().endswith(KEY_FILE_SUFFIXES)
    )


def load_key(
    given: str, algorithm: str, scope: str | None, key_id: str | None = None
) -> SigningKey | Diagnostic:
    """`--signing-key`: a file holding the key; for HS256, as with `opa build`, a word
    that names no file is the secret itself.  The key is checked here, before anything
    is built: one that cannot sign with `algorithm` is RG060."""
    span = Span(given, 1, 1, 1, 1)
    if algorithm == "HS256" and not os.path.lexists(given) and not _names_a_file(given):
        problem = _secret_problem(given.encode())
        if problem:
            message = f"cannot sign with the --signing-key secret as HS256: {problem}"
            return error("RG060", COMMAND_LINE, message, KIND_HELP)
        return SigningKey(algorithm, given, scope, "--signing-key", key_id)
    content = _read_key(given, algorithm)
    if isinstance(content, Diagnostic):
        return content
    problem = _secret_problem(content) if algorithm == "HS256" else _pem_problem(content, algorithm)
    if problem:
        return error(
            "RG060", span, f"cannot sign with {given} as {algorithm}: {problem}", KIND_HELP
        )
    return SigningKey(algorithm, content, scope, given, key_id)


def _read_key(given: str, algorithm: str) -> bytes | Diagnostic:
    """The key file's bytes (a file, or a pipe such as `<(vault read ...)`)."""
    wanted = "a file holding the secret" if algorithm == "HS256" else "a PEM private key file"
    try:
        return read_bounded(given, MAX_KEY_BYTES)
    except Unreadable as exc:
        return error(
            "RG001",
            Span(given, 1, 1, 1, 1),
            f"cannot read signing key {given}: {exc}",
            help=f"{algorithm} signs with {wanted}",
        )


def _secret_problem(secret: bytes) -> str | None:
    if not secret.strip():
        return "it is empty"
    if secret.lstrip().startswith(b"-----BEGIN"):
        return "it holds a PEM key, not a shared secret: sign with RS256 or ES256"
    if len(secret) < MIN_SECRET_BYTES:
        return (
            f"it has {len(secret)} bytes; an HS256 secret has at least {MIN_SECRET_BYTES} "
            "(RFC 7518)"
        )
    return None


def _pem_problem(content: bytes, algorithm: str) -> str | None:
    """Why a PEM file cannot sign with RS256 or ES256, or None."""
    if not content.strip():
        return "the file is empty"
    try:
        key = serialization.load_pem_private_key(content, password=None)
    except TypeError:
        return "the key is encrypted; regate signs with an unencrypted PEM private key"
    except (ValueError, UnsupportedAlgorithm):
        if b"PUBLIC KEY-----" in content or b"CERTIFICATE-----" in content:
            return (
                "it holds a public key or a certificate; signing takes the private key "
                "(the public one is OPA's --verification-key)"
            )
        return "it is not a PEM private key"
    if algorithm == "RS256":
        if not isinstance(key, rsa.RSAPrivateKey):
            return f"it holds {_kind(key)}; RS256 signs with an RSA private key"
        if key.key_size < MIN_RSA_BITS:
            return f"the RSA key has {key.key_size} bits; RS256 needs at least {MIN_RSA_BITS}"
        return None
    if not isinstance(key, ec.EllipticCurvePrivateKey):
        return f"it holds {_kind(key)}; ES256 signs with a P-256 EC private key"
    if not isinstance(key.curve, ec.SECP256R1):
        return (
            f"it holds an EC key on curve {key.curve.name}; "
            "ES256 signs with a P-256 (secp256r1) key"
        )
    return None


def _kind(key: object) -> str:
    if isinstance(key, rsa.RSAPrivateKey):
        return "an RSA private key"
    if isinstance(key, ec.EllipticCurvePrivateKey):
        return "an EC private key"
    return f"a {type(key).__name__.removeprefix('_').replace('PrivateKey', '')} private key"


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
    except Exception as exc:  # load_key checked the key: a failure here is unforeseen
        return error(
            "RG060",
            Span(key.shown_as, 1, 1, 1, 1),
            f"cannot sign with {key.shown_as} as {key.algorithm} ({type(exc).__name__})",
            help=KIND_HELP,
        )
    return (json.dumps({"signatures": [token]}, indent=2) + "\n").encode()
