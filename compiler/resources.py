"""Where the grammar and templates are: inside the installed package (a wheel
carries them as compiler/grammar and compiler/templates) or, in a checkout, at
the top of the repository."""

from __future__ import annotations

from functools import cache
from pathlib import Path

_PACKAGE = Path(__file__).resolve().parent


@cache
def resource_dir(name: str) -> Path:
    for candidate in (_PACKAGE / name, _PACKAGE.parent / name):
        if candidate.is_dir():
            return candidate
    raise FileNotFoundError(f"regate is installed without its {name}/ directory")
