"""Cobertura XML (coverage.py `coverage xml`, gcovr, Istanbul `cobertura`, JaCoCo converters).

Counts come from the `<line>` elements of every `<class>`, not from the
rounded `line-rate` attributes.  A line listed twice for one file (two classes
of one file) counts once, covered when either lists hits; a branch line adds the
`(covered/total)` of its `condition-coverage`.  `branch` is read as
Cobertura's own reader reads a boolean, case aside: coverage.py writes "true",
coverlet "True".
"""

from __future__ import annotations

import re
import xml.etree.ElementTree as StdET
from typing import Any

from compiler.evidence.report import Format, Measured, Reading, coverage_counts, xml_count

CONDITIONS = re.compile(r"\((\d+)/(\d+)\)")


def recognise(document: Any) -> bool:
    return isinstance(document, StdET.Element) and document.tag == "coverage"


def measure(document: Any, reading: Reading) -> Measured:
    format, report = reading.format, reading.report
    if document.find("packages") is None:
        raise format.not_this(report, "<coverage> has no <packages>")
    hits: dict[tuple[str, int], bool] = {}
    branches: dict[tuple[str, int], tuple[int, int]] = {}
    for cls in document.iterfind("packages/package/classes/class"):
        filename = cls.get("filename")
        if filename is None:
            raise format.not_this(report, f'<class name="{cls.get("name")}"> has no "filename"')
        for line in cls.iterfind("lines/line"):
            where = f'a <line> of "{filename}"'
            key = (filename, xml_count(line, "number", where, format, report))
            hits[key] = hits.get(key, False) or xml_count(line, "hits", where, format, report) > 0
            if line.get("branch", "").lower() == "true":
                found = CONDITIONS.search(line.get("condition-coverage", ""))
                if found is None:
                    detail = f'{where} is a branch without "condition-coverage" like "50% (1/2)"'
                    raise format.not_this(report, detail)
                covered, total = int(found[1]), int(found[2])
                branches[key] = max(branches.get(key, (0, 0)), (covered, total))
    return coverage_counts(
        len(hits),
        sum(hits.values()),
        sum(total for _, total in branches.values()),
        sum(covered for covered, _ in branches.values()),
    )


COBERTURA = Format(
    name="cobertura",
    title="a Cobertura XML report",
    produced_by="the output of `coverage xml`, `gcovr --cobertura` or another Cobertura writer",
    shape="a <coverage> element with <packages>",
    syntax="xml",
    kind="coverage",
    recognise=recognise,
    measure=measure,
)
