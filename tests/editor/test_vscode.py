"""The VS Code extension (editors/vscode): its manifest starts `regate lsp` for `.rg`
files, and its TextMate grammar scopes the example's lines as a reader expects."""

from __future__ import annotations

import json
import re
from typing import Any

from tests.conftest import QUALITY_GATES, REPO

EXTENSION = REPO / "editors" / "vscode"


def grammar() -> dict[str, Any]:
    return dict(json.loads((EXTENSION / "syntaxes" / "regate.tmLanguage.json").read_text()))


def test_the_manifest_declares_the_language_and_starts_the_server() -> None:
    manifest = json.loads((EXTENSION / "package.json").read_text())
    [language] = manifest["contributes"]["languages"]
    assert language["id"] == "regate" and language["extensions"] == [".rg"]
    [contributed] = manifest["contributes"]["grammars"]
    assert (EXTENSION / contributed["path"]).is_file()
    assert contributed["scopeName"] == grammar()["scopeName"]
    assert (EXTENSION / language["configuration"]).is_file()
    assert manifest["contributes"]["configuration"]["properties"]["regate.command"]["default"] == [
        "regate",
        "lsp",
    ]
    main = (EXTENSION / manifest["main"]).read_text()
    assert "vscode-languageclient/node" in main and "sourceRoots" in main
    assert "vscode-languageclient" in manifest["dependencies"]


def scopes(line: str) -> dict[str, str]:
    """Text → scope for one line, by the grammar's match rules (the patterns this grammar
    uses are in the subset Python's `re` and Oniguruma read alike)."""
    rules = grammar()["repository"]
    found: dict[str, str] = {}
    taken = [False] * len(line)

    def claim(start: int, end: int, scope: str) -> None:
        if not any(taken[start:end]):
            found[line[start:end]] = scope
            taken[start:end] = [True] * (end - start)

    for name in ("block", "attribute"):
        match = re.match(rules[name]["match"], line)
        if match:
            for group, capture in rules[name]["captures"].items():
                if match.group(int(group)) is not None:
                    claim(match.start(int(group)), match.end(int(group)), capture["name"])
    for rule in [*rules["comment"]["patterns"][:2], *rules["value"]["patterns"][1:]]:
        for match in re.finditer(rule["match"], line):
            claim(match.start(), match.end(), rule["name"])
    return found


def test_the_grammar_scopes_the_example() -> None:
    policies = (QUALITY_GATES / "policies.rg").read_text().splitlines()
    assert scopes(policies[4]) == {
        "policy": "keyword.other.block.regate",
        '"Code Coverage"': "entity.name.type.regate",
    }
    condition = scopes('    "build.metadata.coverage.code.coverage": {"$gte": 80}')
    assert condition == {
        '"build.metadata.coverage.code.coverage"': "string.quoted.double.regate",
        '"$gte"': "keyword.operator.query.regate",
        "80": "constant.numeric.regate",
    }
    actions = scopes("  on_policy_fail    = manual  # ask a human")
    assert actions == {
        "on_policy_fail": "variable.other.property.regate",
        "=": "keyword.operator.assignment.regate",
        "# ask a human": "comment.line.number-sign.regate",
        "manual": "constant.other.outcome.regate",
    }
    assert scopes('  schema      = file("schemas/coverage.json")')["file"] == (
        "support.function.builtin.regate"
    )
