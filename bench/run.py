"""regate's benchmarks, in one command that rewrites docs/performance.md:

    .venv/bin/python bench/run.py --sizes small,medium,large

For each size it generates a corpus (bench/corpus.py) and measures:

- compile: wall time, CPU time and peak memory of the whole `regate build`
  process (os.wait4's rusage of that child alone), and the bundle's size;
- activation: from starting `opa run --server` to /health?bundles=true answering 200;
- decide: OPA's own `timer_rego_query_eval_ns` for the corpus's sample requests
  (no action, one action, several actions) in that sidecar with ?metrics=true,
  and the same from `opa bench`; p50 and p99;
- the floor: the same OPA, same run, answering `data.bench.noop` (bench/floor,
  a bundle of its own beside regate's);
- the ideal: the same decisions from a policy that knows them in advance
  (bench/ideal.py), the least a decision over the same policy rules can cost.

Every decision is checked (how many actions applied) before it is timed.  Only
127.0.0.1 is used; every OPA started here is stopped here.
"""

from __future__ import annotations

import argparse
import http.client
import itertools
import json
import os
import platform
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from corpus import REQUESTS, SIZES, Size, write_corpus
from ideal import PACKAGE, Decision, rule_name, write_ideal

from compiler.opa import find_opa  # the OPA regate itself would use

BENCH = Path(__file__).resolve().parent
REPO = BENCH.parent
FLOOR = BENCH / "floor"
DECISION = "regate/decision"
FLOOR_QUERY = "bench/noop"
IDEAL_PATH = f"{PACKAGE}/"
# How the README runs a sidecar: OPA keeps bundle data as Rego values, instead of
# converting what a decision reads of data.regate.catalog on every request.
OPA_STORE = ("--optimize-store-for-read-speed",)
# How many actions each sample request must find applying (bench/corpus.py).
EXPECTED_ACTIONS = {"none": 0, "one": 1, "several": 4}


def ideal(request: str) -> str:
    """How the report names the ideal decision of a request (bench/ideal.py)."""
    return f"{request} (ideal)"


@dataclass(frozen=True)
class Build:
    wall_s: float  # median over the repeats
    cpu_s: float  # median user + system time
    peak_mb: float  # the largest peak resident set size
    bundle_bytes: int
    source_bytes: int


@dataclass(frozen=True)
class Percentiles:
    p50_us: float
    p99_us: float


@dataclass(frozen=True)
class BenchRun:
    """`opa bench`'s figures for one query."""

    times: Percentiles
    # Go heap allocations per evaluation: a measure of OPA's work that, unlike
    # the times, the machine's load does not move, so runs compare across days.
    allocations: int


@dataclass(frozen=True)
class SizeResult:
    size: Size
    build: Build
    activation_s: float  # median over the repeats
    activation_cpu_s: float  # median
    applying: dict[str, int]  # request → how many actions applied
    # request, "floor" or ideal(request) → server-side eval time
    sidecar: dict[str, Percentiles]
    opa_bench: dict[str, BenchRun]


def _percentiles(samples_ns: list[float]) -> Percentiles:
    ordered = sorted(samples_ns)
    p99 = ordered[min(len(ordered) - 1, round(0.99 * (len(ordered) - 1)))]
    return Percentiles(statistics.median(ordered) / 1000, p99 / 1000)


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
    sources = sum(p.stat().st_size for p in corpus.rglob("*") if p.suffix in (".rg", ".json"))
    sources -= sum(p.stat().st_size for p in (corpus / "requests").iterdir())
    return Build(
        statistics.median(walls),
        statistics.median(cpus),
        max(peaks),
        bundle.stat().st_size,
        sources,
    )


# --- the sidecar ---


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@dataclass
class Sidecar:
    process: subprocess.Popen[bytes]
    connection: http.client.HTTPConnection
    activation_s: float
    activation_cpu_s: float  # OPA's own CPU time until then, which other load hardly changes

    def post(self, path: str, request: object) -> dict[str, object]:
        body = json.dumps({"input": request})
        self.connection.request(
            "POST", f"/v1/data/{path}?metrics=true", body, {"Content-Type": "application/json"}
        )
        response = self.connection.getresponse()
        answer: dict[str, object] = json.loads(response.read())
        if response.status != 200 or "result" not in answer:
            raise SystemExit(f"OPA answered {response.status} to {path}: {answer}")
        return answer

    def put_policy(self, name: str, module: str) -> None:
        self.connection.request(
            "PUT", f"/v1/policies/{name}", module.encode(), {"Content-Type": "text/plain"}
        )
        response = self.connection.getresponse()
        answer = response.read()
        if response.status != 200:
            raise SystemExit(f"OPA answered {response.status} to policy {name}: {answer!r}")


def _cpu_seconds(pid: int) -> float:
    """User + system CPU time of a running process (Linux /proc; NaN elsewhere)."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return float("nan")
    # utime and stime are fields 14 and 15 of stat(5); fields[0] here is field 3.
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


@contextmanager
def sidecar(*served: Path) -> Iterator[Sidecar]:
    """A real `opa run --server` on 127.0.0.1 serving regate's bundle (or the router
    and tenant bundles, bench/split.py) and the floor's."""
    port = _free_port()
    bundles = [a for bundle in (*served, FLOOR) for a in ("--bundle", str(bundle))]
    started = time.perf_counter()
    process = subprocess.Popen(
        [find_opa(), "run", "--server", *OPA_STORE, "--addr", f"127.0.0.1:{port}", *bundles],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    try:
        deadline = started + 120
        while True:
            try:
                connection.request("GET", "/health?bundles=true")
                response = connection.getresponse()
                response.read()
                if response.status == 200:
                    break
            except (ConnectionError, http.client.HTTPException):
                connection.close()
            if process.poll() is not None or time.perf_counter() > deadline:
                raise SystemExit(f"OPA did not activate {', '.join(map(str, served))}")
            time.sleep(0.005)
        activated = time.perf_counter() - started
        yield Sidecar(process, connection, activated, _cpu_seconds(process.pid))
    finally:
        connection.close()
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def _eval_ns(answer: dict[str, object]) -> float:
    metrics = answer["metrics"]
    assert isinstance(metrics, dict)
    return float(metrics["timer_rego_query_eval_ns"])


def decide(server: Sidecar, requests: dict[str, object]) -> dict[str, Decision]:
    """Each sample request's decision, with as many actions applying as the corpus promises."""
    decisions = {}
    for name, request in requests.items():
        decision = server.post(DECISION, request)["result"]
        assert isinstance(decision, dict)
        applying, wanted = len(decision["actions"]), EXPECTED_ACTIONS[name]
        if applying != wanted:
            raise SystemExit(f"request {name!r}: {applying} actions applied, not {wanted}")
        decisions[name] = decision
    return decisions


def serve_ideal(
    server: Sidecar,
    requests: dict[str, object],
    decisions: dict[str, Decision],
    module: Path,
) -> None:
    """Serve the ideal module beside regate's bundle, once it gives regate's decisions."""
    server.put_policy(PACKAGE, module.read_text())
    for name, request in requests.items():
        if server.post(IDEAL_PATH + rule_name(name), request)["result"] != decisions[name]:
            raise SystemExit(f"the ideal decision of {name!r} is not regate's ({module})")


def measure_sidecar(
    server: Sidecar, requests: dict[str, object], samples: int
) -> dict[str, Percentiles]:
    """Server-side eval time per request and for the floor, sampled in turn so
    that load from elsewhere on the machine falls on all of them alike."""
    queries = {name: (DECISION, request) for name, request in requests.items()}
    queries["floor"] = (FLOOR_QUERY, requests["none"])
    queries |= {ideal(name): (IDEAL_PATH + rule_name(name), r) for name, r in requests.items()}
    times: dict[str, list[float]] = {name: [] for name in queries}
    for round_ in range(samples + samples // 10):
        for name, (path, request) in queries.items():
            eval_ns = _eval_ns(server.post(path, request))
            if round_ >= samples // 10:  # the first tenth warms up
                times[name].append(eval_ns)
    return {name: _percentiles(values) for name, values in times.items()}


# --- opa bench ---


def measure_opa_bench(
    bundle: Path, requests: dict[str, Path], ideal_module: Path
) -> dict[str, BenchRun]:
    runs = {name: ("data.regate.decision", path) for name, path in requests.items()}
    runs["floor"] = ("data.bench.noop", requests["none"])
    runs |= {ideal(name): (f"data.{PACKAGE}.{rule_name(name)}", p) for name, p in requests.items()}
    found, opa = {}, find_opa()
    for name, (query, request) in runs.items():
        completed = subprocess.run(
            [
                opa,
                "bench",
                *OPA_STORE,
                "--format",
                "json",
                "-b",
                str(bundle),
                "-b",
                str(FLOOR),
                "-d",
                str(ideal_module),
                "-i",
                str(request),
                query,
            ],
            capture_output=True,
            text=True,
            check=False,
        )
        if completed.returncode != 0:
            raise SystemExit(f"opa bench {name} failed:\n{completed.stdout}{completed.stderr}")
        report = json.loads(completed.stdout)
        extra = report["Extra"]
        found[name] = BenchRun(
            Percentiles(
                extra["histogram_timer_rego_query_eval_ns_median"] / 1000,
                extra["histogram_timer_rego_query_eval_ns_99%"] / 1000,
            ),
            report["MemAllocs"] // report["N"],
        )
    return found


# --- one size ---


def measure_size(size: Size, work: Path, repeat: int, samples: int) -> SizeResult:
    corpus = work / size.name
    write_corpus(size, corpus)
    bundle = work / f"{size.name}.tar.gz"
    ideal_module = work / f"{size.name}-ideal.rego"
    print(f"bench: {size.name}: building", file=sys.stderr)
    build = measure_build(corpus, bundle, repeat)
    request_files = {name: corpus / "requests" / f"{name}.json" for name in REQUESTS}
    requests = {name: json.loads(path.read_text()) for name, path in request_files.items()}
    print(f"bench: {size.name}: sidecar", file=sys.stderr)
    activations, activation_cpus = [], []
    for attempt in range(repeat):
        with sidecar(bundle) as server:
            activations.append(server.activation_s)
            activation_cpus.append(server.activation_cpu_s)
            if attempt == repeat - 1:
                decisions = decide(server, requests)
                write_ideal(bundle, decisions, ideal_module)
                serve_ideal(server, requests, decisions, ideal_module)
                sidecar_times = measure_sidecar(server, requests, samples)
    print(f"bench: {size.name}: opa bench", file=sys.stderr)
    return SizeResult(
        size,
        build,
        statistics.median(activations),
        statistics.median(activation_cpus),
        {name: len(decision["actions"]) for name, decision in decisions.items()},
        sidecar_times,
        measure_opa_bench(bundle, request_files, ideal_module),
    )


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


def _targets(results: dict[str, SizeResult]) -> list[tuple[str, str, bool]]:
    """(target, measured, met) for each target of issue 8 this run can judge."""
    rows: list[tuple[str, str, bool]] = []
    few, many = results.get("small"), results.get("large")
    if few and many:
        # The two sizes are measured minutes apart: how far the floor moved between
        # them shows how far the machine did.
        floors = many.sidecar["floor"].p50_us / few.sidecar["floor"].p50_us
        for name in REQUESTS:
            ratio = many.sidecar[name].p50_us / few.sidecar[name].p50_us
            target = f"decision p50 ({name}), {many.size.actions:,} vs {few.size.actions} actions"
            measured = f"{ratio:.2f}x (floor {floors:.2f}x)"
            rows.append((f"{target}: <= 1.5x", measured, ratio <= 1.5))
    if many:
        floor = many.sidecar["floor"].p50_us
        for name in REQUESTS:
            ratio = many.sidecar[name].p50_us / floor
            ideal_ratio = many.sidecar[ideal(name)].p50_us / floor
            rows.append(
                (
                    f"decision p50 ({name}, {many.size.name}): <= 10x the floor",
                    f"{ratio:.1f}x (ideal {ideal_ratio:.1f}x)",
                    ratio <= 10,
                )
            )
        worst = max(many.sidecar[name].p99_us for name in REQUESTS)
        ideal_worst = max(many.sidecar[ideal(name)].p99_us for name in REQUESTS)
        build, activation = many.build, many.activation_s
        rows += [
            (
                f"decision p99 ({many.size.name}, worst request) < 1 ms",
                f"{_us(worst)} (ideal {_us(ideal_worst)})",
                worst < 1000,
            ),
            (f"build wall ({many.size.name}) < 5 s", f"{build.wall_s:.2f} s", build.wall_s < 5),
            (
                f"build peak ({many.size.name}) < 500 MB",
                f"{build.peak_mb:.0f} MB",
                build.peak_mb < 500,
            ),
            (f"OPA activation ({many.size.name}) < 2 s", f"{activation:.2f} s", activation < 2),
            # The same two as CPU time, which a busy shared machine inflates far less.
            (f"build CPU ({many.size.name}) < 5 s", f"{build.cpu_s:.2f} s", build.cpu_s < 5),
            (
                f"OPA CPU until active ({many.size.name}) < 2 s",
                f"{many.activation_cpu_s:.2f} s",
                many.activation_cpu_s < 2,
            ),
        ]
    ordered = sorted(results.values(), key=lambda r: r.size.policies)
    for smaller, larger in itertools.pairwise(ordered):
        if larger.size.policies == 10 * smaller.size.policies:
            ratio = larger.build.wall_s / smaller.build.wall_s
            target = f"build wall, {larger.size.name} vs {smaller.size.name} (10x the sources)"
            rows.append((f"{target}: <= 11x", f"{ratio:.1f}x", ratio <= 11))
    return rows


@dataclass(frozen=True)
class Run:
    """How the measurements were taken, for the report."""

    command: str
    samples: int
    repeat: int
    load_at_start: str
    load_at_end: str


def report(results: dict[str, SizeResult], machine: dict[str, str], run: Run) -> str:
    lines = [
        "# Performance",
        "",
        "<!-- Written by bench/run.py; edit the script, not this page. -->",
        "",
        f"Measured {datetime.now(UTC):%Y-%m-%d %H:%M} UTC with `{run.command}`.",
        'The corpora come from `bench/corpus.py` (see the README, "Benchmarks"): an NRN tree',
        "of organisations, accounts, namespaces and applications; approval actions at every",
        "level, filtered by environment, country and tier; a few policies bound to each action;",
        "metadata specifications for every path read. Times are medians unless marked p99.",
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
        "alongside, and wall times and tails (p99) suffer first.",
        "",
        "## Compile",
        "",
        f"The whole `regate build` process, median of {run.repeat}; peak is the largest resident",
        "set size.",
        "",
        _row("size", "policies", "actions", "sources", "wall", "CPU", "peak memory", "bundle"),
        "|---|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for r in results.values():
        b = r.build
        lines.append(
            _row(
                r.size.name,
                f"{r.size.policies:,}",
                f"{r.size.actions:,}",
                f"{b.source_bytes / 1024:,.0f} KiB",
                f"{b.wall_s:.2f} s",
                f"{b.cpu_s:.2f} s",
                f"{b.peak_mb:.0f} MB",
                f"{b.bundle_bytes / 1024:,.0f} KiB",
            )
        )
    lines += [
        "",
        "## Activation",
        "",
        "From starting `opa run --server --bundle B` to `/health?bundles=true` answering 200,",
        f"median of {run.repeat}; and the CPU time OPA spent until then (parsing and compiling",
        "the bundle), which load from elsewhere on the machine hardly changes.",
        "",
        "| size | activation | OPA CPU until active |",
        "|---|---:|---:|",
        *(
            _row(r.size.name, f"{r.activation_s:.2f} s", f"{r.activation_cpu_s:.2f} s")
            for r in results.values()
        ),
        "",
        "## Decide",
        "",
        "OPA's own `timer_rego_query_eval_ns`. *Sidecar*: "
        f"{run.samples:,} `POST /v1/data/regate/decision?metrics=true`",
        "per request, taken in turn with the floor, after a tenth as many to warm up.",
        "*opa bench*: `opa bench` on the same bundles. Requests: *none* is a staging deployment",
        "whose only candidate action wants production; *one* is the production deployment it",
        "applies to; *several* is a production deployment under actions at its organisation,",
        "account, namespace and application. The *floor* is `data.bench.noop := true` on the same",
        "OPA (bench/floor, a bundle of its own). *(ideal)*: the same decision from a policy that",
        "knows it in advance and only evaluates the applying actions' policies, by static",
        "reference (bench/ideal.py): the least a decision over these policy rules can cost.",
        "Both run OPA with",
        "`--optimize-store-for-read-speed`, as the README runs a sidecar. *Allocations*: Go heap",
        "allocations per evaluation under `opa bench`, which the machine's load does not move.",
        "",
        _row(
            "size",
            "request",
            "actions applying",
            "sidecar p50",
            "sidecar p99",
            "opa bench p50",
            "opa bench p99",
            "allocations",
        ),
        "|---|---|---:|---:|---:|---:|---:|---:|",
    ]
    for r in results.values():
        for name in (*REQUESTS, "floor", *map(ideal, REQUESTS)):
            s, o = r.sidecar[name], r.opa_bench[name]
            applying = r.applying.get(name, "-")
            lines.append(
                _row(
                    r.size.name,
                    name,
                    applying,
                    _us(s.p50_us),
                    _us(s.p99_us),
                    _us(o.times.p50_us),
                    _us(o.times.p99_us),
                    f"{o.allocations:,}",
                )
            )
    targets = _targets(results)
    if targets:
        lines += [
            "",
            "## Targets (issue 8)",
            "",
            "*(ideal …)*: the same measure of the ideal decisions, which no decision over these",
            "policy rules can beat.",
            "",
            "| target | measured | met |",
            "|---|---:|---|",
        ]
        lines += [_row(t, m, "yes" if ok else "**no**") for t, m, ok in targets]
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
    parser.add_argument(
        "--sizes", default="small,medium,large", help=f"comma-separated, of {', '.join(SIZES)}"
    )
    parser.add_argument("--samples", type=int, default=2000, help="sidecar queries per request")
    parser.add_argument("--repeat", type=int, default=3, help="builds and OPA starts per size")
    parser.add_argument("--output", default=str(REPO / "docs" / "performance.md"))
    parser.add_argument(
        "--work", help="keep corpora and bundles here (default: a temporary directory)"
    )
    arguments = parser.parse_args()
    names = arguments.sizes.split(",")
    unknown = [name for name in names if name not in SIZES]
    if unknown:
        parser.error(f"unknown size {', '.join(unknown)}; sizes are {', '.join(SIZES)}")

    load_at_start = _load()
    with tempfile.TemporaryDirectory(prefix="regate-bench-") as temporary:
        work = Path(arguments.work or temporary)
        work.mkdir(parents=True, exist_ok=True)
        results = {
            name: measure_size(SIZES[name], work, arguments.repeat, arguments.samples)
            for name in names
        }
    run = Run(
        " ".join(["bench/run.py", *sys.argv[1:]]),
        arguments.samples,
        arguments.repeat,
        load_at_start,
        _load(),
    )
    text = report(results, _machine(), run)
    output = Path(arguments.output)
    write_report(output, text)
    print(text)


if __name__ == "__main__":
    main()
