"""Does explaining failures slow down passing decisions?  (issue 5)

    .venv/bin/python bench/bench_explain.py [--baseline main] [--policies 240] [--rounds 5]

Builds two bundles, the example (bundles/quality-gates) and a generated corpus
of POLICIES policies using every operator family and nested logic, with this
checkout's compiler and with BASELINE's (the ref exported by `git archive`),
then measures data.regate.decision for a request that every policy passes, and
one that every policy fails:

- work: how many expressions OPA evaluates (`opa eval --profile`, the sum of
  num_eval), in all and in package regate.explanations: exact, so it does not
  depend on how busy the machine is;
- time: OPA's own query evaluation time (`opa bench`: its median, and its
  fastest, of timer_rego_query_eval_ns).  Rounds alternate baseline and
  current, so that both see the same noise of a shared machine; the figures
  kept are the medians over the rounds.

Every decision is checked before it is timed (the passing request approves with
every policy passed, the failing one denies), so a broken bundle cannot look fast.
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import tarfile
import tempfile
from pathlib import Path
from typing import Any

BENCH = Path(__file__).resolve().parent
REPO = BENCH.parent
EXAMPLE = REPO / "bundles" / "quality-gates"
QUERY = "data.regate.decision"

# One condition per operator family, and nested logic; paths under build.metadata.doc.
CONDITIONS: tuple[dict[str, object], ...] = (
    {"build.metadata.doc.coverage": {"$gte": 50}},
    {"$or": [{"build.metadata.doc.tier": "gold"}, {"build.metadata.doc.score": {"$gt": 10}}]},
    {
        "build.metadata.doc.findings": {
            "$elemMatch": {"severity": {"$in": ["low", "medium"]}, "count": {"$lt": 100}}
        }
    },
    {
        "build.metadata.doc.secrets": {"$not": {"$gt": 0}},
        "build.metadata.doc.branch": {"$regex": "^(main|release/)"},
    },
    {
        "$nor": [{"build.metadata.doc.frozen": True}, {"build.metadata.doc.tags": {"$size": 0}}],
        "build.metadata.doc.tags": {"$all": ["reviewed"]},
    },
    {
        "build.metadata.doc.build_number": {"$mod": [2, 1]},
        "build.metadata.doc.owner": {"$exists": True, "$type": "string"},
    },
)
PASSING = {
    "coverage": 90,
    "tier": "gold",
    "findings": [{"severity": "low", "count": 3}],
    "secrets": 0,
    "branch": "main",
    "frozen": False,
    "tags": ["reviewed"],
    "build_number": 7,
    "owner": "team-payments",
}
FAILING = {
    "coverage": 10,
    "tier": "bronze",
    "score": 1,
    "findings": [{"severity": "high", "count": 300}],
    "secrets": 2,
    "branch": "feature/x",
    "frozen": True,
    "tags": [],
    "build_number": 8,
}
ACTIONS = 4


def write_corpus(directory: Path, policies: int) -> dict[str, Path]:
    """The generated sources, and the passing and failing requests."""
    directory.mkdir(parents=True)
    lines = [
        'specification "Doc" { entity = build  metadata = doc  nrn = "organization=1"'
        "  schema = {} }"
    ]
    for i in range(policies):
        conditions = json.dumps(CONDITIONS[i % len(CONDITIONS)])
        lines.append(f'policy "p{i}" {{ nrn = "organization=1"  conditions = {conditions} }}')
    for a in range(ACTIONS):
        names = json.dumps([f"p{i}" for i in range(a, policies, ACTIONS)])
        lines.append(
            f'action "gate {a}" {{ action = "deployment:create"  nrn = "organization=1"'
            f"  on_policy_success = approve  on_policy_fail = deny  policies = {names} }}"
        )
    (directory / "corpus.rg").write_text("\n".join(lines) + "\n")
    requests = {}
    for name, document in (("passing", PASSING), ("failing", FAILING)):
        request = {
            "action": "deployment:create",
            "nrn": "organization=1:account=2",
            "entities": {"scope": {}, "build": {"metadata": {"doc": document}}},
        }
        requests[name] = directory.parent / f"{directory.name}-{name}.json"
        requests[name].write_text(json.dumps(request))
    return requests


def build(checkout: Path, sources: Path, bundle: Path) -> None:
    """`regate build` with the compiler of `checkout` (its own templates too)."""
    run = [sys.executable, "-c", "import sys; from compiler.cli import main; sys.exit(main())"]
    result = subprocess.run(
        [*run, "build", str(sources), "-o", str(bundle)],
        cwd=checkout,
        env={"PYTHONPATH": str(checkout), "PATH": str(Path(sys.executable).parent)},
        capture_output=True,
        text=True,
    )
    if result.returncode != 0:
        raise SystemExit(f"regate build with {checkout} failed:\n{result.stderr}")


def export(ref: str, directory: Path) -> Path:
    archive = subprocess.run(
        ["git", "-C", str(REPO), "archive", "--format=tar", ref], capture_output=True, check=True
    )
    tar = directory / "baseline.tar"
    tar.write_bytes(archive.stdout)
    checkout = directory / "baseline"
    with tarfile.open(tar) as files:
        files.extractall(checkout, filter="data")
    return checkout


def opa() -> str:
    sys.path.insert(0, str(REPO))
    from compiler.opa import find_opa

    return find_opa()


def run_opa(command: str, bundle: Path, request: Path, *options: str) -> Any:
    """`opa eval` or `opa bench` of the decision, its JSON output."""
    result = subprocess.run(
        [opa(), command, "-f", "json", *options, "-b", str(bundle), "-i", str(request), QUERY],
        capture_output=True,
        text=True,
        check=True,
    )
    return json.loads(result.stdout)


def decide(bundle: Path, request: Path) -> dict[str, Any]:
    decision: dict[str, Any] = run_opa("eval", bundle, request)["result"][0]["expressions"][0][
        "value"
    ]
    return decision


def check(bundle: Path, requests: dict[str, Path], passing: str, failing: str) -> None:
    good, bad = decide(bundle, requests["passing"]), decide(bundle, requests["failing"])
    policies = [p for a in good["actions"] for p in a["policies"]]
    if good["result"] != passing or not all(p["passed"] for p in policies):
        raise SystemExit(f"{bundle}: the passing request did not pass: {good}")
    if bad["result"] != failing:
        raise SystemExit(f"{bundle}: the failing request did not fail: {bad['result']}")


def evaluations(bundle: Path, request: Path) -> tuple[int, int]:
    """Expressions evaluated: in all, and in package regate.explanations."""
    profile = run_opa("eval", bundle, request, "--profile", "--profile-limit", "0")["profile"]
    explaining = [p for p in profile if "/regate/explanations/" in p["location"]["file"]]
    return sum(p["num_eval"] for p in profile), sum(p["num_eval"] for p in explaining)


def eval_ns(bundle: Path, request: Path) -> tuple[float, float]:
    """OPA's query evaluation time: the median and the fastest of one `opa bench`."""
    timer = run_opa("bench", bundle, request)["Extra"]
    return (
        float(timer["histogram_timer_rego_query_eval_ns_median"]),
        float(timer["histogram_timer_rego_query_eval_ns_min"]),
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--baseline", default="main", help="the git ref to compare with")
    parser.add_argument("--policies", type=int, default=240)
    parser.add_argument("--rounds", type=int, default=5)
    options = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="regate-bench-explain-") as temporary:
        work = Path(temporary)
        checkouts = {"baseline": export(options.baseline, work), "current": REPO}
        corpus_requests = write_corpus(work / "corpus", options.policies)
        example_requests = {
            "passing": EXAMPLE / "requests" / "02-coverage-85-no-critical.json",
            "failing": EXAMPLE / "requests" / "01-coverage-70.json",
        }
        cases = {
            "example": (EXAMPLE, example_requests, "approve", "manual"),
            f"corpus of {options.policies} policies": (
                work / "corpus",
                corpus_requests,
                "approve",
                "deny",
            ),
        }
        work_done: dict[tuple[str, str, str], tuple[int, int]] = {}
        samples: dict[tuple[str, str, str], list[tuple[float, float]]] = {}
        for case, (sources, requests, passing, failing) in cases.items():
            for version, checkout in checkouts.items():
                bundle = work / f"{case}-{version}.tar.gz".replace(" ", "-")
                build(checkout, sources, bundle)
                check(bundle, requests, passing, failing)
                for outcome in ("passing", "failing"):
                    work_done[(case, version, outcome)] = evaluations(bundle, requests[outcome])
            for _ in range(options.rounds):
                for version in checkouts:
                    bundle = work / f"{case}-{version}.tar.gz".replace(" ", "-")
                    for outcome in ("passing", "failing"):
                        key = (case, version, outcome)
                        samples.setdefault(key, []).append(eval_ns(bundle, requests[outcome]))
    print(f"baseline: {options.baseline}; current: this checkout; {options.rounds} rounds\n")
    print_work(list(cases), work_done)
    print()
    print_times(list(cases), samples)


def print_work(cases: list[str], work_done: dict[tuple[str, str, str], tuple[int, int]]) -> None:
    print("| bundle | request | evaluations: baseline | current (explanations) | change |")
    print("|---|---|---:|---:|---:|")
    for case in cases:
        for outcome in ("passing", "failing"):
            before, _ = work_done[(case, "baseline", outcome)]
            after, explaining = work_done[(case, "current", outcome)]
            change = _change(before, after)
            print(f"| {case} | {outcome} | {before} | {after} ({explaining}) | {change} |")


def print_times(
    cases: list[str], samples: dict[tuple[str, str, str], list[tuple[float, float]]]
) -> None:
    print(
        "| bundle | request | eval µs, median: baseline | current | change "
        "| fastest: baseline | current | change |"
    )
    print("|---|---|---:|---:|---:|---:|---:|---:|")
    for case in cases:
        for outcome in ("passing", "failing"):
            figures = []
            for statistic in (0, 1):  # the median, the fastest
                before, after = (
                    statistics.median(s[statistic] for s in samples[(case, version, outcome)])
                    / 1000
                    for version in ("baseline", "current")
                )
                figures.append(f"{before:.0f} | {after:.0f} | {_change(before, after)}")
            print(f"| {case} | {outcome} | {' | '.join(figures)} |")


def _change(before: float, after: float) -> str:
    return f"{(after - before) / before * 100:+.1f} %"


if __name__ == "__main__":
    main()
