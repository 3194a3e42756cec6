"""Build provenance: an in-toto statement with a SLSA provenance predicate, in a
DSSE envelope (`*.intoto.jsonl` from slsa-github-generator, `cosign attest`, a
Sigstore bundle's `dsseEnvelope`).

The envelope's signature is checked against the public key given with `--key`
(ECDSA P-256/P-384/P-521, RSA PSS or PKCS #1 v1.5, Ed25519; a PEM public key or
certificate) over DSSE's pre-authentication encoding of the payload.  Only a
statement whose signature verifies is evidence: its builder, source repository
and ref and subject digests are recorded with `verified: true`.  Without a key,
or when no signature verifies, the document says `verified: false` and nothing
else, and a warning says why: a claim nobody signed proves nothing.
"""

from __future__ import annotations

import base64
import binascii
import json
from typing import Any

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, padding, rsa
from cryptography.hazmat.primitives.asymmetric.utils import encode_dss_signature

from compiler.ast import Span
from compiler.diagnostics import Diagnostic, warning
from compiler.evidence.report import At, Format, JsonSeq, Measured, Reading, Value

STATEMENTS = ("https://in-toto.io/Statement/v0.1", "https://in-toto.io/Statement/v1")
SLSA = "https://slsa.dev/provenance/"
PREDICATES = tuple(SLSA + v for v in ("v0.1", "v0.2", "v1"))
IN_TOTO = "application/vnd.in-toto+json"
CURVE_HASHES: dict[str, type[hashes.SHA256 | hashes.SHA384 | hashes.SHA512]] = {
    "secp256r1": hashes.SHA256,
    "secp384r1": hashes.SHA384,
    "secp521r1": hashes.SHA512,
}


def _envelope(item: Any) -> Any:
    """The DSSE envelope of a plain envelope or of a Sigstore bundle."""
    if isinstance(item, dict) and isinstance(item.get("dsseEnvelope"), dict):
        return item["dsseEnvelope"]
    return item


def _is_envelope(item: Any) -> bool:
    envelope = _envelope(item)
    return isinstance(envelope, dict) and "payloadType" in envelope and "signatures" in envelope


def recognise(document: Any) -> bool:
    return isinstance(document, JsonSeq) and len(document) >= 1 and all(map(_is_envelope, document))


def pae(payload_type: str, body: bytes) -> bytes:
    """DSSE's pre-authentication encoding: what the signature is over."""
    kind = payload_type.encode()
    return b"DSSEv1 %d %s %d %s" % (len(kind), kind, len(body), body)


def _base64(value: At) -> bytes:
    """Standard or URL-safe base64, padded or not, as DSSE allows."""
    text = str(value.value).strip().replace("-", "+").replace("_", "/")
    try:
        return base64.b64decode(text + "=" * (-len(text) % 4), validate=True)
    except (binascii.Error, ValueError):
        raise value.wrong(f"{value.where} is not base64") from None


def verifies(key: Any, signature: bytes, message: bytes) -> bool:
    """Whether `signature` over `message` verifies with the public key."""
    try:
        if isinstance(key, ec.EllipticCurvePublicKey):
            algorithm = ec.ECDSA(CURVE_HASHES.get(key.curve.name, hashes.SHA256)())
            size = (key.curve.key_size + 7) // 8
            if len(signature) == 2 * size:  # r || s, as some signers write it
                r, s = signature[:size], signature[size:]
                signature = encode_dss_signature(int.from_bytes(r), int.from_bytes(s))
            key.verify(signature, message, algorithm)
            return True
        if isinstance(key, rsa.RSAPublicKey):
            schemes = (
                padding.PSS(padding.MGF1(hashes.SHA256()), padding.PSS.AUTO),
                padding.PKCS1v15(),
            )
            for scheme in schemes:
                try:
                    key.verify(signature, message, scheme, hashes.SHA256())
                    return True
                except InvalidSignature:
                    continue
            return False
        if isinstance(key, ed25519.Ed25519PublicKey):
            key.verify(signature, message)
            return True
    except (InvalidSignature, ValueError):
        return False
    return False


def _text(owner: At | None, *path: str) -> str | None:
    """The string at a path of members, or None when any is missing."""
    for step in path[:-1]:
        owner = owner.get(step, "object") if owner is not None else None
    found = owner.get(path[-1], "string") if owner is not None else None
    return str(found.value) if found is not None and found.value else None


def _source(predicate: At, version: str) -> tuple[str | None, str | None]:
    """The source repository and ref the statement says it was built from."""
    if version == "v1":
        definition = predicate.get("buildDefinition", "object")
        external = definition.get("externalParameters", "object") if definition else None
        repository = _text(external, "workflow", "repository")
        if repository is not None:
            return repository, _text(external, "workflow", "ref")
        dependencies = definition.items("resolvedDependencies") if definition else []
        uri = _text(dependencies[0], "uri") if dependencies else None
    else:
        uri = _text(predicate, "invocation", "configSource", "uri")
        if uri is None:
            materials = predicate.items("materials")
            uri = _text(materials[0], "uri") if materials else None
    if uri is None:
        return None, None
    uri = uri.removeprefix("git+")
    repository, at, ref = uri.partition("@")
    return repository, ref if at else None


def _digests(statement: At) -> list[str]:
    digests = []
    subjects = statement.need("subject", "array").elements()
    if not subjects:
        raise statement.wrong("the statement's subject is empty")
    for subject in subjects:
        digest = subject.need("digest", "object")
        algorithm = "sha256" if "sha256" in digest.value else min(digest.value, default=None)
        if algorithm is None:
            raise digest.wrong(f"{digest.where} is empty")
        digests.append(f"{algorithm}:{digest.need(algorithm, 'string').value}")
    return digests


def measure(document: Any, reading: Reading) -> Measured:
    if len(document) != 1:
        raise reading.wrong(f"it holds {len(document)} envelopes; expected one")
    outer = reading.at(document[0])
    envelope = outer.get("dsseEnvelope", "object") or outer
    payload_type = envelope.need("payloadType", "string")
    if payload_type.value != IN_TOTO and not (
        payload_type.value.startswith("application/vnd.in-toto.")
        and payload_type.value.endswith("+json")
    ):
        raise payload_type.wrong(f'payloadType is "{payload_type.value}"; expected {IN_TOTO}')
    body = _base64(envelope.need("payload", "string"))
    try:
        statement = At(json.loads(body), "payload", reading.format, reading.report)
    except (json.JSONDecodeError, UnicodeDecodeError):
        raise reading.wrong("its payload is not a JSON in-toto statement") from None
    kind = statement.need("_type", "string")
    if kind.value not in STATEMENTS:
        raise kind.wrong(f'payload._type is "{kind.value}"; expected an in-toto statement')
    predicate_type = statement.need("predicateType", "string")
    if predicate_type.value not in PREDICATES:
        raise predicate_type.wrong(
            f'payload.predicateType is "{predicate_type.value}"; expected SLSA provenance '
            f"({', '.join(PREDICATES)})"
        )
    predicate = statement.need("predicate", "object")
    digests = _digests(statement)
    signatures = [
        _base64(s.need("sig", "string")) for s in envelope.need("signatures", "array").elements()
    ]
    message = pae(payload_type.value, body)
    verified = reading.key is not None and any(
        verifies(reading.key, s, message) for s in signatures
    )
    values: dict[str, Value] = {"provenance.verified": verified}
    if not verified:
        return Measured(values=values, warnings=(_unverified(reading, len(signatures)),))
    version = predicate_type.value.removeprefix(SLSA)
    builder = (
        _text(predicate, "runDetails", "builder", "id")
        if version == "v1"
        else _text(predicate, "builder", "id")
    )
    repository, ref = _source(predicate, version)
    found: dict[str, Value | None] = {
        "provenance.builder": builder,
        "provenance.source": repository,
        "provenance.ref": ref,
        "provenance.digests": digests,
    }
    values |= {name: value for name, value in found.items() if value is not None}
    return Measured(values=values)


def _unverified(reading: Reading, signatures: int) -> Diagnostic:
    if reading.key is None:
        why, help = "no --key was given", "give the signer's public key with --key KEY.pem"
    elif not signatures:
        why, help = "the envelope has no signature", "sign the statement"
    else:
        why = f"no signature verifies with {reading.key_path}"
        help = "check that the key is the signer's; the statement may have been altered"
    return warning(
        "RG111",
        Span(reading.report.path, 1, 1, 1, 1),
        f"the provenance is not verified ({why}); the document says verified: false",
        help=help,
    )


PROVENANCE = Format(
    name="provenance",
    title="an in-toto provenance envelope",
    produced_by="a DSSE envelope of a SLSA provenance statement (a .intoto.jsonl of "
    "slsa-github-generator, cosign attest --type slsaprovenance, a Sigstore bundle)",
    shape='a DSSE envelope: an object with "payloadType", "payload" and "signatures"',
    syntax="json-seq",
    kind="provenance",
    recognise=recognise,
    measure=measure,
)
