"""Each content rule, shown failing on a resource that breaks it."""

from __future__ import annotations

from pathlib import Path

import pytest

import minicontent as mc
from fhir_mbt.content import ContentIndex
from fhir_mbt.errors import ContentInvalid
from fhir_mbt.content.validation import RULES, check_index, validate_index


def problems_for(tmp_path, change, manifest=None):
    folder = mc.write(tmp_path / "content", mc.variant(change), manifest)
    return validate_index(ContentIndex.from_folder(folder))


def only(problems, rule):
    found = [p for p in problems if p.rule == rule]
    assert found, f"expected a {rule!r} problem, got {[str(p) for p in problems]}"
    return found


def test_valid_fixture_has_no_problems(tmp_path):
    index = ContentIndex.from_folder(mc.write(tmp_path / "content"))
    assert validate_index(index) == []
    check_index(index)


def test_json_schema_catches_bad_code_and_unknown_element(tmp_path):
    def change(files):
        q = files["Questionnaire-demo.json"]
        q["status"] = "finished"
        q["item"][0]["colour"] = "red"

    problems = only(problems_for(tmp_path, change), "json-schema")
    locations = {p.location for p in problems}
    assert "Questionnaire.status" in locations
    assert "Questionnaire.item[0]" in locations
    assert all(p.file.endswith("Questionnaire-demo.json") for p in problems)


def test_model_check_runs_when_schema_passes(tmp_path):
    # A Questionnaire item of type 'group' may not carry answerOption with no value:
    # the schema cannot express choice[x] cardinality, the R4B model can.
    def change(files):
        files["Questionnaire-demo.json"]["item"][0]["answerOption"] = [{}]

    problems = problems_for(tmp_path, change)
    assert any(p.rule in ("r4-model", "json-schema") and "answerOption" in p.location for p in problems)


def test_file_name_must_be_type_dash_id(tmp_path):
    def change(files):
        files["Questionnaire-other.json"] = files.pop("Questionnaire-demo.json")

    [problem] = only(problems_for(tmp_path, change), "file-name")
    assert "Questionnaire-demo.json" in problem.message


def test_canonical_url_must_follow_base_type_id(tmp_path):
    def change(files):
        files["ValueSet-modes.json"]["url"] = "http://elsewhere.example/ValueSet/modes"

    problems = problems_for(tmp_path, change)
    [problem] = only(problems, "canonical")
    assert problem.location == "ValueSet.url"
    assert f"{mc.BASE}/ValueSet/modes" in problem.message


def test_observation_definition_needs_identifier(tmp_path):
    def change(files):
        files["ObservationDefinition-score.json"]["identifier"][0]["value"] = "other"

    [problem] = only(problems_for(tmp_path, change), "canonical")
    assert problem.location == "ObservationDefinition.identifier"


@pytest.mark.parametrize("field", ["version", "status", "publisher", "date", "description", "copyright"])
def test_metadata_fields_are_required(tmp_path, field):
    def change(files):
        del files["CodeSystem-demo.json"][field]

    problems = only(problems_for(tmp_path, change), "metadata")
    assert any(p.location == f"CodeSystem.{field}" for p in problems)


def test_version_must_be_the_package_version(tmp_path):
    def change(files):
        files["ValueSet-modes.json"]["version"] = "2.0.0"

    [problem] = only(problems_for(tmp_path, change), "metadata")
    assert "1.0.0" in problem.message


@pytest.mark.parametrize("algorithm", [
    None,
    {"valueCoding": {"system": "http://hl7.org/fhir/version-algorithm", "code": "alpha"}},
    {"valueCoding": {"system": "http://example.org/other", "code": "semver"}},
    {"valueString": "true"},
])
def test_a_questionnaire_version_needs_the_semver_version_algorithm(tmp_path, algorithm):
    def change(files):
        files["Questionnaire-demo.json"]["extension"] = [{"url": mc.VERSION_ALGORITHM, **algorithm}] if algorithm else []

    [problem] = only(problems_for(tmp_path, change), "metadata")
    assert problem.location == "Questionnaire.extension" and "versionAlgorithm" in problem.message


def test_duplicate_ids_are_reported(tmp_path):
    def change(files):
        files["examples/CodeSystem-demo.json"] = files["CodeSystem-demo.json"]
        files["ImplementationGuide-demo.json"]["definition"]["resource"].append(
            {"reference": {"reference": "CodeSystem/demo"}}
        )

    problems = only(problems_for(tmp_path, change), "duplicate")
    assert {p.location for p in problems} == {"CodeSystem.id", "CodeSystem.url"}


def test_link_ids_must_be_unique(tmp_path):
    def change(files):
        files["Questionnaire-demo.json"]["item"][1]["linkId"] = "mode"

    [problem] = only(problems_for(tmp_path, change), "link-id")
    assert problem.location == "Questionnaire.item[1].linkId"
    assert "Questionnaire.item[0]" in problem.message


def test_nested_link_ids_are_checked(tmp_path):
    def change(files):
        q = files["Questionnaire-demo.json"]
        q["item"].append(
            {"linkId": "grp", "type": "group", "text": "G", "item": [{"linkId": "score", "type": "string", "text": "x"}]}
        )

    [problem] = only(problems_for(tmp_path, change), "link-id")
    assert problem.location == "Questionnaire.item[2].item[0].linkId"


def test_unknown_code_of_project_system(tmp_path):
    def change(files):
        files["Questionnaire-demo.json"]["item"][1]["code"][0]["code"] = "scor"

    [problem] = only(problems_for(tmp_path, change), "code")
    assert problem.location == "Questionnaire.item[1].code[0].code"


def test_display_must_match_code_system(tmp_path):
    def change(files):
        files["Questionnaire-demo.json"]["item"][1]["code"][0]["display"] = "Total"

    [problem] = only(problems_for(tmp_path, change), "code")
    assert problem.location.endswith(".display")


def test_value_set_concept_and_filter_codes_must_exist(tmp_path):
    def change(files):
        files["ValueSet-modes.json"]["compose"]["include"][0]["filter"][0]["value"] = "nothing"

    problems = problems_for(tmp_path, change)
    [code_problem] = only(problems, "code")
    assert code_problem.location == "ValueSet.compose.include[0].filter[0].value"


def test_answer_value_set_must_resolve(tmp_path):
    def change(files):
        files["Questionnaire-demo.json"]["item"][0]["answerValueSet"] = f"{mc.BASE}/ValueSet/moods"

    problems = problems_for(tmp_path, change)
    [problem] = only(problems, "value-set")
    assert problem.location == "Questionnaire.item[0].answerValueSet"


def test_answer_value_set_must_not_be_empty(tmp_path):
    def change(files):
        files["ValueSet-modes.json"]["compose"]["include"][0]["filter"][0]["value"] = "score"
        files["ValueSet-modes.json"]["compose"]["include"][0]["filter"][0]["op"] = "descendent-of"

    [problem] = only(problems_for(tmp_path, change), "value-set")
    assert "expands to nothing" in problem.message


def test_extractable_item_needs_code(tmp_path):
    def change(files):
        del files["Questionnaire-demo.json"]["item"][1]["code"]

    [problem] = only(problems_for(tmp_path, change), "extract-code")
    assert problem.location == "Questionnaire.item[1]"


def test_extraction_flag_is_inherited_from_the_questionnaire(tmp_path):
    def change(files):
        q = files["Questionnaire-demo.json"]
        q["extension"] = [{"url": mc.EXTRACT, "valueBoolean": True}]

    [problem] = only(problems_for(tmp_path, change), "extract-code")
    assert problem.location == "Questionnaire.item[0]"


def test_referenced_observation_definition_must_exist(tmp_path):
    def change(files):
        ext = files["Questionnaire-demo.json"]["item"][1]["extension"][1]
        ext["valueCanonical"] = f"{mc.BASE}/ObservationDefinition/missing"

    [problem] = only(problems_for(tmp_path, change), "reference")
    assert problem.location == "Questionnaire.item[1].extension[1].valueCanonical"


def test_referenced_profile_and_version_must_exist(tmp_path):
    def change(files):
        files["Questionnaire-demo.json"]["item"][1]["extension"][1]["url"] = f"{mc.BASE}/StructureDefinition/nope"
        files["Questionnaire-demo.json"]["item"][0]["answerValueSet"] = f"{mc.BASE}/ValueSet/modes|9.9"

    problems = only(problems_for(tmp_path, change), "reference")
    assert {p.location for p in problems} == {
        "Questionnaire.item[1].extension[1].url",
        "Questionnaire.item[0].answerValueSet",
    }


def test_reference_of_wrong_type(tmp_path):
    def change(files):
        files["Questionnaire-demo.json"]["derivedFrom"] = [f"{mc.BASE}/Questionnaire/demo"]
        files["Questionnaire-demo.json"]["item"][0]["answerValueSet"] = f"{mc.BASE}/ValueSet/demo"

    problems = problems_for(tmp_path, change)
    assert any(p.rule == "reference" and p.location == "Questionnaire.item[0].answerValueSet" for p in problems)


def test_guide_must_list_every_resource(tmp_path):
    def change(files):
        files["ImplementationGuide-demo.json"]["definition"]["resource"].pop(0)
        files["ImplementationGuide-demo.json"]["definition"]["resource"].append(
            {"reference": {"reference": "Questionnaire/ghost"}}
        )

    problems = only(problems_for(tmp_path, change), "guide")
    messages = " ".join(p.message for p in problems)
    assert "CodeSystem/demo" in messages and "Questionnaire/ghost" in messages


def test_check_index_raises_with_every_problem(tmp_path):
    def change(files):
        del files["CodeSystem-demo.json"]["publisher"]

    folder = mc.write(tmp_path / "content", mc.variant(change))
    with pytest.raises(ContentInvalid) as info:
        check_index(ContentIndex.from_folder(folder))
    assert isinstance(info.value, ValueError)
    assert any(p.location == "CodeSystem.publisher" for p in info.value.problems)


def test_every_rule_is_exercised_here():
    source = Path(__file__).read_text(encoding="utf-8")
    for name in RULES:
        rule_ids = {"structure": ("json-schema", "r4-model")}.get(name, (name,))
        assert any(f'"{rule_id}"' in source for rule_id in rule_ids), name
