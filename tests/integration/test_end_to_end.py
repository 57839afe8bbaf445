"""The product against the real thing: HAPI FHIR, the EHR sandbox and the app, on loopback.

A clinician here is a :class:`app_helpers.Browser`: a ``requests`` session that
follows redirects itself and, like a browser on localhost, sends the app's Secure
cookie over loopback http.
"""

from __future__ import annotations

from urllib.parse import urlsplit

import requests

from app_helpers import Browser, field_name, post_data_from_response
from app_helpers import hidden_fields as hidden_of
from fhir_mbt.content import terminology
from fhir_mbt.content import shipped
from fhir_mbt.engine import RESPONSE_IDENTIFIER_SYSTEM
from fhir_mbt.content.upload import upload_definitions, upload_examples
from fhir_mbt.content.view_shape import LOGICAL_TYPES
from fhir_mbt.client import FhirClient

PATIENT = "mbt-example-peter"
CLINICIAN = "mbt-example-clinician"
TIMEOUT = 120


def clinician(stack) -> requests.Session:
    """A signed-in clinician: EHR launch from the sandbox through to the app's dashboard."""
    session = Browser()
    answer = session.post(
        f"{stack.sandbox_base}/launch",
        data={"patient": PATIENT, "practitioner": CLINICIAN, "app_launch_url": f"{stack.app_base}/launch"},
        timeout=TIMEOUT,
    )
    assert answer.status_code == 200, answer.text[:1000]
    assert answer.url.split("?", 1)[0] == f"{stack.app_base}/dashboard"
    return session


def hidden_fields(session, url) -> dict:
    return hidden_of(session.get(url, timeout=TIMEOUT).text)


def fhir(stack) -> FhirClient:
    return FhirClient(stack.fhir_base, timeout=(10, TIMEOUT))


def example(qid: str) -> dict:
    bundle = shipped().resources("Bundle", examples=True)[0]
    return next(e["resource"] for e in bundle["entry"]
                if e["resource"]["resourceType"] == "QuestionnaireResponse"
                and e["resource"]["questionnaire"].split("|")[0].endswith("/" + qid))


def session_form(answers: dict[str, str] | None = None) -> dict:
    """A filled session record (the example's answers), with ``answers`` (linkId → value) changed."""
    questionnaire = shipped().get(terminology.questionnaire_url(terminology.SESSION_RECORD))
    data = post_data_from_response(questionnaire, example(terminology.SESSION_RECORD))
    for link_id, value in (answers or {}).items():
        data[field_name(questionnaire, link_id)] = [value]
    return data


def by_identifier(stack, value) -> list[dict]:
    return list(fhir(stack).search("QuestionnaireResponse", {"identifier": f"{RESPONSE_IDENTIFIER_SYSTEM}|{value}"}))


def test_upload_is_idempotent(stack):
    client = fhir(stack)
    before = client.read("Questionnaire", terminology.SESSION_RECORD)["meta"]["versionId"]
    again = upload_definitions(client, shipped())
    examples = upload_examples(client, shipped())
    on_server = [r for r in shipped().resources() if r["resourceType"] not in LOGICAL_TYPES]
    assert again.written == [] and len(again.unchanged) == len(on_server)
    assert examples.written == []
    guide = client.read("ImplementationGuide", "fhir-mbt")
    assert not [e for e in guide["definition"]["resource"] if e["reference"]["reference"].startswith("ViewDefinition/")]
    assert client.read("Questionnaire", terminology.SESSION_RECORD)["meta"]["versionId"] == before


def test_ehr_launch_through_the_sandbox_shows_the_dashboard(stack):
    session = clinician(stack)
    page = session.get(f"{stack.app_base}/dashboard", timeout=TIMEOUT)
    assert page.status_code == 200
    html = page.text
    assert "Peter" in html and "Treatment goals" in html
    assert html.count("<svg") >= 4
    assert "frame-ancestors 'self' " + stack.sandbox_base in page.headers["Content-Security-Policy"]


def test_recording_a_session_writes_response_and_observations_once(stack):
    session = clinician(stack)
    url = f"{stack.app_base}/forms/{terminology.SESSION_RECORD}/new"
    hidden = hidden_fields(session, url)
    data = session_form({"session.date": "2026-11-16"})
    first = session.post(url, data={**data, **hidden, "action": "complete"}, timeout=TIMEOUT)
    assert first.status_code == 200 and urlsplit(first.url).path == "/dashboard", first.text[:2000]
    [stored] = by_identifier(stack, hidden["submission_id"])
    assert stored["status"] == "completed"
    observations = list(fhir(stack).search("Observation", {"derived-from": f"QuestionnaireResponse/{stored['id']}"}))
    assert observations and all(o["subject"]["reference"] == f"Patient/{PATIENT}" for o in observations)
    provenance = list(fhir(stack).search("Provenance", {"target": f"QuestionnaireResponse/{stored['id']}"}))
    assert len(provenance) == 1

    again = session.post(url, data={**data, **hidden, "action": "complete"}, timeout=TIMEOUT)
    assert again.status_code == 200
    assert len(by_identifier(stack, hidden["submission_id"])) == 1
    after = list(fhir(stack).search("Observation", {"derived-from": f"QuestionnaireResponse/{stored['id']}"}))
    assert len(after) == len(observations)


def test_two_clinicians_amending_the_second_gets_a_conflict(stack):
    first, second = clinician(stack), clinician(stack)
    url = f"{stack.app_base}/forms/{terminology.SESSION_RECORD}/new"
    hidden = hidden_fields(first, url)
    created = first.post(url, data={**session_form({"session.date": "2026-11-17"}), **hidden, "action": "complete"},
                         timeout=TIMEOUT)
    assert created.status_code == 200
    [stored] = by_identifier(stack, hidden["submission_id"])
    edit = f"{stack.app_base}/forms/r/{stored['id']}/edit"
    mine, theirs = hidden_fields(first, edit), hidden_fields(second, edit)
    ok = second.post(edit, data={**session_form({"session.date": "2026-11-17", "next.focus": "their plan"}), **theirs,
                                 "action": "complete", "amend_reason": "Plan agreed"}, timeout=TIMEOUT)
    assert ok.status_code == 200 and urlsplit(ok.url).path == "/dashboard", ok.text[:1500]
    late = first.post(edit, data={**session_form({"session.date": "2026-11-17", "next.focus": "my plan"}), **mine,
                                  "action": "complete", "amend_reason": "Plan changed"}, timeout=TIMEOUT)
    assert late.status_code == 409
    assert "my plan" in late.text, "the second clinician's answers stay on the page"
    current = fhir(stack).read("QuestionnaireResponse", stored["id"])
    assert current["status"] == "amended" and "their plan" in str(current) and "my plan" not in str(current)


def test_dashboard_reads_a_history_that_needs_paging(stack, monkeypatch):
    from smart_app import patient_data

    monkeypatch.setattr(patient_data, "PAGE_SIZE", 10)
    session = clinician(stack)
    page = session.get(f"{stack.app_base}/dashboard", timeout=TIMEOUT)
    assert page.status_code == 200
    sessions = [r for r in fhir(stack).search("QuestionnaireResponse", {"subject": f"Patient/{PATIENT}", "_count": 200})
                if r["questionnaire"].split("|")[0].endswith(terminology.SESSION_RECORD)
                and r["status"] in ("completed", "amended")]
    assert len(sessions) > 10
    assert f">Sessions ({len(sessions)})</a>" in page.text, "every page of the search was read"
