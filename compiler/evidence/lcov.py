"""LCOV tracefiles (`lcov --capture`, `c8`/`nyc --reporter=lcov`, `cargo llvm-cov --lcov`).

Line counts come from `DA:<line>,<hits>` records and branch counts from
`BRDA:<line>,<block>,<branch>,<taken>` ("-" means never reached), per source
file (`SF:` ... `end_of_record`).  A file recorded twice (several test names)
counts each line once, covered when either record has hits.  The summary
records (`LF`, `LH`, `BRF`, `BRH`, `MCF`, `MCH`, `FN*`) are read past, and so are
comment lines starting with `#`, which lcov itself skips and `lcov --comment` writes.
"""

from __future__ import annotations

import re
from typing import Any

from compiler.evidence.report import Format, Measured, Reading, coverage_counts

RECORD = re.compile(r"([A-Z]+):(.*)")
SUMMARY_RECORDS = {
    "VER",
    "FN",
    "FNDA",
    "FNF",
    "FNH",
    "FNL",
    "FNA",
    "LF",
    "LH",
    "BRF",
    "BRH",
    "MCDC",
    "MCF",
    "MCH",
}
DA = re.compile(r"(\d+),(-?\d+)(,.*)?")
BRDA = re.compile(r"(\d+),([^,]+),([^,]+),(-|\d+)")


def _is_comment(line: str) -> bool:
    return line.lstrip().startswith("#")


def recognise(document: Any) -> bool:
    lines = str(document).splitlines()
    first = next((line for line in lines if line.strip() and not _is_comment(line)), "")
    return first.startswith(("TN:", "SF:"))


def measure(document: Any, reading: Reading) -> Measured:
    format, report = reading.format, reading.report
    lines: dict[tuple[str, int], bool] = {}
    branches: dict[tuple[str, int, str, str], bool] = {}
    current: str | None = None  # the SF of the open record
    number = 0
    for number, text in enumerate(str(document).splitlines(), start=1):
        line = text.strip()

        def wrong(detail: str, number: int = number) -> Exception:
            return format.not_this(report, detail, at=(number, 1))

        record = RECORD.fullmatch(line)
        if not line or line.startswith("#"):
            continue
        if line == "end_of_record":
            if current is None:
                raise wrong("end_of_record without a source file (SF:) before it")
            current = None
        elif record is None:
            raise wrong(f'line {number} is not an LCOV record ("KEY:value" or end_of_record)')
        elif record[1] == "TN":
            continue
        elif record[1] == "SF":
            if current is not None:
                raise wrong(f'SF:{record[2]} starts before the record of "{current}" ends')
            current = record[2]
        elif current is None:
            raise wrong(f"{record[1]}: outside a source file record (SF: ... end_of_record)")
        elif record[1] == "DA":
            found = DA.fullmatch(record[2])
            if found is None:
                raise wrong(f'"{line}" is not DA:<line>,<hits>')
            key = (current, int(found[1]))
            lines[key] = lines.get(key, False) or int(found[2]) > 0
        elif record[1] == "BRDA":
            taken = BRDA.fullmatch(record[2])
            if taken is None:
                raise wrong(f'"{line}" is not BRDA:<line>,<block>,<branch>,<taken>')
            branch = (current, int(taken[1]), taken[2], taken[3])
            branches[branch] = branches.get(branch, False) or taken[4] not in ("-", "0")
        elif record[1] not in SUMMARY_RECORDS:
            raise wrong(f'unknown LCOV record "{record[1]}:"')
    if current is not None:
        detail = f'the record of "{current}" has no end_of_record (truncated?)'
        raise format.not_this(report, detail, at=(max(number, 1), 1))
    return coverage_counts(len(lines), sum(lines.values()), len(branches), sum(branches.values()))


LCOV = Format(
    name="lcov",
    title="an LCOV tracefile",
    produced_by="a tracefile of `lcov --capture`, `c8 --reporter=lcov` or `cargo llvm-cov --lcov`",
    shape="TN:/SF: records ending with end_of_record",
    syntax="lcov",
    kind="coverage",
    recognise=recognise,
    measure=measure,
)
