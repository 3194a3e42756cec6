"""bench/bench_check.py at a tiny size, so it cannot rot (no timing is asserted)."""

from __future__ import annotations

import subprocess
import sys

from tests.conftest import REPO


def test_the_checker_benchmark_runs():
    arguments = ["--policies", "20", "--specifications", "4", "--actions", "2", "--repeat", "1"]
    ran = subprocess.run(
        [sys.executable, str(REPO / "bench" / "bench_check.py"), *arguments],
        capture_output=True,
        text=True,
        timeout=120,
        check=True,
    )
    assert ran.stdout.startswith("check: 20 policies, 4 specifications, 2 actions: best "), ran
    assert ran.stdout.rstrip().endswith("; 20 warnings"), ran.stdout
