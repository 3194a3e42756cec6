"""`regate audit LOGS...`: what a fleet's OPA decision logs say.

A log is JSON lines: OPA's console output (decision log events are the lines
with `"msg": "Decision Log"`, among OPA's own log lines) or the events a
decision log service received, one per line (or a JSON array of them per line,
as OPA uploads them).  Every line is accounted for: a decision, a line of OPA's
own log, or a line that cannot be read, reported with its file and line number
(never skipped silently).

The summary counts decisions per requested action and result and per approval
action, the policies and the conditions that fail most, the waivers used, the
finding exceptions used and the expired ones that would have applied (their
findings count again: they block now), audit actions that would have blocked,
malformed requests, and the decisions made with a bundle revision other than the
newest.  It never shows what a request held: only its action and NRN, so fields
the sidecar masked stay masked, and the pointers OPA erased or masked are counted.
"""

from __future__ import annotations

import json
import os
import re
import sys
from collections import Counter
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import IO, Any

from compiler.ast import Span
from compiler.diagnostics import Diagnostic, error
from compiler.explain import error_line
from compiler.sources import Unreadable as NotReadable
from compiler.sources import open_readable

LINE_LIMIT = 16 << 20  # longer lines are reported, not read: memory stays bounded
DECISION_PATH = "regate/decision"
LISTED = 50  # stale decisions listed in text and HTML (JSON lists them all)
# A decision's finding exceptions (docs/decisions.md, "Finding exceptions"): in force, and
# expired ones that would have applied.
EXCEPTION_LISTS = ("exceptions", "expired_exceptions")
EXCEPTION_TEXTS = ("name", "nrn", "rule", "owner", "expires")
EXCEPTION_OPTIONAL = ("package", "target")


@dataclass(frozen=True)
class ExceptionSeen:
    """A finding exception as the audit counts it: its identity and what it was at the time."""

    name: str
    nrn: str
    rule: str
    package: str | None
    target: str | None
    owner: str
    expires: str


@dataclass(frozen=True)
class Where:
    file: str
    line: int

    def __str__(self) -> str:
        return f"{self.file}:{self.line}"


@dataclass(frozen=True)
class Unreadable:
    where: Where
    reason: str


@dataclass(frozen=True)
class Stale:
    """A decision made with a bundle revision that was not the newest."""

    where: Where
    decision_id: str
    timestamp: str
    sidecar: str
    bundles: tuple[tuple[str, str], ...]  # (bundle, revision) of the old ones
    action: str
    nrn: str


@dataclass
class Seen:
    """A decision, as far as the summary needs it once all logs are read."""

    where: Where
    decision_id: str
    timestamp: str
    sidecar: str
    bundles: dict[str, str]
    action: str
    nrn: str


@dataclass
class Audit:
    lines: int = 0
    opa_lines: int = 0  # OPA's own log lines (requests, status, bundle activation)
    unreadable: list[Unreadable] = field(default_factory=list)
    other_paths: Counter[str] = field(default_factory=Counter)  # decisions not regate's
    undefined: int = 0  # no result: no bundle was active, or the query failed
    results: Counter[str] = field(default_factory=Counter)
    by_action: dict[str, Counter[str]] = field(default_factory=dict)
    by_approval_action: dict[str, Counter[str]] = field(default_factory=dict)
    policies: Counter[tuple[str, str]] = field(default_factory=Counter)  # failed (name, source)
    conditions: Counter[tuple[str, str, str, str, str]] = field(default_factory=Counter)
    waivers: Counter[tuple[str, str, str, str]] = field(default_factory=Counter)
    # Per list (EXCEPTION_LISTS): the decisions that listed an exception, and the
    # findings it excepted (or would have) in them.
    exception_decisions: dict[str, Counter[ExceptionSeen]] = field(
        default_factory=lambda: {key: Counter() for key in EXCEPTION_LISTS}
    )
    exception_findings: dict[str, Counter[ExceptionSeen]] = field(
        default_factory=lambda: {key: Counter() for key in EXCEPTION_LISTS}
    )
    would_block: Counter[tuple[str, str]] = field(default_factory=Counter)
    malformed: Counter[str] = field(default_factory=Counter)
    revisions: Counter[tuple[str, str]] = field(default_factory=Counter)
    first_seen: dict[tuple[str, str], datetime | None] = field(default_factory=dict)
    sidecars: dict[str, Counter[str]] = field(default_factory=dict)
    masked: Counter[str] = field(default_factory=Counter)
    seen: list[Seen] = field(default_factory=list)

    @property
    def decisions(self) -> int:
        return sum(self.results.values()) + self.undefined

    def diagnostics(self) -> list[Diagnostic]:
        """RG124 for a log that cannot be opened, RG123 for each line that cannot be read."""
        return [
            error("RG124", Span(u.where.file, 1, 1, 1, 1), u.reason)
            if u.where.line == 0
            else error("RG123", Span(u.where.file, u.where.line, 1, u.where.line, 1), u.reason)
            for u in self.unreadable
        ]

    # --- reading ------------------------------------------------------------------

    def read(self, name: str, handle: IO[bytes]) -> None:
        for number, line in _lines(handle):
            self.lines += 1
            where = Where(name, number)
            if line is None:
                self.unreadable.append(Unreadable(where, f"longer than {LINE_LIMIT >> 20} MiB"))
                continue
            self.read_line(where, line)

    def read_line(self, where: Where, line: bytes) -> None:
        if not line.strip():
            self.unreadable.append(Unreadable(where, "an empty line"))
            return
        try:
            value = json.loads(line)
        except (UnicodeDecodeError, json.JSONDecodeError) as exc:
            self.unreadable.append(Unreadable(where, f"not JSON ({exc})"))
            return
        events = value if isinstance(value, list) else [value]
        if not events:
            self.unreadable.append(Unreadable(where, "an empty JSON array"))
        for event in events:
            if not isinstance(event, dict):
                self.unreadable.append(Unreadable(where, "not a JSON object"))
            elif "decision_id" in event and "path" in event:
                for problem in self.add_decision(where, event):
                    self.unreadable.append(Unreadable(where, problem))
            elif "msg" in event and "level" in event:
                self.opa_lines += 1
            else:
                self.unreadable.append(
                    Unreadable(where, "neither a decision log event nor a line of OPA's log")
                )

    def add_decision(self, where: Where, event: dict[str, Any]) -> list[str]:
        """Count one decision log event; what is wrong with it, if anything."""
        path = event.get("path")
        if not isinstance(path, str):
            return ["a decision log event whose path is not a string"]
        if path.strip("/") != DECISION_PATH:
            self.other_paths[path.strip("/")] += 1
            return []
        for pointer in [*_strings(event.get("erased")), *_strings(event.get("masked"))]:
            self.masked[re.sub(r"/\d+(?=/|$)", "/*", pointer)] += 1
        request = event.get("input")
        action = _text(request, "action")
        nrn = _text(request, "nrn")
        sidecar = _sidecar(event.get("labels"))
        given = event.get("bundles") or {}
        if not isinstance(given, dict):
            return ["a decision log event whose bundles is not an object"]
        bundles = {
            name: str(info.get("revision"))
            for name, info in given.items()
            if isinstance(info, dict)
        }
        timestamp = str(event.get("timestamp", ""))
        when = _time(timestamp)
        for name, revision in bundles.items():
            self.revisions[(name, revision)] += 1
            known = self.first_seen.get((name, revision))
            if (name, revision) not in self.first_seen or (when and known and when < known):
                self.first_seen[(name, revision)] = when
            self.sidecars.setdefault(sidecar, Counter())[revision] += 1
        self.seen.append(
            Seen(where, str(event.get("decision_id")), timestamp, sidecar, bundles, action, nrn)
        )
        decision = event.get("result")
        if not isinstance(decision, dict) or not isinstance(decision.get("result"), str):
            self.undefined += 1
            return [] if decision is None else ["a decision log event whose result is not regate's"]
        result = decision["result"]
        self.results[result] += 1
        self.by_action.setdefault(action, Counter())[result] += 1
        problems = []
        for key in ("errors", "actions"):
            if not isinstance(decision.get(key, []), list):
                problems.append(f"the decision's {key} is not a list")
        for problem in decision.get("errors", []) if not problems else []:
            self.malformed[error_line(problem)] += 1
        for entry in decision.get("actions", []) if not problems else []:
            if isinstance(entry, dict):
                self.add_action(entry)
            else:
                problems.append("an entry of the decision's actions is not an object")
        return problems + self.add_exceptions(decision)

    def add_exceptions(self, decision: dict[str, Any]) -> list[str]:
        """Count the finding exceptions a decision lists; an entry that is not one is
        reported (the line is unreadable), never counted as something it may not be."""
        problems = []
        for key in EXCEPTION_LISTS:
            entries = decision.get(key, [])
            if not isinstance(entries, list):
                problems.append(f"the decision's {key} is not a list")
                continue
            for number, entry in enumerate(entries):
                seen = _exception(entry)
                if isinstance(seen, str):
                    problems.append(
                        f"the decision's {key}[{number}] is not a finding exception: {seen}"
                    )
                    continue
                exception, findings = seen
                self.exception_decisions[key][exception] += 1
                self.exception_findings[key][exception] += findings
        return problems

    def add_action(self, entry: dict[str, Any]) -> None:
        action_id = str(entry.get("id"))
        self.by_approval_action.setdefault(action_id, Counter())[str(entry.get("result"))] += 1
        would_be = entry.get("would_be")
        if entry.get("enforcement") == "audit" and would_be not in (None, "approve"):
            self.would_block[(action_id, str(would_be))] += 1
        for policy in entry.get("policies") or []:
            if not isinstance(policy, dict) or policy.get("passed") is not False:
                continue
            name, source = str(policy.get("name")), str(policy.get("source"))
            self.policies[(name, source)] += 1
            waiver = policy.get("waiver")
            if policy.get("waived") and isinstance(waiver, dict):
                self.waivers[
                    (str(waiver.get("name")), name, str(waiver.get("owner")),
                     str(waiver.get("expires")))
                ] += 1  # fmt: skip
            for failure in policy.get("failures") or []:
                if isinstance(failure, dict):
                    self.conditions[
                        (name, str(failure.get("source")), str(failure.get("path", "")),
                         str(failure.get("operator")),
                         json.dumps(failure.get("expected"), sort_keys=True))
                    ] += 1  # fmt: skip

    # --- what the logs add up to ---------------------------------------------------

    def newest(self, given: Iterable[str]) -> dict[str, set[str]]:
        """Bundle → its newest revisions: those given (any bundle), else the one
        that first appeared last in the logs."""
        names = {name for name, _ in self.revisions}
        given = set(given)
        if given:
            return {name: given for name in names}
        newest: dict[str, set[str]] = {}
        for name in names:
            ranked = sorted(
                ((when, order, revision) for order, ((n, revision), when)
                 in enumerate(self.first_seen.items()) if n == name),
                key=lambda item: (item[0] is not None, item[0] or datetime.min, item[1]),
            )  # fmt: skip
            newest[name] = {ranked[-1][2]}
        return newest

    def stale(self, newest: dict[str, set[str]]) -> list[Stale]:
        found = []
        for seen in self.seen:
            old = tuple(
                (name, revision)
                for name, revision in sorted(seen.bundles.items())
                if revision not in newest.get(name, {revision})
            )
            if old:
                found.append(
                    Stale(seen.where, seen.decision_id, seen.timestamp, seen.sidecar, old,
                          seen.action, seen.nrn)
                )  # fmt: skip
        return found

    def summary(self, given_newest: Iterable[str] = ()) -> dict[str, Any]:
        """Everything the report shows, as JSON."""
        newest = self.newest(given_newest)
        stale = self.stale(newest)
        return {
            "lines": self.lines,
            "decisions": self.decisions,
            "opa_log_lines": self.opa_lines,
            "unreadable": [
                {"file": u.where.file, "line": u.where.line, "reason": u.reason}
                for u in self.unreadable
            ],
            "other_paths": dict(sorted(self.other_paths.items())),
            "undefined": self.undefined,
            "results": dict(sorted(self.results.items())),
            "by_action": {a: dict(sorted(c.items())) for a, c in sorted(self.by_action.items())},
            "by_approval_action": {
                a: dict(sorted(c.items())) for a, c in sorted(self.by_approval_action.items())
            },
            "failed_policies": [
                {"policy": name, "source": source, "failed": n}
                for (name, source), n in _most(self.policies)
            ],
            "failed_conditions": [
                {
                    "policy": policy,
                    "source": source,
                    "path": path,
                    "operator": operator,
                    "expected": json.loads(expected),
                    "failed": n,
                }
                for (policy, source, path, operator, expected), n in _most(self.conditions)
            ],
            "waivers": [
                {"waiver": waiver, "policy": policy, "owner": owner, "expires": expires, "used": n}
                for (waiver, policy, owner, expires), n in _most(self.waivers)
            ],
            **{
                key: [
                    {
                        "exception": e.name,
                        "nrn": e.nrn,
                        "rule": e.rule,
                        **{
                            k: v
                            for k, v in (("package", e.package), ("target", e.target))
                            if v is not None
                        },
                        "owner": e.owner,
                        "expires": e.expires,
                        "decisions": n,
                        "findings": self.exception_findings[key][e],
                    }
                    for e, n in _most(self.exception_decisions[key])
                ]
                for key in EXCEPTION_LISTS
            },
            "audit_would_block": [
                {"action": action, "would_be": would_be, "decisions": n}
                for (action, would_be), n in _most(self.would_block)
            ],
            "malformed_requests": dict(_most(self.malformed)),
            "revisions": {revision: n for (_, revision), n in sorted(self.revisions.items())},
            "bundles": {
                name: {r: n for (b, r), n in sorted(self.revisions.items()) if b == name}
                for name in sorted({b for b, _ in self.revisions})
            },
            "newest": {name: sorted(revisions) for name, revisions in sorted(newest.items())},
            "sidecars": {s: dict(sorted(c.items())) for s, c in sorted(self.sidecars.items())},
            "stale": {
                "decisions": len(stale),
                "by_sidecar": dict(sorted(Counter(s.sidecar for s in stale).items())),
                "list": [
                    {
                        "file": s.where.file,
                        "line": s.where.line,
                        "decision_id": s.decision_id,
                        "timestamp": s.timestamp,
                        "sidecar": s.sidecar,
                        "bundles": dict(s.bundles),
                        "action": s.action,
                        "nrn": s.nrn,
                    }
                    for s in stale
                ],
            },
            "masked": dict(_most(self.masked)),
        }


def _most(counter: Counter[Any]) -> list[tuple[Any, int]]:
    """Most first; ties in a stable order."""
    return sorted(counter.items(), key=lambda item: (-item[1], str(item[0])))


def _lines(handle: IO[bytes]) -> Iterator[tuple[int, bytes | None]]:
    """Numbered lines, each at most LINE_LIMIT bytes read; a longer one is None
    (skipped to its end); a last line without a newline is read as is."""
    number = 0
    while True:
        line = handle.readline(LINE_LIMIT + 1)
        if not line:
            return
        number += 1
        if len(line) > LINE_LIMIT and not line.endswith(b"\n"):
            while line and not line.endswith(b"\n"):
                line = handle.readline(LINE_LIMIT)
            yield number, None
            continue
        yield number, line


def _exception(entry: Any) -> tuple[ExceptionSeen, int] | str:
    """A finding exception of a decision and the findings it named; what is wrong otherwise."""
    if not isinstance(entry, dict):
        return "not a JSON object"
    for key in EXCEPTION_TEXTS:
        if not isinstance(entry.get(key), str):
            return f"its {key} is {'missing' if key not in entry else 'not a string'}"
    for key in EXCEPTION_OPTIONAL:
        if key in entry and not isinstance(entry[key], str):
            return f"its {key} is not a string"
    findings = entry.get("findings")
    if not isinstance(findings, int) or isinstance(findings, bool) or findings < 0:
        return "its findings is not a count"
    name, nrn, rule, owner, expires = (entry[key] for key in EXCEPTION_TEXTS)
    package, target = (entry.get(key) for key in EXCEPTION_OPTIONAL)
    return ExceptionSeen(name, nrn, rule, package, target, owner, expires), findings


def _strings(value: Any) -> list[str]:
    return [v for v in value if isinstance(v, str)] if isinstance(value, list) else []


def _text(request: Any, key: str) -> str:
    """A request's action or NRN as the log holds it: `(erased)` where masking removed it."""
    if not isinstance(request, dict) or key not in request:
        return "(erased)" if isinstance(request, dict) else "(no request)"
    value = request[key]
    return value if isinstance(value, str) else json.dumps(value)


def _sidecar(labels: Any) -> str:
    """A sidecar by its labels: `id` (OPA's, unique per process) and any the config set."""
    if not isinstance(labels, dict):
        return "(unlabelled)"
    named = [f"{k}={v}" for k, v in sorted(labels.items()) if k not in ("id", "version")]
    return ",".join([str(labels.get("id", "?")), *named])


def _time(text: str) -> datetime | None:
    """An event's timestamp; one without a zone is read as UTC (OPA writes UTC), so
    that every two compare."""
    try:
        found = datetime.fromisoformat(text)
    except ValueError:
        return None
    return found if found.tzinfo is not None else found.replace(tzinfo=UTC)


def read_logs(paths: Iterable[str]) -> Audit:
    """Every log; `-` is standard input.  A file that cannot be opened is unreadable."""
    audit = Audit()
    for path in paths:
        if path == "-":
            audit.read("<stdin>", sys.stdin.buffer)
            continue
        # A log is a file or a pipe: a FIFO nobody writes to reads as empty, and a
        # device (which may never end) is refused.
        try:
            with os.fdopen(open_readable(path, devices=False), "rb") as handle:
                before = audit.lines
                audit.read(path, handle)
            if audit.lines == before:  # the wrong file, or a pipe nobody wrote to
                audit.unreadable.append(Unreadable(Where(path, 0), f"{path} holds no log lines"))
        except (NotReadable, OSError) as exc:
            reason = exc.strerror if isinstance(exc, OSError) and exc.strerror else exc
            audit.unreadable.append(Unreadable(Where(path, 0), f"cannot read {path}: {reason}"))
    return audit
