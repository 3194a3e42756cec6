"""Reading a request on the command line (compiler/request.py): what OPA would read
silently or differently is a located error, and what is read is handed to OPA as
its text, so `regate decide`, `opa eval` and a sidecar decide the same JSON."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from compiler.limits import MAX_NESTING_DEPTH, MAX_REQUEST_SIZE
from compiler.opa import run
from tests.conftest import QUALITY_GATES, REQUESTS, build, run_cli

EXAMPLE = (REQUESTS / "01-coverage-70.json").read_text()


def decide_file(path: Path) -> tuple[int, str]:
    # A bundle file the request never reaches: reading the request fails first.
    bundle = path.parent / "never-read.tar.gz"
    bundle.touch()
    result = run_cli("decide", "--bundle", str(bundle), "--input", str(path))
    return result.exit_code, result.stderr


def test_a_duplicate_key_is_located(tmp_path):
    path = tmp_path / "request.json"
    path.write_text(EXAMPLE.replace('"nrn": ', '"nrn": "organization=1",\n  "nrn": ', 1))
    assert decide_file(path) == (
        1,
        f'{path}:4:3: error[RG100]: the key "nrn" is given twice in one object\n'
        f' 4 |   "nrn": "organization=1:account=2:namespace=3:application=4:scope=5",\n'
        "   |   ^^^^^\n"
        "help: OPA keeps the last one silently; give each key once\n"
        "\n"
        "1 error, 0 warnings\n",
    )


@pytest.mark.parametrize("number", ["1e400", "-1e400", "1e-400", "NaN", "Infinity", "-Infinity"])
def test_a_number_past_the_form_is_located(tmp_path, number):
    path = tmp_path / "request.json"
    path.write_text(EXAMPLE.replace('"coverage": 70', f'"coverage": {number}', 1))
    status, stderr = decide_file(path)
    assert status == 1
    assert stderr.startswith(
        f"{path}:17:25: error[RG101]: the number {number} is not one a request may hold\n"
    )


def test_every_fault_of_a_file_is_reported_at_once(tmp_path):
    path = tmp_path / "request.json"
    path.write_text('{"a": 1e400, "a": 2, "b": {"c": NaN, "c": 1}}')
    status, stderr = decide_file(path)
    assert status == 1
    assert [line.split(": ")[0] for line in stderr.splitlines() if "error[" in line] == [
        f"{path}:1:7",
        f"{path}:1:14",
        f"{path}:1:33",
        f"{path}:1:38",
    ]


def test_a_request_past_the_size_limit(tmp_path):
    path = tmp_path / "request.json"
    path.write_text('{"pad": "' + "x" * MAX_REQUEST_SIZE + '"}')
    status, stderr = decide_file(path)
    assert status == 1
    assert stderr.startswith(
        f"{path}:1:1: error[RG102]: the request is more than {MAX_REQUEST_SIZE} bytes: too large"
    )


def test_a_request_at_the_size_limit_is_read(tmp_path):
    text = '{"pad": "' + "x" * (MAX_REQUEST_SIZE - 11) + '"}'
    assert len(text) == MAX_REQUEST_SIZE
    result = run_cli(
        "decide", "--bundle", str(tmp_path / "none.tar.gz"), "--input", "-", input=text
    )
    assert "cannot read bundle" in result.stderr  # read, then OPA was to decide it


def test_nesting_past_the_limit_from_stdin(tmp_path):
    text = "[" * (MAX_NESTING_DEPTH + 1) + "]" * (MAX_NESTING_DEPTH + 1)
    bundle = tmp_path / "never-read.tar.gz"
    bundle.touch()
    result = run_cli("decide", "--bundle", str(bundle), "--input", "-", input=text)
    assert result.exit_code == 1
    assert result.stderr.startswith(
        f"<stdin>:1:{MAX_NESTING_DEPTH + 1}: error[RG023]: the request nests deeper than "
        f"{MAX_NESTING_DEPTH} levels\n"
    )


def test_a_file_that_is_not_utf8(tmp_path):
    path = tmp_path / "request.json"
    path.write_bytes(b'{"nrn": "organization=1\xff"}')
    status, stderr = decide_file(path)
    assert status == 1
    assert stderr.startswith(f"{path}:1:1: error[RG001]: cannot read {path}: 'utf-8' codec")


@pytest.mark.opa
def test_the_three_paths_decide_the_same_json(tmp_path, sidecar):
    """79.99999999999999999999 is below 80 for OPA, which compares numbers exactly;
    Python reads it as the float 80.0.  Handed over as read, it stays below 80 on
    every path, and 1e400, refused on the command line, is denied by the bundle."""
    bundle = build([QUALITY_GATES], tmp_path)
    server = sidecar(bundle)
    below = tmp_path / "below.json"
    below.write_text(EXAMPLE.replace('"coverage": 70', '"coverage": 79.99999999999999999999', 1))
    huge = tmp_path / "huge.json"
    huge.write_text(EXAMPLE.replace('"coverage": 70', '"coverage": 1e400', 1))

    def opa_eval(path: Path) -> object:
        done = run(["eval", "--bundle", str(bundle), "--input", str(path), "--format", "json",
                    "data.regate.decision.result"])  # fmt: skip
        return json.loads(done.stdout)["result"][0]["expressions"][0]["value"]

    def cli(*decider: str, path: Path) -> tuple[int, object]:
        result = run_cli("decide", *decider, "--input", str(path))
        return result.exit_code, json.loads(result.stdout)["result"] if result.stdout else None

    assert opa_eval(below) == "manual"
    assert cli("--bundle", str(bundle), path=below) == (0, "manual")
    assert cli("--opa-url", server.url, path=below) == (0, "manual")
    assert opa_eval(huge) == "deny"
    assert server.decide(json.loads(huge.read_text().replace("1e400", '"1e400"')))["result"] == (
        "deny"  # "1e400" as text does not fit the coverage schema either
    )
    assert cli("--bundle", str(bundle), path=huge) == (1, None)
