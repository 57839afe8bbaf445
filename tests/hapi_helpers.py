"""Helpers for the tests that save records through the sandbox to HAPI and count them there."""

from __future__ import annotations

import uuid

import requests

from app_helpers import Browser, field_name, post_data_from_response, questionnaire
from fhir_mbt.content import shipped
from fhir_mbt.engine import RESPONSE_IDENTIFIER_SYSTEM

CHECKIN = "mbt-weekly-checkin"
CLINICIAN = "mbt-example-clinician"
FHIR_JSON = {"Accept": "application/fhir+json", "Content-Type": "application/fhir+json"}


def new_patient(fhir_base: str) -> str:
    pid = f"mbt-test-save-{uuid.uuid4().hex[:10]}"
    body = {"resourceType": "Patient", "id": pid, "name": [{"given": ["Sam"], "family": "Savetest"}],
            "birthDate": "1975-01-02"}
    resp = requests.put(f"{fhir_base}/Patient/{pid}", json=body, headers=FHIR_JSON, timeout=30)
    assert resp.status_code in (200, 201), resp.text[:500]
    return pid


def clinician(stack, patient: str) -> Browser:
    session = Browser()
    answer = session.post(f"{stack.sandbox_base}/launch", data={
        "patient": patient, "practitioner": CLINICIAN, "app_launch_url": f"{stack.app_base}/launch"})
    assert answer.status_code == 200 and "/dashboard" in answer.url, answer.text[:1000]
    return session


def checkin(blow_ups: int) -> dict:
    q = questionnaire(CHECKIN)
    example = next(e["resource"] for e in shipped().resources("Bundle", examples=True)[0]["entry"]
                   if e["resource"]["resourceType"] == "QuestionnaireResponse"
                   and e["resource"]["questionnaire"].split("|")[0].endswith("/" + CHECKIN))
    data = post_data_from_response(q, example)
    data[field_name(q, "checkin.blow-ups")] = [str(blow_ups)]
    return data


def stored(fhir_base: str, submission_id: str) -> list[dict]:
    resp = requests.get(f"{fhir_base}/QuestionnaireResponse", headers=FHIR_JSON, timeout=30,
                        params={"identifier": f"{RESPONSE_IDENTIFIER_SYSTEM}|{submission_id}"})
    assert resp.status_code == 200, resp.text[:500]
    return [e["resource"] for e in resp.json().get("entry", [])]


def all_responses(fhir_base: str, patient: str) -> list[dict]:
    resp = requests.get(f"{fhir_base}/QuestionnaireResponse", headers=FHIR_JSON, timeout=30,
                        params={"subject": f"Patient/{patient}", "_count": 100})
    return [e["resource"] for e in resp.json().get("entry", [])]


def blow_ups(fhir_base: str, response: dict) -> list:
    resp = requests.get(f"{fhir_base}/Observation", headers=FHIR_JSON, timeout=30,
                        params={"derived-from": f"QuestionnaireResponse/{response['id']}", "_count": 100})
    found = [e["resource"] for e in resp.json().get("entry", [])]
    return [o.get("valueInteger", (o.get("valueQuantity") or {}).get("value")) for o in found
            if "blow" in str(o.get("code")).lower()]


def answer_of(response: dict, link_id: str):
    for item in response.get("item", []):
        if item["linkId"] == link_id:
            return [next(v for k, v in a.items() if k.startswith("value")) for a in item.get("answer", [])]
    return None
