"""scripts/xver_paths.py: the R5 path table the HAPI server defines cross-version extensions from."""

from __future__ import annotations

import importlib.util
import io
import json
import tarfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
spec = importlib.util.spec_from_file_location("xver_paths", ROOT / "scripts" / "xver_paths.py")
xver_paths = importlib.util.module_from_spec(spec)
spec.loader.exec_module(xver_paths)

R5_QUESTIONNAIRE = {
    "resourceType": "StructureDefinition", "kind": "resource", "derivation": "specialization",
    "snapshot": {"element": [
        {"path": "Questionnaire"},
        {"path": "Questionnaire.id", "type": [{"code": "http://hl7.org/fhirpath/System.String"}]},
        {"path": "Questionnaire.extension", "type": [{"code": "Extension"}]},
        {"path": "Questionnaire.versionAlgorithm[x]", "type": [{"code": "string"}, {"code": "Coding"}]},
        {"path": "Questionnaire.subjectType", "type": [{"code": "code"}]},
        {"path": "Questionnaire.derivedFrom", "type": [
            {"code": "canonical", "targetProfile": ["http://hl7.org/fhir/StructureDefinition/Questionnaire"]}]},
        {"path": "Questionnaire.item", "type": [{"code": "BackboneElement"}]},
        {"path": "Questionnaire.item.modifierExtension", "type": [{"code": "Extension"}], "isModifier": True},
        {"path": "Questionnaire.item.linkId", "type": [{"code": "string"}]},
        {"path": "Questionnaire.item.answerConstraint", "type": [{"code": "code"}]},
        {"path": "Questionnaire.item.reason", "type": [{"code": "CodeableReference"}]},
        {"path": "Questionnaire.item.item", "contentReference": "#Questionnaire.item"},
        {"path": "Questionnaire.implicitRules", "type": [{"code": "uri"}], "isModifier": True},
    ]},
}


def core_package(tmp_path, *definitions) -> Path:
    path = tmp_path / "core.tgz"
    with tarfile.open(path, "w:gz") as archive:
        for i, definition in enumerate(definitions):
            data = json.dumps(definition).encode()
            info = tarfile.TarInfo(f"package/StructureDefinition-{i}.json")
            info.size = len(data)
            archive.addfile(info, io.BytesIO(data))
    return path


def test_entries_for_values_backbones_references_and_modifiers(tmp_path):
    table = xver_paths.build(core_package(tmp_path, R5_QUESTIONNAIRE))
    assert table["Questionnaire.versionAlgorithm[x]"] == {"types": ["string", "Coding"]}
    assert table["Questionnaire.derivedFrom"] == {"types": ["canonical(Questionnaire)"]}
    assert table["Questionnaire.item"] == {"elements": ["linkId", "answerConstraint", "reason", "item"]}
    assert table["Questionnaire.item.item"] == {"ref": "Questionnaire.item"}
    assert table["Questionnaire.implicitRules"] == {"types": ["uri"], "modifier": True}
    assert table["Questionnaire.item.reason"] == {"types": ["!CodeableReference"]}, "R4 has no CodeableReference"
    assert not [path for path in table if path.rsplit(".", 1)[1] in ("id", "extension", "modifierExtension")]
    assert list(table) == sorted(table)


def test_constraints_and_logical_models_are_left_out(tmp_path):
    profile = {**R5_QUESTIONNAIRE, "derivation": "constraint",
               "snapshot": {"element": [{"path": "Questionnaire.other", "type": [{"code": "string"}]}]}}
    logical = {**R5_QUESTIONNAIRE, "kind": "logical",
               "snapshot": {"element": [{"path": "Questionnaire.logical", "type": [{"code": "string"}]}]}}
    table = xver_paths.build(core_package(tmp_path, R5_QUESTIONNAIRE, profile, logical))
    assert "Questionnaire.other" not in table and "Questionnaire.logical" not in table


def test_a_package_that_is_not_r5_core_writes_nothing(tmp_path):
    out = tmp_path / "xver.json"
    with pytest.raises(SystemExit, match="not the R5 core package"):
        xver_paths.main([str(core_package(tmp_path)), "-o", str(out)])
    assert not out.exists()


def test_main_writes_compact_sorted_json(tmp_path):
    out = tmp_path / "xver.json"
    assert xver_paths.main([str(core_package(tmp_path, R5_QUESTIONNAIRE)), "-o", str(out)]) == 0
    text = out.read_text(encoding="utf-8")
    assert json.loads(text)["Questionnaire.item.answerConstraint"] == {"types": ["code"]}
    assert "\n" not in text.rstrip("\n")
