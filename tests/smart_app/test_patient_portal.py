"""The patient's side: launch from the portal, home, check-in and RFQ-8 with drafts, risk."""

from __future__ import annotations

import json
from urllib.parse import parse_qs, urlsplit


from app_helpers import hidden_fields
from fhir_mbt.content import shipped, terminology
from patient_ehr import CHECKIN, ME, checkin_answers, mine, names, portal_launch, risky, send
from smart_app.questionnaire_form import build_form, walk_fields



# --- launch ----------------------------------------------------------------------------------


def test_portal_launch_asks_for_patient_scopes(client, pehr):
    started = client.get("/portal/launch?iss=https://ehr.test/fhir&launch=abc")
    scope = parse_qs(urlsplit(started.headers["Location"]).query)["scope"][0].split()
    assert {"launch", "openid", "fhirUser", "patient/QuestionnaireResponse.crus", "patient/Observation.c",
            "patient/Flag.c", "patient/Task.c"} <= set(scope)
    assert not any(s.startswith("user/") for s in scope)
    standalone = client.get("/portal/launch?iss=https://ehr.test/fhir")
    assert "launch/patient" in parse_qs(urlsplit(standalone.headers["Location"]).query)["scope"][0].split()


def test_patient_view_comes_from_fhir_user_not_from_the_url(client, pehr):
    answer = portal_launch(client, pehr, user=ME, path="/launch")
    assert answer.headers["Location"].endswith("/me/")
    assert client.get("/dashboard").headers["Location"].endswith("/me/")


def test_a_clinician_through_the_portal_url_gets_the_clinician_view(client, pehr):
    answer = portal_launch(client, pehr, user="Practitioner/mbt-example-clinician")
    assert answer.headers["Location"].split("?")[0].endswith("/dashboard")
    page = client.get("/me/")
    assert page.status_code == 403 and "for patients" in page.get_data(as_text=True)


def test_a_patient_signed_in_for_another_patients_record_is_refused(client, pehr):
    answer = portal_launch(client, pehr, user="Patient/someone-else")
    assert answer.status_code == 403
    assert "only open your own" in answer.get_data(as_text=True)
    assert client.get("/me/").status_code == 401
    assert client.get("/dashboard").status_code == 401


def test_a_related_person_is_refused(client, pehr):
    answer = portal_launch(client, pehr, user="RelatedPerson/mum")
    assert answer.status_code == 403


# --- home ------------------------------------------------------------------------------------


def test_home_shows_what_is_due_chart_formulation_and_crisis_plan(patient):
    html = patient.get("/me/").get_data(as_text=True)
    assert "Hello Peter" in html
    assert "Start: Weekly check-in" in html or "Start: MBT weekly check-in" in html or "/me/forms/mbt-weekly-checkin/new" in html
    assert html.count("<meter") >= 2 and "Blow-ups" in html and "Mon 31 Aug" in html
    assert "Tell my mother or father" in html  # the crisis plan: what I can do
    assert "Dear Peter" in html  # the formulation, as written to him
    assert 'href="tel:988"' in html
    # nothing from clinicians' records
    assert "Crisis plan written with Peter in this session" not in html
    assert "next.focus" not in html and "Slow down the next blow-up" not in html


def test_formulation_page_uses_patient_wording(patient):
    html = patient.get("/me/formulation").get_data(as_text=True)
    assert "Our shared understanding" in html and "Dear Peter" in html
    assert "Feeling easily hurt and pulling back from people" in html  # not the clinician's "Vulnerable"
    assert 'href="tel:988"' in html and "/dashboard" not in html


def test_crisis_plan_page(patient):
    html = patient.get("/me/crisis-plan").get_data(as_text=True)
    assert "What I can do" in html and "Contacts" in html and 'href="tel:988"' in html
    assert html.count('href="tel:988"') == 1


# --- answering -------------------------------------------------------------------------------


def test_checkin_form_hides_score_groups(patient):
    html = patient.get(f"/me/forms/{CHECKIN}/new").get_data(as_text=True)
    assert "checkin.blow-ups" in html
    assert "checkin.score" not in html and "Scores" not in html


def test_draft_then_resume_then_send(patient, pehr):
    path = f"/me/forms/{CHECKIN}/new"
    n = names(CHECKIN)
    saved = send(patient, path, {n["checkin.blow-ups"]: ["3"]}, action="draft")
    assert saved.status_code == 302 and "/me/forms/r/" in saved.headers["Location"]
    [draft] = mine(pehr, "in-progress")
    assert draft["author"] == {"reference": ME} and draft["source"] == {"reference": ME}
    resume = saved.headers["Location"]
    page = patient.get(resume).get_data(as_text=True)
    assert 'value="3"' in page
    home = patient.get("/me/").get_data(as_text=True)
    assert "Finish: " in home and resume in home
    done = send(patient, resume, checkin_answers(), action="complete")
    assert done.status_code == 302 and done.headers["Location"].endswith("/me/"), done.data[:2000]
    home = patient.get("/me/").get_data(as_text=True)
    assert "This week&#39;s check-in is done" in home or "This week's check-in is done" in home
    assert f"/me/forms/{CHECKIN}/new" not in home
    [sent] = mine(pehr)
    assert sent["id"] == draft["id"] and sent["status"] == "completed"
    observations = [o for o in pehr.of_type("Observation")
                    if o.get("derivedFrom", [{}])[0].get("reference") == f"QuestionnaireResponse/{sent['id']}"]
    assert observations and all(o["performer"] == [{"reference": ME}] for o in observations)
    assert pehr.of_type("Flag") == [] and pehr.of_type("Task") == []


def test_rfq8_is_scored_by_the_engine_and_scores_are_not_shown(patient, pehr):
    q = shipped().get(terminology.questionnaire_url(terminology.RFQ8))
    fields = [f for f in walk_fields(build_form(q, shipped())) if f.type == "choice"]
    html = patient.get(f"/me/forms/{terminology.RFQ8}/new").get_data(as_text=True)
    assert "RFQ_c" not in html and "rfq8.certainty" not in html
    answer = send(patient, f"/me/forms/{terminology.RFQ8}/new", {f.name: [f.options[3].token] for f in fields})
    assert answer.status_code == 302
    [stored] = mine(pehr)
    assert "rfq8.certainty" in json.dumps(stored)


def test_a_risky_checkin_alerts_the_care_team_in_the_same_transaction(patient, pehr):
    before = len(pehr.fhir_requests)
    answer = send(patient, f"/me/forms/{CHECKIN}/new", risky())
    assert answer.status_code == 302 and answer.headers["Location"].endswith("/me/safety")
    writes = [r for r in pehr.fhir_requests[before:] if r.method in ("POST", "PUT")]
    assert len(writes) == 1, "response, Observations, Flag and Task in one transaction"
    [flag], [task], [sent] = pehr.of_type("Flag"), pehr.of_type("Task"), mine(pehr)
    assert flag["status"] == "active" and flag["subject"] == {"reference": ME}
    assert task["status"] == "requested" and task["priority"] == "asap"
    assert task["focus"] == {"reference": f"QuestionnaireResponse/{sent['id']}"}
    assert "does not feel safe" in task["description"] and "contacted" in task["description"]
    page = patient.get("/me/safety")
    html = page.get_data(as_text=True)
    assert page.status_code == 200
    assert html.index('href="tel:988"') < html.index("What I can do")
    assert html.count('href="tel:988"') == 1, "the number once, in the safety panel; no second bar under it"
    assert "Tell my mother or father" in html and "care team has been alerted" in html


def test_the_safety_page_shows_even_when_the_server_is_down(patient, pehr):
    with patient.session_transaction() as s:
        s.pop("crisis_plan", None)
    pehr.fail_next = [(503, "down")] * 5
    page = patient.get("/me/safety")
    html = page.get_data(as_text=True)
    assert page.status_code == 200 and 'href="tel:988"' in html and "could not be loaded" in html


def test_a_failed_send_with_risk_answers_still_shows_the_emergency_line_and_keeps_answers(patient, pehr):
    patient.get("/me/")
    path = f"/me/forms/{CHECKIN}/new"
    hidden = hidden_fields(patient.get(path).get_data(as_text=True))
    pehr.fail_next = [(500, "boom")] * 5
    answer = patient.post(path, data={**risky(), **hidden, "action": "complete"})
    html = answer.get_data(as_text=True)
    assert answer.status_code == 502
    assert 'href="tel:988"' in html and "Tell my mother or father" in html
    # The server failed, and failed again when asked whether the answers landed: the app cannot know.
    assert "could not tell whether your answers reached your care team" in html
    assert pehr.of_type("Flag") == [] and mine(pehr) == []


def test_double_send_writes_one_response_one_flag_one_task(patient, pehr):
    path = f"/me/forms/{CHECKIN}/new"
    hidden = hidden_fields(patient.get(path).get_data(as_text=True))
    for _ in range(2):
        patient.post(path, data={**risky(), **hidden, "action": "complete"})
    assert len(mine(pehr)) == 1 and len(pehr.of_type("Flag")) == 1 and len(pehr.of_type("Task")) == 1


def test_a_refused_launch_ends_the_earlier_sign_in(patient, pehr):
    assert patient.get("/me/").status_code == 200
    assert portal_launch(patient, pehr, user="Patient/someone-else").status_code == 403
    assert patient.get("/me/").status_code == 401


def test_sign_out_ends_the_session_and_returns_to_the_portal_start(patient):
    csrf = hidden_fields(patient.get(f"/me/forms/{CHECKIN}/new").get_data(as_text=True))["csrf_token"]
    answer = patient.post("/logout", data={"csrf_token": csrf})
    assert answer.status_code == 302 and answer.headers["Location"].endswith("/portal/")
    assert patient.get("/me/").status_code == 401


# --- after a failure: what did the server keep? ------------------------------------------------


def test_a_send_that_landed_although_the_server_failed_is_found_and_counts_as_sent(patient, pehr):
    pehr.fault(path="", after_write=True, status=500)  # the transaction is stored, the app is told it failed
    answer = send(patient, f"/me/forms/{CHECKIN}/new", risky())
    assert answer.status_code == 302 and answer.headers["Location"].endswith("/me/safety"), answer.data[-3000:]
    assert len(mine(pehr)) == 1 and len(pehr.of_type("Flag")) == 1 and len(pehr.of_type("Task")) == 1
    html = patient.get("/me/safety").get_data(as_text=True)
    assert "care team has been alerted" in html


def test_a_send_the_server_refused_before_writing_is_said_to_be_not_saved(patient, pehr):
    pehr.fault(path="", status=503)
    answer = send(patient, f"/me/forms/{CHECKIN}/new", checkin_answers())
    html = answer.get_data(as_text=True)
    assert answer.status_code == 502 and "nothing was saved" in html
    assert mine(pehr, "completed") == []
    again = patient.post(f"/me/forms/{CHECKIN}/new", data=_resend(html, checkin_answers()))
    assert again.status_code == 302 and len(mine(pehr, "completed")) == 1, "sent once, on the retry"


def test_when_the_server_cannot_say_a_retry_still_saves_once(patient, pehr):
    pehr.fault(path="", after_write=True, timeout=True)
    pehr.fault(path="QuestionnaireResponse", method="GET", status=500)
    answer = send(patient, f"/me/forms/{CHECKIN}/new", checkin_answers())
    html = answer.get_data(as_text=True)
    assert answer.status_code == 502 and "sending them again is safe" in html
    again = patient.post(f"/me/forms/{CHECKIN}/new", data=_resend(html, checkin_answers()))
    assert again.status_code == 302, again.data[-2000:]
    assert len(mine(pehr, "completed")) == 1, "the retry found the first send instead of writing a second record"


def _resend(html: str, answers: dict) -> dict:
    """Send again from the page that came back: its hidden fields (the same submission) and the answers."""
    return {**answers, **hidden_fields(html), "action": "complete"}
