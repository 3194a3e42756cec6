"""The command line's bad-input corpus: tests/fixtures/bad-input/cli/*.json.

In the manner of OPA's and cel-spec's conformance files, each file groups cases for one
command; a case is data:

    {"name": "...",
     "files": {"PATH": SPEC, ...},          # created in a fresh directory, the working one
     "env": {"REGATE_OPA": "{tmp}/missing"},
     "argv": ["build", "src", "-o", "out"],
     "stdin": "...",
     "exit": 1,                             # 1 errors, 2 usage (and `regate diff` errors)
     "error": "substring of the output",    # the message a user acts on
     "absent": ["PATH"],                    # nothing written there
     "same": ["PATH"],                      # left as it was created
     "plain": true}                         # the output is no error message (`fmt --check`)

A file SPEC is {"text": "..."} (or {"lines": [...]}; `{SPACES:N}` and `{REPEAT:N:X}` in
either expand to N spaces or N times X), optionally with "mode": "0644"; {"hex": "fffe"};
{"directory": true}; {"symlink": "TARGET"}; {"fifo": true}; {"key": KIND} (a generated
PEM key: rsa-2048, rsa-2048-public, rsa-1024, rsa-2048-encrypted, ec-p256, ec-p384,
ed25519); {"copy": "{REPO}/..."}; {"bundle": "{REPO}/..."} (the sources built).
Placeholders: {tmp} (the case's directory), {REPO}, {OPA} (the real OPA binary).

Every case must end with its exit status, no traceback, and its message; the corpus
grows with every fault found (docs/hardening.md, "The command line").
"""

from __future__ import annotations

import json
import os
import re
import shutil
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, rsa

from compiler.bundle import tar_gz
from compiler.cli import main
from compiler.driver import compile_sources
from tests.conftest import REPO

CORPUS = REPO / "tests" / "fixtures" / "bad-input" / "cli"
CASES = [
    pytest.param(case, id=f"{path.stem}: {case['name']}")
    for path in sorted(CORPUS.glob("*.json"))
    for case in json.loads(path.read_text())["cases"]
]
# One clear message: a located diagnostic, a command-line one, or click's usage error.
MESSAGE = re.compile(r"^(\S+:\d+:\d+|regate): error(\[RG\d{3}\])?: |^Error: ", re.M)


def _key(kind: str) -> bytes:
    private: Any
    if kind.startswith("rsa"):
        private = rsa.generate_private_key(65537, 1024 if kind == "rsa-1024" else 2048)
    elif kind == "ec-p256":
        private = ec.generate_private_key(ec.SECP256R1())
    elif kind == "ec-p384":
        private = ec.generate_private_key(ec.SECP384R1())
    else:
        private = ed25519.Ed25519PrivateKey.generate()
    if kind.endswith("-public"):
        return bytes(
            private.public_key().public_bytes(
                serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
            )
        )
    encryption: Any = (
        serialization.BestAvailableEncryption(b"passphrase")
        if kind.endswith("-encrypted")
        else serialization.NoEncryption()
    )
    return bytes(
        private.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, encryption
        )
    )


def expand(text: str, tmp: Path, opa: str) -> str:
    text = text.replace("{tmp}", str(tmp)).replace("{REPO}", str(REPO)).replace("{OPA}", opa)
    text = re.sub(r"\{SPACES:(\d+)\}", lambda m: " " * int(m[1]), text)
    return re.sub(r"\{REPEAT:(\d+):([^}]*)\}", lambda m: m[2] * int(m[1]), text)


def create(tmp: Path, name: str, spec: dict[str, Any], opa: str) -> None:
    path = tmp / name
    path.parent.mkdir(parents=True, exist_ok=True)
    if "lines" in spec:
        spec = {**spec, "text": "\n".join(spec["lines"]) + "\n"}
    if spec.get("directory"):
        path.mkdir(exist_ok=True)
    elif "symlink" in spec:
        path.symlink_to(expand(spec["symlink"], tmp, opa))
    elif spec.get("fifo"):
        os.mkfifo(path)
    elif "key" in spec:
        path.write_bytes(_key(spec["key"]))
    elif "copy" in spec:
        source = Path(expand(spec["copy"], tmp, opa))
        if source.is_dir():
            shutil.copytree(source, path)
        else:
            shutil.copyfile(source, path)
    elif "bundle" in spec:
        result = compile_sources([expand(spec["bundle"], tmp, opa)])
        assert result.files is not None
        path.write_bytes(tar_gz(result.files))
    elif "hex" in spec:
        path.write_bytes(bytes.fromhex(spec["hex"]))
    else:
        path.write_text(expand(spec["text"], tmp, opa))
    if "mode" in spec:
        path.chmod(int(spec["mode"], 8))


def snapshot(path: Path) -> object:
    if path.is_symlink():
        return ("link", os.readlink(path))
    if path.is_dir():
        return ("directory", sorted(p.name for p in path.iterdir()))
    return ("file", path.read_bytes(), path.stat().st_mode)


@pytest.mark.parametrize("case", CASES)
def test_bad_input(case, tmp_path, monkeypatch, opa):
    if case.get("as_root") is False and os.geteuid() == 0:
        pytest.skip("permissions do not stop root")
    for name, spec in case.get("files", {}).items():
        create(tmp_path, name, spec, opa)
    kept = {name: snapshot(tmp_path / name) for name in case.get("same", [])}
    monkeypatch.chdir(tmp_path)
    env = {key: expand(value, tmp_path, opa) for key, value in case.get("env", {}).items()}
    argv = [expand(argument, tmp_path, opa) for argument in case["argv"]]
    result = CliRunner().invoke(main, argv, input=case.get("stdin"), env=env)
    output = result.stdout + result.stderr
    assert result.exception is None or isinstance(result.exception, SystemExit), output
    assert "Traceback" not in output
    assert result.exit_code == case["exit"], output
    assert case.get("plain") or MESSAGE.search(result.stderr) or '"code": "RG' in result.stdout
    assert expand(case["error"], tmp_path, opa) in output, output
    for name in case.get("absent", []):
        assert not (tmp_path / name).exists(), f"{name} was written"
    for name, before in kept.items():
        assert snapshot(tmp_path / name) == before, f"{name} changed"


def test_the_corpus_covers_every_command():
    commands = {case.values[0]["argv"][0] for case in CASES}
    assert commands >= set(main.commands), set(main.commands) - commands
    assert len(CASES) >= 80
