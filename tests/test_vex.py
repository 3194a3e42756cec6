"""VEX: statements that a component is not affected remove the SBOM's vulnerabilities,
in the SBOM itself (tests/test_evidence_real.py) or in a VEX document of their own."""

from __future__ import annotations

import json
from typing import Any

from tests.test_evidence import failure, metadata, vulnerabilities
from tests.test_evidence_real import REAL, security

# Grype's CycloneDX output for an image: CVE-1999-0001 (low) in package-1,
# CVE-1999-0002 (critical) in package-2.
SBOM = REAL / "cyclonedx/grype-image.cdx.json"
SERIAL = "9ea52bd6-fcca-4de6-b58b-7abfef7b07cb"


def vex_for(
    ref: str, state: str = "not_affected", vid: str = "CVE-1999-0002", **more: Any
) -> dict[str, Any]:
    """A VEX document with one statement, as Trivy's VEX documentation writes them."""
    return {
        "bomFormat": "CycloneDX",
        "specVersion": "1.4",
        "version": 1,
        "vulnerabilities": [
            {
                "id": vid,
                "analysis": {"state": state, "justification": "code_not_reachable"},
                "affects": [{"ref": ref}],
                **more,
            }
        ],
    }


# A BOM-Link to package-2 of the SBOM (its serial number, version 1, the component's bom-ref).
VEX = vex_for(f"urn:cdx:{SERIAL}/1#pkg:deb/package-2@2.2.2?package-id=74378afe15713625")


def with_vex(tmp_path, document: Any, *arguments: str) -> Any:
    vex = tmp_path / "vex.cdx.json"
    vex.write_text(json.dumps(document))
    return metadata("cyclonedx", str(SBOM), "--vex", str(vex), *arguments)


def test_a_not_affected_statement_removes_the_vulnerability(tmp_path):
    assert with_vex(tmp_path, VEX) == security(vulnerabilities=vulnerabilities(0, 0, 0, 1, 0))


def test_a_statement_by_purl_or_alias_applies_too(tmp_path):
    by_purl = vex_for("pkg:deb/package-2@2.2.2", state="false_positive")
    assert with_vex(tmp_path, by_purl) == security(vulnerabilities=vulnerabilities(0, 0, 0, 1, 0))
    by_alias = vex_for(
        "pkg:deb/package-2@2.2.2", vid="GHSA-0000-0000-0000", references=[{"id": "CVE-1999-0002"}]
    )
    assert with_vex(tmp_path, by_alias) == security(vulnerabilities=vulnerabilities(0, 0, 0, 1, 0))


def test_an_exploitable_statement_removes_nothing(tmp_path):
    exploitable = vex_for("pkg:deb/package-2@2.2.2", state="exploitable")
    assert with_vex(tmp_path, exploitable) == security(
        vulnerabilities=vulnerabilities(1, 0, 0, 1, 0)
    )


def test_a_statement_about_another_component_removes_nothing():
    """The CISA example's statement is about product ABC, not this image's package-2."""
    found = metadata("cyclonedx", str(SBOM), "--vex", str(REAL / "cyclonedx/vex-not_affected.json"))
    assert found == security(vulnerabilities=vulnerabilities(1, 0, 0, 1, 0))


def test_vex_applies_to_cyclonedx_sboms_only(tmp_path):
    vex = tmp_path / "vex.cdx.json"
    vex.write_text(json.dumps(VEX))
    stderr = failure("grype", str(REAL / "grype/chainguard-ruby.json"), "--vex", str(vex))
    assert stderr.startswith(f"{vex}:1:1: error[RG075]: {vex} is a VEX document, and VEX applies")


def test_a_vex_that_is_not_cyclonedx_is_refused(tmp_path):
    openvex = tmp_path / "vex.openvex.json"
    openvex.write_text('{"@context": "https://openvex.dev/ns/v0.2.0", "statements": []}')
    stderr = failure("cyclonedx", str(SBOM), "--vex", str(openvex))
    assert stderr.startswith(f"{openvex}:1:1: error[RG072]: {openvex} is not a CycloneDX JSON")


def test_a_vex_with_an_unknown_state_is_refused(tmp_path):
    stderr = failure_with(tmp_path, vex_for("pkg:deb/package-2@2.2.2", state="unaffected"))
    assert 'vulnerabilities[0].analysis.state is "unaffected"; expected one of' in stderr


def failure_with(tmp_path, document: Any) -> str:
    vex = tmp_path / "vex.cdx.json"
    vex.write_text(json.dumps(document))
    return failure("cyclonedx", str(SBOM), "--vex", str(vex))
