"""A wheel built from the repository carries the grammar and templates: installed into a
fresh virtual environment outside the checkout, it compiles the example."""

from __future__ import annotations

import subprocess
import sys
import venv
import zipfile
from pathlib import Path

from tests.conftest import QUALITY_GATES, REPO


def test_wheel_installs_and_compiles_outside_the_checkout(tmp_path):
    dist = tmp_path / "dist"
    subprocess.run(
        [sys.executable, "-m", "build", "--wheel", "--outdir", str(dist), str(REPO)],
        check=True,
        capture_output=True,
    )
    (wheel,) = dist.glob("regate-*.whl")
    names = zipfile.ZipFile(wheel).namelist()
    assert "compiler/grammar/regate.lark" in names
    assert "compiler/templates/policies.rego.j2" in names
    assert "compiler/entities.json" in names

    environment = tmp_path / "venv"
    venv.create(environment, with_pip=True)
    python = environment / "bin" / "python"
    subprocess.run([python, "-m", "pip", "install", "--quiet", str(wheel)], check=True)
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    out = elsewhere / "gates.tar.gz"
    built = subprocess.run(
        [environment / "bin" / "regate", "build", str(QUALITY_GATES), "-o", str(out)],
        cwd=elsewhere,
        capture_output=True,
        text=True,
    )
    assert built.returncode == 0, built.stderr
    origin = subprocess.run(
        [python, "-c", "import compiler; print(compiler.__file__)"],
        cwd=elsewhere,
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    assert Path(origin).is_relative_to(environment)
    assert out.stat().st_size > 0
