"""Tenant-sized bundles against the one bundle, on the benchmark's corpus:

    .venv/bin/python bench/split.py --size large

builds the corpus (bench/corpus.py) whole and split by organization and by
account (`regate build --split-by`), and serves, in a real `opa run --server` on
127.0.0.1 as the README runs a sidecar, what one sidecar of each fleet holds: the
whole bundle; the router and the largest organisation's bundle; the router and
one account's bundle of that organisation.  For each it measures:

- activation: from starting OPA to /health?bundles=true answering 200 (median
  of --repeat starts), and OPA's CPU time until then;
- heap: Go's live heap after the decisions (`go_gc_heap_live_bytes`, as of the
  last collection) and the resident set size;
- decide: OPA's own `timer_rego_query_eval_ns` (p50, p99) for one request that
  every one of these sidecars decides alike (a production deployment in that
  account, under the actions of the account and of its organisation), and how
  many collections Go ran per 1,000 decisions.

The table replaces the block between the markers in docs/deploy.md.  Every
decision is checked to be the whole bundle's before it is timed.
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import tarfile
import tempfile
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass
from pathlib import Path

from corpus import SIZES, Size, write_corpus
from corpus import request as sample_request
from run import DECISION, REPO, Percentiles, _load, _regate, percentiles
from sidecar import Sidecar, resident_mb, sidecar

from compiler import catalog

DEPLOY = REPO / "docs" / "deploy.md"
BEGIN = "<!-- bench/split.py: begin -->"
END = "<!-- bench/split.py: end -->"
DIMENSIONS = dict(
    zip(("environment", "country", "tier"), ("production", "ar", "gold"), strict=True)
)


@dataclass(frozen=True)
class Served:
    """What one sidecar holds, and the collector's GOGC it runs with (Go's default: 100)."""

    label: str
    bundles: tuple[Path, ...]
    actions: int
    gogc: int | None = None


@contextmanager
def started(served: Served) -> Iterator[Sidecar]:
    """The sidecar, with GOGC set for it alone (OPA reads it from its environment)."""
    gogc = {"GOGC": str(served.gogc)} if served.gogc is not None else {}
    with sidecar(*served.bundles, environment=gogc) as server:
        yield server


@dataclass(frozen=True)
class Result:
    served: Served
    bytes: int
    activation_s: float
    activation_cpu_s: float
    live_heap_mb: float
    resident_mb: float
    collections_per_1000: float
    gc_cpu_ms_per_1000: float  # the collector's CPU time per 1,000 decisions
    assist_ms_per_1000: float  # of which the requests' own goroutines spent assisting it
    times: Percentiles
    applying: int


def build(corpus: Path, out: Path, *split: str) -> None:
    done = subprocess.run([_regate(), "build", str(corpus), "-o", str(out), *split],
                          capture_output=True, text=True, check=False)  # fmt: skip
    if done.returncode != 0 or done.stderr:
        raise SystemExit(f"regate build {' '.join(split)} failed:\n{done.stderr}")


@dataclass(frozen=True)
class CatalogAction:
    action: str
    nrn: str
    dimensions: dict[str, str]


def catalog_actions(bundle: Path) -> list[CatalogAction]:
    """Every action in a bundle's catalogs, by the catalog's keys (action name, NRN)."""
    found = []
    with tarfile.open(bundle) as archive:
        for member in archive.getmembers():
            if member.name.endswith("/catalog/data.json"):
                bundled = json.load(archive.extractfile(member))  # type: ignore[arg-type]
                for action, by_nrn in catalog.actions(bundled).items():
                    for nrn, entries in by_nrn.items():
                        found += [CatalogAction(action, nrn, e["dimensions"]) for e in entries]
    return found


def busiest_application(bundle: Path, account: str) -> tuple[str, int]:
    """The application NRN under `account` that the most deployment actions apply to
    (with the request's dimensions), and how many."""
    actions = [a for a in catalog_actions(bundle) if a.action == "deployment:create"]
    applications = {a.nrn for a in actions if a.nrn.startswith(f"{account}:")}
    applications.add(f"{account}:namespace=1:application=1")

    def applying(nrn: str) -> int:
        return sum(
            f"{nrn}:".startswith(f"{a.nrn}:")
            and all(DIMENSIONS.get(k) == v for k, v in a.dimensions.items())
            for a in actions
        )

    best = max(sorted(applications), key=applying)
    return best, applying(best)


GO_METRICS = (
    "go_gc_gogc_percent",
    "go_gc_heap_live_bytes",  # live heap as of the last collection
    "go_gc_cycles_total_gc_cycles_total",
    "go_cpu_classes_gc_total_cpu_seconds_total",  # all of the collector's CPU time
    "go_cpu_classes_gc_mark_assist_cpu_seconds_total",  # what requests spent helping it
)


def metrics(server: Sidecar) -> dict[str, float]:
    _, body = server.connection.get("/metrics")
    found = {}
    for line in body.decode().splitlines():
        name, _, value = line.partition(" ")
        if name in GO_METRICS:
            found[name] = float(value)
    return found


def activation(served: Served, repeat: int) -> tuple[float, float]:
    """Median seconds to activate, and OPA's CPU seconds until then, over `repeat` starts."""
    walls, cpus = [], []
    for _ in range(repeat):
        with started(served) as server:
            walls.append(server.activation_s)
            cpus.append(server.activation_cpu_s)
    return statistics.median(walls), statistics.median(cpus)


def measure(
    sidecars: list[Served], request: object, expected: object, repeat: int, samples: int
) -> list[Result]:
    """Activation one sidecar at a time; then all of them at once, the request
    sent to each in turn, so that load from elsewhere on the shared machine falls
    on all of them alike."""
    activations = [activation(served, repeat) for served in sidecars]
    with ExitStack() as stack:
        servers = [stack.enter_context(started(served)) for served in sidecars]
        for served, server in zip(sidecars, servers, strict=True):
            decision = server.decide(DECISION, request)
            if _without_revision(decision) != expected:
                raise SystemExit(f"{served.label} decides otherwise than the whole bundle")
            if metrics(server)["go_gc_gogc_percent"] != (served.gogc or 100):
                raise SystemExit(f"{served.label} does not run with GOGC={served.gogc}")
        warm_up = samples // 10
        times: list[list[float]] = [[] for _ in servers]
        before: list[dict[str, float]] = []
        for n in range(warm_up + samples):
            if n == warm_up:
                before = [metrics(server) for server in servers]
            for found, server in zip(times, servers, strict=True):
                eval_ns = server.eval_ns(DECISION, request)
                if n >= warm_up:
                    found.append(eval_ns)
        after = [metrics(server) for server in servers]
        resident = [resident_mb(server.process.pid) for server in servers]
    results = []
    for i, served in enumerate(sidecars):

        def per_1000(name: str, i: int = i) -> float:
            return (after[i][name] - before[i][name]) * 1000 / samples

        results.append(
            Result(
                served,
                sum(p.stat().st_size for p in served.bundles),
                *activations[i],
                after[i]["go_gc_heap_live_bytes"] / 1e6,
                resident[i],
                per_1000("go_gc_cycles_total_gc_cycles_total"),
                per_1000("go_cpu_classes_gc_total_cpu_seconds_total") * 1000,
                per_1000("go_cpu_classes_gc_mark_assist_cpu_seconds_total") * 1000,
                percentiles(times[i]),
                len(decision["actions"]),
            )
        )
    return results


def _without_revision(decision: object) -> object:
    assert isinstance(decision, dict)
    return {k: v for k, v in decision.items() if k != "revision"}


def report(results: list[Result], size: Size, account: str, nrn: str, command: str) -> str:
    rows = [
        "| one sidecar holds | actions | bundles | activation | OPA CPU until active "
        "| live heap | resident | GCs | GC CPU | per GC | GC assists | p50 | p99 |",
        "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for r in results:
        per_collection = (
            r.gc_cpu_ms_per_1000 / r.collections_per_1000 if r.collections_per_1000 else 0
        )
        rows.append(
            f"| {r.served.label} | {r.served.actions:,} | {r.bytes / 1024:,.0f} KiB "
            f"| {r.activation_s:.2f} s | {r.activation_cpu_s:.2f} s | {r.live_heap_mb:.0f} MB "
            f"| {r.resident_mb:.0f} MB | {r.collections_per_1000:.1f} "
            f"| {r.gc_cpu_ms_per_1000:,.0f} ms "
            f"| {per_collection:,.0f} ms "
            f"| {r.assist_ms_per_1000:,.0f} ms "
            f"| {r.times.p50_us:,.0f} µs | {r.times.p99_us:,.0f} µs |"
        )
    return "\n".join(
        [
            BEGIN,
            f"Measured with `{command}` on the {size.name} corpus ({size.policies:,} policies, "
            f"{size.actions:,} actions); load average {_load()} at the end.",
            f"The request: a production deployment at `{nrn}` ({results[0].applying} actions "
            f"apply, from the account `{account}` and its organisation), decided alike by each "
            "sidecar (checked). The sidecars run at once and are asked in turn; p50 and "
            "p99 are OPA's own `timer_rego_query_eval_ns`; GCs, GC CPU (the collector's CPU "
            "time, as Go estimates it) and GC assists (what requests spent helping it) are per "
            "1,000 decisions; *per GC* is the collector's CPU time per collection.",
            "",
            *rows,
            END,
        ]
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--size", default="large", choices=sorted(SIZES))
    parser.add_argument("--samples", type=int, default=2000, help="decisions timed per sidecar")
    parser.add_argument("--repeat", type=int, default=3, help="OPA starts per sidecar")
    parser.add_argument("--output", default=str(DEPLOY), help="the page whose block is replaced")
    parser.add_argument("--work", help="keep the corpus and bundles here")
    arguments = parser.parse_args()
    size = SIZES[arguments.size]
    output = Path(arguments.output)
    if not {BEGIN, END} <= set(output.read_text().splitlines()):
        raise SystemExit(f"{output} has no {BEGIN} ... {END} block to replace")
    with tempfile.TemporaryDirectory(prefix="regate-split-") as temporary:
        work = Path(arguments.work or temporary)
        corpus = work / "corpus"
        write_corpus(size, corpus)
        whole = work / "whole.tar.gz"
        build(corpus, whole)
        for level in ("organization", "account"):
            build(corpus, work / level, "--split-by", level)
        index = {
            level: json.loads((work / level / "bundles.json").read_text())["bundles"]
            for level in ("organization", "account")
        }
        # The busiest account, and its organisation: the tenants a sidecar would hold.
        account_id, account = max(
            ((name, e["nrn"]) for name, e in index["account"].items() if ":account=" in e["nrn"]),
            key=lambda item: (index["account"][item[0]]["actions"], item[1]),
        )
        organization = account.split(":")[0]
        (organization_id,) = [
            n for n, e in index["organization"].items() if e["nrn"] == organization
        ]
        nrn, _ = busiest_application(whole, account)
        body = sample_request(nrn, DIMENSIONS)
        sidecars = [
            Served("the whole bundle", (whole,), len(catalog_actions(whole))),
            Served(
                f"router + `{organization}` (split by organization)",
                (work / "organization" / "regate.tar.gz",
                 work / "organization" / f"{organization_id}.tar.gz"),
                index["organization"][organization_id]["actions"],
            ),
            Served(
                f"router + `{account}` (split by account)",
                (work / "account" / "regate.tar.gz", work / "account" / f"{account_id}.tar.gz"),
                index["account"][account_id]["actions"],
            ),
            # A small live heap makes a lazier collector affordable: at GOGC=400 the heap
            # may grow to five times the live one, which is still less than the whole
            # bundle's at Go's default.
            Served(
                f"router + `{account}`, GOGC=400",
                (work / "account" / "regate.tar.gz", work / "account" / f"{account_id}.tar.gz"),
                index["account"][account_id]["actions"],
                gogc=400,
            ),
        ]  # fmt: skip
        with sidecar(whole) as server:
            expected = _without_revision(server.decide(DECISION, body))
        print(f"bench: {len(sidecars)} sidecars", file=sys.stderr)
        results = measure(sidecars, body, expected, arguments.repeat, arguments.samples)
    command = " ".join(["bench/split.py", *sys.argv[1:]])
    text = report(results, size, account, f"{nrn}:scope=1", command)
    head, rest = output.read_text().split(BEGIN, 1)
    output.write_text(head + text + rest.split(END, 1)[1])
    print(text)


if __name__ == "__main__":
    main()
