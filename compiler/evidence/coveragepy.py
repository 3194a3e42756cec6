"""coverage.py JSON (`coverage json`): the `totals` of the report.

Line coverage is `covered_lines / num_statements`.  coverage.py's own
`percent_covered` mixes in branches when branch coverage is on; regate keeps
lines and branches apart (`covered_branches / num_branches`).
"""

from __future__ import annotations

from typing import Any

from compiler.evidence.report import At, Format, Measured, Reading, coverage_counts


def recognise(document: Any) -> bool:
    return isinstance(document, dict) and "meta" in document and "totals" in document


def measure(document: Any, reading: Reading) -> Measured:
    format, report = reading.format, reading.report
    top = At(document, "", format, report)
    meta = top.need("meta", "object")
    top.need("files", "object")
    totals = top.need("totals", "object")
    lines = totals.need("num_statements", "integer").value
    covered = totals.need("covered_lines", "integer").value
    branch = meta.get("branch_coverage", "boolean")
    if branch is None or not branch.value:
        return coverage_counts(lines, covered)
    branches = totals.need("num_branches", "integer").value
    return coverage_counts(
        lines, covered, branches, totals.need("covered_branches", "integer").value
    )


COVERAGEPY = Format(
    name="coveragepy",
    title="a coverage.py JSON report",
    produced_by="the output of `coverage json`",
    shape='an object with "meta", "files" and "totals"',
    syntax="json",
    kind="coverage",
    recognise=recognise,
    measure=measure,
)
