"""Safe records in a real browser, against HAPI through the EHR sandbox: one patient per
form (two tabs, two patients), and one event one record (Back + Complete, Refresh +
resubmit), counting the records each patient has on HAPI afterwards.

Each test makes its own patients on HAPI, so the records it counts are its own.
"""

from __future__ import annotations

import re
import uuid

import requests
from playwright.sync_api import Page, expect

CHECKIN = "mbt-weekly-checkin"
FHIR_JSON = {"Accept": "application/fhir+json", "Content-Type": "application/fhir+json"}


def make_patient(stack, given: str, family: str, born: str) -> str:
    """A new patient on HAPI (the sandbox lists it on its launch page); returns the id."""
    pid = f"mbt-test-{given.lower()}-{uuid.uuid4().hex[:8]}"
    patient = {"resourceType": "Patient", "id": pid, "name": [{"given": [given], "family": family}],
               "identifier": [{"system": "urn:example:mrn", "value": pid[-8:].upper()}],
               "birthDate": born, "gender": "unknown"}
    resp = requests.put(f"{stack.fhir_base}/Patient/{pid}", json=patient, headers=FHIR_JSON, timeout=30)
    assert resp.status_code in (200, 201), resp.text[:500]
    return pid


def launch_for(page: Page, stack, patient_id: str, *, lands_on: str = "/dashboard") -> None:
    """Launch the app from the sandbox for ``patient_id`` as the first practitioner."""
    page.goto(stack.launch_page)
    page.locator("#patient").select_option(patient_id)
    practitioner = page.locator("#practitioner option").first.get_attribute("value")
    page.locator("#practitioner").select_option(practitioner)
    page.get_by_role("button", name="Launch").click()
    page.wait_for_url(f"{stack.app_base}{lands_on}**")


def responses_of(stack, patient_id: str, qid: str | None = None) -> list[dict]:
    resp = requests.get(f"{stack.fhir_base}/QuestionnaireResponse",
                        params={"subject": f"Patient/{patient_id}", "_count": 200}, headers=FHIR_JSON, timeout=30)
    assert resp.status_code == 200, resp.text[:500]
    found = [e["resource"] for e in resp.json().get("entry", [])]
    return [r for r in found if qid is None or r["questionnaire"].split("|")[0].endswith("/" + qid)]


def observations_of(stack, patient_id: str) -> int:
    resp = requests.get(f"{stack.fhir_base}/Observation", params={"subject": f"Patient/{patient_id}",
                                                                   "_summary": "count"}, headers=FHIR_JSON, timeout=30)
    return resp.json().get("total", 0)


def question(page, link_id: str):
    return page.locator(f'[data-link-id="{link_id}"]')


def fill_checkin(page: Page, blow_ups: int, note: str = "") -> None:
    question(page, "checkin.blow-ups").locator("input").fill(str(blow_ups))
    question(page, "checkin.pauses").locator("input").fill("2")
    question(page, "checkin.self-worth").locator("input[type=radio]").nth(2).check()
    question(page, "checkin.curiosity").locator("input[type=radio]").nth(1).check()
    question(page, "checkin.repairs").locator("input[type=radio]").first.check()
    question(page, "checkin.risk.self-harm-thoughts").get_by_label("No", exact=True).check()
    question(page, "checkin.risk.suicide-thoughts").get_by_label("No", exact=True).check()
    question(page, "checkin.risk.acted").get_by_label("No", exact=True).check()
    if note:
        question(page, "checkin.emotions-note").locator("textarea").fill(note)


def open_checkin(page: Page, stack) -> str:
    page.get_by_role("link", name="Record a check-in").click()
    page.wait_for_url(re.compile(rf".*/forms/{CHECKIN}/new\?.*s=.*"))
    return page.locator("input[name=submission_id]").input_value()


def banner(page: Page):
    return page.get_by_role("region", name="Patient")


def test_two_tabs_two_patients(page: Page, context, stack, shot, page_watch):
    """Ann's check-in is open in one tab; Bob is launched in another tab of the same browser."""
    page_watch.expect(r"status of 409")  # the refusal pages answer 409 Conflict
    ann = make_patient(stack, "Ann", "Tabtest", "1971-03-04")
    bob = make_patient(stack, "Bob", "Tabtest", "1982-05-06")
    launch_for(page, stack, ann)
    open_checkin(page, stack)
    expect(banner(page).locator("strong")).to_have_text("Ann Tabtest")
    expect(banner(page)).to_contain_text("1971-03-04")
    fill_checkin(page, 5, note="Ann's week")
    shot("form-with-patient-banner")

    other = context.new_page()
    launch_for(other, stack, bob)
    expect(banner(other).locator("strong")).to_have_text("Bob Tabtest")

    page.get_by_role("button", name="Complete").click()
    expect(page.get_by_role("heading", level=1)).to_have_text("This form is for another patient")
    refusal = page.locator(".other-patient")
    expect(refusal.locator(".was")).to_contain_text("Ann Tabtest")
    expect(refusal.locator(".was")).to_contain_text("1971-03-04")
    expect(refusal.locator(".now")).to_contain_text("Bob Tabtest")
    expect(refusal).to_contain_text("Nothing was saved")
    kept = page.locator(".answers-kept")
    expect(kept).to_contain_text("Ann's week")
    expect(kept).to_contain_text("Somewhat steady")
    shot("wrong-patient-page")
    assert responses_of(stack, ann) == [] and responses_of(stack, bob) == []
    assert observations_of(stack, ann) == 0 and observations_of(stack, bob) == 0

    # Back in the stale tab: Ann's form is not shown as Bob's, nor Bob's as Ann's.
    page.go_back()
    expect(page.get_by_role("heading", level=1)).to_have_text("This page is for another patient")
    shot("stale-tab-after-back")

    # Bob's tab works for Bob.
    other.reload()
    expect(banner(other).locator("strong")).to_have_text("Bob Tabtest")

    # Ann launched again: her form comes back filled in, and saves to Ann only.
    launch_for(page, stack, ann, lands_on=f"/forms/{CHECKIN}/new")
    expect(banner(page).locator("strong")).to_have_text("Ann Tabtest")
    expect(question(page, "checkin.blow-ups").locator("input")).to_have_value("5")
    expect(question(page, "checkin.emotions-note").locator("textarea")).to_have_value("Ann's week")
    page.get_by_role("button", name="Complete").click()
    page.wait_for_url(f"{stack.app_base}/dashboard**")
    expect(page.locator(".flash")).to_have_text("Saved.")
    assert len(responses_of(stack, ann, CHECKIN)) == 1
    assert responses_of(stack, bob) == [] and observations_of(stack, bob) == 0


def test_back_then_complete_gives_one_record(page: Page, stack, shot):
    cara = make_patient(stack, "Cara", "Backtest", "1990-07-08")
    launch_for(page, stack, cara)
    submission_id = open_checkin(page, stack)
    fill_checkin(page, 3)
    page.get_by_role("button", name="Complete").click()
    page.wait_for_url(f"{stack.app_base}/dashboard**")
    expect(page.locator(".flash")).to_have_text("Saved.")

    page.go_back()  # the form's page again (no-store: fetched anew)
    expect(page.locator(".flash")).to_contain_text("already saved")
    shot("back-after-complete")
    complete = page.get_by_role("button", name="Complete")
    if complete.count():  # whatever Back shows, completing it again is the same record
        complete.click()
        page.wait_for_load_state()
    records = responses_of(stack, cara, CHECKIN)
    assert len(records) == 1, records
    assert records[0]["identifier"]["value"] == submission_id
    expect(page.get_by_role("link", name="Amend")).to_be_visible()


def test_refresh_and_resubmit_gives_one_record(page: Page, stack, shot, page_watch):
    page_watch.expect(r"status of 409")  # the page that asks first answers 409 Conflict
    dan = make_patient(stack, "Dan", "Refreshtest", "1965-09-10")
    launch_for(page, stack, dan)
    submission_id = open_checkin(page, stack)
    fill_checkin(page, 4)
    page.reload()  # Refresh before saving: the same form, the same submission
    assert page.locator("input[name=submission_id]").input_value() == submission_id
    fill_checkin(page, 4)
    page.get_by_role("button", name="Complete").click()
    page.wait_for_url(f"{stack.app_base}/dashboard**")

    page.go_back()
    page.reload()  # Back, then Refresh: still that one record
    expect(page.locator("input[name=submission_id]")).to_have_count(0)
    assert len(responses_of(stack, dan, CHECKIN)) == 1

    # The same occasion recorded again from a new form: asked first, saved only when chosen.
    page.get_by_role("link", name="Dashboard").click()
    open_checkin(page, stack)
    fill_checkin(page, 4)
    page.get_by_role("button", name="Complete").click()
    expect(page.locator(".duplicates")).to_contain_text("Is this the same")
    shot("same-day-asks-first")
    page.reload()  # the browser posts the form again: asked again, nothing written
    expect(page.locator(".duplicates")).to_contain_text("Is this the same")
    assert len(responses_of(stack, dan, CHECKIN)) == 1
    page.get_by_role("button", name="Save anyway").click()
    page.wait_for_url(f"{stack.app_base}/dashboard**")
    assert len(responses_of(stack, dan, CHECKIN)) == 2


def test_double_click_on_complete_gives_one_record(page: Page, stack, shot):
    eve = make_patient(stack, "Eve", "Clicktest", "1999-11-12")
    launch_for(page, stack, eve)
    open_checkin(page, stack)
    fill_checkin(page, 6)
    page.get_by_role("button", name="Complete").dblclick()
    page.wait_for_url(f"{stack.app_base}/dashboard**")
    expect(page.locator(".flash")).to_have_text(re.compile(r"^(Saved\.|.*already saved.*)$"))
    expect(page.locator("body")).not_to_contain_text("Someone else")
    shot("after-double-click")
    assert len(responses_of(stack, eve, CHECKIN)) == 1
