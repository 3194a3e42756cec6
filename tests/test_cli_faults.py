"""No traceback from any command on any input (docs/hardening.md, "The command line").

Every command and subcommand registered in compiler/cli.py is driven with inputs that
are missing, directories, FIFOs, dangling links, binary or empty; with outputs that
cannot be written; with OPA missing, not executable, a directory or not OPA; and the
bad-input corpus (tests/test_bad_input.py) is replayed in part through the installed
`regate` script, so that real processes' exit statuses and streams are what is tested.
"""

from __future__ import annotations

import gzip
import http.server
import io
import json
import os
import re
import subprocess
import sys
import tarfile
import threading
from collections.abc import Callable, Iterator
from pathlib import Path

import click
import pytest
from click.testing import CliRunner

from compiler import cli
from compiler import opa as opa_module
from compiler.bundle import write_output
from compiler.cli import main
from tests.conftest import QUALITY_GATES, REPO, REQUESTS, build
from tests.test_bad_input import CASES, MESSAGE, create, expand, snapshot

REGATE = str(Path(sys.executable).parent / "regate")
REQUEST = str(REQUESTS / "01-coverage-70.json")
REPORT = str(REPO / "tests" / "fixtures" / "reports" / "trivy.json")


def command_paths(
    group: click.Group = main, prefix: tuple[str, ...] = ()
) -> Iterator[tuple[str, ...]]:
    """Every command the command line registers, subcommands of groups included."""
    for name, command in sorted(group.commands.items()):
        if isinstance(command, click.Group):
            yield from command_paths(command, (*prefix, name))
        else:
            yield (*prefix, name)


# Each command with its inputs in place: INPUT is replaced by the bad input under test.
# `opa` marks the commands that run OPA; `output` the option that names what they write.
TEMPLATES: dict[tuple[str, ...], dict[str, object]] = {
    ("check",): {"argv": ["check", "INPUT"]},
    ("build",): {"argv": ["build", "INPUT", "-o", "out.tar.gz"], "output": ["build", str(QUALITY_GATES), "-o", "OUTPUT"]},
    ("decide",): {"argv": ["decide", "--bundle", "bundle.tar.gz", "--input", "INPUT"], "opa": True},
    ("explain",): {"argv": ["explain", "--bundle", "INPUT", "--input", REQUEST], "opa": True},
    ("metadata", "from"): {"argv": ["metadata", "from", "trivy", "INPUT"], "output": ["metadata", "from", "trivy", REPORT, "-o", "OUTPUT"]},
    ("gate",): {
        "argv": ["gate", "--bundle", "bundle.tar.gz", "--action", "deployment:create", "--nrn",
                 "organization=1:account=2:namespace=3", "--evidence", "build.security=INPUT"],
        "opa": True,
    },
    ("test",): {"argv": ["test", "INPUT"], "opa": True},
    ("fmt",): {"argv": ["fmt", "INPUT"]},
    ("import",): {"argv": ["import", "INPUT", "-o", "out"], "output": ["import", str(REPO / "bundles" / "quality-gates-api"), "-o", "OUTPUT"]},
    ("diff",): {"argv": ["diff", "INPUT", str(QUALITY_GATES), "--requests", str(REQUESTS)], "opa": True},
    ("record", "verify"): {"argv": ["record", "verify", "INPUT"]},
    ("playground",): {"argv": ["playground", "INPUT", "--port", "0"]},
    ("lsp",): {},  # reads the editor's messages on stdin: no file, no output to name
    ("export",): {"argv": ["export", "INPUT", "-o", "out", "--format", "api"], "output": ["export", str(REPO / "bundles" / "quality-gates-api"), "-o", "OUTPUT", "--format", "api", "--allow-lossy"]},
    ("publish",): {"argv": ["publish", "INPUT", "127.0.0.1:1/regate/x:1", "--plain-http"]},
    ("sidecar-config",): {"argv": ["sidecar-config", "127.0.0.1:1/regate/x:1", "-o", "cfg", "--verification-key", "INPUT"], "output": ["sidecar-config", "127.0.0.1:1/regate/x:1", "--unsigned", "-o", "OUTPUT"]},
    ("audit",): {"argv": ["audit", "INPUT"]},
}  # fmt: skip

# Bad inputs: how to make each in a directory.
INPUTS: dict[str, Callable[[Path], None]] = {
    "missing": lambda d: None,
    "directory": lambda d: (d / "INPUT").mkdir(),
    "fifo": lambda d: os.mkfifo(d / "INPUT"),
    "dangling link": lambda d: (d / "INPUT").symlink_to("nowhere"),
    "binary": lambda d: (d / "INPUT").write_bytes(b"\x00\xff\xfe binary \x89PNG"),
    "empty": lambda d: (d / "INPUT").write_text(""),
    "link loop": lambda d: (d / "INPUT").symlink_to("INPUT"),
}
OUTPUTS: dict[str, Callable[[Path], None]] = {
    "a directory": lambda d: (d / "OUTPUT").mkdir(),
    "below a file": lambda d: (d / "file").write_text("x"),
    "empty": lambda d: None,
}
OUTPUT_PATHS = {"a directory": "OUTPUT", "below a file": "file/OUTPUT", "empty": ""}
# The OPA a command finds: each a way for it to be unusable.
NOT_OPA = "#!/bin/sh\necho 'not OPA at all'\n"
OPAS: dict[str, Callable[[Path], str]] = {
    "missing": lambda d: str(d / "no-opa"),
    "a directory": lambda d: (d / "opa-dir").mkdir() or str(d / "opa-dir"),
    "not executable": lambda d: (d / "opa-text").write_text(NOT_OPA) and str(d / "opa-text"),
    "not OPA": lambda d: _executable(d / "opa-fake", NOT_OPA),
    "failing": lambda d: _executable(d / "opa-fail", "#!/bin/sh\necho 'boom' >&2\nexit 3\n"),
    "not a program": lambda d: _executable(d / "opa-garbage", "\x7fELF garbage"),
}


@pytest.fixture(autouse=True)
def a_pipe_nobody_writes_to_is_given_up_on_quickly(monkeypatch):
    monkeypatch.setattr(cli, "INPUT_WAIT_SECONDS", 0.2)


def _executable(path: Path, text: str) -> str:
    path.write_text(text)
    path.chmod(0o755)
    return str(path)


def invoke(
    argv: list[str], directory: Path, env: dict[str, str] | None = None
) -> tuple[int, str, str]:
    """The command in-process, in `directory`: (exit status, stdout, stderr)."""
    cwd = os.getcwd()
    os.chdir(directory)
    try:
        result = CliRunner().invoke(main, argv, env=env)
    finally:
        os.chdir(cwd)
    assert result.exception is None or isinstance(result.exception, SystemExit), result.exc_info
    return result.exit_code, result.stdout, result.stderr


def assert_fails_clearly(status: int, stdout: str, stderr: str) -> None:
    """Exit 1 or 2, no traceback, and one message a user acts on."""
    assert status in (1, 2), (status, stdout, stderr)
    assert "Traceback" not in stdout + stderr
    assert MESSAGE.search(stderr), stderr


def test_every_command_is_driven():
    assert set(command_paths()) == set(TEMPLATES)


@pytest.mark.parametrize(
    "command", sorted(c for c in TEMPLATES if "argv" in TEMPLATES[c]), ids=" ".join
)
@pytest.mark.parametrize("bad", sorted(INPUTS))
def test_a_bad_input_fails_clearly(command, bad, tmp_path, opa):
    if (command, bad) == (("fmt",), "empty"):
        pytest.skip("an empty file is formatted: it is empty")
    template = TEMPLATES[command]
    if "bundle.tar.gz" in template["argv"]:
        build([QUALITY_GATES], tmp_path)
    INPUTS[bad](tmp_path)
    status, stdout, stderr = invoke(list(template["argv"]), tmp_path)
    assert_fails_clearly(status, stdout, stderr)
    assert "INPUT" in stderr  # the message names the input


@pytest.mark.parametrize(
    "command", sorted(c for c in TEMPLATES if "output" in TEMPLATES[c]), ids=" ".join
)
@pytest.mark.parametrize("bad", sorted(OUTPUTS))
def test_an_unwritable_output_fails_clearly_and_writes_nothing(command, bad, tmp_path):
    if command in (("import",), ("export",), ("sidecar-config",)) and bad == "a directory":
        pytest.skip("it writes into a directory")
    OUTPUTS[bad](tmp_path)
    before = sorted(p.relative_to(tmp_path) for p in tmp_path.rglob("*"))
    argv = [OUTPUT_PATHS[bad] if a == "OUTPUT" else a for a in TEMPLATES[command]["output"]]
    status, stdout, stderr = invoke(argv, tmp_path)
    assert_fails_clearly(status, stdout, stderr)
    assert "error[RG061]" in stderr
    assert sorted(p.relative_to(tmp_path) for p in tmp_path.rglob("*")) == before


@pytest.mark.parametrize(
    "command", sorted(c for c in TEMPLATES if TEMPLATES[c].get("opa")), ids=" ".join
)
@pytest.mark.parametrize("bad", sorted(OPAS))
def test_an_unusable_opa_fails_clearly(command, bad, tmp_path):
    build([QUALITY_GATES], tmp_path)
    (tmp_path / "INPUT").symlink_to(
        {
            ("decide",): REQUEST,
            ("explain",): tmp_path / "bundle.tar.gz",
            ("gate",): REPORT,
            ("test",): QUALITY_GATES,
            ("diff",): QUALITY_GATES,
        }[command]
    )
    env = {"REGATE_OPA": OPAS[bad](tmp_path)}
    status, stdout, stderr = invoke(list(TEMPLATES[command]["argv"]), tmp_path, env)
    assert "Traceback" not in stdout + stderr
    assert status in (1, 2), (status, stdout, stderr)
    assert "RG062" in stderr or "regate: error: " in stderr  # gate words its own
    assert "OPA" in stderr or "opa" in stderr


@pytest.mark.parametrize("command", sorted(TEMPLATES), ids=" ".join)
def test_an_unknown_option_is_a_usage_error(command, tmp_path):
    status, _, stderr = invoke([*command, "--no-such-option"], tmp_path)
    assert (status, "Traceback" in stderr) == (2, False)
    assert "No such option '--no-such-option'" in stderr


@pytest.mark.parametrize("command", sorted(TEMPLATES), ids=" ".join)
def test_help_is_no_error(command, tmp_path):
    status, stdout, _ = invoke([*command, "--help"], tmp_path)
    assert status == 0 and stdout.startswith("Usage: ")


# --- real processes: the installed console script ---


def run_regate(
    argv: list[str], cwd: Path, env: dict[str, str] | None = None, stdin: bytes | None = None
) -> subprocess.CompletedProcess[bytes]:
    return subprocess.run(
        [REGATE, *argv],
        cwd=cwd,
        env={**os.environ, **(env or {})},
        input=stdin,
        capture_output=True,
        timeout=120,
        check=False,
    )


# One case of each command's corpus file, and a few about processes: a pipe, OPA.
PROCESS_CASES = [
    case
    for index, case in enumerate(CASES)
    if index == 0
    or CASES[index - 1].id.split(":")[0] != case.id.split(":")[0]
    or case.id
    in (
        "build: a pipe nobody writes to as key reads as empty, never hangs",
        "decide: REGATE_OPA names a program that is not OPA",
        "decide: a request from standard input that is not JSON",
        "metadata: -o - is standard output, not a file named -",
    )
]


@pytest.mark.parametrize("case", PROCESS_CASES)
def test_the_console_script_fails_clearly(case, tmp_path, opa):
    if case.get("as_root") is False and os.geteuid() == 0:
        pytest.skip("permissions do not stop root")
    for name, spec in case.get("files", {}).items():
        create(tmp_path, name, spec, opa)
    kept = {name: snapshot(tmp_path / name) for name in case.get("same", [])}
    env = {key: expand(value, tmp_path, opa) for key, value in case.get("env", {}).items()}
    argv = [expand(argument, tmp_path, opa) for argument in case["argv"]]
    stdin = case.get("stdin", "").encode()
    done = run_regate(argv, tmp_path, env, stdin)
    stdout, stderr = done.stdout.decode(errors="replace"), done.stderr.decode(errors="replace")
    assert b"Traceback" not in done.stdout + done.stderr
    assert done.returncode == case["exit"], stderr
    assert expand(case["error"], tmp_path, opa) in stdout + stderr
    if "--format" not in argv:  # diagnostics go to stderr; stdout is for results
        assert case.get("plain") or (MESSAGE.search(stderr) and "error" not in stdout)
    for name in case.get("absent", []):
        assert not (tmp_path / name).exists()
    for name, before in kept.items():
        assert snapshot(tmp_path / name) == before


def test_build_to_standard_output_writes_the_bundle_there(tmp_path):
    done = run_regate(["build", str(QUALITY_GATES), "-o", "-"], tmp_path)
    assert (done.returncode, done.stderr) == (0, b"")
    with tarfile.open(fileobj=io.BytesIO(gzip.decompress(done.stdout))) as archive:
        assert "/.manifest" in archive.getnames()
    assert list(tmp_path.iterdir()) == []  # no file named "-"
    # The same bytes as a file: -o - changes where, not what.
    assert run_regate(["build", str(QUALITY_GATES), "-o", "b.tar.gz"], tmp_path).returncode == 0
    assert (tmp_path / "b.tar.gz").read_bytes() == done.stdout


def test_metadata_to_standard_output(tmp_path):
    done = run_regate(["metadata", "from", "trivy", REPORT, "-o", "-"], tmp_path)
    assert (done.returncode, done.stderr) == (0, b"")
    assert "security" in json.loads(done.stdout)
    assert list(tmp_path.iterdir()) == []


def test_fmt_writes_through_a_link_and_keeps_the_mode(tmp_path):
    real = tmp_path / "real.rg"
    real.write_text('policy "x" {nrn="organization=1"\nconditions={}}\n')
    real.chmod(0o640)
    (tmp_path / "link.rg").symlink_to("real.rg")
    done = run_regate(["fmt", "link.rg"], tmp_path)
    assert (done.returncode, done.stderr) == (0, b"reformatted link.rg\n")
    assert (tmp_path / "link.rg").is_symlink()
    assert real.read_text().startswith('policy "x" {\n  nrn        = "organization=1"\n')
    assert real.stat().st_mode & 0o777 == 0o640
    assert sorted(p.name for p in tmp_path.iterdir()) == ["link.rg", "real.rg"]  # no temporary


def test_a_build_over_a_link_replaces_its_target(tmp_path):
    (tmp_path / "bundles").mkdir()
    (tmp_path / "bundles" / "v1.tar.gz").write_text("the previous bundle")
    (tmp_path / "current.tar.gz").symlink_to("bundles/v1.tar.gz")
    assert (
        run_regate(["build", str(QUALITY_GATES), "-o", "current.tar.gz"], tmp_path).returncode == 0
    )
    assert (tmp_path / "current.tar.gz").is_symlink()
    assert (tmp_path / "bundles" / "v1.tar.gz").read_bytes()[:2] == b"\x1f\x8b"


def test_explain_shows_a_foreign_decision_without_a_traceback(tmp_path, opa):
    """A bundle whose decision has a regate result but details of another shape."""
    (tmp_path / "other").mkdir()
    (tmp_path / "other" / "policy.rego").write_text(
        'package regate\n\ndecision := {"result": "deny", "actions": [1, 2]}\n'
    )
    status, stdout, stderr = invoke(["explain", "--bundle", "other", "--input", REQUEST], tmp_path)
    assert (status, stderr) == (0, "")
    assert stdout.startswith("denied (bundle revision ?)\n  the decision's details are not in")


# --- a sidecar that answers badly: a real HTTP server on 127.0.0.1 ---


class Answer(http.server.BaseHTTPRequestHandler):
    status = 200
    body = b"{}"
    content_type = "application/json"

    def do_POST(self) -> None:
        self.rfile.read(int(self.headers.get("Content-Length", 0)))
        self.send_response(self.status)
        self.send_header("Content-Type", self.content_type)
        self.send_header("Content-Length", str(len(self.body)))
        self.end_headers()
        self.wfile.write(self.body)

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture
def sidecar_answering() -> Iterator[Callable[[int, bytes], str]]:
    servers: list[http.server.HTTPServer] = []

    def start(status: int, body: bytes) -> str:
        handler = type("Handler", (Answer,), {"status": status, "body": body})
        server = http.server.HTTPServer(("127.0.0.1", 0), handler)
        threading.Thread(target=server.serve_forever, daemon=True).start()
        servers.append(server)
        return f"http://127.0.0.1:{server.server_address[1]}"

    yield start
    for server in servers:
        server.shutdown()
        server.server_close()


@pytest.mark.parametrize(
    ("status", "body", "message"),
    [
        (404, b"404 page not found", "has no OPA data API (HTTP 404)"),
        (500, b'{"code": "internal_error", "message": "eval failed"}', "could not decide the request (HTTP 500: eval failed)"),
        (401, b'{"code": "unauthorized", "message": "no token"}', "refused the request (HTTP 401: no token)"),
        (200, b"<html>a web server</html>", "did not answer as an OPA sidecar does (not JSON)"),
        (200, b"[1, 2]", "did not answer as an OPA sidecar does"),
        (200, b"{}", "has no data.regate.decision"),
        (200, b'{"result": "approve"}', "is not a regate decision"),
        (200, b'{"result": {"result": "maybe"}}', "is not a regate decision"),
    ],
)  # fmt: skip
def test_a_sidecar_answering_badly_is_worded(sidecar_answering, status, body, message, tmp_path):
    url = sidecar_answering(status, body)
    for command in ("decide", "explain"):
        code, stdout, stderr = invoke([command, "--opa-url", url, "--input", REQUEST], tmp_path)
        assert_fails_clearly(code, stdout, stderr)
        assert message in stderr
        assert "HTTPConnectionPool" not in stderr and "Traceback" not in stderr


def test_a_sidecar_that_does_not_answer_in_time(monkeypatch, tmp_path):
    listening = __import__("socket").socket()
    listening.bind(("127.0.0.1", 0))
    listening.listen(1)  # accepts, never answers
    monkeypatch.setattr(opa_module, "SIDECAR_TIMEOUT_SECONDS", 0.5)
    url = f"http://127.0.0.1:{listening.getsockname()[1]}"
    try:
        code, stdout, stderr = invoke(["decide", "--opa-url", url, "--input", REQUEST], tmp_path)
    finally:
        listening.close()
    assert_fails_clearly(code, stdout, stderr)
    assert re.search(r"did not answer within 0\.5 s", stderr), stderr


def test_a_reader_that_goes_away_is_an_error_not_a_traceback(monkeypatch):
    """`regate build -o - | head -c 1`: the write fails as an OSError the command words
    (RG061), and standard output is left pointing nowhere, so that Python's own flush at
    exit has nothing more to complain about."""
    read_end, write_end = os.pipe()
    os.close(read_end)
    stdout = io.TextIOWrapper(open(write_end, "wb"))  # noqa: SIM115 - closed below
    monkeypatch.setattr(sys, "stdout", stdout)
    try:
        with pytest.raises(BrokenPipeError):
            write_output("-", b"a bundle")
        stdout.buffer.write(b"more")
        stdout.flush()  # /dev/null now: no second error
    finally:
        stdout.close()
