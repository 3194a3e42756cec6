"""Reproducible and atomic output.

The same sources give the same bundle bytes whatever the order files were
created in, where they sit, the working directory, PYTHONHASHSEED, the clock
(TZ, SOURCE_DATE_EPOCH, file times) and the umask; and a build that fails,
or a write that is cut short, leaves the previous bundle as it was.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from compiler import bundle as bundle_module
from tests.conftest import QUALITY_GATES, run_cli

REGATE = str(Path(sys.executable).parent / "regate")


def copy_sources(target: Path, reverse: bool, mtime: int) -> Path:
    """The quality gates copied file by file, in the given order, with the given times."""
    files = sorted(p for p in QUALITY_GATES.rglob("*") if p.is_file())
    for source in reversed(files) if reverse else files:
        destination = target / source.relative_to(QUALITY_GATES)
        destination.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(source, destination)
        os.utime(destination, (mtime, mtime))
    return target


def regate_build(sources: str, output: Path, cwd: Path, env: dict[str, str], umask: int) -> bytes:
    done = subprocess.run(
        [REGATE, "build", sources, "-o", str(output)],
        cwd=cwd,
        env={**os.environ, **env},
        capture_output=True,
        text=True,
        preexec_fn=lambda: os.umask(umask),
    )
    assert done.returncode == 0, done.stderr
    return output.read_bytes()


def test_bundles_are_byte_identical_across_environments(tmp_path):
    first = copy_sources(tmp_path / "a" / "quality-gates", reverse=False, mtime=0)
    second = copy_sources(tmp_path / "elsewhere" / "deeper" / "qg", reverse=True, mtime=2**31 - 1)
    built = [
        regate_build(str(first), tmp_path / "1.tar.gz", tmp_path,
                     {"PYTHONHASHSEED": "0", "TZ": "UTC"}, 0o022),
        regate_build("qg", tmp_path / "2.tar.gz", second.parent,
                     {"PYTHONHASHSEED": "12345", "TZ": "Pacific/Kiritimati",
                      "SOURCE_DATE_EPOCH": "1700000000", "LC_ALL": "C"}, 0o077),
        regate_build(str(first), tmp_path / "3.tar.gz", first,
                     {"PYTHONHASHSEED": "random", "TZ": "America/St_Johns"}, 0o002),
    ]  # fmt: skip
    assert built[0] == built[1] == built[2]


def test_a_failed_build_leaves_the_previous_bundle(tmp_path):
    output = tmp_path / "bundle.tar.gz"
    assert run_cli("build", str(QUALITY_GATES), "-o", str(output)).exit_code == 0
    previous = output.read_bytes()
    broken = tmp_path / "broken.rg"
    broken.write_text('policy "P" {\n  nrn = "organization=1"\n  conditions = {"a.b": }\n}\n')
    result = run_cli("build", str(broken), "-o", str(output))
    assert result.exit_code == 1
    assert output.read_bytes() == previous
    assert sorted(p.name for p in tmp_path.iterdir()) == ["broken.rg", "bundle.tar.gz"]


@pytest.mark.parametrize(
    "interruption", [OSError(28, "No space left on device"), KeyboardInterrupt()]
)
def test_an_interrupted_write_leaves_the_previous_bundle(tmp_path, monkeypatch, interruption):
    output = tmp_path / "bundle.tar.gz"
    output.write_bytes(b"the previous bundle")

    def cut_short(source: str, destination: str) -> None:
        raise interruption

    monkeypatch.setattr(bundle_module.os, "replace", cut_short)
    with pytest.raises(type(interruption)):
        bundle_module.write_atomically(str(output), b"the new bundle")
    assert output.read_bytes() == b"the previous bundle"
    assert [p.name for p in tmp_path.iterdir()] == ["bundle.tar.gz"]  # no temporary left


def test_an_unwritable_output_is_a_diagnostic(tmp_path):
    output = tmp_path / "a-directory"
    output.mkdir()
    result = run_cli("build", str(QUALITY_GATES), "-o", str(output))
    assert result.exit_code == 1
    assert result.stderr == (
        f"{output}:1:1: error[RG061]: cannot write {output}: it is a directory\n\n"
        "1 error, 0 warnings\n"
    )
    assert [p.name for p in tmp_path.iterdir()] == ["a-directory"]
    assert list(output.iterdir()) == []
