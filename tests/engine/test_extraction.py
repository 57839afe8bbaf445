"""SDC observation-based extraction and the idempotent transaction Bundle."""

from __future__ import annotations

import copy
import json

import pytest
from hypothesis import HealthCheck, given, settings

import engine_support as es
from fhir.resources.R4B.bundle import Bundle
from fhir.resources.R4B.observation import Observation
from fhir.resources.R4B.provenance import Provenance
from fhir_mbt.content import definitions_dir, shipped
from fhir_mbt.engine import process_response
from fhir_mbt.engine.bundle import transaction_bundle
from fhir_mbt.engine.extraction import extract
from fhir_mbt.engine.identity import OBSERVATION_IDENTIFIER_SYSTEM, RESPONSE_IDENTIFIER_SYSTEM, response_full_url
from fhir_mbt.engine.observation_values import observation_profiles
from fhir_mbt.engine.errors import ExtractionError, ResponseError
from fhir_mbt.engine.scoring import apply_scores

INDEX = es.demo_index()
SETTINGS = settings(max_examples=50, deadline=None, suppress_health_check=list(HealthCheck))
SCORE_PROFILE = f"{es.BASE}/StructureDefinition/demo-score"
FINDING_PROFILE = f"{es.BASE}/StructureDefinition/demo-finding"


def full_response(**extra):
    items = es.minimal_items(flag=False)
    items[0]["item"][1:1] = [
        {"linkId": "count", "answer": [{"valueInteger": 0}]},
        {"linkId": "dose", "answer": [{"valueDecimal": 0.0}]},
        {"linkId": "label", "answer": [{"valueString": "word"}]},
        {"linkId": "note", "answer": [{"valueString": "not extracted"}]},
        {"linkId": "day", "answer": [{"valueDate": "2026-02-28"}]},
        {"linkId": "moment", "answer": [{"valueDateTime": "2026-02-28T10:00:00Z"}]},
        {"linkId": "clock", "answer": [{"valueTime": "08:30:00"}]},
        {"linkId": "link", "answer": [{"valueUri": "https://example.org/x"}]},
    ]
    items[0]["item"] += [
        {"linkId": "picks", "answer": [es.coding("red"), es.coding("blue")]},
        {"linkId": "amount", "answer": [{"valueQuantity": {"value": 5, "unit": "mg", "system": es.UCUM,
                                                           "code": "mg"}}]},
    ]
    return apply_scores(es.response(items, **extra), index=INDEX)


def by_code(observations):
    return {o["code"]["coding"][0]["code"]: o for o in observations}


def test_every_answer_type_maps_exactly_zero_and_false_included():
    result = extract(full_response(), index=INDEX)
    obs = by_code(result.observations)
    assert obs["flag"]["valueBoolean"] is False
    assert obs["count"]["valueQuantity"] == {"value": 0, "unit": "per week", "system": es.UCUM, "code": "/wk"}
    assert obs["dose"]["valueQuantity"] == {"value": 0.0}
    assert obs["label"]["valueString"] == "word"
    assert obs["day"]["valueDateTime"] == "2026-02-28"
    assert obs["moment"]["valueDateTime"] == "2026-02-28T10:00:00Z"
    assert obs["clock"]["valueTime"] == "08:30:00"
    assert obs["link"]["valueString"] == "https://example.org/x"
    assert obs["pick"]["valueCodeableConcept"] == {"coding": [{"system": es.CS, "code": "low", "display": "low"}],
                                                   "text": "low"}
    assert obs["amount"]["valueQuantity"]["value"] == 5
    # low (1) + red (10) + blue (30)
    assert obs["total"]["valueQuantity"] == {"value": 41.0, "unit": "score", "system": es.UCUM, "code": "{score}"}
    assert obs["double"]["valueQuantity"] == {"value": 82}
    assert "note" not in obs, "observationExtract false on the item overrides the group's true"


def test_observation_carries_context_of_the_response():
    resp = full_response(encounter={"reference": "Encounter/e1"},
                         basedOn=[{"reference": "CarePlan/c1"}],
                         partOf=[{"reference": "Procedure/pr1"}, {"reference": "Observation/o9"}])
    obs = by_code(extract(resp, index=INDEX).observations)["flag"]
    assert obs["status"] == "final"
    assert obs["subject"] == {"reference": "Patient/p1"}
    assert obs["encounter"] == {"reference": "Encounter/e1"}
    assert obs["effectiveDateTime"] == obs["issued"] == "2026-03-02T10:00:00Z"
    assert obs["performer"] == [{"reference": "Practitioner/dr1"}]
    assert obs["basedOn"] == [{"reference": "CarePlan/c1"}]
    assert obs["partOf"] == [{"reference": "Procedure/pr1"}], "R4 Observation.partOf cannot point at an Observation"
    assert obs["derivedFrom"] == [{"reference": response_full_url(resp)}]
    assert obs["category"] == [{"coding": [{"system": es.SURVEY, "code": "survey"}]}]
    assert obs["code"]["coding"] == [{"system": es.CS, "code": "flag", "display": "flag"}]
    assert obs["meta"] == {"profile": [FINDING_PROFILE]}
    assert by_code(extract(resp, index=INDEX).observations)["total"]["meta"] == {"profile": [SCORE_PROFILE]}


def test_device_author_is_not_a_performer_and_issued_falls_back_to_now():
    resp = full_response(author={"reference": "Device/d1"}, authored="2026-03-02")
    obs = extract(resp, index=INDEX, now="2026-03-03T09:00:00Z").observations[0]
    assert "performer" not in obs
    assert obs["effectiveDateTime"] == "2026-03-02" and obs["issued"] == "2026-03-03T09:00:00Z"


def test_category_from_the_nearest_item_wins():
    q = es.questionnaire()
    other = {"coding": [{"system": es.CS, "code": "other-category"}]}
    q["item"][1]["extension"].append({"url": es.SDC + "sdc-questionnaire-observation-extract-category",
                                      "valueCodeableConcept": other})
    obs = by_code(extract(full_response(), index=es.demo_index(q)).observations)
    assert obs["flag"]["category"] == [other]
    assert obs["total"]["category"][0]["coding"][0]["code"] == "survey"


def test_per_code_extraction_tags():
    q = es.questionnaire()
    flag = q["item"][1]["item"][0]
    flag["code"] = [{"system": es.CS, "code": "flag", "extension": [es.EXTRACT]},
                    {"system": "http://loinc.example", "code": "999"}]
    obs = by_code(extract(full_response(), index=es.demo_index(q)).observations)
    assert obs["flag"]["code"]["coding"] == [{"system": es.CS, "code": "flag"}]


def test_repeating_answers_become_one_observation_each_keyed_by_code():
    result = extract(full_response(), index=INDEX)
    picks = [o for o in result.observations if o["code"]["coding"][0]["code"] == "picks"]
    assert [o["valueCodeableConcept"]["coding"][0]["code"] for o in picks] == ["red", "blue"]
    fewer = full_response()
    fewer["item"][0]["item"][-2]["answer"] = [es.coding("blue")]
    blue = [o for o in extract(fewer, index=INDEX).observations if o["code"]["coding"][0]["code"] == "picks"]
    assert blue[0]["identifier"] == picks[1]["identifier"], "identity follows the code, not the position"


def test_repeating_groups_get_their_own_identity():
    items = es.minimal_items() + [
        {"linkId": "rep", "item": [{"linkId": "rep-value", "answer": [{"valueInteger": 1}]}]},
        {"linkId": "rep", "item": [{"linkId": "rep-value", "answer": [{"valueInteger": 1}]}]},
    ]
    obs = [o for o in extract(es.response(items), index=INDEX).observations
           if o["code"]["coding"][0]["code"] == "rep-value"]
    assert len(obs) == 2 and obs[0]["identifier"] != obs[1]["identifier"]


def test_nested_answer_items_are_extracted():
    items = es.minimal_items() + [{"linkId": "parent", "answer": [{**es.coding("low"), "item": [
        {"linkId": "child", "answer": [{"valueString": "nested"}]}]}]}]
    assert by_code(extract(es.response(items), index=INDEX).observations)["child"]["valueString"] == "nested"


def test_unextractable_answers_are_reported_not_dropped():
    items = es.minimal_items()
    items[0]["item"] += [
        {"linkId": "ref", "answer": [{"valueReference": {"reference": "Patient/p1"}}]},
        {"linkId": "file", "answer": [{"valueAttachment": {"contentType": "text/plain"}}]},
    ]
    result = extract(es.response(items), index=INDEX)
    messages = " | ".join(p["diagnostics"] for p in result.problems)
    assert "'ref'" in messages and "'file'" in messages
    assert {p["expression"][0] for p in result.problems} == {
        "QuestionnaireResponse.item[0].item[2].answer[0]", "QuestionnaireResponse.item[0].item[3].answer[0]"}
    assert not result.complete


def test_answers_to_unknown_items_are_reported():
    resp = es.response(es.minimal_items() + [{"linkId": "ghost", "answer": [{"valueString": "x"}]}])
    assert "ghost" in extract(resp, index=INDEX).problems[0]["diagnostics"]


def test_only_completed_or_amended_responses_are_extracted():
    with pytest.raises(ExtractionError) as info:
        extract(es.response(es.minimal_items(), status="in-progress"), index=INDEX)
    assert isinstance(info.value, ResponseError)


def test_identifiers_are_stable_and_derived_from_the_response():
    resp = full_response()
    first, again = extract(resp, index=INDEX), extract(copy.deepcopy(resp), index=INDEX)
    assert [o["identifier"] for o in first.observations] == [o["identifier"] for o in again.observations]
    idents = [o["identifier"][0] for o in first.observations]
    assert all(i["system"] == OBSERVATION_IDENTIFIER_SYSTEM for i in idents)
    assert len({i["value"] for i in idents}) == len(idents)
    assert first.response["identifier"]["system"] == RESPONSE_IDENTIFIER_SYSTEM
    assert "identifier" not in resp
    own = extract({**resp, "identifier": {"system": "urn:x", "value": "r-1"}}, index=INDEX)
    assert own.response["identifier"] == {"system": "urn:x", "value": "r-1"}
    assert own.observations[0]["identifier"] != first.observations[0]["identifier"]
    given = extract(resp, index=INDEX, identifier="draft-42")
    assert given.response["identifier"] == {"system": RESPONSE_IDENTIFIER_SYSTEM, "value": "draft-42"}


def test_transaction_creates_conditionally_and_replay_creates_nothing():
    result = extract(full_response(), index=INDEX)
    bundle = transaction_bundle(result.response, result)
    Bundle.model_validate(bundle)
    first = bundle["entry"][0]
    assert first["request"]["method"] == "POST"
    assert first["request"]["ifNoneExist"] == f"identifier={RESPONSE_IDENTIFIER_SYSTEM}|" \
                                              f"{result.response['identifier']['value']}"
    for entry in bundle["entry"][1:-1]:
        ident = entry["resource"]["identifier"][0]
        assert entry["request"] == {"method": "POST", "url": "Observation",
                                    "ifNoneExist": f"identifier={ident['system']}|{ident['value']}"}
        assert entry["resource"]["derivedFrom"] == [{"reference": first["fullUrl"]}]
    prov = bundle["entry"][-1]
    Provenance.model_validate(prov["resource"])
    assert prov["request"]["method"] == "PUT"
    assert [t["reference"] for t in prov["resource"]["target"]] == [e["fullUrl"] for e in bundle["entry"][:-1]]
    assert prov["resource"]["recorded"] == "2026-03-02T10:00:00Z"
    assert prov["resource"]["agent"][0]["who"] == {"reference": "Practitioner/dr1"}
    server = es.FakeServer()
    server.transaction(bundle)
    created = server.created
    assert created == len(bundle["entry"])
    server.transaction(json.loads(json.dumps(bundle)))
    assert server.created == created


def test_amended_response_updates_its_observations():
    original = full_response()
    server = es.FakeServer()
    first = extract(original, index=INDEX)
    server.transaction(transaction_bundle(first.response, first))
    amended = copy.deepcopy(first.response)
    amended["status"] = "amended"
    amended["authored"] = "2026-03-03T10:00:00Z"
    amended["item"][0]["item"][1]["answer"] = [{"valueInteger": 7}]
    amended["item"][0]["item"][-2]["answer"] = [es.coding("red")]
    second = extract(amended, index=INDEX, previous=original)
    assert {o["status"] for o in second.observations} == {"amended"}
    assert [o["valueCodeableConcept"]["coding"][0]["code"] for o in second.retracted] == ["blue"]
    assert second.retracted[0]["status"] == "entered-in-error"
    bundle = transaction_bundle(second.response, second)
    methods = {e["request"]["method"] for e in bundle["entry"]}
    assert methods == {"PUT"}
    assert bundle["entry"][0]["request"]["url"].startswith("QuestionnaireResponse?identifier=")
    assert bundle["entry"][1]["request"]["url"].startswith("Observation?identifier=")
    observations = server.count("Observation")
    server.transaction(bundle)
    assert server.count("Observation") == observations, "amending adds no Observations"
    assert server.count("QuestionnaireResponse") == 1
    stored = {o["identifier"][0]["value"]: o for o in server.store["Observation"].values()}
    count_obs = next(o for o in stored.values() if o["code"]["coding"][0]["code"] == "count")
    assert count_obs["valueQuantity"]["value"] == 7 and count_obs["status"] == "amended"
    assert sum(o["status"] == "entered-in-error" for o in stored.values()) == 1
    assert server.count("Provenance") == 2, "the amendment has its own Provenance"


def test_response_with_an_id_is_put_by_id():
    result = extract(full_response(id="qr-1"), index=INDEX)
    bundle = transaction_bundle(result.response, result)
    assert bundle["entry"][0]["request"] == {"method": "PUT", "url": "QuestionnaireResponse/qr-1"}


def test_provenance_needs_a_time():
    result = extract(full_response(authored="2026-03-02"), index=INDEX)
    with pytest.raises(ExtractionError):
        transaction_bundle(result.response, result)
    assert transaction_bundle(result.response, result, now="2026-03-02T11:00:00Z")["entry"]


def test_profiles_come_from_the_content():
    urls = {p.url for p in observation_profiles(shipped())}
    assert urls == {"http://fhir-mbt.org/fhir/StructureDefinition/mbt-score-observation",
                    "http://fhir-mbt.org/fhir/StructureDefinition/mbt-finding-observation"}


# ------------------------------------------------------------------ properties
def _answer_value(obs: dict):
    key = next(k for k in obs if k.startswith("value"))
    value = obs[key]
    if key == "valueQuantity":
        return value["value"]
    if key == "valueCodeableConcept":
        return (value["coding"][0].get("system"), value["coding"][0]["code"])
    return value


def _expected(resp: dict, questionnaire: dict, index) -> list:
    from fhir_mbt.engine.compiled import compile_questionnaire

    compiled = compile_questionnaire(questionnaire, index)
    out = []

    def walk(items):
        for node in items or ():
            defn = compiled.by_link.get(node["linkId"])
            for answer in node.get("answer", ()):
                key = next(k for k in answer if k.startswith("value"))
                if defn.extractable and key not in ("valueReference", "valueAttachment"):
                    value = answer[key]
                    if key == "valueCoding":
                        value = (value.get("system"), value["code"])
                    elif key == "valueQuantity":
                        value = value["value"]
                    out.append((defn.extract_codes[0]["code"], json.dumps(value)))
                walk(answer.get("item"))
            walk(node.get("item"))

    walk(resp.get("item"))
    return sorted(out)


def _check_extraction(resp, questionnaire, index, profiles: set[str]):
    processed = process_response(resp, questionnaire, index)
    result = processed.extraction
    assert [p for p in result.problems if p["severity"] == "error"] == [] or questionnaire["id"] == "demo"
    for obs in result.observations:
        Observation.model_validate(obs)
        assert obs["meta"]["profile"][0] in profiles
    got = sorted((o["code"]["coding"][0]["code"], json.dumps(_answer_value(o))) for o in result.observations)
    assert got == _expected(processed.response, questionnaire, index)
    Bundle.model_validate(processed.bundle)
    server = es.FakeServer()
    server.transaction(processed.bundle)
    created = server.created
    server.transaction(copy.deepcopy(processed.bundle))
    assert server.created == created


@SETTINGS
@given(es.answers_for(es.questionnaire(), INDEX))
def test_generated_demo_responses_extract_faithfully(resp):
    _check_extraction(resp, es.questionnaire(), INDEX, {SCORE_PROFILE, FINDING_PROFILE})


@pytest.mark.parametrize("qid", ["mbt-formulation", "mbt-mentalizing-profile", "rfq-8", "mbt-weekly-checkin",
                                 "mbt-session-record", "mbt-crisis-plan", "mbt-periodic-review"])
def test_generated_shipped_responses_extract_faithfully(qid):
    index = shipped()
    q = index.by_id("Questionnaire", qid)
    profiles = {p.url for p in observation_profiles(index)}

    @SETTINGS
    @given(es.answers_for(q, index))
    def check(resp):
        _check_extraction(resp, q, index, profiles)
        assert process_response(resp, q, index).problems == []

    check()


def test_example_responses_extract_without_problems():
    path = definitions_dir() / "examples" / "Bundle-mbt-example-peter.json"
    if not path.exists():
        pytest.skip("example bundle not shipped")
    bundle = json.loads(path.read_text(encoding="utf-8"))
    for entry in bundle["entry"]:
        resp = entry["resource"]
        if resp["resourceType"] == "QuestionnaireResponse":
            processed = process_response(resp)
            assert processed.problems == [], resp["id"]
            for obs in processed.extraction.observations:
                Observation.model_validate(obs)


def test_missing_subject_or_authored_is_a_problem():
    resp = full_response()
    del resp["subject"], resp["authored"]
    result = extract(resp, index=INDEX, now="2026-03-02T10:00:00Z")
    assert {p["expression"][0] for p in result.problems} == {
        "QuestionnaireResponse.subject", "QuestionnaireResponse.authored"}
