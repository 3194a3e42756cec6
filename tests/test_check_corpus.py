"""The checker's corpus: wrong policies with their expected diagnostics, right ones with none.

tests/fixtures/check-corpus/ holds `specifications.rg` (checked with every case),
`wrong/<code>-<what>.rg` (or `.json`, or a directory) beside `<code>-<what>.expected`,
the full text `regate check` prints, and `right/*.rg`.  Each wrong case is named by
the code it demonstrates, and every code of sources has one, also pinned as SARIF
(syrupy snapshot).  After a deliberate change of messages, rewrite the expected
files with `REGATE_CORPUS_UPDATE=1 scripts/test tests/test_check_corpus.py` and
review the diff.
"""

from __future__ import annotations

import json
import os
from datetime import UTC, datetime
from pathlib import Path

import pytest

from compiler.diagnostics import CODES, as_sarif, render_all_text
from compiler.driver import Compilation, check_sources
from tests.conftest import REPO

CORPUS = REPO / "tests" / "fixtures" / "check-corpus"
WRONG = sorted(p for p in (CORPUS / "wrong").iterdir() if p.suffix != ".expected")
RIGHT = sorted((CORPUS / "right").glob("*.rg"))
UPDATE = os.environ.get("REGATE_CORPUS_UPDATE") == "1"
NOW = datetime(2026, 11, 22, tzinfo=UTC)
# The codes of reading and checking sources; from RG060 up, codes belong to other
# commands (RG07x: `regate metadata from`, docs/evidence.md).
SOURCE_CODES = sorted(code for code in CODES if code < "RG060")


def check_case(case: Path, monkeypatch: pytest.MonkeyPatch) -> Compilation:
    """`regate check --now 2026-11-22T00:00:00Z specifications.rg <case>` run in the
    corpus, so paths print relative and waivers expire at a fixed time."""
    monkeypatch.chdir(CORPUS)
    return check_sources(["specifications.rg", str(case.relative_to(CORPUS))], now=NOW)


def expected_file(case: Path) -> Path:
    return case.with_name(f"{case.stem}.expected")


def code_of(case: Path) -> str:
    return case.name.split("-")[0].upper()


@pytest.mark.parametrize("case", WRONG, ids=lambda p: p.stem)
def test_wrong_policy_gets_its_diagnostics(case, monkeypatch):
    result = check_case(case, monkeypatch)
    rendered = render_all_text(result.diagnostics, result.texts)
    if UPDATE:
        expected_file(case).write_text(rendered)
    assert rendered == expected_file(case).read_text()
    assert f"[{code_of(case)}]: " in rendered, "a case demonstrates the code it is named by"


@pytest.mark.parametrize("case", RIGHT, ids=lambda p: p.stem)
def test_right_policy_gets_no_diagnostics(case, monkeypatch):
    result = check_case(case, monkeypatch)
    assert render_all_text(result.diagnostics, result.texts) == ""


def test_the_corpus_is_large_enough():
    assert len(WRONG) >= 40
    assert len(RIGHT) >= 10


@pytest.mark.parametrize("code", SOURCE_CODES)
def test_every_code_in_text_and_sarif(code, monkeypatch, snapshot):
    cases = [case for case in WRONG if code_of(case) == code]
    assert cases, f"no corpus case wrong/{code.lower()}-*.rg demonstrates {code}"
    result = check_case(cases[0], monkeypatch)
    assert render_all_text(result.diagnostics, result.texts) == (
        expected_file(cases[0]).read_text()
    )
    sarif = as_sarif(result.diagnostics, tool_version="test")
    assert code in [r["ruleId"] for r in sarif["runs"][0]["results"]]
    assert json.dumps(sarif, indent=2) == snapshot
