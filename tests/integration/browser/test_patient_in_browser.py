"""The patient's pages in Chromium, on a phone (360×740) and on a desktop: home, check-in with risk
answers, the safety page, the crisis plan, the RFQ-8 with a draft and plain-language errors; and the
clinician's "needs follow-up". Screenshots: test-artifacts/screenshots/<test>[<size>]-NN-<step>.png."""

from __future__ import annotations

import re

import pytest
from playwright.sync_api import expect

from integration.browser.conftest import take_shot, watched_page, launch_from_sandbox

PETER = "mbt-example-peter"
SIZES = {"phone": {"width": 360, "height": 740}, "desktop": {"width": 1280, "height": 900}}


@pytest.fixture(params=list(SIZES))
def size(request):
    return request.param


@pytest.fixture
def ppage(browser, size, page_watch, request):
    phone = size == "phone"
    with watched_page(browser, page_watch, request, viewport=SIZES[size], is_mobile=phone, has_touch=phone, device_scale_factor=2 if phone else 1) as pg:
        yield pg


@pytest.fixture
def pshot(ppage, page_watch):
    """The whole page; ``first_screen=True``: only what shows before any scrolling."""

    def take(step: str, first_screen: bool = False):
        return take_shot(ppage, page_watch, step, full_page=not first_screen)

    return take


def question(page, link_id: str):
    return page.locator(f'[data-link-id="{link_id}"]')


def choose(page, link_id: str, label: str) -> None:
    question(page, link_id).get_by_label(label, exact=True).check()


def sign_in(page, stack, shot) -> None:
    page.goto(f"{stack.sandbox_base}/portal/")
    page.locator("#patient").select_option(PETER)
    page.get_by_role("button", name="Open MBT").click()
    page.wait_for_url(f"{stack.app_base}/me/**")
    expect(page.get_by_role("heading", level=1)).to_have_text(re.compile("Hello Peter"))


def in_first_screen(page, locator) -> bool:
    box = locator.bounding_box()
    return box is not None and box["y"] >= 0 and box["y"] + box["height"] <= page.viewport_size["height"]


def no_sideways_scroll(page) -> None:
    width = page.evaluate("document.documentElement.scrollWidth")
    assert width <= page.viewport_size["width"] + 1, f"the page scrolls sideways ({width}px)"


def test_patient_home_checkin_with_risk_safety_page_and_crisis_plan(ppage, stack, pshot, size):
    page = ppage
    sign_in(page, stack, pshot)
    no_sideways_scroll(page)
    call = page.locator(".sos-call")
    expect(call).to_be_visible()
    assert in_first_screen(page, call), "the emergency line is one tap away on the first screen"
    assert call.get_attribute("href").startswith("tel:")
    pshot("patient-home-first-screen", first_screen=True)
    pshot("patient-home")

    task = page.locator("a.task", has_text="check-in")
    if task.count():  # due, unless an earlier test sent this week's
        task.first.click()
    else:
        page.goto(f"{stack.app_base}/me/forms/mbt-weekly-checkin/new")
    page.wait_for_url(re.compile(r".*/me/forms/.*"))
    no_sideways_scroll(page)
    expect(page.locator("text=Scores")).to_have_count(0)
    pshot("checkin-first-screen", first_screen=True)
    pshot("checkin-empty")
    question(page, "checkin.blow-ups").locator("input").fill("3")
    question(page, "checkin.pauses").locator("input").fill("5")
    question(page, "checkin.self-worth").locator("label").first.click()
    question(page, "checkin.curiosity").locator("label").nth(2).click()
    question(page, "checkin.repairs").locator("label").first.click()
    choose(page, "checkin.risk.self-harm-thoughts", "No")
    plan = question(page, "checkin.risk.plan")
    expect(plan).to_be_hidden()
    choose(page, "checkin.risk.suicide-thoughts", "Yes")
    expect(plan).to_be_visible()
    choose(page, "checkin.risk.plan", "No")
    choose(page, "checkin.risk.acted", "No")
    choose(page, "checkin.risk.safe-now", "No")
    expect(question(page, "checkin.risk.advice-unsafe")).to_be_visible()
    choose(page, "checkin.risk.contact-wanted", "Yes")
    pshot("checkin-filled")
    page.get_by_role("button", name="Send").click()

    page.wait_for_url(f"{stack.app_base}/me/safety")
    call = page.locator(".safety a.call")
    expect(call).to_be_visible()
    assert in_first_screen(page, call), "the emergency line is the first thing on the risk page"
    expect(page.locator(".safety")).to_contain_text("What I can do")
    expect(page.locator(".safety")).to_contain_text("Contacts")
    expect(page.get_by_text("care team has been alerted")).to_be_visible()
    no_sideways_scroll(page)
    pshot("risk-response-first-screen", first_screen=True)
    pshot("risk-response")

    page.get_by_role("link", name="My crisis plan").click()
    page.wait_for_url(f"{stack.app_base}/me/crisis-plan")
    expect(page.locator(".plan")).to_contain_text("Tell my mother or father")
    no_sideways_scroll(page)
    pshot("crisis-plan")

    page.get_by_role("link", name="Home").click()
    page.get_by_role("link", name="Read it all").click()
    page.wait_for_url(f"{stack.app_base}/me/formulation")
    expect(page.get_by_role("heading", name="Our shared understanding, written to you")).to_be_visible()
    no_sideways_scroll(page)
    pshot("formulation")


def test_patient_rfq8_errors_draft_and_send(ppage, stack, pshot, size, page_watch):
    page_watch.expect(r"status of 422")  # the form comes back as 422 with the messages
    page = ppage
    sign_in(page, stack, pshot)
    page.goto(f"{stack.app_base}/me/forms/rfq-8/new")
    expect(page.locator("text=RFQ_c")).to_have_count(0)
    pshot("rfq8-first-screen", first_screen=True)
    pshot("rfq8-empty")
    page.get_by_role("button", name="Send").click()
    expect(page.locator(".form-errors")).to_contain_text("Nothing has been sent yet")
    expect(page.locator(".field-error").first).to_have_text("Please answer this question.")
    pshot("rfq8-errors")
    items = page.locator('fieldset.choices, fieldset.grid-row')  # the eight statements share one grid
    for i in range(4):
        items.nth(i).locator("label").nth(i + 1).click()
    page.get_by_role("button", name="Save and finish later").click()
    page.wait_for_url(re.compile(r".*/me/forms/r/.*"))
    expect(page.get_by_text("You can come back and finish it later")).to_be_visible()
    for i in range(4, items.count()):
        items.nth(i).locator("label").nth(3).click()
    assert items.nth(0).locator("input").nth(1).is_checked(), "the draft kept the first answers"
    no_sideways_scroll(page)
    pshot("rfq8-resumed")
    page.get_by_role("button", name="Send").click()
    page.wait_for_url(f"{stack.app_base}/me/")
    expect(page.get_by_text("your answers were sent")).to_be_visible()
    pshot("home-after-rfq8")


def test_patient_check_in_bad_input_keeps_answers(ppage, stack, pshot, size, page_watch):
    page_watch.expect(r"status of 422")
    page = ppage
    sign_in(page, stack, pshot)
    page.goto(f"{stack.app_base}/me/forms/mbt-weekly-checkin/new")
    question(page, "checkin.blow-ups").locator("input").fill("500")
    question(page, "checkin.emotions-note").locator("textarea").fill('<b>bold</b> & "quoted"')
    page.get_by_role("button", name="Send").click()
    expect(question(page, "checkin.blow-ups").locator(".field-error")).to_have_text("Please enter a number from 0 to 100.")
    expect(question(page, "checkin.blow-ups").locator("input")).to_have_value("500")
    expect(question(page, "checkin.emotions-note").locator("textarea")).to_have_value('<b>bold</b> & "quoted"')
    expect(question(page, "checkin.risk").locator(".field-error").first).to_have_text(
        "Please answer the questions in this part.")
    pshot("checkin-errors-first-screen", first_screen=True)
    pshot("checkin-errors")


def test_clinician_sees_needs_follow_up_and_records_it(page, stack, shot):
    sign_in(page, stack, shot)
    page.goto(f"{stack.app_base}/me/forms/mbt-weekly-checkin/new")
    question(page, "checkin.blow-ups").locator("input").fill("1")
    question(page, "checkin.pauses").locator("input").fill("1")
    question(page, "checkin.self-worth").locator("label").first.click()
    question(page, "checkin.curiosity").locator("label").first.click()
    question(page, "checkin.repairs").locator("label").first.click()
    choose(page, "checkin.risk.self-harm-thoughts", "Yes")
    choose(page, "checkin.risk.suicide-thoughts", "No")
    choose(page, "checkin.risk.acted", "Yes")
    choose(page, "checkin.risk.safe-now", "Yes")
    choose(page, "checkin.risk.contact-wanted", "No")
    page.get_by_role("button", name="Send").click()
    page.wait_for_url(f"{stack.app_base}/me/safety")
    page.context.clear_cookies()
    launch_from_sandbox(page, stack, shot)
    box = page.locator(".follow-up")
    expect(box.get_by_role("heading", name="Needs follow-up")).to_be_visible()
    item = box.locator("li", has_text="harmed themselves").first
    expect(item).to_be_visible()
    shot("dashboard-needs-follow-up")
    item.locator("textarea").fill("Phoned Peter; seen tomorrow.")
    item.get_by_role("button", name="Record follow-up").click()
    expect(page.get_by_text("Follow-up recorded.")).to_be_visible()
    expect(page.locator(".follow-up")).to_contain_text("Phoned Peter; seen tomorrow.")
    expect(page.locator("span.by-patient").first).to_be_visible()
    shot("dashboard-after-follow-up")
