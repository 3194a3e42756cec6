"""regate fmt: golden pairs, round-trip on every source in the repo and on generated messy
inputs (formatting keeps meaning and comments, and twice changes nothing), and the CLI."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, cast

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from compiler.ast import Call, Node, to_json
from compiler.diagnostics import Diagnostic
from compiler.fmt import format_text
from compiler.parse import Block, parse_json_document, read_blocks
from compiler.sources import Source
from tests.conftest import REPO, run_cli

FIXTURES = REPO / "tests/fixtures/fmt"


def read(text: str, path: str, is_json: bool) -> tuple[Any, list[Diagnostic]]:
    """What the compiler's own reader makes of a file: a value or blocks, or None."""
    source = Source(path, path, text, explicit=True)
    return parse_json_document(source) if is_json else read_blocks(source)


def meaning(text: str, is_json: bool) -> Any:
    """What the compiler reads from a file, without positions."""
    nodes, diagnostics = read(text, "f", is_json)
    assert nodes is not None, diagnostics
    if is_json:
        return to_json(cast(Node, nodes))

    def plain(node: Node) -> Any:
        return ("call", node.function, node.argument) if isinstance(node, Call) else to_json(node)

    blocks = cast(list[Block], nodes)
    return [
        (b.kind, b.label and b.label.value, [(a.name, plain(a.value)) for a in b.attributes])
        for b in blocks
    ]


def comments(text: str, is_json: bool) -> list[str]:
    from compiler.fmt import _read

    return [c.text for c in _read(text, is_json).comments]


def assert_formats_soundly(text: str, path: str) -> str:
    is_json = path.endswith(".json")
    once = format_text(text, path, is_json)
    assert isinstance(once, str), once
    assert meaning(once, is_json) == meaning(text, is_json)
    assert format_text(once, path, is_json) == once, "formatting twice changed the text"
    return once


@pytest.mark.parametrize("name", ["messy.rg", "messy.json"])
def test_golden_pairs(name):
    source = FIXTURES / name
    expected = (FIXTURES / f"{name}.formatted").read_text()
    assert assert_formats_soundly(source.read_text(), name) == expected
    is_json = name.endswith(".json")
    assert comments(expected, is_json) == comments(source.read_text(), is_json) != []


REPO_SOURCES = sorted(
    p
    for pattern in (
        "bundles/**/*.rg",
        "bundles/**/*.json",
        "tests/fixtures/**/*.rg",
        "tests/fixtures/**/*.json",
    )
    for p in REPO.glob(pattern)
    if not p.name.endswith(".formatted")
)


@pytest.mark.parametrize("path", REPO_SOURCES, ids=lambda p: str(p.relative_to(REPO)))
def test_every_source_in_the_repo_round_trips(path: Path):
    text, is_json = path.read_text(), path.name.endswith(".json")
    nodes, diagnostics = read(text, path.name, is_json)
    if nodes is None:  # a deliberately broken fixture: fmt says what check says
        assert [format_text(text, path.name, is_json)] == diagnostics
        return
    assert_formats_soundly(text, path.name)


def test_the_example_regate_sources_are_already_canonical():
    for path in sorted((REPO / "bundles").glob("*/*.rg")):
        assert format_text(path.read_text(), path.name, False) == path.read_text(), path


# --- generated messy inputs: random JSON values written with random layout ---

keys = st.sampled_from(["a", "b.c", "$gte", "$or", "conditions", "schema", "é ü", 'q"x'])
scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(-(10**6), 10**6),
    st.floats(allow_nan=False, allow_infinity=False, width=32),
    st.text(max_size=12),
)
values = st.recursive(
    scalars,
    lambda inner: st.one_of(st.lists(inner, max_size=4), st.dictionaries(keys, inner, max_size=4)),
    max_leaves=20,
)
gaps = st.sampled_from(["", " ", "\n", "\n\n  ", "\t", " # note\n", " /* c */ ", "// x\n"])


@st.composite
def messy(draw: st.DrawFn, value: Any) -> str:
    """`value` as text with random whitespace, comments and trailing commas."""

    def gap() -> str:
        return draw(gaps)

    if isinstance(value, dict):
        members = [f"{gap()}{json.dumps(k)}{gap()}:{draw(messy(v))}" for k, v in value.items()]
        trailing = "," if members and draw(st.booleans()) else ""
        return f"{gap()}{{{','.join(members)}{trailing}{gap()}}}{gap()}"
    if isinstance(value, list):
        items = [draw(messy(v)) for v in value]
        trailing = "," if items and draw(st.booleans()) else ""
        return f"{gap()}[{','.join(items)}{trailing}{gap()}]{gap()}"
    return f"{gap()}{json.dumps(value)}{gap()}"


@settings(max_examples=120, deadline=None)
@given(data=st.data(), value=values, gaps_=st.lists(gaps, min_size=3, max_size=3))
def test_messy_inputs_format_soundly(data, value, gaps_):
    body = data.draw(messy(value))
    a, b, c = gaps_
    as_rg = f'{a}policy{b}"P"{{{c}conditions={body} nrn{b}={c}"organization=1"{a}}}{c}'
    assert_formats_soundly(as_rg, "p.rg")
    assert_formats_soundly(body, "p.json")


TRICKY = [
    # (found by hypothesis) a comment and a blank line between a name and its `=`: the blank
    # line, printed before the comment, must end the alignment run on both passes
    'policy"P"{ # note\nconditions=null nrn\n\n  = # note\n"organization=1"}',
    # braces inside comments before a block's own brace
    'policy /* { */ "P" // {\n { nrn = "organization=1" /* } */ }',
    # a block with no attributes, and one with only a comment
    'policy "P" {}\npolicy "Q" {\n  # nothing yet\n}',
]


@pytest.mark.parametrize("text", TRICKY)
def test_tricky_inputs(text):
    assert_formats_soundly(text, "p.rg")


# --- the command line ---

UGLY = 'policy "P" {nrn="organization=1"\nconditions={"build.x":1}}\n'
CANONICAL = (
    'policy "P" {\n  nrn        = "organization=1"\n  conditions = {\n    "build.x": 1\n  }\n}\n'
)


def test_fmt_rewrites_files_in_place(tmp_path):
    source = tmp_path / "p.rg"
    source.write_text(UGLY)
    result = run_cli("fmt", str(tmp_path))
    assert (result.exit_code, result.stderr) == (0, f"reformatted {source}\n")
    assert source.read_text() == CANONICAL
    again = run_cli("fmt", str(tmp_path))
    assert (again.exit_code, again.stderr) == (0, "")


def test_fmt_check_names_the_files_that_would_change_and_changes_nothing(tmp_path):
    (tmp_path / "ugly.rg").write_text(UGLY)
    (tmp_path / "fine.rg").write_text(CANONICAL)
    result = run_cli("fmt", "--check", str(tmp_path))
    assert (result.exit_code, result.stderr) == (1, f"would reformat {tmp_path}/ugly.rg\n")
    assert (tmp_path / "ugly.rg").read_text() == UGLY
    assert run_cli("fmt", "--check", str(tmp_path / "fine.rg")).exit_code == 0


def test_fmt_leaves_a_file_with_a_syntax_error_untouched(tmp_path):
    broken = tmp_path / "broken.rg"
    broken.write_text('policy "P" {\n  nrn = \n}\n')
    (tmp_path / "ugly.rg").write_text(UGLY)
    result = run_cli("fmt", str(tmp_path))
    assert result.exit_code == 1
    assert result.stderr == (
        f"reformatted {tmp_path}/ugly.rg\n"
        f'{broken}:3:1: error[RG002]: unexpected "}}"; expected "[", "{{", a name, a number or a string\n'
        " 3 | }\n"
        "   | ^\n"
        "\n"
        "1 error, 0 warnings\n"
    )
    assert broken.read_text() == 'policy "P" {\n  nrn = \n}\n'


def test_fmt_formats_payload_json_but_not_a_directorys_schemas_and_requests(tmp_path):
    (tmp_path / "policy.json").write_text(
        '{"nrn": "organization=1", "name": "P", "conditions": {}}'
    )
    (tmp_path / "schema.json").write_text('{"type": "object"}')
    result = run_cli("fmt", str(tmp_path))
    assert result.exit_code == 0
    assert (tmp_path / "policy.json").read_text() == (
        '{\n  "nrn": "organization=1",\n  "name": "P",\n  "conditions": {}\n}\n'
    )
    assert (tmp_path / "schema.json").read_text() == '{"type": "object"}'
    named = run_cli("fmt", str(tmp_path / "schema.json"))
    assert (named.exit_code, (tmp_path / "schema.json").read_text()) == (
        0,
        '{\n  "type": "object"\n}\n',
    )
