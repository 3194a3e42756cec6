"""bench/split.py at the tiny size, so that it cannot rot.  No timing is asserted:
the machine is shared; docs/deploy.md holds the figures of a real run."""

from __future__ import annotations

import re
import subprocess
import sys

import pytest

from tests.conftest import REPO

pytestmark = pytest.mark.opa


def test_the_split_benchmark_runs_and_replaces_its_block(tmp_path):
    page = tmp_path / "deploy.md"
    page.write_text(
        "# Deploy\n\nbefore\n\n<!-- bench/split.py: begin -->\nold figures\n"
        "<!-- bench/split.py: end -->\n\nafter\n"
    )
    tiny = ["--size", "tiny", "--samples", "20", "--repeat", "1", "--output", str(page)]
    run = subprocess.run(
        [sys.executable, str(REPO / "bench" / "split.py"), *tiny],
        capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    assert run.returncode == 0, run.stderr
    text = page.read_text()
    assert text.startswith("# Deploy\n\nbefore\n\n<!-- bench/split.py: begin -->\nMeasured with")
    assert text.endswith("<!-- bench/split.py: end -->\n\nafter\n")
    assert "old figures" not in text
    row = r"^\| {} \| [\d,]+ \| [\d,]+ KiB \| [\d.]+ s \| [\d.]+ s \| \d+ MB \| \d+ MB \| [\d.]+ \| [\d,]+ ms \| [\d,]+ ms \| [\d,]+ ms \| [\d,]+ µs \| [\d,]+ µs \|$"
    for label in ("the whole bundle", r"router \+ `organization=\d+` \(split by organization\)",
                  r"router \+ `organization=\d+:account=\d+` \(split by account\)",
                  r"router \+ `organization=\d+:account=\d+`, GOGC=400"):  # fmt: skip
        assert re.search(row.format(label), text, re.M), label


def test_a_page_without_the_block_is_refused(tmp_path):
    page = tmp_path / "deploy.md"
    page.write_text("# Deploy\n")
    tiny = ["--size", "tiny", "--samples", "5", "--repeat", "1", "--output", str(page)]
    run = subprocess.run(
        [sys.executable, str(REPO / "bench" / "split.py"), *tiny],
        capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    assert run.returncode != 0
    assert (
        "has no <!-- bench/split.py: begin --> ... <!-- bench/split.py: end --> block" in run.stderr
    )
    assert page.read_text() == "# Deploy\n"
