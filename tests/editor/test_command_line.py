"""Command-line habits: many requests in one OPA run, `--fail-on`, `fmt --diff`, colour
(`--color`, NO_COLOR) and `--quiet`, and shell completion."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
from pathlib import Path

import pytest

from tests.conftest import QUALITY_GATES, REPO, REQUESTS, build, run_cli

RED = "\x1b[1;31m"
WRONG = REPO / "tests" / "fixtures" / "seed-000"  # two RG031 errors, as README shows


@pytest.fixture(scope="module")
def bundle(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return build([QUALITY_GATES], tmp_path_factory.mktemp("bundle"))


@pytest.mark.opa
def test_decide_takes_a_directory_of_requests(bundle: Path) -> None:
    result = run_cli("decide", "--bundle", str(bundle), "--input", str(REQUESTS))
    assert result.exit_code == 0, result.stderr
    lines = [json.loads(line) for line in result.stdout.splitlines()]
    assert [Path(line["request"]).name for line in lines] == sorted(
        p.name for p in REQUESTS.glob("*.json")
    )
    assert [line["decision"]["result"] for line in lines] == [
        "manual", "approve", "manual", "deny", "approve", "approve",
    ]  # fmt: skip
    # The same decisions as one request at a time.
    one = run_cli("decide", "--bundle", str(bundle), "--input", lines[3]["request"])
    assert json.loads(one.stdout) == lines[3]["decision"]


@pytest.mark.opa
def test_decide_takes_json_lines_and_reports_every_bad_line(bundle: Path, tmp_path: Path) -> None:
    good = [
        json.loads((REQUESTS / name).read_text())
        for name in ("02-coverage-85-no-critical.json", "05-staging.json")
    ]
    requests = tmp_path / "requests.jsonl"
    requests.write_text(json.dumps(good[0]) + "\n\n" + json.dumps(good[1]) + "\n")
    result = run_cli(
        "decide", "--bundle", str(bundle), "--input", str(requests), "--fail-on", "manual"
    )
    assert result.exit_code == 0, result.stderr
    assert [json.loads(line)["request"] for line in result.stdout.splitlines()] == [
        f"{requests}:1",
        f"{requests}:3",
    ]
    requests.write_text('{"action": \n' + json.dumps(good[1]) + "\n{]\n")
    result = run_cli("decide", "--bundle", str(bundle), "--input", str(requests))
    assert result.exit_code == 1 and result.stdout == ""
    assert f"{requests}:1:12: error[RG002]: the request is not valid JSON" in result.stderr
    assert f"{requests}:3:2: error[RG002]" in result.stderr


@pytest.mark.opa
@pytest.mark.parametrize(
    ("request_name", "fail_on", "status"),
    [
        ("01-coverage-70.json", "manual", 3),
        ("01-coverage-70.json", "deny", 0),
        ("04-leaked-secret.json", "deny", 4),
        ("04-leaked-secret.json", "manual", 4),
        ("02-coverage-85-no-critical.json", "manual", 0),
    ],
)
def test_fail_on(bundle: Path, request_name: str, fail_on: str, status: int) -> None:
    result = run_cli(
        "decide",
        "--bundle",
        str(bundle),
        "--input",
        str(REQUESTS / request_name),
        "--fail-on",
        fail_on,
    )
    assert result.exit_code == status, result.stderr
    assert json.loads(result.stdout)["result"]  # the decision is still printed


@pytest.mark.opa
def test_fail_on_a_directory_is_its_strictest_decision(bundle: Path) -> None:
    result = run_cli(
        "decide", "--bundle", str(bundle), "--input", str(REQUESTS), "--fail-on", "manual"
    )
    assert result.exit_code == 4


def test_fmt_diff_shows_the_change_and_writes_nothing(tmp_path: Path) -> None:
    messy = 'policy "Tidy" {\n nrn="organization=1"\n    conditions={"build.status":"ok"}\n}\n'
    path = tmp_path / "messy.rg"
    path.write_text(messy)
    result = run_cli("fmt", "--diff", str(path))
    assert result.exit_code == 1
    assert result.stdout == (
        f"--- {path} (as written)\n"
        f"+++ {path} (formatted)\n"
        "@@ -1,4 +1,6 @@\n"
        ' policy "Tidy" {\n'
        '- nrn="organization=1"\n'
        '-    conditions={"build.status":"ok"}\n'
        '+  nrn        = "organization=1"\n'
        "+  conditions = {\n"
        '+    "build.status": "ok"\n'
        "+  }\n"
        " }\n"
    )
    assert path.read_text() == messy
    assert run_cli("fmt", "--diff", str(QUALITY_GATES)).exit_code == 0


def test_color_always_paints_diagnostics_and_never_does_not() -> None:
    painted = run_cli("--color", "always", "check", str(WRONG))
    assert painted.exit_code == 1
    assert f"{RED}error\x1b[0m\x1b[1m[RG031]" in painted.stderr
    assert "\x1b[36mhelp:\x1b[0m did you mean" in painted.stderr
    plain = run_cli("--color", "never", "check", str(WRONG))
    assert "\x1b[" not in plain.stderr
    # Without the escapes, the same text.
    assert _strip(painted.stderr) == plain.stderr


def _strip(text: str) -> str:
    return re.sub(r"\x1b\[[0-9;]*m", "", text)


def test_no_color_and_a_pipe_are_plain() -> None:
    """auto: colour only on a terminal, never with NO_COLOR (https://no-color.org)."""
    regate = shutil.which("regate")
    assert regate is not None
    piped = subprocess.run(
        [regate, "check", str(WRONG)], capture_output=True, text=True, check=False
    )
    assert piped.returncode == 1 and "\x1b[" not in piped.stderr
    if shutil.which("script") is None:  # `script` gives the command a terminal
        pytest.skip("no `script` to run a command on a pseudo-terminal")
    for no_color, painted in (("", True), ("1", False)):
        env = {**os.environ, "NO_COLOR": no_color, "TERM": "xterm"}
        done = subprocess.run(
            ["script", "-qec", f"{regate} check {WRONG}", "/dev/null"],
            capture_output=True, text=True, env=env, check=False,
        )  # fmt: skip
        assert ("\x1b[1;31merror" in done.stdout) is painted, done.stdout


@pytest.mark.opa
def test_explain_is_painted_by_its_result(bundle: Path) -> None:
    result = run_cli(
        "--color",
        "always",
        "explain",
        "--bundle",
        str(bundle),
        "--input",
        str(REQUESTS / "04-leaked-secret.json"),
    )
    assert result.stdout.startswith(f"{RED}denied (bundle revision")
    assert result.stdout.count("\x1b[1;32mpassed") == 2


def test_quiet_keeps_errors_only(tmp_path: Path) -> None:
    noisy = tmp_path / "noisy.rg"
    noisy.write_text(
        'specification "S" {\n  entity = build\n  metadata = m\n  nrn = "organization=1"\n  schema = {}\n}\n'
        'policy "Unbound" {\n  nrn = "organization=1"\n  conditions = {"build.metadata.m.x": 1}\n}\n'
        # Sources without an approval action are an error (RG005): this one gates nothing.
        'action "a" {\n  action = "scope:delete"\n  nrn = "organization=1"\n'
        '  policies = ["Bound"]\n}\n'
        'policy "Bound" {\n  nrn = "organization=1"\n  conditions = {"scope.name": "a"}\n}\n'
    )
    loud = run_cli("check", str(noisy))
    assert "warning[RG053]" in loud.stderr and "0 errors, 1 warning" in loud.stderr
    quiet = run_cli("--quiet", "check", str(noisy))
    assert quiet.exit_code == 0 and quiet.stderr == ""
    errors = run_cli("-q", "check", str(WRONG))
    assert errors.exit_code == 1
    assert errors.stderr.count("error[RG031]") == 2 and "help: did you mean" in errors.stderr
    assert "2 errors" not in errors.stderr
    assert run_cli("-q", "fmt", str(tmp_path)).stderr == ""  # "reformatted ..." is progress


def test_shell_completion_is_generated_by_click() -> None:
    regate = shutil.which("regate")
    assert regate is not None
    for shell in ("bash", "zsh", "fish"):
        done = subprocess.run(
            [regate], env={**os.environ, "_REGATE_COMPLETE": f"{shell}_source"},
            capture_output=True, text=True, check=False,
        )  # fmt: skip
        assert done.returncode == 0 and "_REGATE_COMPLETE" in done.stdout, shell
    done = subprocess.run(
        [regate],
        env={**os.environ, "_REGATE_COMPLETE": "bash_complete", "COMP_WORDS": "regate ex", "COMP_CWORD": "1"},
        capture_output=True, text=True, check=False,
    )  # fmt: skip
    assert "explain" in done.stdout


def test_fail_on_ranks_results_as_decisions_do() -> None:
    from compiler.cli import fail_status

    assert fail_status([{"result": "approve"}, {"result": "manual"}], "deny") == 0
    assert fail_status([{"result": "manual"}, {"result": "approve"}], "manual") == 3
    assert fail_status([{"result": "pending"}], "deny") == 0
    assert fail_status([{"result": "pending"}, {"result": "manual"}], "manual") not in (0, 3)
    assert fail_status([None], "deny") == 4  # no decision: never a pass
    assert fail_status([{"result": "something new"}], "deny") == 4
    assert fail_status([], "manual") == 0
