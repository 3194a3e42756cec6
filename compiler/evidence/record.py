"""Decision records: `regate gate --record DIR` writes one per decision, and
`regate record verify` checks one (docs/evidence.md, "Decision records").

A record is a JSON file holding the request, the decision, the bundle revision,
the SHA-256 of every evidence and baseline file, the waivers and finding
exceptions the decision used and the time.  Its `id` is the SHA-256 of its
content (canonical JSON, without `id` and `signature`), so any change to it
shows; signed with a bundle signing key, the `signature` (a JWS whose payload
names the id) shows who wrote it.  A record is written once: to a new file
named by its time and id, never over another, read-only.
"""

from __future__ import annotations

import hashlib
import json
import os
import sys
import tempfile
import warnings
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, NoReturn

import click
import jwt

from compiler import __version__
from compiler.ast import Span
from compiler.diagnostics import Diagnostic, error, render
from compiler.evidence.report import MAX_REPORT_BYTES, EvidenceError
from compiler.signing import ALGORITHMS, SigningKey, load_key
from compiler.sources import JsonProblem, Unreadable, read_bounded, strict_json

RECORD_VERSION = 1
BODY = ("record", "time", "regate", "revision", "request", "decision")
LISTS = ("evidence", "baselines", "vex", "exceptions")
PUBLIC_KEY_ALGORITHMS = ("RS256", "ES256")


def canonical(value: Any) -> bytes:
    """The bytes a record's id is the SHA-256 of: keys sorted, no spaces, UTF-8."""
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode()


def record_options(command: Callable[..., None]) -> Callable[..., None]:
    """`--record DIR` and the key that signs the records."""
    command = click.option(
        "--signing-alg",
        type=click.Choice(ALGORITHMS),
        default="RS256",
        show_default=True,
        help="The algorithm of --signing-key.",
    )(command)
    command = click.option(
        "--signing-key",
        help="Sign each record with this bundle signing key (PEM private key; HS256: a secret).",
    )(command)
    return click.option(
        "--record",
        metavar="DIR",
        help="Write a decision record (JSON) into DIR.",
    )(command)


def load_signer(given: str | None, algorithm: str) -> SigningKey | None:
    if given is None:
        return None
    key = load_key(given, algorithm, None)
    if isinstance(key, Diagnostic):
        raise EvidenceError([key])
    return key


def exceptions_used(decision: Any) -> list[dict[str, Any]]:
    """The waivers the decision counted as passing, with the action and policy, and the
    finding exceptions it applied (docs/decisions.md)."""
    used: list[dict[str, Any]] = []
    if not isinstance(decision, dict):
        return used
    for action in decision.get("actions", []):
        for policy in action.get("policies", []):
            if policy.get("waived"):
                used.append(
                    {
                        "action": action.get("id"),
                        "policy": policy.get("name"),
                        "waiver": policy.get("waiver"),
                    }
                )
    used.extend({"exception": exception} for exception in decision.get("exceptions", []))
    return used


def _sign(digest: str, signer: SigningKey) -> str:
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # PyJWT's note on short HMAC secrets
            return jwt.encode({"sha256": digest}, signer.secret, algorithm=signer.algorithm)
    except (jwt.PyJWTError, ValueError, TypeError) as exc:
        where = Span(signer.shown_as, 1, 1, 1, 1)
        message = f"cannot sign with {signer.shown_as} as {signer.algorithm}: {exc}"
        raise EvidenceError([error("RG076", where, message)]) from None


def _write_new(directory: str, name: str, content: bytes) -> str:
    """Write `content` to DIR/name, which must not exist, all at once, read-only."""
    target = Path(directory, name)
    where = Span(directory, 1, 1, 1, 1)
    if target.parent.exists() and not target.parent.is_dir():
        message = f"cannot write a decision record in {directory}: it is not a directory"
        raise EvidenceError([error("RG077", where, message)])
    try:
        target.parent.mkdir(parents=True, exist_ok=True)
        handle, temporary = tempfile.mkstemp(prefix=f".{name}.", dir=target.parent)
        try:
            with os.fdopen(handle, "wb") as out:
                out.write(content)
                out.flush()
                os.fsync(out.fileno())
            os.chmod(temporary, 0o444)
            os.link(temporary, target)  # fails if the record exists: never overwritten
        finally:
            os.unlink(temporary)
    except FileExistsError:
        message = f"cannot write the decision record {target}: it exists already"
        raise EvidenceError([error("RG077", where, message)]) from None
    except OSError as exc:
        message = f"cannot write a decision record in {directory}: {exc.strerror or exc}"
        raise EvidenceError([error("RG077", where, message)]) from None
    return str(target)


def write_record(
    directory: str,
    request: Any,
    decision: Any,
    files: dict[str, list[dict[str, str]]],
    signer: SigningKey | None,
    now: datetime | None = None,
) -> str:
    """Write the record of one decision into `directory`; its path."""
    time = (now or datetime.now(UTC)).astimezone(UTC)
    body = {
        "record": RECORD_VERSION,
        "time": time.strftime("%Y-%m-%dT%H:%M:%S.%fZ"),
        "regate": __version__,
        "revision": decision.get("revision") if isinstance(decision, dict) else None,
        "request": request,
        "decision": decision,
        "evidence": files["evidence"],
        "baselines": files["baselines"],
        "vex": files["vex"],
        "exceptions": exceptions_used(decision),
    }
    digest = hashlib.sha256(canonical(body)).hexdigest()
    record = {"id": digest, **body}
    if signer is not None:
        record["signature"] = _sign(digest, signer)
    name = f"{time:%Y%m%dT%H%M%S%f}Z-{digest[:12]}.json"
    text = json.dumps(record, indent=2, sort_keys=True, ensure_ascii=False) + "\n"
    return _write_new(directory, name, text.encode("utf-8"))


def _problems(record: Any, key: str | None, check_files: bool) -> list[str]:
    """What is wrong with a record: empty when it verifies."""
    if not isinstance(record, dict):
        return ["it is not a JSON object"]
    missing = [name for name in ("id", *BODY, *LISTS) if name not in record]
    if missing:
        return [f"it lacks {', '.join(missing)}"]
    if record["record"] != RECORD_VERSION:
        return [f"it is record version {record['record']!r}; regate writes {RECORD_VERSION}"]
    problems = []
    body = {name: value for name, value in record.items() if name not in ("id", "signature")}
    if hashlib.sha256(canonical(body)).hexdigest() != record["id"]:
        problems.append(
            "its content was changed after it was written (it no longer hashes to its id)"
        )
    decision = record["decision"]
    if isinstance(decision, dict) and decision.get("revision") != record["revision"]:
        problems.append("its revision is not the decision's")
    signature = record.get("signature")
    if key is None and signature is not None:
        problems.append("it is signed: give --verification-key to verify the signature")
    elif key is not None:
        problems += _signature_problems(signature, key, record["id"])
    if check_files:
        problems += _file_problems(record)
    return problems


def _signature_problems(signature: Any, key: str, digest: Any) -> list[str]:
    if not isinstance(signature, str):
        return ["it is not signed"]
    secret = Path(key).read_text(encoding="utf-8") if Path(key).is_file() else key
    allowed = list(PUBLIC_KEY_ALGORITHMS) if "-----BEGIN" in secret else ["HS256"]
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            claims = jwt.decode(signature, secret, algorithms=allowed)
    except (jwt.PyJWTError, ValueError, TypeError) as exc:
        return [f"its signature does not verify with {key}: {exc}"]
    if claims.get("sha256") != digest:
        return ["its signature is over another record (the signed id is not its id)"]
    return []


def _file_problems(record: dict[str, Any]) -> list[str]:
    problems = []
    for entry in [*record["evidence"], *record["baselines"], *record["vex"]]:
        path = entry.get("path") if isinstance(entry, dict) else None
        if not isinstance(path, str):
            problems.append(f"an evidence entry names no file: {entry!r}")
            continue
        try:
            digest = hashlib.sha256(read_bounded(path, MAX_REPORT_BYTES)).hexdigest()
        except Unreadable as exc:
            problems.append(f"cannot read {path}: {exc}")
            continue
        if digest != entry.get("sha256"):
            problems.append(f"{path} is not the file the decision was made on (SHA-256 differs)")
    return problems


def _fail(diagnostic: Diagnostic, texts: dict[str, str] | None = None) -> NoReturn:
    sys.stderr.write(render([diagnostic], texts or {}, "text", __version__))
    sys.exit(1)


MAX_RECORD_BYTES = 64 * 1024 * 1024  # a record is a few KiB; bounds what verify reads


@click.group("record")
def record_group() -> None:
    """Decision records written by `regate gate --record`."""


@record_group.command("verify")
@click.argument("path", metavar="RECORD")
@click.option(
    "--verification-key",
    help="The public key (PEM) the record was signed for, or for HS256 the secret.",
)
@click.option(
    "--check-files",
    is_flag=True,
    help="Also check that the evidence and baseline files still have their SHA-256.",
)
def verify_command(path: str, verification_key: str | None, check_files: bool) -> None:
    """Check that RECORD is as written (its id, its signature, optionally its files)."""
    where = Span(path, 1, 1, 1, 1)
    try:  # bounded, and never blocking on a pipe nobody writes to
        text = read_bounded(path, MAX_RECORD_BYTES).decode("utf-8")
    except (Unreadable, UnicodeDecodeError) as exc:
        reason = str(exc) if isinstance(exc, Unreadable) else "not UTF-8 text"
        _fail(error("RG078", where, f"cannot read the record {path}: {reason}"))
    try:  # a duplicate key would let a record say two things
        record = strict_json(text)
    except JsonProblem as exc:
        line, column = exc.at or (1, 1)
        at = Span(path, line, column, line, column + 1)
        _fail(error("RG078", at, f"{path} is not a decision record: {exc}"), {path: text})
    problems = _problems(record, verification_key, check_files)
    if problems:
        message = f"{path} does not verify: " + "; ".join(problems)
        _fail(error("RG078", where, message))
    decision = record["decision"]
    result = decision.get("result") if isinstance(decision, dict) else None
    checked = ["its content"]
    if verification_key is not None:
        checked.append("its signature")
    if check_files:
        files = sum(len(record[name]) for name in ("evidence", "baselines", "vex"))
        checked.append(f"{files} files")
    click.echo(
        f"{path}: verified ({', '.join(checked)}): {result} at {record['time']} "
        f"(bundle revision {record['revision']})"
    )
