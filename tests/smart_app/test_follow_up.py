"""The clinician side of patient-reported risk: "needs follow-up", recording it, who entered what."""

from __future__ import annotations

import re

import pytest

from app_helpers import hidden_fields
from patient_ehr import CHECKIN, ME, checkin_answers, portal_launch, risky, send

CLINICIAN = "Practitioner/mbt-example-clinician"


@pytest.fixture
def app2(tmp_path):
    from fake_ehr import ISS
    from smart_app import create_app

    return create_app({"TESTING": True, "MBT_SESSION_DB": str(tmp_path / "s2.sqlite3"), "MBT_ALLOWED_ISSUERS": [ISS],
                       "MBT_CLIENT_ID": "mbt-app", "MBT_EMERGENCY_LINE": "Call 988",
                       "MBT_FHIR_OPTIONS": {"max_retries": 0, "sleep": lambda s: None}})


def _patient_reports_risk(client, pehr):
    assert portal_launch(client, pehr, user=ME).headers["Location"].endswith("/me/")
    assert send(client, f"/me/forms/{CHECKIN}/new", risky()).headers["Location"].endswith("/me/safety")
    [task] = pehr.of_type("Task")
    return task


def _clinician(app2, pehr):
    doc = app2.test_client()
    assert "/dashboard" in portal_launch(doc, pehr, user=CLINICIAN, path="/launch").headers["Location"]
    return doc


def test_needs_follow_up_survives_later_checkins_until_recorded(client, app2, pehr):
    task = _patient_reports_risk(client, pehr)
    # a later check-in without risk does not hide it
    assert send(client, f"/me/forms/{CHECKIN}/new", checkin_answers()).headers["Location"].endswith("/me/")
    doc = _clinician(app2, pehr)
    html = doc.get("/dashboard").get_data(as_text=True)
    assert "Needs follow-up" in html and "does not feel safe right now" in html
    assert f"/forms/r/{task['focus']['reference'].split('/')[-1]}" in html
    assert f'action="/follow-up/{task["id"]}"' in html
    csrf = hidden_fields(html)["csrf_token"] if 'name="submission_id"' in html else \
        html.split('name="csrf_token" value="')[1].split('"')[0]
    answer = doc.post(f"/follow-up/{task['id']}", data={"csrf_token": csrf, "note": "Phoned Peter; safe tonight."})
    assert answer.status_code == 302
    task = pehr.resources[("Task", task["id"])]
    [flag] = pehr.of_type("Flag")
    assert task["status"] == "completed" and task["owner"] == {"reference": CLINICIAN}
    assert task["note"][-1]["text"] == "Phoned Peter; safe tonight."
    assert task["note"][-1]["authorReference"] == {"reference": CLINICIAN} and task["note"][-1]["time"]
    assert flag["status"] == "inactive" and flag["period"]["end"]
    after = doc.get("/dashboard").get_data(as_text=True)
    assert "<h2>Needs follow-up</h2>" not in after and "Recently followed up" in after and CLINICIAN in after
    again = doc.post(f"/follow-up/{task['id']}", data={"csrf_token": csrf, "note": "twice"})
    assert again.status_code == 302 and pehr.resources[("Task", task["id"])]["note"][-1]["text"] != "twice"


def test_a_follow_up_of_another_patient_or_not_ours_is_not_found(client, app2, pehr):
    pehr.put({"resourceType": "Task", "id": "other", "status": "requested", "intent": "order",
              "for": {"reference": "Patient/anna"},
              "identifier": [{"system": "http://fhir-mbt.org/fhir/identifier/task", "value": "x"}]})
    pehr.put({"resourceType": "Task", "id": "foreign", "status": "requested", "intent": "order",
              "for": {"reference": ME}})
    doc = _clinician(app2, pehr)
    html = doc.get("/dashboard").get_data(as_text=True)
    csrf = html.split('name="csrf_token" value="')[1].split('"')[0] if 'name="csrf_token"' in html else None
    if csrf is None:
        csrf = hidden_fields(doc.get("/forms/mbt-session-record/new", follow_redirects=True).get_data(as_text=True))["csrf_token"]
    for task_id in ("other", "foreign", "nope"):
        assert doc.post(f"/follow-up/{task_id}", data={"csrf_token": csrf}).status_code == 404
    assert pehr.resources[("Task", "other")]["status"] == "requested"


def test_recording_needs_a_named_clinician(client, app2, pehr):
    task = _patient_reports_risk(client, pehr)
    doc = app2.test_client()
    portal_launch(doc, pehr, user=None, path="/launch")
    csrf = hidden_fields(doc.get("/forms/mbt-session-record/new", follow_redirects=True).get_data(as_text=True))["csrf_token"]
    answer = doc.post(f"/follow-up/{task['id']}", data={"csrf_token": csrf})
    assert answer.status_code == 403 and pehr.resources[("Task", task["id"])]["status"] == "requested"


def test_a_patients_draft_is_marked_and_not_offered_to_clinicians(client, app2, pehr):
    from patient_ehr import names

    assert portal_launch(client, pehr, user=ME).headers["Location"].endswith("/me/")
    saved = send(client, f"/me/forms/{CHECKIN}/new", {names(CHECKIN)["checkin.blow-ups"]: ["3"]}, action="draft")
    assert saved.status_code == 302, saved.get_data(as_text=True)[-3000:]
    rid = saved.headers["Location"].rsplit("/", 1)[-1]
    html = _clinician(app2, pehr).get("/dashboard").get_data(as_text=True)
    assert "The patient's own draft" in html and f"/forms/r/{rid}/edit" not in html


def test_clinicians_see_who_entered_each_record(client, app2, pehr):
    doc = _clinician(app2, pehr)
    html = doc.get("/dashboard").get_data(as_text=True)
    assert '<th scope="col">Entered by</th>' in html

    def row(rid):
        return re.search(rf'<tr[^>]*data-record="{rid}".*?</tr>', html, re.S).group(0)

    assert '<span class="by-patient">Patient</span>' in row("peter-checkin-27")
    assert 'href="/forms/r/peter-checkin-27' in row("peter-checkin-27")
    assert "<td>Clinician</td>" in row("peter-session-27") and "by-patient" not in row("peter-session-27")
    assert 'class="mark"' in html and "entered by the patient" in html
    view = doc.get("/forms/r/peter-checkin-27").get_data(as_text=True)
    assert "entered by <strong class=\"by-patient\">the patient</strong>" in view
    assert "entered by a clinician" in doc.get("/forms/r/peter-session-01").get_data(as_text=True)
