"""`regate metadata from`: reports in each real format → metadata documents, and bad reports."""

from __future__ import annotations

import json

import pytest

from tests.conftest import QUALITY_GATES, REPO, run_cli

REPORTS = REPO / "tests" / "fixtures" / "reports"


def metadata(*arguments: str) -> object:
    result = run_cli("metadata", "from", *arguments)
    assert (result.exit_code, result.stderr) == (0, ""), result.stderr
    return json.loads(result.stdout)


def failure(*arguments: str) -> str:
    """The diagnostics of a run that must fail with exit 1 and print nothing on stdout."""
    result = run_cli("metadata", "from", *arguments)
    assert (result.exit_code, result.stdout) == (1, ""), result.stdout
    return result.stderr


def rendered(report, message: str, help: str, at: str = "1:1", snippet: str = "") -> str:
    """One diagnostic as `regate` prints it, with the summary line."""
    return f"{report}:{at}: {message}\n{snippet}help: {help}\n\n1 error, 0 warnings\n"


def vulnerabilities(critical, high, medium, low, unknown):
    counts = dict(critical=critical, high=high, medium=medium, low=low, unknown=unknown)
    return counts | {"total": sum(counts.values())}


def counts(critical=0, high=0, medium=0, low=0, info=0):
    found = dict(critical=critical, high=high, medium=medium, low=low, info=info)
    return found | {"total": sum(found.values())}


EXPECTED = {
    # 2 CRITICAL/HIGH... across os and pip packages; 2 failed + 1 passed Dockerfile checks.
    ("trivy", "trivy.json"): {
        "security": {
            "vulnerabilities": vulnerabilities(1, 2, 1, 1, 1),
            "findings": counts(high=1, low=1),
        }
    },
    # Negligible counts as low.
    ("grype", "grype.json"): {"security": {"vulnerabilities": vulnerabilities(0, 1, 2, 2, 1)}},
    # ERROR → high, WARNING → medium, INFO → info; the is_ignored result is not counted.
    ("semgrep", "semgrep.json"): {"security": {"findings": counts(high=1, medium=2, info=1)}},
    # No severity in Gitleaks: the total only.
    ("gitleaks", "gitleaks.json"): {"security": {"secrets": {"total": 2}}},
    # security-severity 9.8/8.8/6.1, a note, a none, two hadolint warnings; suppressed
    # and kind=pass results are not counted.
    ("sarif", "sarif.json"): {
        "security": {"findings": counts(critical=1, high=1, medium=3, low=1, info=1)}
    },
    ("cobertura", "cobertura.xml"): {
        "code": {
            "coverage": 85.71,
            "lines": 14,
            "lines_covered": 12,
            "branches": {"coverage": 66.67, "total": 6, "covered": 4},
        }
    },
    ("lcov", "lcov.info"): {
        "code": {
            "coverage": 60.0,
            "lines": 10,
            "lines_covered": 6,
            "branches": {"coverage": 50.0, "total": 4, "covered": 2},
        }
    },
    # Lines alone: 29/32, not coverage.py's 86.36 that mixes in branches.
    ("coveragepy", "coverage.json"): {
        "code": {
            "coverage": 90.62,
            "lines": 32,
            "lines_covered": 29,
            "branches": {"coverage": 75.0, "total": 12, "covered": 9},
        }
    },
    ("jacoco", "jacoco.xml"): {
        "code": {
            "coverage": 75.0,
            "lines": 20,
            "lines_covered": 15,
            "branches": {"coverage": 50.0, "total": 8, "covered": 4},
        }
    },
}


@pytest.mark.parametrize(("format", "name"), list(EXPECTED), ids=[f for f, _ in EXPECTED])
def test_each_format_gives_the_expected_metadata(format, name):
    assert metadata(format, str(REPORTS / name)) == EXPECTED[format, name]


@pytest.mark.parametrize("name", ["cobertura.xml", "lcov.info", "coverage.json", "jacoco.xml"])
def test_coverage_documents_fit_the_quality_gates_specification(name):
    format = next(f for f, n in EXPECTED if n == name)
    found = metadata(format, str(REPORTS / name), "--sources", str(QUALITY_GATES))
    assert found == EXPECTED[format, name]


def test_reports_for_one_document_are_added_up_and_validated():
    found = metadata(
        "trivy",
        str(REPORTS / "trivy.json"),
        "--merge",
        str(REPORTS / "gitleaks.json"),
        "--merge",
        f"semgrep:{REPORTS / 'semgrep.json'}",
        "--sources",
        str(QUALITY_GATES),
    )
    assert found == {
        "security": {
            "vulnerabilities": vulnerabilities(1, 2, 1, 1, 1),
            "findings": counts(high=2, medium=2, low=1, info=1),
            "secrets": {"total": 2},
        }
    }


def test_written_with_output_only_when_valid(tmp_path):
    good = tmp_path / "coverage.json"
    result = run_cli(
        "metadata", "from", "lcov", str(REPORTS / "lcov.info"), "-o", str(good),
        "--schema", str(QUALITY_GATES / "schemas" / "coverage.json"),
    )  # fmt: skip
    assert (result.exit_code, result.stdout) == (0, "")
    assert json.loads(good.read_text()) == EXPECTED["lcov", "lcov.info"]
    bad = tmp_path / "security.json"
    result = run_cli(
        "metadata", "from", "gitleaks", str(REPORTS / "gitleaks.json"), "-o", str(bad),
        "--sources", str(QUALITY_GATES),
    )  # fmt: skip
    assert result.exit_code == 1
    assert not bad.exists()
    assert result.stderr == rendered(
        REPORTS / "gitleaks.json",
        f"error[RG073]: the metadata from {REPORTS}/gitleaks.json "
        'does not fit specification "Security Schema" at '
        f"{QUALITY_GATES}/specifications.rg:13:1: security: 'vulnerabilities' is a required property",
        "fit it with --mapping FILE (docs/evidence.md), or add the missing report",
    )


def test_a_mapping_fits_another_specification(tmp_path):
    (tmp_path / "mapping.json").write_text(
        '{"scan": {"blocking": "vulnerabilities.critical", "all": "vulnerabilities.total",'
        ' "leaks": "secrets.total", "version": 1, "strict": true}}'
    )
    (tmp_path / "schema.json").write_text(
        json.dumps(
            {
                "type": "object",
                "properties": {
                    "scan": {
                        "type": "object",
                        "properties": {
                            "blocking": {"type": "integer"},
                            "all": {"type": "integer"},
                            "version": {"type": "integer"},
                            "strict": {"type": "boolean"},
                        },
                        "required": ["blocking"],
                        "additionalProperties": False,
                    }
                },
            }
        )
    )
    found = metadata(
        "grype", str(REPORTS / "grype.json"),
        "--mapping", str(tmp_path / "mapping.json"),
        "--schema", str(tmp_path / "schema.json"),
    )  # fmt: skip
    # Grype measures no secrets, so "leaks" is left out; literals are copied.
    assert found == {"scan": {"blocking": 0, "all": 6, "version": 1, "strict": True}}


def test_a_mapping_naming_an_unknown_measure(tmp_path):
    mapping = tmp_path / "mapping.json"
    mapping.write_text('{\n  "critical": "vulnerabilities.criticals"\n}\n')
    assert failure("trivy", str(REPORTS / "trivy.json"), "--mapping", str(mapping)) == rendered(
        mapping,
        'error[RG074]: "vulnerabilities.criticals" is not a measure regate takes from reports',
        'did you mean "vulnerabilities.critical"?',
        at="2:15",
        snippet=(
            ' 2 |   "critical": "vulnerabilities.criticals"\n'
            "   |               ^^^^^^^^^^^^^^^^^^^^^^^^^^^\n"
        ),
    )


# --- bad reports: a diagnostic naming the file and what was expected, exit 1 ---


def test_truncated_json(tmp_path):
    report = tmp_path / "trivy.json"
    report.write_text('{\n  "SchemaVersion": 2,\n  "Results": [\n    {"Target": "x"')
    assert failure("trivy", str(report)) == rendered(
        report,
        f"error[RG071]: {report} is not valid JSON: it ends too early (truncated?)",
        "expected a Trivy JSON report",
        at="4:19",
        snippet=' 4 |     {"Target": "x"\n   |                   ^\n',
    )


def test_another_tools_report(tmp_path):
    report = REPORTS / "semgrep.json"
    assert failure("grype", str(report)) == rendered(
        report,
        f"error[RG072]: {report} is not a Grype JSON report: expected an object "
        'with "matches" and "descriptor"; it looks like a Semgrep JSON report',
        "expected the output of `grype IMAGE -o json`",
    )


def test_json_given_as_xml():
    report = REPORTS / "coverage.json"
    stderr = failure("jacoco", str(report))
    assert stderr.startswith(
        f"{report}:1:1: error[RG072]: {report} is not a JaCoCo XML report: "
        "expected a <report> element with <counter> elements, found JSON\n"
    )


def test_a_missing_field_is_named_where_its_owner_is(tmp_path):
    document = json.loads((REPORTS / "trivy.json").read_text())
    del document["Results"][1]["Vulnerabilities"][1]["Severity"]
    report = tmp_path / "trivy.json"
    report.write_text(json.dumps(document, indent=2))
    assert failure("trivy", str(report)) == rendered(
        report,
        f'error[RG072]: {report} is not a Trivy JSON report: Results[1].Vulnerabilities[1] has no "Severity" (expected a string)',
        "expected the output of `trivy image --format json` (or `trivy fs`, `trivy repo`)",
        at="68:9",
        snippet=" 68 |         {\n    |         ^\n",
    )


def test_a_field_of_the_wrong_kind_is_located(tmp_path):
    report = tmp_path / "grype.json"
    report.write_text(
        (REPORTS / "grype.json").read_text().replace('"severity": "High"', '"severity": 3', 1)
    )
    stderr = failure("grype", str(report))
    assert stderr.startswith(f"{report}:8:21: error[RG072]: ")
    assert "matches[0].vulnerability.severity is 3; expected a string" in stderr


def test_an_unknown_severity_is_named_and_located(tmp_path):
    report = tmp_path / "semgrep.json"
    report.write_text(
        '{"results": [{"check_id": "r", "path": "a.py", "extra": {"severity": "SEVERE"}}], "errors": []}'
    )
    stderr = failure("semgrep", str(report))
    assert stderr.startswith(f"{report}:1:70: error[RG072]: ")
    assert 'results[0].extra.severity is "SEVERE"; expected one of ERROR, WARNING, INFO' in stderr


def test_a_bad_lcov_record_is_shown(tmp_path):
    report = tmp_path / "lcov.info"
    report.write_text("TN:\nSF:src/a.ts\nDA:1,1\nDA:two,0\nend_of_record\n")
    assert failure("lcov", str(report)) == rendered(
        report,
        f'error[RG072]: {report} is not an LCOV tracefile: "DA:two,0" is not DA:<line>,<hits>',
        "expected a tracefile of `lcov --capture`, `c8 --reporter=lcov` or `cargo llvm-cov --lcov`",
        at="4:1",
        snippet=" 4 | DA:two,0\n   | ^\n",
    )


def test_a_truncated_lcov_tracefile(tmp_path):
    report = tmp_path / "lcov.info"
    report.write_text("TN:\nSF:src/a.ts\nDA:1,1\nDA:2,0\n")
    assert 'the record of "src/a.ts" has no end_of_record (truncated?)' in failure(
        "lcov", str(report)
    )


def test_truncated_xml(tmp_path):
    report = tmp_path / "cobertura.xml"
    report.write_text((REPORTS / "cobertura.xml").read_text()[:400])
    stderr = failure("cobertura", str(report))
    assert (
        f"error[RG071]: {report} is not well-formed XML: it ends too early (truncated?)" in stderr
    )


def test_coverage_that_measures_nothing_is_refused(tmp_path):
    report = tmp_path / "coverage.xml"
    report.write_text('<coverage line-rate="1"><packages/></coverage>')
    assert failure("cobertura", str(report)) == rendered(
        report,
        f"error[RG072]: {report} is not a Cobertura XML report: it measures no lines; expected at least one",
        "expected the output of `coverage xml`, `gcovr --cobertura` or another Cobertura writer",
    )


BILLION_LAUGHS = """<?xml version="1.0"?>
<!DOCTYPE coverage [
  <!ENTITY lol "lol">
  <!ENTITY lol1 "&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;">
  <!ENTITY lol2 "&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;">
  <!ENTITY lol3 "&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;">
  <!ENTITY lol4 "&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;">
  <!ENTITY lol5 "&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;">
  <!ENTITY lol6 "&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;">
  <!ENTITY lol7 "&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;">
  <!ENTITY lol8 "&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;">
  <!ENTITY lol9 "&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;">
]>
<coverage><packages><package name="&lol9;"/></packages></coverage>
"""


@pytest.mark.parametrize("format", ["cobertura", "jacoco"])
def test_xml_entity_expansion_is_refused(tmp_path, format):
    report = tmp_path / "coverage.xml"
    report.write_text(BILLION_LAUGHS)
    stderr = failure(format, str(report))
    assert stderr.startswith(
        f"{report}:1:1: error[RG071]: {report} declares XML entities, which regate refuses to expand"
    )


def test_external_entities_are_refused(tmp_path):
    report = tmp_path / "coverage.xml"
    report.write_text(
        '<?xml version="1.0"?><!DOCTYPE coverage [<!ENTITY x SYSTEM "file:///etc/passwd">]>'
        "<coverage><packages>&x;</packages></coverage>"
    )
    assert "declares XML entities, which regate refuses to expand" in failure(
        "cobertura", str(report)
    )


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (None, "cannot read {path}: no such file"),
        ("", "{path} is not a Trivy JSON report: the file is empty"),
    ],
    ids=["missing", "empty"],
)
def test_unreadable_or_empty(tmp_path, content, message):
    path = tmp_path / "trivy.json"
    if content is not None:
        path.write_text(content)
    assert message.format(path=path) in failure("trivy", str(path))


def test_an_unknown_format_is_a_usage_error():
    result = run_cli("metadata", "from", "nessus", str(REPORTS / "trivy.json"))
    assert result.exit_code == 2
    assert "'nessus' is not one of 'trivy', 'grype', 'semgrep'" in result.stderr
