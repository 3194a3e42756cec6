"""The benchmark at a tiny size, so it cannot rot, and the anchor's agreement with
regate on small corpora of both shapes.  No timing is asserted: the machine is
shared; docs/performance.md holds the figures of a real run."""

from __future__ import annotations

import filecmp
import json
import re
import subprocess
import sys
from collections import Counter

import pytest

from compiler.driver import compile_sources
from tests.conftest import REPO, build

sys.path.insert(0, str(REPO / "bench"))
from anchor import DECISION as ANCHOR_DECISION
from anchor import disagreements, projected, write_anchor
from corpus import EXPECTED_ACTIONS, REQUESTS, SHAPES, SIZES, model, sampled_requests, write_corpus
from run import DECISION, measure_build
from sidecar import sidecar


@pytest.mark.parametrize("shape", SHAPES)
def test_the_corpus_is_the_same_every_time_and_compiles_without_a_diagnostic(tmp_path, shape):
    write_corpus(SIZES["small"], tmp_path / "a", shape)
    write_corpus(SIZES["small"], tmp_path / "b", shape)
    same = filecmp.dircmp(tmp_path / "a", tmp_path / "b")
    assert not same.diff_files and not same.left_only and not same.right_only
    result = compile_sources([str(tmp_path / "a")])
    assert result.diagnostics == []
    assert result.files is not None
    policy_files = sorted(p.name for p in (tmp_path / "a" / "policies").iterdir())
    assert policy_files == ["team-001.rg"]


def test_the_dense_corpus_puts_many_actions_at_the_nrns_of_its_requests():
    dense = model(SIZES["large"], "dense")
    spread = model(SIZES["large"], "spread")
    ancestors = {
        "organization=3",
        "organization=3:account=1",
        "organization=3:account=1:namespace=1",
    }
    at = Counter(a.nrn for a in dense.actions if a.nrn in ancestors)
    assert min(at.values()) > 50, at
    assert sum(a.nrn in ancestors for a in spread.actions) == 3  # the pinned ones alone
    combinations = {tuple(sorted(a.dimensions.items())) for a in dense.actions}
    assert len(combinations) > 50


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
@pytest.mark.parametrize("shape", SHAPES)
def test_the_anchor_decides_as_regate_on_sampled_requests(tmp_path, shape):
    corpus = write_corpus(SIZES["small"], tmp_path / "corpus", shape)
    bundle = build([tmp_path / "corpus"], tmp_path)
    write_anchor(corpus, tmp_path / "anchor.tar.gz")
    requests = sampled_requests(corpus, 300)
    with sidecar(bundle) as regate, sidecar(tmp_path / "anchor.tar.gz") as anchor:
        ours = [regate.decide(DECISION, r) for r in requests]
        theirs = [anchor.decide(ANCHOR_DECISION, r) for r in requests]
        samples = {name: regate.decide(DECISION, r) for name, r in REQUESTS.items()}
        anchored = {name: anchor.decide(ANCHOR_DECISION, r) for name, r in REQUESTS.items()}
    assert disagreements(requests, ours, theirs) == []
    # The sample covers every result, and actions applying and not.
    assert {d["result"] for d in ours} == {"approve", "manual", "deny"}
    assert sum(bool(d["actions"]) for d in ours) > 30
    assert {name: len(d["actions"]) for name, d in samples.items()} == EXPECTED_ACTIONS
    assert {name: projected(d) for name, d in samples.items()} == anchored
    assert samples["fail"]["result"] == "deny"
    failed = [p for a in samples["fail"]["actions"] for p in a["policies"] if not p["passed"]]
    assert len(failed) == 8 and all(p["failures"] for p in failed)

    # A decision that differs, or a request regate finds invalid, is reported.
    flipped = [dict(d) for d in theirs]
    flipped[0] = {**flipped[0], "result": "deny" if flipped[0]["result"] != "deny" else "manual"}
    invalid = [dict(d) for d in ours]
    invalid[1] = {**invalid[1], "errors": [{"code": "RQ004"}]}
    found = disagreements(requests, invalid, flipped)
    assert [line.split(" ", 2)[1] for line in found] == ["0", "1"]


@pytest.mark.opa
def test_the_benchmark_runs_end_to_end_and_writes_its_report(tmp_path):
    report = tmp_path / "performance.md"
    notes = "<!-- Notes below are written by hand; bench/run.py keeps them. -->\nWhy p99 moved.\n"
    report.write_text("# An old run\n\n" + notes)
    tiny_run = ["--sizes", "tiny", "--samples", "20", "--repeat", "1", "--agreement", "20"]
    run = subprocess.run(
        [sys.executable, str(REPO / "bench" / "run.py"), *tiny_run, "--output", str(report)],
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert run.returncode == 0, run.stderr
    text = report.read_text()
    assert text.startswith("# Performance\n")
    assert "An old run" not in text and text.endswith("\n\n" + notes)
    assert "| OPA | 1.22.2 |" in text
    # Each request on each corpus and store: both sidecars' figures and their ratios.
    decide = (
        r"^\| (spread|dense) 6 \| (optimized|default) \| (none|approve|fail) "
        r"(\| [\d,.]+ µs ){2}\| [\d.]+x (\| [\d,.]+ µs ){2}\| [\d.]+x "
        r"\| [\d,.]+ µs / [\d,.]+ µs \| [1-9][\d,]* / [1-9][\d,]* \|$"
    )
    assert len(re.findall(decide, text, re.M)) == 2 * 2 * 3
    served = r"^\| (spread|dense) 6 \| 12 \| [\d.]+ s .* \| [\d.]+ / [\d.]+ MB \|$"
    assert len(re.findall(served, text, re.M)) == 2 * 2
    assert re.search(r"^\| regate p50 <= 1.5x the anchor's \(optimized store", text, re.M)
    assert re.search(r"^\| build of 12 policies and 6 actions < 5 s and < 500 MB", text, re.M)


def test_a_request_the_decision_names_is_json(tmp_path):
    # The sample requests are written as the corpus's request files.
    write_corpus(SIZES["tiny"], tmp_path, "dense")
    for name, request in REQUESTS.items():
        assert json.loads((tmp_path / "requests" / f"{name}.json").read_text()) == request
