"""The ecosystem files, run where they can run here: the pre-commit hooks (offline), the OPA
sidecar configuration (a real OPA fetching the bundle from a bundle server on 127.0.0.1, with
decision logs on), and the CI files (parsed; every regate command in them is one regate takes)."""

from __future__ import annotations

import functools
import json
import os
import shlex
import shutil
import subprocess
import sys
import threading
import time
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
import yaml
from opa_client import OpaClient

from compiler.cli import main
from tests.conftest import QUALITY_GATES, REPO, build, free_port, load_request

CI = REPO / "docs" / "ci"

# --- pre-commit ---


def local_hooks() -> dict[str, object]:
    """The hooks of .pre-commit-hooks.yaml as a `repo: local` config, with `language: system`
    (the regate on PATH) instead of `python`, which would install regate from the network."""
    hooks = yaml.safe_load((REPO / ".pre-commit-hooks.yaml").read_text())
    return {"repos": [{"repo": "local", "hooks": [{**h, "language": "system"} for h in hooks]}]}


def run_with_regate(
    arguments: list[str], cwd: Path, **environment: str
) -> subprocess.CompletedProcess[str]:
    """A command with this checkout's regate (and pytest, pre-commit) first on PATH."""
    path = f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}"
    return subprocess.run(
        arguments,
        cwd=cwd,
        env={**os.environ, "PATH": path, **environment},
        capture_output=True,
        text=True,
        check=False,
        timeout=120,
    )


def pre_commit(repository: Path, home: Path, *arguments: str) -> subprocess.CompletedProcess[str]:
    command = [sys.executable, "-m", "pre_commit", *arguments]
    return run_with_regate(command, repository, PRE_COMMIT_HOME=str(home))


def test_the_hooks_manifest_is_valid(tmp_path):
    done = pre_commit(REPO, tmp_path, "validate-manifest", ".pre-commit-hooks.yaml")
    assert done.returncode == 0, done.stdout + done.stderr


def test_the_hooks_format_and_check_a_policy_repository(tmp_path):
    repository = tmp_path / "repo"
    shutil.copytree(QUALITY_GATES, repository)
    actions = repository / "actions.rg"
    canonical = actions.read_text()
    actions.write_text(canonical.replace("            = ", " = "))  # unaligned: not canonical
    (repository / ".pre-commit-config.yaml").write_text(yaml.safe_dump(local_hooks()))
    subprocess.run(["git", "init", "-q"], cwd=repository, check=True)
    subprocess.run(["git", "add", "."], cwd=repository, check=True)

    first = pre_commit(repository, tmp_path / "home", "run", "--all-files")
    assert first.returncode == 1, first.stdout
    assert "regate fmt" in first.stdout and "files were modified by this hook" in first.stdout
    assert "reformatted actions.rg" in first.stdout
    assert actions.read_text() == canonical

    second = pre_commit(repository, tmp_path / "home", "run", "--all-files")
    assert second.returncode == 0, second.stdout

    policies = repository / "policies.rg"
    policies.write_text(policies.read_text().replace("code.coverage", "code.coverge"))
    broken = pre_commit(repository, tmp_path / "home", "run", "--all-files")
    assert broken.returncode == 1
    assert broken.stdout.endswith(
        "- hook id: regate-check\n"
        "- exit code: 1\n"
        "\n"
        'policies.rg:8:35: error[RG031]: unknown field "coverge" in "build.metadata.coverage.code" (specification "Coverage Schema" at specifications.rg:5:1)\n'
        ' 8 |     "build.metadata.coverage.code.coverge": {"$gte": 80}\n'
        "   |                                   ^^^^^^^\n"
        'help: did you mean "build.metadata.coverage.code.coverage"?\n'
        "\n"
        "1 error, 0 warnings\n"
        "\n"
    )


# --- the OPA sidecar configuration ---


class BundleServer:
    """A tiny bundle server: serves one directory over HTTP on 127.0.0.1."""

    def __init__(self, directory: Path) -> None:
        handler = functools.partial(QuietHandler, directory=str(directory))
        self.server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()
        self.thread.join(timeout=10)


class QuietHandler(SimpleHTTPRequestHandler):
    def log_message(self, format: str, *args: object) -> None:
        pass


@pytest.mark.opa
def test_the_sidecar_configuration_serves_the_bundle_and_logs_decisions(tmp_path, opa):
    config = yaml.safe_load((CI / "opa-config.yaml").read_text())
    resource = config["bundles"]["regate"]["resource"]
    served = tmp_path / "served"
    (served / resource).parent.mkdir(parents=True)
    build([QUALITY_GATES], tmp_path).rename(served / resource)
    bundle_server = BundleServer(served)
    config["services"]["bundle-server"]["url"] = bundle_server.url  # the only change: the port
    config_file = tmp_path / "opa-config.yaml"
    config_file.write_text(yaml.safe_dump(config))
    port = free_port()
    log = (tmp_path / "opa.log").open("w+")
    process = subprocess.Popen(
        [
            opa,
            "run",
            "--server",
            "--optimize-store-for-read-speed",
            "--addr",
            f"127.0.0.1:{port}",
            "--config-file",
            str(config_file),
        ],
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    client = OpaClient(host="127.0.0.1", port=port, timeout=10)
    try:
        deadline = time.monotonic() + 30
        while not client.check_health(query={"bundles": True}):
            assert process.poll() is None and time.monotonic() < deadline, "OPA did not load it"
            time.sleep(0.2)
        decision = client.query_rule(load_request("01-coverage-70.json"), "regate", "decision")
        assert decision["result"]["result"] == "manual"
        revision = decision["result"]["revision"]
        deadline = time.monotonic() + 10
        while '"decision_id"' not in (tmp_path / "opa.log").read_text():
            assert time.monotonic() < deadline, "no decision log"
            time.sleep(0.1)
    finally:
        client.close_connection()
        process.terminate()
        process.wait(timeout=10)
        bundle_server.stop()
        log.close()
    entries = [
        json.loads(line)
        for line in (tmp_path / "opa.log").read_text().splitlines()
        if '"decision_id"' in line
    ]
    (entry,) = entries
    assert entry["path"] == "regate/decision"
    assert entry["result"]["result"] == "manual"
    assert entry["bundles"] == {"regate": {"revision": revision}}


# --- the CI files ---


def regate_commands(script: str) -> list[list[str]]:
    """Each `regate ...` command in a shell script, as arguments (up to `||`, `&&`, `>`)."""
    commands = []
    for line in script.splitlines():
        words = shlex.split(line.strip(), comments=True)
        if words[:1] != ["regate"]:
            continue
        for stop in ("||", "&&", ">", "|"):
            if stop in words:
                words = words[: words.index(stop)]
        commands.append(words[1:])
    return commands


def github_scripts() -> list[str]:
    workflow = yaml.safe_load((CI / "github-actions.yml").read_text())
    return [s["run"] for job in workflow["jobs"].values() for s in job["steps"] if "run" in s]


def gitlab_scripts() -> list[str]:
    pipeline = yaml.safe_load((CI / "gitlab-ci.yml").read_text())
    return [line for job in pipeline.values() for line in job["script"]]


@pytest.mark.parametrize("scripts", [github_scripts, gitlab_scripts], ids=["github", "gitlab"])
def test_every_regate_command_in_the_ci_files_is_real(scripts):
    commands = [c for script in scripts() for c in regate_commands(script)]
    names = [c[0] for c in commands]
    assert {"fmt", "check", "build", "diff", "test"} <= set(names)
    for arguments in commands:
        command = main.commands[arguments[0]]
        # Parses the arguments as the command would: unknown options or a missing one fail.
        command.make_context(arguments[0], [os.path.expandvars(a) for a in arguments[1:]])


def test_the_ci_files_run_the_snapshot_check():
    for scripts in (github_scripts, gitlab_scripts):
        assert "pytest" in [line.strip() for script in scripts() for line in script.splitlines()]


@pytest.mark.opa
def test_the_github_workflow_steps_pass_on_a_policy_repository(tmp_path, opa):
    """Every `run:` step but the install, in a policy repository laid out as docs/ci.md says,
    on a pull request against main (whose sources are the same)."""
    repository = tmp_path / "repo"
    shutil.copytree(QUALITY_GATES, repository / "policies")
    shutil.copytree(QUALITY_GATES / "requests", repository / "recorded-requests")
    shutil.copy(CI / "pytest.ini", repository)
    (repository / "tests").mkdir()
    shutil.copy(CI / "test_decisions.py", repository / "tests")

    def bash(script: str) -> subprocess.CompletedProcess[str]:
        command = ["bash", "-eo", "pipefail", "-c", script]
        return run_with_regate(command, repository, GITHUB_BASE_REF="main")

    recorded = bash("pytest -q --snapshot-update")
    assert recorded.returncode == 0, recorded.stdout
    for command in (
        "git init -q -b main",
        "git add .",
        "git -c user.name=ci -c user.email=ci@example.com commit -qm policies",
        "git update-ref refs/remotes/origin/main HEAD",  # what actions/checkout fetches
    ):
        assert bash(command).returncode == 0, command
    for step in github_scripts():
        if "pip install" in step:
            continue
        done = bash(step)
        assert done.returncode == 0, f"{step}\n{done.stdout}\n{done.stderr}"
    assert (repository / "bundle" / "policies.tar.gz").is_file()
    assert json.loads((repository / "regate.sarif").read_text())["runs"][0]["results"] == []
