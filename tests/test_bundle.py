"""Bundle pass: an OPA bundle, byte-for-byte reproducible, never half-written."""

from __future__ import annotations

import io
import json
import shutil
import tarfile

from compiler.bundle import tar_gz
from compiler.driver import compile_sources
from tests.conftest import QUALITY_GATES, REPO, run_cli


def build_bytes(*sources: str) -> bytes:
    result = compile_sources(list(sources))
    assert result.files is not None
    return tar_gz(result.files)


def test_manifest_has_roots_revision_and_rego_version():
    with tarfile.open(fileobj=io.BytesIO(build_bytes(str(QUALITY_GATES)))) as archive:
        names = archive.getnames()
        manifest = json.loads(archive.extractfile("/.manifest").read())
        catalog = json.loads(archive.extractfile("/regate/catalog/data.json").read())
        members = archive.getmembers()
    assert names == sorted(names)
    assert manifest["roots"] == ["regate"]
    assert manifest["rego_version"] == 1
    assert len(manifest["revision"]) == 20
    assert catalog["revision"] == manifest["revision"]
    for member in members:
        assert (member.mtime, member.uid, member.gid, member.uname, member.mode) == (
            0,
            0,
            0,
            "",
            0o644,
        )


def test_same_sources_give_byte_identical_bundles_wherever_they_sit(tmp_path, monkeypatch):
    first = build_bytes(str(QUALITY_GATES))
    copy = tmp_path / "elsewhere" / "gates"
    shutil.copytree(QUALITY_GATES, copy)
    monkeypatch.chdir(tmp_path)
    assert build_bytes("elsewhere/gates") == first
    assert build_bytes(str(copy)) == first


def test_a_change_in_the_sources_changes_the_revision(tmp_path):
    copy = tmp_path / "gates"
    shutil.copytree(QUALITY_GATES, copy)
    policies = copy / "policies.rg"
    policies.write_text(policies.read_text().replace('{"$gte": 80}', '{"$gte": 85}'))
    assert build_bytes(str(copy)) != build_bytes(str(QUALITY_GATES))


def test_build_writes_the_bundle_and_exits_0(tmp_path):
    out = tmp_path / "out" / "bundle.tar.gz"
    result = run_cli("build", str(QUALITY_GATES), "-o", str(out))
    assert result.exit_code == 0, result.output
    assert out.read_bytes() == build_bytes(str(QUALITY_GATES))


def test_build_with_errors_writes_nothing_and_keeps_the_previous_bundle(tmp_path):
    out = tmp_path / "bundle.tar.gz"
    out.write_bytes(b"previous")
    result = run_cli("build", str(REPO / "tests/fixtures/seed-000"), "-o", str(out))
    assert result.exit_code == 1
    assert "error[RG031]" in result.stderr
    assert out.read_bytes() == b"previous"
    assert [p.name for p in tmp_path.iterdir()] == ["bundle.tar.gz"]


def test_bundle_does_not_record_where_the_sources_sat(tmp_path):
    with tarfile.open(fileobj=io.BytesIO(build_bytes(str(QUALITY_GATES)))) as archive:
        for member in archive.getmembers():
            content = archive.extractfile(member).read().decode()
            assert str(REPO) not in content
            assert "bundles/quality-gates" not in content
