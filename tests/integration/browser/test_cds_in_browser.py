"""The EHR's chart in Chromium: the MBT service's cards above Launch, and the loop they start."""

from __future__ import annotations

import copy
import datetime as dt
import uuid

from playwright.sync_api import Page, expect

from fhir_mbt.client import FhirClient
from fhir_mbt.content import shipped
from fhir_mbt.engine import process_response
from fhir_mbt.engine.care_team import care_team_entries, reported_risk

PETER = "mbt-example-peter"


def report_risk(stack) -> None:
    """Peter's first check-in (thoughts of suicide) again, today, as the portal writes it: with its Flag and Task."""
    bundle = shipped().resources("Bundle", examples=True)[0]
    first = next(e["resource"] for e in bundle["entry"] if e["resource"]["id"] == "peter-checkin-01")
    response = copy.deepcopy(first)
    for key in ("id", "meta", "identifier"):
        response.pop(key, None)
    now = dt.datetime.now(dt.timezone.utc).replace(microsecond=0)
    response["authored"] = now.isoformat().replace("+00:00", "Z")
    response["author"] = response["subject"] = response["source"] = {"reference": f"Patient/{PETER}"}
    processed = process_response(response, identifier=str(uuid.uuid4()), now=now)
    transaction = processed.bundle
    transaction["entry"] += care_team_entries(processed.response, reported_risk(processed.response), now=now)
    FhirClient(stack.fhir_base, timeout=(10, 120)).transaction(transaction)


def open_chart(page: Page, stack) -> None:
    page.goto(stack.launch_page)
    page.locator("#patient").select_option(PETER)
    page.locator("#practitioner").select_option(index=0)
    page.get_by_role("button", name="Open chart").click()
    page.wait_for_url(f"{stack.sandbox_base}/chart**")


def test_chart_shows_the_cards_and_the_follow_up_clears_the_critical_one(page: Page, stack, shot):
    report_risk(stack)
    open_chart(page, stack)
    cards = page.locator("article.card")
    critical = page.locator("article.card.critical")
    expect(critical).to_have_count(1)
    expect(critical.locator("h3")).to_contain_text("not yet followed up")
    expect(critical).to_contain_text("thoughts of suicide")
    assert cards.count() >= 2, "Peter's last session and RFQ-8 are months old: warnings too"
    expect(cards.first).to_have_class("card critical")
    launch = page.get_by_role("button", name="Launch", exact=True)
    assert cards.last.bounding_box()["y"] < launch.bounding_box()["y"], "cards sit above the Launch button"
    shot("chart-with-cards")

    critical.get_by_role("button", name="Open MBT: record the follow-up").click()
    page.wait_for_url(f"{stack.app_base}/dashboard**")
    assert "focus=" in page.url and page.url.endswith("#needs-follow-up"), "the card's appContext reached the app"
    follow_up = page.get_by_role("region", name="Needs follow-up")
    expect(follow_up).to_be_visible()
    expect(follow_up.locator("li.from-card")).to_have_count(1)
    item = follow_up.locator("li", has_text="thoughts of ending their life").first
    expect(item).to_have_class("from-card")
    shot("follow-up-opened-from-the-card")
    item.locator("textarea").fill("Phoned Peter; safe; seen tomorrow.")
    item.get_by_role("button", name="Record follow-up").click()
    expect(page.get_by_text("Follow-up recorded.")).to_be_visible()

    open_chart(page, stack)
    expect(page.locator("article.card.critical")).to_have_count(0)
    expect(page.locator("article.card.warning").first).to_be_visible()
    shot("chart-after-follow-up")
