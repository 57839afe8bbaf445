"""The care-team alert: which answers are a risk, the Flag and Task, and closing them."""

from __future__ import annotations

import copy
import json

import pytest
import responses

from fake_ehr import FakeEhr
from fhir_mbt.content import shipped, terminology
from fhir_mbt.engine import apply_scores, extract, transaction_bundle
from fhir_mbt.engine.care_team import (
    FLAG_IDENTIFIER_SYSTEM,
    RISK_ITEMS,
    TASK_IDENTIFIER_SYSTEM,
    care_team_entries,
    close_follow_up,
    is_care_team_task,
    is_open,
    reported_risk,
    urgent,
)
from fhir_mbt.errors import FhirMbtError

NOW = "2026-11-30T09:00:00+00:00"


def checkin_questionnaire() -> dict:
    return shipped().get(terminology.questionnaire_url(terminology.WEEKLY_CHECKIN))


def _walk(items):
    for item in items:
        yield item
        yield from _walk(item.get("item", ()))


def test_the_risk_items_are_boolean_questions_of_the_shipped_checkin():
    by_link = {i["linkId"]: i for i in _walk(checkin_questionnaire()["item"])}
    for link_id in RISK_ITEMS:
        assert by_link[link_id]["type"] == "boolean", link_id
        assert by_link[link_id].get("code"), f"{link_id} has a code for the Flag"


def answer(link_id: str, value) -> dict:
    return {"linkId": link_id, "answer": [{"valueBoolean": value}]}


def checkin(*risk: dict, status: str = "completed") -> dict:
    return {
        "resourceType": "QuestionnaireResponse",
        "identifier": {"system": "urn:test", "value": "c1"},
        "questionnaire": terminology.questionnaire_url(terminology.WEEKLY_CHECKIN) + "|0.1.0",
        "status": status,
        "subject": {"reference": "Patient/peter"},
        "author": {"reference": "Patient/peter"},
        "source": {"reference": "Patient/peter"},
        "authored": "2026-11-30T08:59:00Z",
        "item": [{"linkId": "checkin.risk", "item": list(risk)}],
    }


def test_no_risk_answers_no_findings():
    response = checkin(answer("checkin.risk.self-harm-thoughts", False), answer("checkin.risk.acted", False))
    assert reported_risk(response, checkin_questionnaire()) == []
    assert care_team_entries(response, []) == []


def test_findings_most_serious_first_with_their_codes():
    response = checkin(answer("checkin.risk.self-harm-thoughts", True), answer("checkin.risk.suicide-thoughts", True),
                       {"linkId": "checkin.risk.follow-up", "item": [answer("checkin.risk.safe-now", False)]})
    found = reported_risk(response, checkin_questionnaire())
    assert [f.link_id for f in found] == ["checkin.risk.safe-now", "checkin.risk.suicide-thoughts",
                                          "checkin.risk.self-harm-thoughts"]
    assert found[0].code["code"] == "feels-safe-now"
    assert urgent(found)
    assert not urgent(found[1:])


def test_flag_and_task_reference_the_response_and_each_other():
    response = checkin(answer("checkin.risk.acted", True))
    flag_entry, task_entry = care_team_entries(response, reported_risk(response), now=NOW)
    flag, task = flag_entry["resource"], task_entry["resource"]
    assert flag["status"] == "active" and flag["subject"] == {"reference": "Patient/peter"}
    assert flag["category"][0]["coding"][0]["code"] == "safety"
    assert flag["author"] == {"reference": "Patient/peter"}
    assert task["status"] == "requested" and task["for"] == {"reference": "Patient/peter"}
    assert task["reasonReference"]["reference"] == flag_entry["fullUrl"]
    bundle = transaction_bundle(response, [], now=NOW)
    assert task["focus"]["reference"] == bundle["entry"][0]["fullUrl"]
    assert "harmed themselves" in task["description"] and "2026-11-30" in task["description"]
    assert flag_entry["request"]["ifNoneExist"].startswith(f"identifier={FLAG_IDENTIFIER_SYSTEM}|")
    assert task_entry["request"]["ifNoneExist"].startswith(f"identifier={TASK_IDENTIFIER_SYSTEM}|")
    assert is_care_team_task(task) and is_open(task)


def test_identifiers_follow_the_response_so_a_retry_writes_nothing_new():
    response = checkin(answer("checkin.risk.acted", True))
    first = care_team_entries(response, reported_risk(response), now=NOW)
    again = care_team_entries(copy.deepcopy(response), reported_risk(response), now="2026-11-30T09:05:00+00:00")
    assert [e["request"] for e in first] == [e["request"] for e in again]
    other = dict(response, identifier={"system": "urn:test", "value": "c2"})
    assert care_team_entries(other, reported_risk(other))[0]["request"] != first[0]["request"]


def test_a_subject_that_is_not_a_patient_is_refused():
    response = dict(checkin(answer("checkin.risk.acted", True)), subject={"reference": "Group/1"})
    with pytest.raises(FhirMbtError):
        care_team_entries(response, reported_risk(response))


def test_written_in_one_transaction_and_closed_with_who_and_when():
    with responses.RequestsMock(assert_all_requests_are_fired=False) as rsps:
        ehr = FakeEhr(rsps)
    questionnaire = checkin_questionnaire()
    bundle_path = shipped().resources("Bundle", examples=True)[0]
    example = next(e["resource"] for e in bundle_path["entry"] if e["resource"]["resourceType"] == "QuestionnaireResponse"
                   and e["resource"]["questionnaire"].startswith(questionnaire["url"]))
    response = json.loads(json.dumps(example))
    for key in ("id", "meta"):
        response.pop(key, None)
    response.update(subject={"reference": "Patient/peter"}, author={"reference": "Patient/peter"},
                    source={"reference": "Patient/peter"}, identifier={"system": "urn:test", "value": "risky"})
    for item in _walk(response["item"]):
        if item["linkId"] == "checkin.risk.acted":
            item["answer"] = [{"valueBoolean": True}]
    if not any(i["linkId"] == "checkin.risk.follow-up" for i in _walk(response["item"])):
        risk = next(i for i in response["item"] if i["linkId"] == "checkin.risk")
        risk["item"].append({"linkId": "checkin.risk.follow-up", "item": [answer("checkin.risk.safe-now", True)]})
    scored = apply_scores(response, questionnaire)
    result = extract(scored, questionnaire)
    assert result.problems == []
    assert all(o["performer"] == [{"reference": "Patient/peter"}] for o in result.observations)
    bundle = transaction_bundle(result.response, result, now=NOW)
    bundle["entry"] += care_team_entries(result.response, reported_risk(result.response, questionnaire), now=NOW)
    ehr._bundle(copy.deepcopy(bundle))
    ehr._bundle(copy.deepcopy(bundle))
    [flag], [task], [stored] = ehr.of_type("Flag"), ehr.of_type("Task"), ehr.of_type("QuestionnaireResponse")
    assert task["focus"]["reference"] == f"QuestionnaireResponse/{stored['id']}"
    assert task["reasonReference"]["reference"] == f"Flag/{flag['id']}"

    closing = close_follow_up(task, flag, by="Practitioner/anna", note="Phoned Peter; safe, seen tomorrow.",
                              now="2026-11-30T10:00:00+00:00")
    assert [e["request"]["ifMatch"] for e in closing["entry"][:2]] == ['W/"1"', 'W/"1"']
    ehr._bundle(closing)
    task, flag = ehr.resources[("Task", task["id"])], ehr.resources[("Flag", flag["id"])]
    assert task["status"] == "completed" and not is_open(task)
    assert task["owner"] == {"reference": "Practitioner/anna"}
    assert task["note"][-1]["authorReference"] == {"reference": "Practitioner/anna"}
    assert task["note"][-1]["time"] == "2026-11-30T10:00:00+00:00"
    assert task["executionPeriod"]["end"] == "2026-11-30T10:00:00+00:00"
    assert flag["status"] == "inactive" and flag["period"]["end"] == "2026-11-30T10:00:00+00:00"
    [prov] = ehr.of_type("Provenance")[-1:]
    assert prov["agent"][0]["who"] == {"reference": "Practitioner/anna"}


def test_only_a_stored_care_team_task_can_be_closed():
    with pytest.raises(FhirMbtError):
        close_follow_up({"resourceType": "Task", "id": "t", "status": "requested"}, None, by="Practitioner/a", note="")
