"""One patient per form, always visible: banners, forms that carry their patient and
launch, and a browser launched again for another patient while a tab is still open."""

from __future__ import annotations

from dataclasses import replace
from urllib.parse import urlsplit

import pytest

from app_helpers import SESSION, field_name, form_csrf, form_data, launch, ours, questionnaire
from fhir_mbt.smart import SmartClient

BELLA = {
    "resourceType": "Patient",
    "id": "bella",
    "identifier": [{"system": "urn:example:mrn", "value": "BELLA-0002"}],
    "name": [{"given": ["Bella"], "family": "Sample"}],
    "birthDate": "1988-04-02",
    "gender": "female",
}
CHECKIN = "mbt-weekly-checkin"


def counts(ehr):
    return len(ehr.of_type("QuestionnaireResponse")), len(ehr.of_type("Observation")), len(ehr.of_type("Provenance"))


def banner(html: str) -> str:
    start = html.index('class="patient-banner"')
    return html[start:html.index("</section>", start)]


@pytest.fixture
def signed_in(monkeypatch, ehr):
    """Launches whose verified id_token names Dr Anna Berg as fhirUser."""
    ehr.put({"resourceType": "Practitioner", "id": "dr-anna", "name": [{"given": ["Anna"], "family": "Berg"}]})
    original = SmartClient._with_identity

    def with_identity(self, tokens, config):
        tokens = original(self, tokens, config)
        return replace(tokens, context=replace(tokens.context, fhir_user="Practitioner/dr-anna"))
    monkeypatch.setattr(SmartClient, "_with_identity", with_identity)


def heading(html: str) -> str:
    start = html.index("<h1>")
    return html[start:html.index("</h1>", start)]


@pytest.mark.parametrize("path", ["/dashboard", f"/forms/{SESSION}/new", "/forms/r/peter-session-01",
                                  "/copy/formulation"])
def test_the_banner_shows_when_the_ehr_asks_for_it(client, ehr, example_data, signed_in, path):
    ehr.need_patient_banner = True
    launch(client, ehr)
    html = client.get(path, follow_redirects=True).get_data(as_text=True)
    shown = banner(html)
    assert "Peter Example" in shown and "1999-10-14" in shown and "PETER-0001" in shown
    assert "Signed in as Anna Berg" in html


@pytest.mark.parametrize("path", ["/dashboard", f"/forms/{SESSION}/new", "/forms/r/peter-session-01",
                                  "/copy/formulation"])
def test_no_banner_when_the_ehr_shows_its_own(client, ehr, example_data, signed_in, path):
    ehr.need_patient_banner = False
    launch(client, ehr)
    page = client.get(path, follow_redirects=True)
    html = page.get_data(as_text=True)
    assert page.status_code == 200
    assert 'class="patient-banner"' not in html, "the EHR said it shows its own banner"
    assert "Signed in as Anna Berg" in html, "the signed-in user is named whatever the EHR says"


def test_form_and_record_pages_name_the_patient_even_without_a_banner(client, ehr, example_data):
    ehr.need_patient_banner = False  # the EHR shows its own banner; form and record pages still name the patient
    launch(client, ehr)
    page = client.get(f"/forms/{SESSION}/new", follow_redirects=True)
    html = page.get_data(as_text=True)
    assert page.status_code == 200
    assert "for Peter Example" in heading(html)
    hidden = form_csrf(client, f"/forms/{SESSION}/new")
    assert hidden["patient"] == "mbt-example-peter" and hidden["launch"]
    record = client.get("/forms/r/peter-session-01").get_data(as_text=True)
    assert "for Peter Example" in heading(record)


def test_the_banner_is_read_once_per_launch(launched, ehr):
    launched.get("/dashboard")  # the dashboard's one search brings the Patient along
    before = len(ehr.fhir_requests)
    launched.get(f"/forms/{SESSION}/new", follow_redirects=True)
    launched.get(f"/forms/{CHECKIN}/new", follow_redirects=True)
    assert [r for r in ehr.fhir_requests[before:] if "/Patient" in r.url] == []


def test_links_carry_the_patient(launched):
    html = launched.get("/dashboard").get_data(as_text=True)
    assert f'href="/forms/{CHECKIN}/new?patient=mbt-example-peter"' in html


def test_a_post_for_another_patient_is_refused_and_the_answers_kept(launched, ehr):
    """Peter's form is open in one tab; Bella is launched in another tab of the same browser."""
    ehr.put(BELLA)
    path = f"/forms/{SESSION}/new"
    hidden = form_csrf(launched, path)
    before = counts(ehr)
    assert launch(launched, ehr, patient="bella").status_code == 302
    data = form_data(ehr, SESSION)
    data[field_name(questionnaire(SESSION), "session.note")] = ["Peter spoke about his brother"]
    answer = launched.post(path, data={**data, **hidden, "action": "complete"})
    assert answer.status_code == 409
    html = answer.get_data(as_text=True)
    assert "This form is for another patient" in html
    assert "Peter Example" in html and "1999-10-14" in html, "which patient the form was for"
    assert "Bella Sample" in html and "1988-04-02" in html, "which patient is open now"
    assert "Nothing was saved" in html and "Peter spoke about his brother" in html
    assert counts(ehr) == before, "nothing written, to either patient"
    assert [r for r in ehr.of_type("QuestionnaireResponse") if r["subject"]["reference"] == "Patient/bella"] == []
    # Peter launched again: the form comes back filled in, and saves to Peter.
    back = launch(launched, ehr)
    assert urlsplit(back.headers["Location"]).path == path
    page = launched.get(path, follow_redirects=True)
    restored = page.get_data(as_text=True)
    assert "Peter spoke about his brother" in restored and "Peter Example" in banner(restored)
    again = launched.post(path, data={**data, **form_csrf(launched, path), "action": "complete"})
    assert again.status_code == 302
    [saved] = ours(ehr, "QuestionnaireResponse")
    assert saved["subject"]["reference"] == "Patient/mbt-example-peter"


def test_a_stale_tab_is_told_plainly_instead_of_switching_patient(launched, ehr):
    """The bug: Peter's tab followed "Record a check-in" after Bella's launch and got Bella's form, unnamed."""
    ehr.put(BELLA)
    peter_dashboard = launched.get("/dashboard").get_data(as_text=True)
    link = f"/forms/{CHECKIN}/new?patient=mbt-example-peter"
    assert f'href="{link}"' in peter_dashboard
    launch(launched, ehr, patient="bella")
    page = launched.get(link)
    assert page.status_code == 409
    html = page.get_data(as_text=True)
    assert "This page is for another patient" in html
    assert "Peter Example" in html and "Bella Sample" in html
    assert 'name="submission_id"' not in html, "no form for Bella behind Peter's link"
    assert launched.get("/dashboard?patient=mbt-example-peter").status_code == 409
    assert launched.get("/dashboard").status_code == 200


def test_a_form_of_an_earlier_launch_for_the_same_patient_comes_back_to_check(launched, ehr):
    path = f"/forms/{SESSION}/new"
    hidden = form_csrf(launched, path)
    launch(launched, ehr)  # the same patient, launched again (another tab, or the EHR reopened the app)
    data = form_data(ehr, SESSION)
    answer = launched.post(path, data={**data, **hidden, "action": "complete"})
    assert answer.status_code == 303
    assert ours(ehr, "QuestionnaireResponse") == [], "a form of an earlier launch is never saved as it stands"
    page = launched.get(answer.headers["Location"], follow_redirects=True).get_data(as_text=True)
    assert "opened again since you started this form" in page
    again = form_csrf(launched, path)
    assert again["submission_id"] == hidden["submission_id"], "the same form, so still one record"
    assert launched.post(path, data={**data, **again, "action": "complete"}).status_code == 302
    assert len(ours(ehr, "QuestionnaireResponse")) == 1


def test_a_post_that_does_not_say_its_patient_is_not_saved(launched, ehr):
    path = f"/forms/{SESSION}/new"
    hidden = form_csrf(launched, path)
    hidden.pop("patient")
    answer = launched.post(path, data={**form_data(ehr, SESSION), **hidden, "action": "complete"})
    assert answer.status_code == 303
    assert ours(ehr, "QuestionnaireResponse") == []


def test_a_previous_launchs_csrf_token_is_good_for_nothing_else(launched, ehr):
    hidden = form_csrf(launched, f"/forms/{SESSION}/new")
    launch(launched, ehr)
    assert launched.post("/logout", data={"csrf_token": hidden["csrf_token"]}).status_code == 400


def test_an_edit_posted_for_another_patient_is_refused(launched, ehr):
    ehr.put(BELLA)
    edit = "/forms/r/peter-session-01/edit"
    hidden = form_csrf(launched, edit)
    launch(launched, ehr, patient="bella")
    data = form_data(ehr, SESSION)
    answer = launched.post(edit, data={**data, **hidden, "action": "complete"})
    assert answer.status_code == 409
    assert "This form is for another patient" in answer.get_data(as_text=True)
    assert ehr.resources[("QuestionnaireResponse", "peter-session-01")]["meta"]["versionId"] == "1"


def test_a_stale_dashboard_refreshed_after_another_launch_is_told(launched, ehr):
    """The dashboard a launch lands on names its patient: reloading it in a tab left open
    after another patient's launch says so instead of showing the other patient."""
    ehr.put(BELLA)
    landed = launch(launched, ehr)
    peter_dashboard = landed.headers["Location"]
    assert "patient=mbt-example-peter" in peter_dashboard
    launch(launched, ehr, patient="bella")
    page = launched.get(peter_dashboard)
    assert page.status_code == 409
    assert "This page is for another patient" in page.get_data(as_text=True)
