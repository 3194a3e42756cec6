"""regate's benchmark against the anchor, in one command that rewrites docs/performance.md:

    .venv/bin/python bench/run.py

For each corpus shape (spread, dense: bench/corpus.py) and size (20 and 2,000
actions by default) it builds regate's bundle and the anchor's (bench/anchor.py,
hand-written Rego for the same policies), checks that both decide alike on
--agreement sampled requests, and measures, with OPA's default store and with
`--optimize-store-for-read-speed`:

- build: wall time, CPU time and peak memory of the whole `regate build`;
- activation: from starting `opa run --server` to /health?bundles=true answering 200,
  and OPA's CPU time until then;
- decide: the sidecar as the README runs it, an HTTP POST of the request on a
  kept-alive loopback connection, timed by the client (p50, p99), regate's and
  the anchor's sidecars asked in turn; the approve, fail and none requests apart;
- memory: each sidecar's resident set size after its decisions;
- in process: `opa bench` on the same bundles (p50, and Go allocations per
  decision, which the machine's load does not move).

The ratios the issue's targets name are computed from this one run.  Only
127.0.0.1 is used; every OPA started here is stopped here.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

from anchor import DECISION as ANCHOR_DECISION
from anchor import disagreements, projected, write_anchor
from corpus import EXPECTED_ACTIONS, REQUESTS, SHAPES, SIZES, sampled_requests, write_corpus
from sidecar import STORES, Connection, Sidecar, sidecar

from compiler.opa import find_opa  # the OPA regate itself would use

BENCH = Path(__file__).resolve().parent
REPO = BENCH.parent
DECISION = "regate/decision"
# Each decider: its query for `opa bench`, its path on a sidecar.
DECIDERS = {
    "regate": ("data.regate.decision", DECISION),
    "anchor": ("data.anchor.decision", ANCHOR_DECISION),
}


@dataclass(frozen=True)
class Build:
    wall_s: float  # median over the repeats
    cpu_s: float  # median user + system time
    peak_mb: float  # the largest peak resident set size
    bundle_bytes: int


@dataclass(frozen=True)
class Percentiles:
    p50_us: float
    p99_us: float


def percentiles(samples_ns: list[float]) -> Percentiles:
    ordered = sorted(samples_ns)
    p99 = ordered[min(len(ordered) - 1, round(0.99 * (len(ordered) - 1)))]
    return Percentiles(statistics.median(ordered) / 1000, p99 / 1000)


@dataclass(frozen=True)
class InProcess:
    """`opa bench`'s figures for one query."""

    p50_us: float
    allocations: int  # Go heap allocations per decision


@dataclass
class Served:
    """What one decider's sidecar did with one store."""

    activation_s: float = 0.0  # median
    activation_cpu_s: float = 0.0  # median
    resident_mb: float = 0.0
    sidecar: dict[str, Percentiles] = field(default_factory=dict)  # request → latency
    in_process: dict[str, InProcess] = field(default_factory=dict)


@dataclass
class CorpusResult:
    shape: str
    size: str
    policies: int
    actions: int
    build: Build
    anchor_bytes: int
    agreed: int  # sampled requests decided alike
    served: dict[tuple[str, str], Served] = field(default_factory=dict)  # (decider, store)
    parts: dict[str, dict[str, InProcess]] = field(default_factory=dict)  # part → request


def _regate() -> str:
    return str(Path(sys.executable).parent / "regate")


# --- compile ---


def measure_build(corpus: Path, bundle: Path, repeat: int) -> Build:
    walls, cpus, peaks = [], [], []
    for _ in range(repeat):
        # Diagnostics go to a file, not a pipe: a pipe nobody reads while the
        # build runs would stall it once full.
        with tempfile.TemporaryFile() as diagnostics:
            started = time.perf_counter()
            process = subprocess.Popen(
                [_regate(), "build", str(corpus), "-o", str(bundle)], stderr=diagnostics
            )
            # wait4 gives this child's own rusage (RUSAGE_CHILDREN would mix all of them).
            _, status, usage = os.wait4(process.pid, 0)
            walls.append(time.perf_counter() - started)
            process.returncode = os.waitstatus_to_exitcode(status)
            diagnostics.seek(0)
            errors = diagnostics.read().decode(errors="replace")
        if process.returncode != 0 or errors:
            raise SystemExit(f"regate build {corpus} did not build cleanly:\n{errors}")
        cpus.append(usage.ru_utime + usage.ru_stime)
        peaks.append(usage.ru_maxrss / 1024)  # KiB on Linux
    return Build(
        statistics.median(walls), statistics.median(cpus), max(peaks), bundle.stat().st_size
    )


# --- agreement ---


def check_agreement(regate: Sidecar, anchor: Sidecar, requests: list[dict[str, object]]) -> None:
    """Both decide every request alike, and the sample requests as designed."""
    ours = [regate.decide(DECISION, r) for r in requests]
    theirs = [anchor.decide(ANCHOR_DECISION, r) for r in requests]
    found = disagreements(requests, ours, theirs)
    if found:
        raise SystemExit("regate and the anchor disagree:\n" + "\n".join(found[:20]))
    for name, request in REQUESTS.items():
        decision = regate.decide(DECISION, request)
        applying, wanted = len(decision["actions"]), EXPECTED_ACTIONS[name]
        if applying != wanted:
            raise SystemExit(f"request {name!r}: {applying} actions applied, not {wanted}")
        if projected(decision) != anchor.decide(ANCHOR_DECISION, request):
            raise SystemExit(f"request {name!r}: the anchor decides otherwise")


# --- the sidecars ---


def activation(bundle: Path, store: str, repeat: int) -> tuple[float, float]:
    walls, cpus = [], []
    for _ in range(repeat):
        with sidecar(bundle, store=store) as server:
            walls.append(server.activation_s)
            cpus.append(server.activation_cpu_s)
    return statistics.median(walls), statistics.median(cpus)


def latencies(servers: dict[str, Sidecar], samples: int) -> dict[str, dict[str, Percentiles]]:
    """Client-side time of each request to each sidecar, asked in turn so that load
    from elsewhere on the machine falls on all of them alike; the first tenth warms up."""
    prepared = {
        (decider, name): Connection.post_bytes(
            f"/v1/data/{DECIDERS[decider][1]}", json.dumps({"input": request}).encode()
        )
        for decider in servers
        for name, request in REQUESTS.items()
    }
    times: dict[tuple[str, str], list[float]] = {key: [] for key in prepared}
    warm_up = samples // 10
    for round_ in range(warm_up + samples):
        for (decider, name), message in prepared.items():
            connection = servers[decider].connection
            started = time.perf_counter_ns()
            status, _ = connection.send(message)
            elapsed = time.perf_counter_ns() - started
            if status != 200:
                raise SystemExit(f"{decider} answered {status} to {name}")
            if round_ >= warm_up:
                times[decider, name].append(elapsed)
    found: dict[str, dict[str, Percentiles]] = {decider: {} for decider in servers}
    for (decider, name), values in times.items():
        found[decider][name] = percentiles(values)
    return found


def in_process(bundle: Path, decider: str, store: str, work: Path) -> dict[str, InProcess]:
    return {name: opa_bench(bundle, DECIDERS[decider][0], store, work, name) for name in REQUESTS}


# regate's decision in parts, each a query `opa bench` times alone: what a
# request costs before any action is looked up, the lookup, and the applying
# actions' entries (with a failed policy's explanation).
PARTS = {
    "validation": "data.regate.request.valid",
    "lookup": "data.regate._applying",
    "actions": "data.regate.actions",
    "decision": "data.regate.decision",
}


def parts(bundle: Path, work: Path) -> dict[str, dict[str, InProcess]]:
    """Each part of regate's decision, for each request, with the optimized store."""
    return {
        part: {name: opa_bench(bundle, query, "optimized", work, name) for name in REQUESTS}
        for part, query in PARTS.items()
    }


def opa_bench(bundle: Path, query: str, store: str, work: Path, name: str) -> InProcess:
    """`opa bench` of one query on one of the sample requests."""
    request_file = work / f"request-{name}.json"
    request_file.write_text(json.dumps(REQUESTS[name]))
    command = [find_opa(), "bench", *STORES[store], "--format", "json", "-b", str(bundle)]
    completed = subprocess.run(
        [*command, "-i", str(request_file), query],
        capture_output=True,
        text=True,
        check=False,
    )
    if completed.returncode != 0:
        raise SystemExit(f"opa bench {query} ({name}) failed:\n{completed.stderr}")
    report = json.loads(completed.stdout)
    return InProcess(
        report["Extra"]["histogram_timer_rego_query_eval_ns_median"] / 1000,
        report["MemAllocs"] // report["N"],
    )


def measure_corpus(
    shape: str, size: str, work: Path, arguments: argparse.Namespace
) -> CorpusResult:
    label = f"{shape} {size}"
    corpus = work / f"{shape}-{size}"
    model = write_corpus(SIZES[size], corpus, shape)
    bundles = {
        "regate": work / f"{shape}-{size}.tar.gz",
        "anchor": work / f"{shape}-{size}-anchor.tar.gz",
    }
    print(f"bench: {label}: building", file=sys.stderr)
    build = measure_build(corpus, bundles["regate"], arguments.repeat)
    write_anchor(model, bundles["anchor"])
    result = CorpusResult(
        shape,
        size,
        SIZES[size].policies,
        SIZES[size].actions,
        build,
        bundles["anchor"].stat().st_size,
        arguments.agreement,
    )
    print(f"bench: {label}: agreement on {arguments.agreement} requests", file=sys.stderr)
    with sidecar(bundles["regate"]) as regate, sidecar(bundles["anchor"]) as anchor:
        check_agreement(regate, anchor, sampled_requests(model, arguments.agreement))
    for store in arguments.stores.split(","):
        print(f"bench: {label}: {store} store", file=sys.stderr)
        served = {decider: Served() for decider in DECIDERS}
        for decider, bundle in bundles.items():
            found = activation(bundle, store, arguments.repeat)
            served[decider].activation_s, served[decider].activation_cpu_s = found
        with (
            sidecar(bundles["regate"], store=store) as regate,
            sidecar(bundles["anchor"], store=store) as anchor,
        ):
            servers = {"regate": regate, "anchor": anchor}
            for decider, times in latencies(servers, arguments.samples).items():
                served[decider].sidecar = times
                served[decider].resident_mb = servers[decider].resident_mb()
        for decider, bundle in bundles.items():
            served[decider].in_process = in_process(bundle, decider, store, work)
            result.served[decider, store] = served[decider]
    result.parts = parts(bundles["regate"], work)
    return result


# --- the report ---


def _machine() -> dict[str, str]:
    cpu = platform.processor() or platform.machine()
    cpuinfo = Path("/proc/cpuinfo")
    if cpuinfo.exists():
        names = [
            line.split(":", 1)[1].strip()
            for line in cpuinfo.read_text().splitlines()
            if line.startswith("model name")
        ]
        cpu = names[0] if names else cpu
    memory = "?"
    meminfo = Path("/proc/meminfo")
    if meminfo.exists():
        total_kb = int(meminfo.read_text().split("MemTotal:")[1].split()[0])
        memory = f"{total_kb / 1024 / 1024:.1f} GiB"
    opa_version = subprocess.run(
        [find_opa(), "version"], capture_output=True, text=True, check=True
    )
    commit = subprocess.run(
        ["git", "-C", str(REPO), "rev-parse", "--short", "HEAD"], capture_output=True, text=True
    )
    return {
        "CPU": f"{cpu}, {os.cpu_count()} cores",
        "memory": memory,
        "system": f"{platform.system()} {platform.release()}",
        "Python": platform.python_version(),
        "OPA": opa_version.stdout.splitlines()[0].removeprefix("Version: "),
        "regate commit": commit.stdout.strip() or "?",
    }


def _load() -> str:
    return " / ".join(f"{value:.2f}" for value in os.getloadavg())


def _us(value: float) -> str:
    return f"{value:,.0f} µs" if value >= 100 else f"{value:.1f} µs"


def _row(*cells: object) -> str:
    return "| " + " | ".join(str(cell) for cell in cells) + " |"


def _x(ratio: float) -> str:
    return f"{ratio:.2f}x"


@dataclass(frozen=True)
class Target:
    what: str
    measured: str
    met: bool


def targets(results: list[CorpusResult], stores: list[str]) -> list[Target]:
    """The issue's targets, each judged on this run's figures."""
    found: list[Target] = []
    by = {(r.shape, r.size): r for r in results}
    sizes = sorted({r.size for r in results}, key=lambda s: SIZES[s].actions)
    few, many = sizes[0], sizes[-1]
    for store in stores:
        # regate's p50 against the anchor's, and p99 against its p99.
        for measure, limit in (("p50", 1.5), ("p99", 3.0)):
            ratios = [
                (
                    getattr(r.served["regate", store].sidecar[n], f"{measure}_us")
                    / getattr(r.served["anchor", store].sidecar[n], f"{measure}_us"),
                    f"{r.shape} {r.size} {n}",
                )
                for r in results
                for n in REQUESTS
            ]
            worst, where = max(ratios)
            found.append(
                Target(
                    f"regate {measure} <= {limit}x the anchor's "
                    f"({store} store, every corpus and request)",
                    f"{_x(worst)} at worst ({where}); {_x(min(ratios)[0])} at best",
                    worst <= limit,
                )
            )
        if few != many:
            limit = 1.5 if store == "optimized" else 3.0
            for shape in SHAPES:
                if (shape, few) not in by or (shape, many) not in by:
                    continue
                ratios = [
                    (
                        by[shape, many].served["regate", store].sidecar[n].p50_us
                        / by[shape, few].served["regate", store].sidecar[n].p50_us,
                        n,
                    )
                    for n in REQUESTS
                ]
                worst, where = max(ratios)
                anchor_scaling = max(
                    by[shape, many].served["anchor", store].sidecar[n].p50_us
                    / by[shape, few].served["anchor", store].sidecar[n].p50_us
                    for n in REQUESTS
                )
                found.append(
                    Target(
                        f"regate p50 at {SIZES[many].actions:,} actions <= {limit}x at "
                        f"{SIZES[few].actions} ({shape}, {store} store)",
                        f"{_x(worst)} at worst ({where}); the anchor {_x(anchor_scaling)}",
                        worst <= limit,
                    )
                )
        for shape in SHAPES:
            if (shape, many) not in by:
                continue
            r = by[shape, many]
            regate, anchor = r.served["regate", store], r.served["anchor", store]
            found.append(
                Target(
                    f"activation of the {r.actions:,}-action bundle <= 1 s "
                    f"({shape}, {store} store)",
                    f"{regate.activation_s:.2f} s ({regate.activation_cpu_s:.2f} s CPU); "
                    f"the anchor {anchor.activation_s:.2f} s",
                    regate.activation_s <= 1.0,
                )
            )
            ratio = regate.resident_mb / anchor.resident_mb
            found.append(
                Target(
                    f"sidecar memory <= 2x the anchor's ({shape} {many}, {store} store)",
                    f"{_x(ratio)} ({regate.resident_mb:.0f} MB "
                    f"against {anchor.resident_mb:.0f} MB)",
                    ratio <= 2.0,
                )
            )
    for shape in SHAPES:
        if (shape, many) in by:
            b = by[shape, many].build
            found.append(
                Target(
                    f"build of {SIZES[many].policies:,} policies and {SIZES[many].actions:,} "
                    f"actions < 5 s and < 500 MB ({shape})",
                    f"{b.wall_s:.2f} s ({b.cpu_s:.2f} s CPU), {b.peak_mb:.0f} MB",
                    b.wall_s < 5 and b.peak_mb < 500,
                )
            )
    return found


@dataclass(frozen=True)
class Run:
    """How the measurements were taken, for the report."""

    command: str
    samples: int
    repeat: int
    agreement: int
    load_at_start: str
    load_at_end: str


def report(
    results: list[CorpusResult], stores: list[str], machine: dict[str, str], run: Run
) -> str:
    lines = [
        "# Performance",
        "",
        "<!-- Written by bench/run.py; edit the script, not this page. -->",
        "",
        f"Measured {datetime.now(UTC):%Y-%m-%d %H:%M} UTC with `{run.command}`: regate's bundle",
        "against the *anchor* (bench/anchor/anchor.rego), the Rego an experienced OPA engineer",
        "would write by hand for the same policies, served the same way. Each corpus",
        "(bench/corpus.py) comes in two shapes: *spread* (actions over two organisations'",
        "trees, few at any NRN) and *dense* (at one organisation and each of its accounts and",
        "namespaces, many actions differing by approval action and dimensions). Before timing",
        f"anything, both deciders decide {run.agreement} sampled requests per corpus, and must",
        "agree on the result and on each applying action's result.",
        "",
        "## Machine",
        "",
        "| | |",
        "|---|---|",
        *(_row(key, value) for key, value in machine.items()),
        _row("load average (1/5/15 min) at start", run.load_at_start),
        _row("load average at end", run.load_at_end),
        "",
        "The machine is shared: a load average above the core count means other work ran",
        "alongside, and wall times and tails (p99) suffer first. Allocations do not move with it.",
        "",
        "## Targets",
        "",
        "| target | measured | met |",
        "|---|---|---|",
        *(_row(t.what, t.measured, "yes" if t.met else "**no**") for t in targets(results, stores)),
        "",
        "## Decide",
        "",
        f"The sidecar: `opa run --server` as the README runs it, {run.samples:,} HTTP POSTs per",
        "request on one kept-alive loopback connection, timed by the client, regate's and the",
        "anchor's sidecars asked in turn, after a tenth as many to warm up. *approve*: a",
        "production deployment four actions apply to (at its organisation, account, namespace",
        "and application), all of whose 20 policies pass; *fail*: the same with a build that fails",
        "some of them (regate explains each failure); *none*: a staging deployment no action",
        "applies to. *In process*: `opa bench` on the same bundle (p50 of OPA's evaluation, and",
        "Go heap allocations per decision).",
        "",
        _row(
            "corpus",
            "store",
            "request",
            "regate p50",
            "anchor p50",
            "ratio",
            "regate p99",
            "anchor p99",
            "ratio",
            "in process regate / anchor",
            "allocations regate / anchor",
        ),
        "|---|---|---|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for r in results:
        for store in stores:
            ours, theirs = r.served["regate", store], r.served["anchor", store]
            for name in REQUESTS:
                a, b = ours.sidecar[name], theirs.sidecar[name]
                i, j = ours.in_process[name], theirs.in_process[name]
                lines.append(
                    _row(
                        f"{r.shape} {r.actions:,}",
                        store,
                        name,
                        _us(a.p50_us),
                        _us(b.p50_us),
                        _x(a.p50_us / b.p50_us),
                        _us(a.p99_us),
                        _us(b.p99_us),
                        _x(a.p99_us / b.p99_us),
                        f"{_us(i.p50_us)} / {_us(j.p50_us)}",
                        f"{i.allocations:,} / {j.allocations:,}",
                    )
                )
    lines += [
        "",
        "## Where regate's time goes",
        "",
        "`opa bench` (optimized store) of each part of regate's decision alone, p50 and Go heap",
        "allocations per evaluation: *validation* is `data.regate.request.valid` (every",
        "request pays it: regate fails closed, the anchor reads the request as given);",
        "*lookup* is `data.regate._applying` (the applying actions' catalog positions);",
        "*actions* is `data.regate.actions` (their entries, with a failed policy's",
        "explanation: the conditions that failed, where they are written and the values",
        "found); *decision* is the whole of it. The parts overlap (OPA caches a rule once per",
        "query), so they do not add up to the decision.",
        "",
        _row("corpus", "request", *PARTS, "anchor decision"),
        "|---|---|" + "---:|" * (len(PARTS) + 1),
    ]
    for r in results:
        anchor = r.served.get(("anchor", "optimized"))
        for name in REQUESTS:
            lines.append(
                _row(
                    f"{r.shape} {r.actions:,}",
                    name,
                    *(
                        f"{_us(r.parts[part][name].p50_us)}, {r.parts[part][name].allocations:,}"
                        for part in PARTS
                    ),
                    f"{_us(anchor.in_process[name].p50_us)}, "
                    f"{anchor.in_process[name].allocations:,}"
                    if anchor
                    else "",
                )
            )
    lines += [
        "",
        "## Bundles, activation and memory",
        "",
        "Build: the whole `regate build` process, median of "
        f"{run.repeat} (peak: the largest resident set size). Activation: from starting",
        "`opa run --server` to `/health?bundles=true` answering 200, median of "
        f"{run.repeat} starts, and",
        "OPA's CPU time until then. Memory: the sidecar's resident set size after its decisions.",
        "",
        _row(
            "corpus",
            "policies",
            "build",
            "build CPU",
            "build peak",
            "bundle regate / anchor",
            "store",
            "activation regate / anchor",
            "OPA CPU until active",
            "memory regate / anchor",
        ),
        "|---|---:|---:|---:|---:|---:|---|---:|---:|---:|",
    ]
    for r in results:
        for store in stores:
            ours, theirs = r.served["regate", store], r.served["anchor", store]
            lines.append(
                _row(
                    f"{r.shape} {r.actions:,}",
                    f"{r.policies:,}",
                    f"{r.build.wall_s:.2f} s",
                    f"{r.build.cpu_s:.2f} s",
                    f"{r.build.peak_mb:.0f} MB",
                    f"{r.build.bundle_bytes / 1024:,.0f} / {r.anchor_bytes / 1024:,.0f} KiB",
                    store,
                    f"{ours.activation_s:.2f} / {theirs.activation_s:.2f} s",
                    f"{ours.activation_cpu_s:.2f} / {theirs.activation_cpu_s:.2f} s",
                    f"{ours.resident_mb:.0f} / {theirs.resident_mb:.0f} MB",
                )
            )
    lines += [
        "",
        "## Reproduce",
        "",
        "```sh",
        "bash scripts/bootstrap.sh   # .venv and OPA in .tools/bin, as for the tests",
        f".venv/bin/python {run.command}",
        "```",
        "",
        "It builds every corpus, checks the agreement, starts and stops its own sidecars on",
        "127.0.0.1 and rewrites this page, keeping the notes below. `--work DIR` keeps the",
        "corpora, the bundles and the sample requests (`request-*.json`) for `opa eval",
        "--profile`. CI runs the agreement check on small corpora (tests/test_bench.py).",
    ]
    return "\n".join(lines) + "\n"


# Everything below this line in the report is written by hand and kept by every run.
NOTES = "<!-- Notes below are written by hand; bench/run.py keeps them. -->"


def write_report(output: Path, text: str) -> None:
    notes = ""
    if output.exists() and NOTES in output.read_text():
        notes = output.read_text().split(NOTES, 1)[1]
    output.write_text(f"{text}\n{NOTES}{notes}" if notes else text)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sizes", default="small,large", help=f"of {', '.join(SIZES)}")
    parser.add_argument("--shapes", default=",".join(SHAPES), help=f"of {', '.join(SHAPES)}")
    parser.add_argument("--stores", default="optimized,default", help="of optimized, default")
    parser.add_argument("--samples", type=int, default=2000, help="timed POSTs per request")
    parser.add_argument("--repeat", type=int, default=3, help="builds and OPA starts")
    parser.add_argument("--agreement", type=int, default=300, help="sampled requests compared")
    parser.add_argument("--output", default=str(REPO / "docs" / "performance.md"))
    parser.add_argument("--work", help="keep corpora and bundles here")
    arguments = parser.parse_args()
    sizes, shapes = arguments.sizes.split(","), arguments.shapes.split(",")
    stores = arguments.stores.split(",")
    chosen = ((sizes, SIZES, "size"), (shapes, SHAPES, "shape"), (stores, STORES, "store"))
    for given, known, what in chosen:
        unknown = [name for name in given if name not in known]
        if unknown:
            parser.error(f"unknown {what} {', '.join(unknown)}; of {', '.join(known)}")

    load_at_start = _load()
    with tempfile.TemporaryDirectory(prefix="regate-bench-") as temporary:
        work = Path(arguments.work or temporary)
        work.mkdir(parents=True, exist_ok=True)
        results = [
            measure_corpus(shape, size, work, arguments) for shape in shapes for size in sizes
        ]
    run = Run(
        " ".join(["bench/run.py", *sys.argv[1:]]),
        arguments.samples,
        arguments.repeat,
        arguments.agreement,
        load_at_start,
        _load(),
    )
    text = report(results, stores, _machine(), run)
    write_report(Path(arguments.output), text)
    print(text)


if __name__ == "__main__":
    main()
