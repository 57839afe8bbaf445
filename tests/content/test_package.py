"""The FHIR NPM package: layout, index, reproducibility, nothing half-written."""

from __future__ import annotations

import io
import json
import tarfile

import pytest

import minicontent as mc
from fhir_mbt.content import ContentIndex
from fhir_mbt.errors import ContentInvalid, PackageError
from fhir_mbt.content.package import build_package


def members(path):
    with tarfile.open(path, "r:gz") as tar:
        return {m.name: tar.extractfile(m).read() for m in tar.getmembers()}


def with_example(files):
    files["examples/Patient-p1.json"] = {"resourceType": "Patient", "id": "p1"}
    files["ImplementationGuide-demo.json"]["definition"]["resource"].append({"reference": {"reference": "Patient/p1"}})


def test_package_layout_and_index(tmp_path):
    index = ContentIndex.from_folder(mc.write(tmp_path / "c", mc.variant(with_example)))
    out = build_package(index, tmp_path / "out" / "package.tgz")
    files = members(out)
    manifest = json.loads(files["package/package.json"])
    assert manifest["name"] == "test.demo"
    assert manifest["fhirVersions"] == ["4.0.1"]
    assert manifest["canonical"] == mc.BASE
    entries = json.loads(files["package/.index.json"])["files"]
    by_name = {e["filename"]: e for e in entries}
    assert by_name["Questionnaire-demo.json"]["url"] == f"{mc.BASE}/Questionnaire/demo"
    assert by_name["Questionnaire-demo.json"]["resourceType"] == "Questionnaire"
    assert set(by_name) == {n for n in mc.resources()}
    for name in by_name:
        assert json.loads(files[f"package/{name}"])["id"] == by_name[name]["id"]
    assert json.loads(files["package/example/.index.json"])["files"][0]["id"] == "p1"
    assert "package/example/Patient-p1.json" in files


def test_package_is_reproducible(tmp_path):
    index = ContentIndex.from_folder(mc.write(tmp_path / "c"))
    first = build_package(index, tmp_path / "a.tgz").read_bytes()
    second = build_package(index, tmp_path / "b.tgz").read_bytes()
    assert first == second


def test_invalid_content_writes_nothing(tmp_path):
    def change(files):
        files["Questionnaire-demo.json"]["item"][1]["linkId"] = "mode"

    index = ContentIndex.from_folder(mc.write(tmp_path / "c", mc.variant(change)))
    target = tmp_path / "out" / "package.tgz"
    with pytest.raises(ContentInvalid):
        build_package(index, target)
    assert not target.exists()


def test_existing_package_survives_a_failed_build(tmp_path):
    good = ContentIndex.from_folder(mc.write(tmp_path / "good"))
    target = build_package(good, tmp_path / "package.tgz")
    before = target.read_bytes()

    def change(files):
        del files["CodeSystem-demo.json"]["status"]

    bad = ContentIndex.from_folder(mc.write(tmp_path / "bad", mc.variant(change)))
    with pytest.raises(ContentInvalid):
        build_package(bad, target)
    assert target.read_bytes() == before
    assert [p.name for p in tmp_path.iterdir() if p.name.startswith(".package-")] == []


def test_manifest_must_name_r4(tmp_path):
    manifest = dict(mc.MANIFEST, fhirVersions=["5.0.0"])
    index = ContentIndex.from_folder(mc.write(tmp_path / "c", manifest=manifest))
    with pytest.raises(PackageError, match="4.0.1"):
        build_package(index, tmp_path / "p.tgz", validate=False)


def test_unwritable_target_is_a_package_error(tmp_path):
    index = ContentIndex.from_folder(mc.write(tmp_path / "c"))
    blocker = tmp_path / "file"
    blocker.write_text("x")
    with pytest.raises(PackageError, match="cannot write"):
        build_package(index, blocker / "package.tgz")


def test_archive_members_are_plain_files(tmp_path):
    index = ContentIndex.from_folder(mc.write(tmp_path / "c"))
    data = build_package(index, tmp_path / "p.tgz").read_bytes()
    with tarfile.open(fileobj=io.BytesIO(data), mode="r:gz") as tar:
        for member in tar.getmembers():
            assert member.isfile() and member.name.startswith("package/") and ".." not in member.name
