"""A bundle file `regate build` wrote, read back before it leaves the machine:
`regate publish` pushes only what it can show is a regate bundle, and says
what it pushes (revision, roots, signature)."""

from __future__ import annotations

import base64
import binascii
import gzip
import io
import json
import tarfile
import zlib
from dataclasses import dataclass
from typing import Any

from compiler.ast import Span
from compiler.diagnostics import Diagnostic, error
from compiler.signing import SIGNATURES_FILE
from compiler.sources import Unreadable, read_bounded

# OPA's own default limit on a bundle file (bundles[_].size_limit_bytes), read whole.
SIZE_LIMIT = 1 << 30
MANIFEST = ".manifest"
# regate's roots: a bundle's, or a tenant-sized bundle's (compiler/fleet/tenants.py).
ROOTS = ("regate", "regate_tenants")


@dataclass(frozen=True)
class Signature:
    """What `.signatures.json` claims, read without verifying: OPA verifies."""

    algorithm: str
    key_id: str | None
    scope: str | None


@dataclass(frozen=True)
class BundleArchive:
    content: bytes  # the archive's bytes, as checked
    revision: str
    roots: tuple[str, ...]
    signature: Signature | None

    def describe(self) -> str:
        """`revision R, roots a, b, signed RS256 (key id "k", scope "s")`."""
        text = f"revision {self.revision}, roots {', '.join(self.roots)}, "
        if self.signature is None:
            return text + "unsigned"
        details = [f'key id "{self.signature.key_id}"' if self.signature.key_id else "no key id"]
        if self.signature.scope is not None:
            details.append(f'scope "{self.signature.scope}"')
        return text + f"signed {self.signature.algorithm} ({', '.join(details)})"


class NotABundle(Exception):
    def __init__(self, reason: str, help: str | None = None) -> None:
        super().__init__(reason)
        self.help = help


def read_bundle(path: str) -> BundleArchive | Diagnostic:
    """The bundle at `path`, or RG120 saying why it is not one regate publishes."""
    span = Span(path, 1, 1, 1, 1)
    try:
        # A file or a pipe, never a wait or an endless read (compiler/sources.py).
        content = read_bounded(path, SIZE_LIMIT)
    except Unreadable as exc:
        return error("RG120", span, f"cannot read bundle {path}: {exc}")
    try:
        return _read(content)
    except NotABundle as exc:
        return error("RG120", span, f"{path} is not a regate bundle: {exc}", help=exc.help)


def _read(content: bytes) -> BundleArchive:
    built = "a bundle is what `regate build SRC -o OUT.tar.gz` writes"
    try:
        with tarfile.open(fileobj=io.BytesIO(content), mode="r:gz") as archive:
            members = {m.name.lstrip("/"): m for m in archive.getmembers() if m.isfile()}
            manifest = _json_member(archive, members, MANIFEST)
            signatures = (
                _json_member(archive, members, SIGNATURES_FILE)
                if SIGNATURES_FILE in members
                else None
            )
    except (tarfile.TarError, gzip.BadGzipFile, zlib.error, EOFError) as exc:
        raise NotABundle(f"not a gzipped tar archive ({exc})", help=built) from exc
    if manifest is None:
        raise NotABundle(f"it has no {MANIFEST}", help=built)
    if not isinstance(manifest, dict):
        raise NotABundle(f"its {MANIFEST} is not a JSON object")
    revision, roots = manifest.get("revision"), manifest.get("roots")
    if not isinstance(revision, str) or not revision:
        raise NotABundle(f"its {MANIFEST} has no revision", help=built)
    if (
        not isinstance(roots, list)
        or not roots
        or not all(isinstance(r, str) and r.split("/")[0] in ROOTS for r in roots)
    ):
        raise NotABundle(
            f"its {MANIFEST} roots are {json.dumps(roots)}, not regate's "
            f"({' or '.join(map(repr, ROOTS))}, or below)",
            help=built,
        )
    return BundleArchive(content, revision, tuple(roots), _signature(signatures))


def _json_member(archive: tarfile.TarFile, members: dict[str, tarfile.TarInfo], name: str) -> Any:
    member = members.get(name)
    if member is None:
        return None
    if member.size > 1 << 20:
        raise NotABundle(f"its {name} is larger than 1 MiB")
    handle = archive.extractfile(member)
    assert handle is not None  # a regular file
    try:
        return json.loads(handle.read())
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise NotABundle(f"its {name} is not JSON ({exc})") from exc


def _signature(signatures: Any) -> Signature | None:
    """The first signature's header and claims; OPA reads the first too."""
    if signatures is None:
        return None
    try:
        token = signatures["signatures"][0]
        header, claims = (_jwt_part(part) for part in token.split(".")[:2])
        algorithm, key_id, scope = header["alg"], header.get("kid"), claims.get("scope")
        if not isinstance(algorithm, str) or not all(
            v is None or isinstance(v, str) for v in (key_id, scope)
        ):
            raise TypeError(algorithm)
    except (KeyError, IndexError, TypeError, AttributeError, ValueError) as exc:
        raise NotABundle(
            f"its {SIGNATURES_FILE} is not OPA's format",
            help='{"signatures": [JWT]}, as `regate build --signing-key` writes it',
        ) from exc
    return Signature(algorithm, key_id, scope)


def _jwt_part(part: str) -> dict[str, Any]:
    try:
        value = json.loads(base64.urlsafe_b64decode(part + "=" * (-len(part) % 4)))
    except (binascii.Error, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise ValueError(part) from exc
    if not isinstance(value, dict):
        raise TypeError(part)
    return value
