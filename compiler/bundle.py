"""Bundle pass: emitted files → an OPA bundle (.tar.gz), byte-for-byte reproducible.

The revision is a hash of the content, so the same sources give the same
bundle; it is written into the manifest and into data.regate.catalog, so every
decision names the policy version that made it.
"""

from __future__ import annotations

import gzip
import hashlib
import io
import json
import os
import tarfile
import tempfile
from collections.abc import Mapping
from pathlib import Path

from compiler.ast import JsonValue


def json_bytes(value: JsonValue) -> bytes:
    return (json.dumps(value, indent=2, sort_keys=True, ensure_ascii=False) + "\n").encode()


def revision_of(files: Mapping[str, bytes], catalog: JsonValue) -> str:
    digest = hashlib.sha256()
    for path in sorted(files):
        digest.update(path.encode() + b"\0" + files[path] + b"\0")
    digest.update(json_bytes(catalog))
    return digest.hexdigest()[:20]


def bundle_files(
    files: Mapping[str, bytes],
    catalog: JsonValue,
    root: str = "regate",
    other_roots: tuple[str, ...] = (),
) -> dict[str, bytes]:
    """All files of the bundle: the modules, the catalog data (in `root`) and the
    manifest.  A tenant-sized bundle has another root (compiler/fleet/tenants.py)."""
    revision = revision_of(files, catalog)
    assert isinstance(catalog, dict)
    everything = dict(files)
    everything[f"{root}/catalog/data.json"] = json_bytes({**catalog, "revision": revision})
    everything[".manifest"] = json_bytes(
        {"revision": revision, "roots": sorted([root, *other_roots]), "rego_version": 1}
    )
    return everything


def tar_gz(files: Mapping[str, bytes]) -> bytes:
    """A gzipped tar with fixed metadata, entries in sorted order."""
    raw = io.BytesIO()
    with tarfile.open(fileobj=raw, mode="w", format=tarfile.PAX_FORMAT) as archive:
        for path in sorted(files):
            info = tarfile.TarInfo("/" + path)
            info.size = len(files[path])
            info.mode = 0o644
            info.mtime = 0
            info.uid = info.gid = 0
            info.uname = info.gname = ""
            archive.addfile(info, io.BytesIO(files[path]))
    packed = io.BytesIO()
    with gzip.GzipFile(filename="", mode="wb", fileobj=packed, mtime=0, compresslevel=9) as gz:
        gz.write(raw.getvalue())
    return packed.getvalue()


def write_atomically(path: str, content: bytes) -> None:
    """Write to a temporary file beside `path`, then rename: readers never see half a file."""
    target = Path(path)
    target.parent.mkdir(parents=True, exist_ok=True)
    handle, temporary = tempfile.mkstemp(prefix=f".{target.name}.", dir=target.parent)
    try:
        with os.fdopen(handle, "wb") as out:
            out.write(content)
        os.chmod(temporary, 0o644)
        os.replace(temporary, target)
    except BaseException:
        os.unlink(temporary)
        raise


def write_directory(directory: str, files: Mapping[str, bytes]) -> None:
    """The bundle as a directory tree (for `opa test`, `opa check` and reading)."""
    for path, content in files.items():
        target = Path(directory, path)
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_bytes(content)
