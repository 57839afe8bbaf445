"""Amending with a reason, the record's history and an earlier version, in Chromium at 1280 and 800 px.

A completed session record is written to HAPI as the app would (the engine's transaction); the
clinician opens it, amends it twice through the form (the first try without a reason is refused
and keeps the answers), opens its history and reads the first version.
"""

from __future__ import annotations

import copy
import datetime as dt
import re
import uuid

import pytest
from playwright.sync_api import Page, expect

from fhir_mbt.client import FhirClient
from fhir_mbt.content import shipped, terminology
from fhir_mbt.engine import RESPONSE_IDENTIFIER_SYSTEM, process_response

from .conftest import PETER, SCREENSHOTS

FOCUS_1 = "Look at the shame after the exam, before the row at home"
REASON_1 = "Focus agreed with Peter at the end of the session"
REASON_2 = "Mentalizing level corrected after supervision"


def write_session_record(stack, day: str) -> dict:
    """A completed session record for Peter on HAPI, written by the engine's transaction."""
    bundle = shipped().resources("Bundle", examples=True)[0]
    example = next(e["resource"] for e in bundle["entry"] if e["resource"]["resourceType"] == "QuestionnaireResponse"
                   and terminology.SESSION_RECORD in e["resource"]["questionnaire"])
    response = {k: copy.deepcopy(v) for k, v in example.items() if k not in ("id", "meta", "text")}
    response.update(status="completed", authored=dt.datetime.now(dt.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ"),
                    identifier={"system": RESPONSE_IDENTIFIER_SYSTEM, "value": f"urn:uuid:{uuid.uuid4()}"},
                    author={"reference": "Practitioner/mbt-example-clinician"},
                    subject={"reference": f"Patient/{PETER}"})
    for item in response["item"]:
        if item["linkId"] == "session.date":
            item["answer"] = [{"valueDate": day}]
    fhir = FhirClient(stack.fhir_base, timeout=(10, 120))
    fhir.transaction(process_response(response).bundle)
    [stored] = fhir.search("QuestionnaireResponse", {"identifier": f"{RESPONSE_IDENTIFIER_SYSTEM}|"
                                                     f"{response['identifier']['value']}"})
    return stored


def region(page: Page, watch, step: str, top, bottom, pad: int = 12):
    """A screenshot of the page from ``top``'s element to ``bottom``'s (the form's end, say)."""
    first, last = top.bounding_box(), bottom.bounding_box()
    scroll = page.evaluate("[window.scrollX, window.scrollY]")
    width = page.viewport_size["width"]
    clip = {"x": 0, "y": max(first["y"] + scroll[1] - pad, 0), "width": width,
            "height": last["y"] + last["height"] - first["y"] + 2 * pad}
    path = SCREENSHOTS / f"{watch.name}-{len(watch.shots) + 1:02d}-{step}.png"
    page.screenshot(path=str(path), clip=clip, full_page=True)
    watch.shots.append(path)
    return path


def question(page: Page, link_id: str):
    return page.locator(f'[data-link-id="{link_id}"]')


@pytest.mark.parametrize("width", [1280, 800])
def test_amend_with_a_reason_then_read_the_history_and_an_earlier_version(launched: Page, stack, shot, page_watch,
                                                                         width):
    page = launched
    page.set_viewport_size({"width": width, "height": 900})
    page_watch.expect(r"status of 422")  # the amendment without a reason is answered 422
    record = write_session_record(stack, "2026-08-31" if width == 1280 else "2026-08-24")
    rid = record["id"]
    page.goto(f"{stack.app_base}/forms/r/{rid}?patient={PETER}")
    expect(page.get_by_role("link", name="History")).to_be_visible()
    page.get_by_role("link", name="Amend").click()
    page.wait_for_url(re.compile(rf".*/forms/r/{rid}/edit.*"))

    reason = page.get_by_label("Reason for amending this record")
    expect(reason).to_be_visible()
    question(page, "next.focus").locator("textarea").fill(FOCUS_1)
    page.get_by_role("button", name="Save amendment").click()
    page.wait_for_load_state()
    expect(page.locator(".amend-reason .field-error")).to_contain_text("Say why this record is being amended")
    expect(question(page, "next.focus").locator("textarea")).to_have_value(FOCUS_1)
    page.locator(".amend-reason").scroll_into_view_if_needed()
    region(page, page_watch, f"amend-reason-required-{width}", question(page, "next.focus"),
           page.locator("form.questionnaire .actions"))

    page.get_by_label("Reason for amending this record").fill(REASON_1)
    region(page, page_watch, f"amend-reason-filled-{width}", page.locator(".amend-reason"),
           page.locator("form.questionnaire .actions"))
    page.get_by_role("button", name="Save amendment").click()
    page.wait_for_url(f"{stack.app_base}/dashboard**")
    expect(page.locator(".flash").first).to_contain_text("Amendment saved.")

    # The second amendment changes a choice: the history shows it by its display text.
    page.goto(f"{stack.app_base}/forms/r/{rid}/edit?patient={PETER}")
    level = question(page, "mentalizing.level")
    before = level.locator("label", has=page.locator("input:checked")).inner_text().strip()
    after = "Robust" if before != "Robust" else "Good"
    level.get_by_label(after, exact=True).check()
    page.get_by_label("Reason for amending this record").fill(REASON_2)
    page.get_by_role("button", name="Save amendment").click()
    page.wait_for_url(f"{stack.app_base}/dashboard**")

    page.goto(f"{stack.app_base}/forms/r/{rid}?patient={PETER}")
    page.get_by_role("link", name="History").click()
    page.wait_for_url(re.compile(rf".*/forms/r/{rid}/history.*"))
    versions = page.locator("ol.versions > li")
    expect(versions).to_have_count(3)
    expect(versions.nth(0).locator("h3")).to_contain_text("Version 3 of 3")
    expect(versions.nth(0)).to_contain_text(REASON_2)
    level_change = versions.nth(0).locator(".change").filter(has_text="Typical level of mentalizing in the session")
    expect(level_change).to_contain_text(re.compile(rf"{before}\s*→\s*(now )?{after}"))
    expect(level_change.locator("del")).to_contain_text(before)
    expect(level_change.locator("ins")).to_contain_text(after)
    expect(versions.nth(1)).to_contain_text(REASON_1)
    expect(versions.nth(1).locator(".change ins")).to_have_text(re.compile(re.escape(FOCUS_1)))
    expect(versions.nth(2)).to_contain_text("First saved")
    expect(page.locator("body")).not_to_contain_text("mentalizing.level")
    no_overflow = page.evaluate("document.documentElement.scrollWidth <= window.innerWidth")
    assert no_overflow, "the history fits the width without sideways scrolling"
    shot(f"history-{width}")

    versions.nth(2).get_by_role("link", name="Read this version").click()
    page.wait_for_url(re.compile(rf".*/forms/r/{rid}/v/1.*"))
    notice = page.locator(".earlier-version")
    expect(notice).to_contain_text("Earlier version 1 of 3")
    expect(notice).to_contain_text("superseded on")
    expect(page.get_by_role("link", name="Amend")).to_have_count(0)
    expect(page.locator("article.record")).not_to_contain_text(FOCUS_1)  # the first version, as it was
    expect(page.locator("article.record")).to_contain_text("Focus for the next session")
    region(page, page_watch, f"earlier-version-{width}", page.locator("h1"), page.locator(".earlier-version"),
           pad=16)
    notice.get_by_role("link", name="Read the current version").click()
    page.wait_for_url(re.compile(rf".*/forms/r/{rid}(\?.*)?$"))
    expect(page.locator(".earlier-version")).to_have_count(0)


def test_the_formulation_history_from_the_dashboard(launched: Page, stack, shot):
    page = launched
    page.get_by_role("link", name="Earlier versions").click()
    page.wait_for_url(f"{stack.app_base}/forms/formulation/history**")
    expect(page.get_by_role("heading", level=1)).to_have_text("Formulation history")
    expect(page.get_by_role("heading", name=re.compile(r"Formulation of 1 Jun 2026 \(a revision\)"))).to_be_visible()
    expect(page.get_by_role("heading", name="Formulation of 2 Mar 2026")).to_be_visible()
    shot("formulation-history-1280")
    page.set_viewport_size({"width": 800, "height": 900})
    shot("formulation-history-800")
