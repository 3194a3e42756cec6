"""The benchmark scripts at a tiny size, so they cannot rot.  No timing is asserted:
the machine is shared; docs/performance.md holds the figures of a real run."""

from __future__ import annotations

import filecmp
import json
import re
import subprocess
import sys

import pytest

from compiler.driver import compile_sources
from compiler.opa import eval_bundle, run
from tests.conftest import REPO, build

sys.path.insert(0, str(REPO / "bench"))
from corpus import REQUESTS, SIZES, write_corpus
from ideal import rule_name, write_ideal
from run import measure_build


def test_the_corpus_is_the_same_every_time_and_compiles_without_a_diagnostic(tmp_path):
    write_corpus(SIZES["small"], tmp_path / "a")
    write_corpus(SIZES["small"], tmp_path / "b")
    same = filecmp.dircmp(tmp_path / "a", tmp_path / "b")
    assert not same.diff_files and not same.left_only and not same.right_only
    result = compile_sources([str(tmp_path / "a")])
    assert result.diagnostics == []
    assert result.files is not None
    policy_files = sorted(p.name for p in (tmp_path / "a" / "policies").iterdir())
    assert policy_files == ["team-001.rg"]


def test_a_corpus_too_small_for_its_sample_requests_is_refused(tmp_path):
    with pytest.raises(ValueError, match="needs at least 5 actions"):
        write_corpus(SIZES["tiny"].__class__("odd", 10, 3), tmp_path)


def test_a_corpus_that_does_not_build_cleanly_stops_the_benchmark_with_its_diagnostics(tmp_path):
    (tmp_path / "corpus").mkdir()
    (tmp_path / "corpus" / "p.rg").write_text('policy "P" { nrn = "organization=1" }\n')
    with pytest.raises(SystemExit, match=r"did not build cleanly:\n.*p.rg:1:1: error\[RG011\]"):
        measure_build(tmp_path / "corpus", tmp_path / "bundle.tar.gz", repeat=1)
    assert not (tmp_path / "bundle.tar.gz").exists()


@pytest.mark.opa
def test_the_benchmark_runs_end_to_end_and_writes_its_report(tmp_path):
    report = tmp_path / "performance.md"
    notes = "<!-- Notes below are written by hand; bench/run.py keeps them. -->\nWhy p99 moved.\n"
    report.write_text("# An old run\n\n" + notes)
    tiny_run = ["--sizes", "tiny", "--samples", "20", "--repeat", "1", "--output", str(report)]
    run = subprocess.run(
        [sys.executable, str(REPO / "bench" / "run.py"), *tiny_run],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert run.returncode == 0, run.stderr
    text = report.read_text()
    assert text.startswith("# Performance\n")
    assert "An old run" not in text and text.endswith("\n\n" + notes)
    assert "| OPA | 1.22.2 |" in text
    assert re.search(
        r"^\| tiny \| 12 \| 6 \| [\d,]+ KiB \| [\d.]+ s \| [\d.]+ s \| \d+ MB \|", text, re.M
    )
    assert re.search(r"^\| tiny \| [\d.]+ s \| [\d.]+ s \|$", text, re.M)  # activation
    # Each sample request was decided by the real OPA, and applied as many actions as designed.
    applying = dict(re.findall(r"^\| tiny \| (none|one|several|floor) \| (\S+) \|", text, re.M))
    assert applying == {"none": "0", "one": "1", "several": "4", "floor": "-"}
    decide = r"^\| tiny \| \w+( \(ideal\))? \| \S+ (\| [\d,.]+ µs ){4}\| [1-9][\d,]* \|$"
    assert len(re.findall(decide, text, re.M)) == 7  # the requests, the floor, their ideals


def _ideal_decisions(module, bundle, requests):
    """What the ideal module's rules give (None: undefined), evaluated by the real OPA."""
    answers = {}
    for name, request in requests.items():
        query = f"data.ideal.{rule_name(name)}"
        arguments = ["eval", "-b", str(bundle), "-d", str(module), "--stdin-input", query]
        done = run([*arguments, "--format", "json"], stdin=json.dumps(request))
        assert done.returncode == 0, done.stderr
        results = json.loads(done.stdout).get("result", [])
        answers[name] = results[0]["expressions"][0]["value"] if results else None
    return answers


@pytest.mark.opa
def test_the_ideal_gives_regates_decisions_by_evaluating_the_policies(tmp_path):
    write_corpus(SIZES["small"], tmp_path / "corpus")
    bundle = build([tmp_path / "corpus"], tmp_path)
    requests = {
        name: json.loads((tmp_path / "corpus" / "requests" / f"{name}.json").read_text())
        for name in REQUESTS
    }
    decisions = {name: eval_bundle(str(bundle), request) for name, request in requests.items()}
    failed = [p for a in decisions["several"]["actions"] for p in a["policies"] if not p["passed"]]
    assert failed and all(p["failures"] for p in failed)
    module = tmp_path / "ideal.rego"
    write_ideal(bundle, decisions, module)
    assert _ideal_decisions(module, bundle, requests) == decisions

    # Its failures are OPA's explanations, not the decision's copy of them.
    unexplained = json.loads(json.dumps(decisions))
    for action in unexplained["several"]["actions"]:
        action["policies"] = [
            {**p, "failures": []} if "failures" in p else p for p in action["policies"]
        ]
    write_ideal(bundle, unexplained, module)
    assert _ideal_decisions(module, bundle, requests)["several"] == decisions["several"]

    # Written from a decision whose policies all passed, the ideal has no answer:
    # it evaluates the policies, and OPA finds some fail.
    flattered = json.loads(json.dumps(decisions))
    for action in flattered["several"]["actions"]:
        action["policies"] = [{**p, "passed": True} for p in action["policies"]]
    write_ideal(bundle, flattered, module)
    assert _ideal_decisions(module, bundle, requests)["several"] is None
