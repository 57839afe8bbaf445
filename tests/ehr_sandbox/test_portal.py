"""The patient portal: a patient signs in (no password) and launches the app as themselves."""

from __future__ import annotations

import jwt

from ehr_sandbox.access import patients_named
from ehr_sandbox.oauth import PATIENT_SIGN_IN

PORTAL_LAUNCH = "http://127.0.0.1:5000/portal/launch"


def _claims(body: dict) -> dict:
    return jwt.decode(body["id_token"], options={"verify_signature": False})


def test_portal_page_lists_patients_escaped(sb):
    page = sb.client.get("/portal/")
    assert page.status_code == 200
    html = page.get_data(as_text=True)
    assert "no password" in html and 'value="peter"' in html
    assert "Anna &lt;b&gt;Bold&lt;/b&gt;" in html and "<b>Bold" not in html
    assert PORTAL_LAUNCH in html


def test_portal_launch_makes_the_patient_the_user(sb):
    answer = sb.client.post("/portal/launch", data={"patient": "peter", "app_launch_url": PORTAL_LAUNCH})
    assert answer.status_code == 303
    location = answer.headers["Location"]
    assert location.startswith(PORTAL_LAUNCH + "?")
    params = sb.query_of(location)
    assert params["iss"] == sb.FHIR
    body = sb.tokens(launch=params["launch"])
    assert body["patient"] == "peter"
    assert _claims(body)["fhirUser"] == f"{sb.FHIR}/Patient/peter"


def test_portal_launch_needs_a_patient(sb):
    answer = sb.client.post("/portal/launch", data={"patient": "", "app_launch_url": PORTAL_LAUNCH})
    assert answer.status_code == 400
    assert "Choose who you are" in answer.get_data(as_text=True)


def test_clinician_launch_still_has_a_practitioner_user(sb):
    body = sb.tokens()
    assert _claims(body)["fhirUser"] == f"{sb.FHIR}/Practitioner/doc1"


def test_standalone_sign_in_as_the_patient(sb):
    verifier, challenge = sb.pkce()
    params = sb.authorize_params(challenge, scope="launch/patient openid fhirUser patient/Observation.c")
    html = sb.client.get("/authorize", query_string=params).get_data(as_text=True)
    assert f'value="{PATIENT_SIGN_IN}"' in html
    request_id = html.split('name="request_id" value="')[1].split('"')[0]
    answer = sb.client.post("/authorize/decision", data={
        "request_id": request_id, "patient": "anna", "practitioner": PATIENT_SIGN_IN, "decision": "approve"})
    back = sb.query_of(answer.headers["Location"])
    body = sb.exchange(back["code"], verifier).get_json()
    assert body["patient"] == "anna"
    assert _claims(body)["fhirUser"] == f"{sb.FHIR}/Patient/anna"


def test_a_task_belongs_to_the_patient_it_is_for():
    assert patients_named({"resourceType": "Task", "for": {"reference": "Patient/anna"}}) == {"anna"}
