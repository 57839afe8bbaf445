"""Every form, blank and filled, at a desktop's width (1280 px) and inside an EHR frame's (800 px);
the patient's forms also on a phone (360 px); and forms showing errors. Each page is checked for
what a screenshot shows at a glance (nothing wider than the window, every question's answers
reachable, the save bar there), and kept in test-artifacts/screenshots/ to be looked at.
"""

from __future__ import annotations

import re

import pytest
import requests
from playwright.sync_api import Page, expect

from fhir_mbt.content import terminology
from integration.browser.conftest import take_shot, watched_page

PETER = "mbt-example-peter"
FORMS = list(terminology.QUESTIONNAIRES)
PATIENT_FORMS = ["mbt-weekly-checkin", "rfq-8"]


def newest_record(stack, qid: str) -> dict:
    resp = requests.get(f"{stack.fhir_base}/QuestionnaireResponse", timeout=60,
                        params={"subject": f"Patient/{PETER}", "_count": "500"}, headers={"Accept": "application/fhir+json"})
    records = [e["resource"] for e in resp.json().get("entry", [])
               if e["resource"]["questionnaire"].split("|")[0].endswith(f"/Questionnaire/{qid}")
               and e["resource"]["status"] in ("completed", "amended")]
    assert records, f"the example patient has a {qid}"
    return max(records, key=lambda r: r["authored"])


def fits(page: Page) -> None:
    width = page.evaluate("document.documentElement.scrollWidth")
    assert width <= page.viewport_size["width"] + 1, f"the page scrolls sideways ({width}px)"


@pytest.mark.parametrize("width", [1280, 800])
def test_every_form_blank_and_filled(launched: Page, stack, shot, width):
    page = launched
    page.set_viewport_size({"width": width, "height": 900})
    for qid in FORMS:
        page.goto(f"{stack.app_base}/forms/{qid}/new")
        page.wait_for_url(re.compile(rf".*/forms/{re.escape(qid)}/new\?s=.*"))
        expect(page.locator(".save-bar")).to_be_visible()
        fits(page)
        shot(f"{qid}-blank")
        record = newest_record(stack, qid)
        page.goto(f"{stack.app_base}/forms/r/{record['id']}/edit")
        expect(page.locator(".save-bar").get_by_role("button", name="Save amendment")).to_be_visible()
        expect(page.locator(".save-bar").get_by_role("link", name="Cancel")).to_have_attribute(
            "href", re.compile(rf"^/forms/r/{re.escape(record['id'])}(\?|$)"))
        checked = page.locator("input:checked")
        assert checked.count() > 0, f"the {qid} record's answers are on the form"
        fits(page)
        shot(f"{qid}-filled")


def test_forms_with_errors(launched: Page, stack, shot, page_watch):
    page = launched
    page_watch.expect(r"status of 422")
    for width in (1280, 800):
        page.set_viewport_size({"width": width, "height": 900})
        page.goto(f"{stack.app_base}/forms/rfq-8/new")
        page.get_by_role("button", name="Complete").click()
        page.wait_for_load_state()
        errors = page.locator(".form-errors .error-list a")
        expect(errors).to_have_count(8)
        expect(page.locator(".grid-row.has-error")).to_have_count(8)
        fits(page)
        shot(f"rfq8-errors-{width}")
        page.goto(f"{stack.app_base}/forms/mbt-session-record/new")
        page.wait_for_url(re.compile(r".*\?s=.*"))
        page.locator('[data-link-id="session.attendance"]').get_by_label("Attended", exact=True).check()
        page.get_by_role("button", name="Complete").click()
        page.wait_for_load_state()
        expect(page.locator(".form-errors .error-list a").first).to_be_visible()
        fits(page)
        shot(f"session-errors-{width}")


@pytest.fixture
def phone(browser, page_watch, request):
    with watched_page(browser, page_watch, request, viewport={"width": 360, "height": 740}, is_mobile=True, has_touch=True, device_scale_factor=1) as pg:
        yield pg


def test_patient_forms_on_a_phone(phone: Page, stack, page_watch):
    page = phone
    page_watch.expect(r"status of 422")

    def snap(step):
        take_shot(page, page_watch, step)

    page.goto(f"{stack.sandbox_base}/portal/")
    page.locator("#patient").select_option(PETER)
    page.get_by_role("button", name="Open MBT").click()
    page.wait_for_url(f"{stack.app_base}/me/**")
    for qid in PATIENT_FORMS:
        page.goto(f"{stack.app_base}/me/forms/{qid}/new")
        fits(page)
        snap(f"{qid}-blank")
        page.get_by_role("button", name="Send").click()
        page.wait_for_load_state()
        expect(page.locator(".form-errors")).to_be_visible()
        fits(page)
        snap(f"{qid}-errors")
        for group in page.locator("fieldset.choices, fieldset.grid-row").all():
            labels = group.locator("label")
            if labels.count() and group.is_visible():
                labels.nth(min(1, labels.count() - 1)).click()
        for number in page.locator("input[type=number]").all():
            if number.is_visible():
                number.fill("2")
        fits(page)
        snap(f"{qid}-filled")
