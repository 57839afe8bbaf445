"""Discarding a draft on HAPI through the EHR sandbox: withdrawn with If-Match on the version seen (HAPI
ignores If-Match on DELETE, so the PUT is the check), then deleted; a newer version kept, and a completed
record never touched."""

from __future__ import annotations

import re
import uuid

import requests

from hapi_helpers import CLINICIAN, FHIR_JSON, clinician, new_patient
from fhir_mbt.content import terminology

QR = "QuestionnaireResponse"


def _put_response(fhir_base: str, patient: str, *, status: str = "in-progress") -> dict:
    rid = f"dash-draft-{uuid.uuid4().hex[:10]}"
    body = {"resourceType": QR, "id": rid, "status": status,
            "questionnaire": f"{terminology.CANONICAL}/Questionnaire/{terminology.WEEKLY_CHECKIN}|0.1.0",
            "identifier": {"system": "urn:ietf:rfc:3986", "value": f"urn:uuid:{uuid.uuid4()}"},
            "subject": {"reference": f"Patient/{patient}"}, "author": {"reference": f"Practitioner/{CLINICIAN}"},
            "authored": "2026-11-27T09:30:00Z",
            "item": [{"linkId": "checkin.blow-ups", "answer": [{"valueInteger": 2}]}]}
    answer = requests.put(f"{fhir_base}/{QR}/{rid}", json=body, headers=FHIR_JSON, timeout=30)
    assert answer.status_code in (200, 201), answer.text[:500]
    return answer.json()


def _discard_form(session, stack, rid: str) -> dict:
    html = session.get(f"{stack.app_base}/dashboard").text
    row = re.search(rf'<tr data-draft="{re.escape(rid)}">.*?</tr>', html, re.S)
    assert row, "the draft is listed with its actions"
    fields = dict(re.findall(r'name="(csrf_token|version_id|confirm|next)" value="([^"]*)"', row.group(0)))
    assert fields.get("confirm") == "yes" and fields.get("version_id")
    return fields


def test_hapi_ignores_if_match_on_delete_but_honours_it_on_update(hapi_base_url):
    """Why the app withdraws a draft (PUT, If-Match) before it deletes it."""
    draft = _put_response(hapi_base_url, new_patient(hapi_base_url))
    rid = draft["id"]
    newer = requests.put(f"{hapi_base_url}/{QR}/{rid}", json={**draft, "authored": "2026-11-28T10:00:00Z"},
                         headers=FHIR_JSON, timeout=30)
    assert newer.json()["meta"]["versionId"] == "2"
    stale_put = requests.put(f"{hapi_base_url}/{QR}/{rid}", json={**draft, "status": "entered-in-error"},
                             headers={**FHIR_JSON, "If-Match": 'W/"1"'}, timeout=30)
    assert stale_put.status_code in (409, 412), stale_put.text[:300]
    stale_delete = requests.delete(f"{hapi_base_url}/{QR}/{rid}", headers={**FHIR_JSON, "If-Match": 'W/"1"'},
                                   timeout=30)
    assert stale_delete.status_code == 200, "HAPI deletes version 2 although If-Match names version 1"


def test_a_draft_is_deleted_on_hapi_through_the_app(stack, hapi_base_url):
    patient = new_patient(hapi_base_url)
    draft = _put_response(hapi_base_url, patient)
    session = clinician(stack, patient)
    fields = _discard_form(session, stack, draft["id"])
    answer = session.post(f"{stack.app_base}/forms/r/{draft['id']}/discard", data=fields, allow_redirects=False)
    assert answer.status_code == 303, answer.text[:1000]
    gone = requests.get(f"{hapi_base_url}/{QR}/{draft['id']}", headers=FHIR_JSON, timeout=30)
    assert gone.status_code == 410
    history = requests.get(f"{hapi_base_url}/{QR}/{draft['id']}/_history", headers=FHIR_JSON, timeout=30).json()
    statuses = [(e.get("resource") or {}).get("status") for e in history["entry"]]
    assert statuses[-2:] == ["entered-in-error", "in-progress"], "withdrawn over version 1, then deleted"
    shown = session.get(f"{stack.app_base}{answer.headers['Location']}").text
    assert "was deleted from the FHIR server" in shown


def test_a_draft_saved_since_is_kept_on_hapi(stack, hapi_base_url):
    patient = new_patient(hapi_base_url)
    draft = _put_response(hapi_base_url, patient)
    session = clinician(stack, patient)
    fields = _discard_form(session, stack, draft["id"])
    requests.put(f"{hapi_base_url}/{QR}/{draft['id']}", json={**draft, "authored": "2026-11-28T10:00:00Z"},
                 headers=FHIR_JSON, timeout=30)
    answer = session.post(f"{stack.app_base}/forms/r/{draft['id']}/discard", data=fields, allow_redirects=False)
    assert answer.status_code == 409
    kept = requests.get(f"{hapi_base_url}/{QR}/{draft['id']}", headers=FHIR_JSON, timeout=30).json()
    assert kept["status"] == "in-progress" and kept["meta"]["versionId"] == "2"


def test_a_completed_record_is_never_discarded_on_hapi(stack, hapi_base_url):
    patient = new_patient(hapi_base_url)
    done = _put_response(hapi_base_url, patient, status="completed")
    session = clinician(stack, patient)
    html = session.get(f"{stack.app_base}/forms/r/{done['id']}/discard").text
    csrf = re.search(r'name="csrf_token" value="([^"]+)"', session.get(
        f"{stack.app_base}/forms/mbt-session-record/new").text).group(1)
    answer = session.post(f"{stack.app_base}/forms/r/{done['id']}/discard",
                          data={"csrf_token": csrf, "version_id": "1", "confirm": "yes"}, allow_redirects=False)
    assert answer.status_code == 403 and "never discarded" in answer.text and "never discarded" in html
    kept = requests.get(f"{hapi_base_url}/{QR}/{done['id']}", headers=FHIR_JSON, timeout=30).json()
    assert kept["status"] == "completed" and kept["meta"]["versionId"] == "1"
