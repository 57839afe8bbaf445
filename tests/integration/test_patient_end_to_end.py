"""The patient side against the real thing: portal launch through the EHR sandbox, a risky check-in
on HAPI FHIR with its Flag and Task, and a clinician who sees the follow-up and records it."""

from __future__ import annotations

from app_helpers import hidden_fields as hidden_of
from fhir_mbt.content import terminology
from patient_ehr import risky
from integration.test_end_to_end import PATIENT, Browser, clinician, fhir

CHECKIN = terminology.WEEKLY_CHECKIN


def patient(stack) -> Browser:
    """Peter signed in to the sandbox's portal, in the app's patient pages."""
    session = Browser()
    answer = session.post(f"{stack.sandbox_base}/portal/launch",
                          data={"patient": PATIENT, "app_launch_url": f"{stack.app_base}/portal/launch"})
    assert answer.status_code == 200, answer.text[:1000]
    assert answer.url == f"{stack.app_base}/me/", answer.url
    return session


def _care_team(stack, rid: str) -> tuple[list[dict], list[dict]]:
    client = fhir(stack)
    tasks = list(client.search("Task", {"focus": f"QuestionnaireResponse/{rid}"}))
    flags = [client.read("Flag", t["reasonReference"]["reference"].split("/")[-1]) for t in tasks]
    return tasks, flags


def test_patient_reports_risk_and_a_clinician_records_the_follow_up(stack):
    peter = patient(stack)
    home = peter.get(f"{stack.app_base}/me/")
    assert "Hello Peter" in home.text and "tel:" in home.text

    url = f"{stack.app_base}/me/forms/{CHECKIN}/new"
    hidden = hidden_of(peter.get(url).text)
    sent = peter.post(url, data={**risky(), **hidden, "action": "complete"})
    assert sent.status_code == 200 and sent.url == f"{stack.app_base}/me/safety", sent.text[:2000]
    assert "care team has been alerted" in sent.text and "What I can do" in sent.text

    [response] = list(fhir(stack).search("QuestionnaireResponse", {
        "identifier": f"http://fhir-mbt.org/fhir/identifier/response|{hidden['submission_id']}"}))
    me = {"reference": f"Patient/{PATIENT}"}
    assert response["status"] == "completed" and response["author"] == me and response["source"] == me
    observations = list(fhir(stack).search("Observation", {"derived-from": f"QuestionnaireResponse/{response['id']}"}))
    assert observations and all(o["performer"] == [me] for o in observations)
    [task], [flag] = _care_team(stack, response["id"])
    assert task["status"] == "requested" and task["for"] == me and task["priority"] == "asap"
    assert flag["status"] == "active" and flag["subject"] == me

    # the patient cannot open the clinician's pages, nor the follow-up
    assert peter.get(f"{stack.app_base}/dashboard").url == f"{stack.app_base}/me/"
    assert peter.get(f"{stack.app_base}/forms/{terminology.SESSION_RECORD}/new").status_code == 403
    assert peter.get(f"{stack.app_base}/me/forms/{terminology.SESSION_RECORD}/new").status_code == 403

    doc = clinician(stack)
    dashboard = doc.get(f"{stack.app_base}/dashboard")
    assert "Needs follow-up" in dashboard.text and f"/follow-up/{task['id']}" in dashboard.text
    assert f"/forms/r/{response['id']}" in dashboard.text
    csrf = dashboard.text.split('name="csrf_token" value="')[1].split('"')[0]
    done = doc.post(f"{stack.app_base}/follow-up/{task['id']}", data={"csrf_token": csrf, "note": "Phoned Peter."})
    assert done.status_code == 200 and "Follow-up recorded." in done.text, done.text[:2000]

    [task], [flag] = _care_team(stack, response["id"])
    assert task["status"] == "completed" and task["owner"]["reference"].startswith("Practitioner/")
    assert task["note"][-1]["text"] == "Phoned Peter." and task["executionPeriod"]["end"]
    assert flag["status"] == "inactive" and flag["period"]["end"]
    provenance = list(fhir(stack).search("Provenance", {"target": f"Task/{task['id']}"}))
    assert provenance and provenance[0]["agent"][0]["who"] == task["owner"]


def test_patient_draft_resume_and_send_on_hapi(stack):
    from patient_ehr import checkin_answers, names

    peter = patient(stack)
    url = f"{stack.app_base}/me/forms/{CHECKIN}/new"
    hidden = hidden_of(peter.get(url).text)
    draft = peter.post(url, data={names(CHECKIN)["checkin.blow-ups"]: "4", **hidden, "action": "draft"})
    assert draft.status_code == 200 and "/me/forms/r/" in draft.url, draft.text[:1500]
    resume = draft.url
    again = hidden_of(peter.get(resume).text)
    sent = peter.post(resume, data={**checkin_answers(), **again, "action": "complete"})
    assert sent.status_code == 200 and sent.url == f"{stack.app_base}/me/", sent.text[:1500]
    [stored] = list(fhir(stack).search("QuestionnaireResponse", {
        "identifier": f"http://fhir-mbt.org/fhir/identifier/response|{hidden['submission_id']}"}))
    assert stored["status"] == "completed" and stored["author"] == {"reference": f"Patient/{PATIENT}"}
    assert list(fhir(stack).search("Task", {"focus": f"QuestionnaireResponse/{stored['id']}"})) == []
