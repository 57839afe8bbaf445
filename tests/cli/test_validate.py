"""``fhir-mbt validate``: exit codes and what a person reads."""

from __future__ import annotations

import json

import minicontent as mc
from fhir_mbt.cli import main


def test_valid_folder_exits_zero(tmp_path, capsys):
    folder = mc.write(tmp_path / "c")
    assert main(["validate", str(folder)]) == 0
    assert "6 resource(s) checked: ok" in capsys.readouterr().err


def test_problem_lists_file_location_and_message(tmp_path, capsys):
    def change(files):
        files["Questionnaire-demo.json"]["item"][1]["linkId"] = "mode"

    folder = mc.write(tmp_path / "c", mc.variant(change))
    assert main(["validate", str(folder)]) == 1
    out = capsys.readouterr().out
    line = next(line for line in out.splitlines() if "[link-id]" in line)
    assert "Questionnaire-demo.json: Questionnaire.item[1].linkId: linkId 'mode' already used" in line


def test_json_output(tmp_path, capsys):
    def change(files):
        del files["ValueSet-modes.json"]["publisher"]

    folder = mc.write(tmp_path / "c", mc.variant(change))
    assert main(["validate", "--format", "json", str(folder)]) == 1
    report = json.loads(capsys.readouterr().out)
    assert report["checked"] == 6
    assert {"rule": "metadata", "location": "ValueSet.publisher"}.items() <= report["problems"][0].items()


def test_missing_file_is_a_clear_error(tmp_path, capsys):
    assert main(["validate", str(tmp_path / "nope.json")]) == 1
    assert "no such file" in capsys.readouterr().err


def test_empty_folder_fails(tmp_path, capsys):
    folder = mc.write(tmp_path / "c", files={})
    assert main(["validate", str(folder)]) == 1
    assert "no FHIR resources" in capsys.readouterr().err


def test_shipped_content_is_valid(capsys):
    assert main(["validate"]) == 0, capsys.readouterr().out
