"""The shipped ViewDefinitions: valid content, runnable, on the project's codes."""

from __future__ import annotations

import json
import re

import pytest

from fhir_mbt.analytics import UnsupportedConstruct, ViewDefinitionInvalid, compile_view, shipped_views
from fhir_mbt.analytics.fhirpath import compile_path, reference_key, resource_key
from fhir_mbt.content.index import shipped
from fhir_mbt.content.validation import validate_index
from fhir_mbt.content.view_shape import view_definition_problems

VIEWS = shipped_views()
EXPECTED = {"mbt_patients", "mbt_responses", "mbt_sessions", "mbt_risk_findings", "mbt_rfq8_scores",
            "mbt_checkin_measures", "mbt_adherence", "mbt_formulations"}


def test_the_views_the_report_needs_are_shipped():
    assert {v["name"] for v in VIEWS} == EXPECTED


@pytest.mark.parametrize("view", VIEWS, ids=lambda v: v["id"])
def test_each_view_compiles_and_has_the_canonical_url(view):
    compiled = compile_view(view)
    assert view["url"] == f"http://fhir-mbt.org/fhir/ViewDefinition/{view['id']}"
    assert compiled.columns and view_definition_problems(view) == []


@pytest.mark.parametrize("view", VIEWS, ids=lambda v: v["id"])
def test_codes_in_view_paths_exist_in_the_code_system(view):
    index = shipped()
    system = "http://fhir-mbt.org/fhir/CodeSystem/mbt"
    text = json.dumps([w["path"] for w in view.get("where", [])])
    for code in re.findall(r"'([a-z0-9][a-z0-9\-]*)'", text):
        assert index.concept(system, code) is not None, f"{view['id']}: {code!r} is not in {system}"


def test_validate_checks_view_definitions_by_their_own_shape():
    index = shipped()
    views = [item for item in index.loaded if item.resource_type == "ViewDefinition"]
    assert len(views) == len(EXPECTED)
    assert validate_index(index, views) == []


def test_a_malformed_view_definition_is_reported():
    bad = {"resourceType": "ViewDefinition", "resource": "Observation", "status": "active",
           "select": [{"column": [{"name": "bad name", "path": "id"}], "forEach": "a", "forEachOrNull": "b"}],
           "bogus": 1}
    found = {loc for loc, _ in view_definition_problems(bad)}
    assert {"ViewDefinition.bogus", "ViewDefinition.select[0]", "ViewDefinition.select[0].column[0].name"} <= found


def test_an_unsupported_construct_is_named():
    with pytest.raises(UnsupportedConstruct, match="descendants"):
        compile_path("descendants()", "column x")
    view = {"resource": "Patient", "select": [{"column": [{"name": "x", "path": "name.is(HumanName)"}]}]}
    with pytest.raises(UnsupportedConstruct, match="is"):
        compile_view(view)


def test_a_view_without_select_is_invalid():
    with pytest.raises(ViewDefinitionInvalid):
        compile_view({"resourceType": "ViewDefinition", "resource": "Patient", "select": []})


def test_reference_keys():
    assert reference_key({"reference": "Patient/p1"}) == "Patient/p1"
    assert reference_key({"reference": "Patient/p1"}, "Observation") is None
    assert reference_key({"reference": "http://x/fhir/Patient/p1/_history/2"}, "Patient") == "Patient/p1"
    assert reference_key({"reference": "urn:uuid:0f1e"}) is None
    assert reference_key({"display": "no reference"}) is None
    assert resource_key({"resourceType": "Patient", "id": "p1"}) == "Patient/p1"


def test_code_filtered_views_route_by_code():
    by_name = {v["name"]: compile_view(v) for v in VIEWS}
    system, codes = by_name["mbt_sessions"].codes
    assert system.endswith("/CodeSystem/mbt") and codes == {"session-attendance"}
    assert by_name["mbt_patients"].codes is None
