"""The FHIR packages the HAPI server validates with: intact, and the ones the content declares."""

from __future__ import annotations

import hashlib
import json
import tarfile
from pathlib import Path

from fhir_mbt.content import shipped
from fhir_mbt.content.package import package_files

ROOT = Path(__file__).resolve().parents[2]
FOLDER = ROOT / "hapi_server" / "src" / "main" / "resources" / "fhir-packages"
CORE = "hl7.fhir.r4.core"


def checksums() -> dict[str, str]:
    lines = (FOLDER / "SHA256SUMS").read_text(encoding="ascii").splitlines()
    return {name: digest for digest, name in (line.split() for line in lines if line.strip())}


def vendored() -> dict[str, str]:
    """name → version of every package shipped in the server's jar, from its own manifest."""
    found = {}
    for name in checksums():
        if name.endswith(".tgz"):
            with tarfile.open(FOLDER / name, "r:gz") as archive:
                manifest = json.load(archive.extractfile("package/package.json"))
            found[manifest["name"]] = manifest["version"]
    return found


def test_every_file_there_is_listed_with_its_checksum():
    listed = checksums()
    assert set(listed) == {p.name for p in FOLDER.iterdir() if p.name != "SHA256SUMS"}
    for name, digest in listed.items():
        assert hashlib.sha256((FOLDER / name).read_bytes()).hexdigest() == digest, name


def test_the_packages_are_fhir_r4_and_cc0():
    for name in checksums():
        if name.endswith(".tgz"):
            with tarfile.open(FOLDER / name, "r:gz") as archive:
                manifest = json.load(archive.extractfile("package/package.json"))
            assert manifest["fhirVersions"] == ["4.0.1"], name
            assert manifest["license"] == "CC0-1.0", name


def test_the_content_declares_exactly_the_packages_it_is_validated_with():
    declared = dict(shipped().manifest.raw["dependencies"])
    assert declared.pop(CORE) == "4.0.1"
    assert declared == vendored() == {"hl7.fhir.uv.sdc": "4.0.0-ballot",
                                      "hl7.fhir.uv.extensions.r4": "5.3.0-ballot-tc1"}


def test_the_guide_depends_on_the_same_packages():
    [guide] = shipped().resources("ImplementationGuide")
    assert {d["packageId"]: d["version"] for d in guide["dependsOn"]} == vendored()
    for dependency in guide["dependsOn"]:
        with tarfile.open(next(FOLDER.glob(f"{dependency['packageId']}-*.tgz")), "r:gz") as archive:
            ig = next(json.load(archive.extractfile(m)) for m in archive.getmembers()
                      if m.name.startswith("package/ImplementationGuide-"))
        assert dependency["uri"] == ig["url"]


def test_the_built_package_carries_the_dependencies():
    manifest = json.loads(package_files(shipped())["package/package.json"])
    assert manifest["dependencies"] == {CORE: "4.0.1", **vendored()}


def test_the_r5_path_table_has_what_sdc_slices_on():
    table = json.loads((FOLDER / "xver-paths-5.0.json").read_text(encoding="utf-8"))
    assert table["Questionnaire.versionAlgorithm[x]"] == {"types": ["string", "Coding"]}
    assert table["Questionnaire.copyrightLabel"] == {"types": ["string"]}
    assert table["Questionnaire.item.answerConstraint"] == {"types": ["code"]}
    prefix = "http://hl7.org/fhir/5.0/StructureDefinition/extension-"
    used = set()
    with tarfile.open(FOLDER / "hl7.fhir.uv.sdc-4.0.0-ballot.tgz", "r:gz") as archive:
        for member in archive.getmembers():
            if member.name.startswith("package/StructureDefinition-"):
                definition = json.load(archive.extractfile(member))
                for element in definition.get("snapshot", {}).get("element", []):
                    for type_ref in element.get("type", []):
                        used.update(p[len(prefix):] for p in type_ref.get("profile", []) if p.startswith(prefix))
    assert {"Questionnaire.versionAlgorithm[x]", "Questionnaire.item.answerConstraint"} <= used
    assert [path for path in used if path not in table] == []
