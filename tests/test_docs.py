"""The docs stay true: every diagnostic code and every command is documented."""

from __future__ import annotations

import re

from compiler.cli import main
from compiler.diagnostics import CODES
from tests.conftest import REPO


def test_every_diagnostic_code_is_in_the_language_reference():
    documented = set(re.findall(r"^\| (RG\d{3}) \|", (REPO / "docs/language.md").read_text(), re.M))
    assert documented == set(CODES)


def test_every_command_is_in_the_readme():
    readme = (REPO / "README.md").read_text()
    listed = set(re.findall(r"^\| `regate ([\w-]+)", readme, re.M))
    assert listed == set(main.commands)
