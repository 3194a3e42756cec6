"""Helpers of the nullplatform tests: the fixtures, and sources compared without comments."""

from __future__ import annotations

import re
from pathlib import Path

from tests.conftest import REPO

FIXTURES = REPO / "tests/fixtures/nullplatform"


def read_dir(directory: Path) -> dict[str, str]:
    return {p.name: p.read_text() for p in sorted(directory.iterdir()) if p.is_file()}


def without_comments(files: dict[str, str]) -> dict[str, str]:
    """Sources as their blocks say them: comments (where each came from, what was
    not written, the names of ids) left out."""
    stripped = {}
    for name, text in files.items():
        lines = [re.sub(r"\s+# .*$", "", line) for line in text.splitlines()]
        stripped[name] = "\n".join(line for line in lines if not line.lstrip().startswith("#"))
    return stripped
