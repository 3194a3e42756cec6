"""JaCoCo XML (`jacoco:report`, Gradle `jacocoTestReport`).

The report's own LINE and BRANCH counters (children of `<report>`) give
`missed` and `covered`; the total is their sum.
"""

from __future__ import annotations

import xml.etree.ElementTree as StdET
from typing import Any

from compiler.evidence.report import Format, Measured, Reading, coverage_counts, xml_count


def recognise(document: Any) -> bool:
    return isinstance(document, StdET.Element) and document.tag == "report"


def measure(document: Any, reading: Reading) -> Measured:
    format, report = reading.format, reading.report
    found: dict[str, tuple[int, int]] = {}
    for counter in document.iterfind("counter"):
        where = f'<counter type="{counter.get("type")}">'
        missed = xml_count(counter, "missed", where, format, report)
        found[counter.get("type", "")] = (
            missed,
            xml_count(counter, "covered", where, format, report),
        )
    if "LINE" not in found:
        raise format.not_this(report, '<report> has no <counter type="LINE">')
    missed, covered = found["LINE"]
    branches_missed, branches_covered = found.get("BRANCH", (0, 0))
    return coverage_counts(
        missed + covered, covered, branches_missed + branches_covered, branches_covered
    )


JACOCO = Format(
    name="jacoco",
    title="a JaCoCo XML report",
    produced_by="the XML of `mvn jacoco:report` or `gradle jacocoTestReport`",
    shape="a <report> element with <counter> elements",
    syntax="xml",
    kind="coverage",
    recognise=recognise,
    measure=measure,
)
