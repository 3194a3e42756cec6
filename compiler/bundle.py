"""Bundle pass: emitted files → an OPA bundle (.tar.gz), byte-for-byte reproducible.

The revision is a hash of the content, so the same sources give the same
bundle; it is written into the manifest and into data.regate.catalog, so every
decision names the policy version that made it.
"""

from __future__ import annotations

import contextlib
import errno
import gzip
import hashlib
import io
import json
import os
import stat
import sys
import tarfile
import tempfile
from collections.abc import Iterable, Mapping
from pathlib import Path

from compiler.ast import JsonValue, Span
from compiler.diagnostics import Diagnostic, error


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


STANDARD_OUTPUT = "-"  # `-o -`: the output goes to standard output


def unwritable(path: str, reason: str) -> Diagnostic:
    """RG061: an output that cannot be written, at the path the user gave."""
    return error("RG061", Span(path, 1, 1, 1, 1), f"cannot write {path}: {reason}")


def check_output(path: str, directory: bool = False) -> Diagnostic | None:
    """RG061 when `output_problem` finds one."""
    problem = output_problem(path, directory)
    return unwritable(path, problem) if problem else None


def overwrites(path: str, inputs: Iterable[str]) -> Diagnostic | None:
    """RG061 when the output `path` is one of the command's `inputs`: writing it would
    destroy what was read."""
    if path == STANDARD_OUTPUT:
        return None
    try:
        target = os.path.realpath(path)
        if any(os.path.realpath(given) == target for given in inputs):
            return unwritable(path, "it is one of the command's inputs")
    except (OSError, ValueError):
        pass
    return None


def write_failed(path: str, exc: OSError) -> Diagnostic:
    reason = exc.strerror or str(exc)
    return unwritable(path, reason[0].lower() + reason[1:] if reason else "failed")


def output_problem(path: str, directory: bool = False) -> str | None:
    """Why `path` cannot be written as an output file (or, with `directory`, a directory
    of outputs), or None.  Checked before any work, so that one run reports every
    problem; the write itself can still fail, and says so."""
    if path == STANDARD_OUTPUT and not directory:
        return None
    if not path:
        return "an empty path names no file"
    if not directory and path.endswith(("/", os.sep)):
        return "the path ends with a slash, so it names a directory"
    try:
        target = Path(path).absolute()
        if target.exists():
            if directory and not target.is_dir():
                return "it is a file, not a directory"
            if not directory and target.is_dir():
                return "it is a directory"
        # The directory the output goes in (or, for a directory output, the nearest
        # one that exists): it must be a directory we may write.
        ancestor = target if directory and target.is_dir() else target.parent
        while not ancestor.exists() and ancestor != ancestor.parent:
            ancestor = ancestor.parent
        if not ancestor.is_dir():
            return f"{ancestor} is a file, not a directory"
        if not os.access(ancestor, os.W_OK | os.X_OK):
            return f"permission denied ({ancestor} is not writable)"
    except (OSError, ValueError) as exc:  # a name too long, a NUL, a loop of links
        return str(getattr(exc, "strerror", None) or exc)
    return None


def write_atomically(path: str, content: bytes) -> None:
    """Write to a temporary file beside the file `path` names, then rename: readers never
    see half a file.  A symbolic link is written through (its target replaced, the link
    kept), and a file that exists keeps its mode.  Raises OSError."""
    target = Path(os.path.realpath(path))
    if target.is_dir():
        raise IsADirectoryError(errno.EISDIR, "is a directory", path)
    target.parent.mkdir(parents=True, exist_ok=True)
    try:
        mode = stat.S_IMODE(os.stat(target).st_mode)
    except FileNotFoundError:
        mode = 0o644
    handle, temporary = tempfile.mkstemp(prefix=f".{target.name}.", dir=target.parent)
    try:
        with os.fdopen(handle, "wb") as out:
            out.write(content)
            out.flush()
            os.fsync(out.fileno())
        os.chmod(temporary, mode)
        os.replace(temporary, target)
    except BaseException:
        os.unlink(temporary)
        raise


def write_output(path: str, content: bytes) -> None:
    """`write_atomically`, or standard output for `-`.  Raises OSError."""
    if path != STANDARD_OUTPUT:
        write_atomically(path, content)
        return
    stdout = sys.stdout.buffer
    try:
        stdout.write(content)
        stdout.flush()
    except BrokenPipeError:
        # The reader went away before the whole output: an error, said once (Python
        # would say it again, as a traceback, when it flushes stdout at exit).
        with contextlib.suppress(OSError, ValueError):
            os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        raise


def write_directory(directory: str, files: Mapping[str, bytes]) -> None:
    """The bundle as a directory tree (for `opa test`, `opa check` and reading)."""
    for path, content in files.items():
        target = Path(directory, path)
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_bytes(content)
