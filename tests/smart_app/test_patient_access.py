"""A patient session cannot read or write clinician-only content: tried by URL, form field and id guessing.
Bad input from a patient gets plain words, keeps the answers, and writes nothing."""

from __future__ import annotations

import json

import pytest
import responses

from app_helpers import hidden_fields
from fhir_mbt.content import definitions_dir, terminology
from patient_ehr import CHECKIN, ME, PETER, PatientEhr, checkin_answers, mine, names, portal_launch, send

CLINICIAN_ONLY = [terminology.SESSION_RECORD, terminology.MENTALIZING_PROFILE, terminology.FORMULATION,
                  terminology.CRISIS_PLAN, terminology.PERIODIC_REVIEW]


@pytest.fixture
def pehr():
    with responses.RequestsMock(assert_all_requests_are_fired=False) as rsps:
        fake = PatientEhr(rsps)
        fake.patient = PETER
        fake._bundle(json.loads((definitions_dir() / "examples" / "Bundle-mbt-example-peter.json").read_text()))
        # A clinician's draft check-in, another patient and their draft.
        fake.put({"resourceType": "Patient", "id": "anna"})
        base = {"resourceType": "QuestionnaireResponse", "status": "in-progress",
                "questionnaire": terminology.questionnaire_url(CHECKIN) + "|0.1.0",
                "authored": "2026-11-29T10:00:00Z",
                "item": [{"linkId": "checkin.blow-ups", "answer": [{"valueInteger": 7}]}]}
        fake.put({**base, "id": "clin-draft", "subject": {"reference": ME},
                  "author": {"reference": "Practitioner/mbt-example-clinician"}})
        fake.put({**base, "id": "anna-draft", "subject": {"reference": "Patient/anna"},
                  "author": {"reference": "Patient/anna"}})
        fake.put({**base, "id": "clin-session-draft", "subject": {"reference": ME},
                  "author": {"reference": "Practitioner/mbt-example-clinician"},
                  "questionnaire": terminology.questionnaire_url(terminology.SESSION_RECORD) + "|0.1.0"})
        yield fake


@pytest.fixture
def patient(client, pehr):
    answer = portal_launch(client, pehr, user=ME)
    assert answer.headers["Location"].endswith("/me/")
    return client


def _writes(pehr) -> int:
    return sum(r.method in ("POST", "PUT", "DELETE") for r in pehr.fhir_requests)


@pytest.mark.parametrize("path", ["/forms/mbt-session-record/new", "/forms/mbt-weekly-checkin/new",
                                  "/forms/r/peter-session-01", "/forms/r/peter-session-01/edit",
                                  "/forms/r/clin-draft/edit", "/forms/mbt-formulation/revise", "/copy/formulation",
                                  "/forms/r/peter-session-01/history", "/forms/r/peter-session-01/v/1",
                                  "/forms/formulation/history", "/records", "/forms/r/clin-draft/discard"])
def test_clinician_pages_answer_403_with_a_clear_page(patient, pehr, path):
    before = len(pehr.fhir_requests)
    page = patient.get(path)
    assert page.status_code == 403
    html = page.get_data(as_text=True)
    assert "for your care team" in html and 'href="tel:988"' in html
    assert "Crisis plan written with Peter" not in html
    assert len(pehr.fhir_requests) == before, "nothing is even read"


@pytest.mark.parametrize("path", ["/forms/mbt-session-record/new", "/forms/r/peter-session-01/edit",
                                  "/follow-up/some-task", "/forms/r/peter-checkin-27/discard"])
def test_clinician_writes_are_refused(patient, pehr, path):
    csrf = hidden_fields(patient.get(f"/me/forms/{CHECKIN}/new").get_data(as_text=True))["csrf_token"]
    before = _writes(pehr)
    answer = patient.post(path, data={"csrf_token": csrf, "action": "complete", "a:session.date": "2026-11-30"})
    assert answer.status_code == 403
    assert _writes(pehr) == before


@pytest.mark.parametrize("qid", CLINICIAN_ONLY)
def test_a_clinician_only_form_is_refused_in_the_patient_pages(patient, pehr, qid):
    page = patient.get(f"/me/forms/{qid}/new")
    assert page.status_code == 403
    assert "This form is for your care team" in page.get_data(as_text=True)
    csrf = hidden_fields(patient.get(f"/me/forms/{CHECKIN}/new").get_data(as_text=True))["csrf_token"]
    before = _writes(pehr)
    assert patient.post(f"/me/forms/{qid}/new", data={"csrf_token": csrf, "action": "complete"}).status_code == 403
    assert _writes(pehr) == before


@pytest.mark.parametrize("rid", ["peter-session-01", "clin-draft", "anna-draft", "clin-session-draft",
                                 "peter-formulation-1", "does-not-exist", "..%2F..%2FPatient%2Fanna"])
def test_guessing_ids_finds_nothing_but_own_drafts(patient, pehr, rid):
    page = patient.get(f"/me/forms/r/{rid}")
    assert page.status_code == 404
    html = page.get_data(as_text=True)
    assert "7" not in html.split("<main>")[1].split("</main>")[0]
    csrf = hidden_fields(patient.get(f"/me/forms/{CHECKIN}/new").get_data(as_text=True))["csrf_token"]
    before = _writes(pehr)
    answer = patient.post(f"/me/forms/r/{rid}", data={"csrf_token": csrf, "action": "complete", "version_id": "1"})
    assert answer.status_code == 404 and _writes(pehr) == before


def test_home_never_offers_a_clinicians_draft(patient):
    html = patient.get("/me/").get_data(as_text=True)
    assert "clin-draft" not in html and "anna-draft" not in html


def test_form_fields_for_hidden_or_foreign_items_are_ignored(patient, pehr):
    data = checkin_answers()
    data["a:checkin.scores/checkin.score.self-worth"] = ["99"]
    data["a:checkin.score.self-worth"] = ["99"]
    data["a:session.date"] = ["2026-11-30"]
    data["subject"] = ["Patient/anna"]
    data["author"] = ["Practitioner/x"]
    answer = send(patient, f"/me/forms/{CHECKIN}/new", data, action="draft")
    assert answer.status_code == 302
    [draft] = mine(pehr, "in-progress")
    text = json.dumps(draft)
    assert "checkin.score" not in text and "session.date" not in text and "anna" not in text
    assert draft["subject"] == {"reference": ME} and draft["author"] == {"reference": ME}


# --- bad input ------------------------------------------------------------------------------


def _no_new_writes(pehr, before):
    assert _writes(pehr) == before, "nothing half-written"


def test_empty_send_asks_in_plain_words(patient, pehr):
    before = _writes(pehr)
    answer = send(patient, f"/me/forms/{CHECKIN}/new", {})
    html = answer.get_data(as_text=True)
    assert answer.status_code == 422
    assert "Nothing has been sent yet" in html and "Please answer this question." in html
    assert "required item" not in html and "linkId" not in html
    _no_new_writes(pehr, before + 0)


def test_out_of_range_numbers_are_explained_and_answers_kept(patient, pehr):
    n = names(CHECKIN)
    data = checkin_answers()
    data[n["checkin.blow-ups"]] = ["500"]
    data[n["checkin.pauses"]] = ["lots"]
    before = _writes(pehr)
    answer = send(patient, f"/me/forms/{CHECKIN}/new", data)
    html = answer.get_data(as_text=True)
    assert answer.status_code == 422
    assert "Please enter a number from 0 to 100." in html
    assert 'value="500"' in html and 'value="lots"' in html
    assert "Please enter a whole number" in html or "Please enter a number from 0 to 100." in html
    _no_new_writes(pehr, before)


def test_hostile_text_is_kept_escaped(patient, pehr):
    n = names(CHECKIN)
    data = checkin_answers()
    data[n["checkin.emotions-note"]] = ['<script>alert("x")</script> & "quotes"']
    data[n["checkin.blow-ups"]] = ["-1"]
    answer = send(patient, f"/me/forms/{CHECKIN}/new", data)
    html = answer.get_data(as_text=True)
    assert answer.status_code == 422
    assert "<script>alert" not in html and "&lt;script&gt;alert(&#34;x&#34;)&lt;/script&gt;" in html


def test_huge_text_is_refused_with_a_clear_message_and_kept(patient, pehr):
    n = names(CHECKIN)
    data = checkin_answers()
    data[n["checkin.emotions-note"]] = ["a" * 5000]
    before = _writes(pehr)
    answer = send(patient, f"/me/forms/{CHECKIN}/new", data)
    html = answer.get_data(as_text=True)
    assert answer.status_code == 422
    assert "too long" in html and "a" * 5000 in html
    _no_new_writes(pehr, before)


def test_a_post_too_large_to_read_gets_a_patient_page(patient, pehr):
    path = f"/me/forms/{CHECKIN}/new"
    hidden = hidden_fields(patient.get(path).get_data(as_text=True))
    before = _writes(pehr)
    answer = patient.post(path, data={**hidden, "action": "complete", names(CHECKIN)["checkin.emotions-note"]: "a" * 2_000_000})
    assert answer.status_code == 413
    assert "too long" in answer.get_data(as_text=True) and 'href="tel:988"' in answer.get_data(as_text=True)
    _no_new_writes(pehr, before)


def test_every_clinician_endpoint_is_closed_to_a_patient(app, patient, pehr):
    """Default deny: any route outside the patient's own pages, present or future, answers 403 (or sends home)."""
    open_to_patients = ("patient.", "patient_forms.", "portal.", "static", "launch.", "favicon")
    checked = 0
    for rule in app.url_map.iter_rules():
        if rule.endpoint.startswith(open_to_patients):
            continue
        url = rule.rule.replace("<qid>", "mbt-weekly-checkin").replace("<rid>", "peter-checkin-27") \
            .replace("<task_id>", "t1").replace("<path:filename>", "x")
        for method in sorted(rule.methods & {"GET", "POST"}):
            data = {"csrf_token": _csrf(patient)} if method == "POST" else None
            answer = patient.open(url, method=method, data=data)
            assert answer.status_code in (302, 403), (method, url, answer.status_code)
            if answer.status_code == 302:
                assert answer.headers["Location"].endswith("/me/"), (method, url)
            checked += 1
    assert checked >= 10


def _csrf(client) -> str:
    return hidden_fields(client.get(f"/me/forms/{CHECKIN}/new").get_data(as_text=True))["csrf_token"]
