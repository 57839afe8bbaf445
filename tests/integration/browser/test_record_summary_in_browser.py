"""Saved records read as summaries in Chromium, at 1280 px and in an 800 px EHR frame, on screen
and on paper; the patient's copy on paper."""

from __future__ import annotations

from pathlib import Path

import pytest
from playwright.sync_api import Page, expect

PETER = "mbt-example-peter"
SCREENSHOTS = Path(__file__).resolve().parents[3] / "test-artifacts" / "screenshots"

#: Most a summary may be, full page at 1280 px: the formulation is mostly narrative, the rest short.
MAX_HEIGHT = {"mbt-formulation": 7000}
#: One record of Peter's for each Questionnaire (the session with a rupture that was repaired and a collapse).
RECORDS = {
    "mbt-formulation": "peter-formulation-2",
    "mbt-session-record": "peter-session-11",
    "rfq-8": "peter-rfq8-m6",
    "mbt-weekly-checkin": "peter-checkin-27",
    "mbt-mentalizing-profile": "peter-profile-m6",
    "mbt-crisis-plan": "peter-crisis-plan-2",
    "mbt-periodic-review": "peter-review-m6",
}


def _overflow(page: Page) -> int:
    return page.evaluate("document.documentElement.scrollWidth - window.innerWidth")


@pytest.mark.parametrize("qid", sorted(RECORDS))
def test_each_record_reads_as_a_summary(launched: Page, stack, shot, qid):
    page = launched
    page.goto(f"{stack.app_base}/forms/r/{RECORDS[qid]}?patient={PETER}")
    summary = page.locator(f".record-summary[data-questionnaire='{qid}']")
    expect(summary).to_be_visible()
    expect(page.get_by_role("heading", level=1)).to_contain_text("for Peter Example")
    expect(page.locator(".record-meta")).to_contain_text("Completed")
    expect(page.get_by_role("button", name="Print")).to_be_visible()
    expect(page.get_by_role("link", name="Amend")).to_be_visible()
    assert page.locator("input, select, textarea").count() == 0, "a summary, not a disabled form"
    shot(f"{qid}-1280")
    page.screenshot(path=str(SCREENSHOTS / f"test_each_record_reads_as_a_summary-{qid}-first-screen-1280.png"))
    height_1280 = page.evaluate("document.documentElement.scrollHeight")
    page.set_viewport_size({"width": 800, "height": 900})
    assert _overflow(page) <= 0, "nothing wider than an 800 px EHR frame"
    shot(f"{qid}-800")
    page.screenshot(path=str(SCREENSHOTS / f"test_each_record_reads_as_a_summary-{qid}-first-screen-800.png"))
    assert height_1280 < MAX_HEIGHT.get(qid, 4000), f"the summary is {height_1280} px high"


def test_a_session_summary_shows_scores_with_meaning_and_only_enabled_items(launched: Page, stack, shot):
    page = launched
    page.goto(f"{stack.app_base}/forms/r/peter-session-01?patient={PETER}")
    scores = page.locator(".summary-scores")
    expect(scores.locator("tr", has_text="Mean adherence")).to_contain_text("4 is good enough")
    expect(page.locator("dl[data-link-id='alliance.rupture'] dd")).to_have_text("No")
    assert page.locator("[data-link-id='alliance.repair']").count() == 0, "no rupture, so no repair question"
    expect(page.locator("dl[data-link-id='arousal.peak'] dd")).to_contain_text("(Moderate)")


def test_a_printed_record_has_the_service_and_patient_and_no_app_chrome(launched: Page, stack, shot):
    page = launched
    page.goto(f"{stack.app_base}/forms/r/peter-session-11?patient={PETER}")
    expect(page.locator(".print-header")).to_be_hidden()
    page.emulate_media(media="print")
    for hidden in (".app-header", ".app-header nav", ".patient-banner", ".record-actions"):
        if page.locator(hidden).count():
            expect(page.locator(hidden).first).to_be_hidden()
    expect(page.get_by_role("button", name="Print")).to_be_hidden()
    expect(page.get_by_role("link", name="Amend")).to_be_hidden()
    header = page.locator(".print-header")
    expect(header).to_be_visible()
    expect(header).to_contain_text("MBT service")
    expect(header).to_contain_text("Peter Example")
    expect(header).to_contain_text("born 14 Oct 1999")
    expect(page.locator(".record-summary")).to_be_visible()
    shot("session-record-print")


def test_the_patient_copy_on_paper(launched: Page, stack, shot):
    page = launched
    page.goto(f"{stack.app_base}/copy/formulation?patient={PETER}")
    page.emulate_media(media="print")
    article = page.locator("article.copy")
    expect(article.get_by_role("heading", level=1)).to_have_text("Your formulation for Peter Example")
    expect(page.locator(".app-header")).to_be_hidden()
    expect(page.get_by_role("button", name="Print")).to_be_hidden()
    expect(article.locator(".print-header")).to_contain_text("born 14 Oct 1999")
    expect(article).not_to_contain_text("PETER-0001")
    expect(article).to_contain_text("You came to us after")
    expect(article).not_to_contain_text("Peter describes")
    shot("patient-copy-print")
    page.set_viewport_size({"width": 800, "height": 900})
    shot("patient-copy-print-800")


def test_no_page_asks_for_a_missing_icon(launched: Page, stack):
    failed = []
    launched.on("requestfailed", lambda r: failed.append(r.url))
    launched.on("response", lambda r: failed.append(r.url) if r.status == 404 else None)
    launched.goto(f"{stack.app_base}/forms/r/peter-session-01?patient={PETER}")
    answer = launched.request.get(f"{stack.app_base}/favicon.ico")
    assert answer.status == 200 and answer.headers["content-type"].startswith("image/")
    assert [u for u in failed if "favicon" in u] == []
