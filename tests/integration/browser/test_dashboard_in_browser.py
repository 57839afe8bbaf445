"""The dashboard in Chromium at 1280 and 800 px (an EHR's iframe): the risk alert with what was done and a
link to the record, the records list filtered and paged, the charts hovered and focused, their tables in
print, and a draft discarded. Screenshots: test-artifacts/screenshots/<test>[<width>]-NN-<step>.png.

The patient is a copy of Peter Example (his six months of records) under a new id, with two records from
this week that report risk: a session record (with what was done) and a check-in Peter sent himself. A
patient of its own keeps the other browser tests' view of Peter as it was.
"""

from __future__ import annotations

import copy
import datetime as dt
import json
import re
import uuid

import pytest
import requests
from playwright.sync_api import expect

from fhir_mbt.content import definitions_dir
from integration.browser.conftest import take_shot, watched_page

WIDTHS = [1280, 800]
FHIR_JSON = {"Accept": "application/fhir+json", "Content-Type": "application/fhir+json"}
MBT = "http://fhir-mbt.org/fhir/CodeSystem/mbt"
TODAY = dt.date.today()


def _find(items, link_id):
    for item in items or []:
        if item.get("linkId") == link_id:
            return item
        found = _find(item.get("item"), link_id) or next(
            (f for a in item.get("answer", []) if (f := _find(a.get("item"), link_id))), None)
        if found:
            return found
    return None


def _label(day: dt.date) -> str:
    return f"{day.day} {day:%b %Y}"


def _risky_records(entries: list[dict], pid: str) -> list[dict]:
    """This week's session record reporting suicidal thoughts (with the action taken) and Peter's check-in."""
    by_id = {e["resource"]["id"]: e for e in entries}
    session = copy.deepcopy(by_id[f"{pid}-session-27"])
    session["fullUrl"] = f"urn:uuid:{uuid.uuid4()}"
    qr = session["resource"]
    qr["id"] = f"{pid}-risk-session"
    session["request"]["url"] = f"QuestionnaireResponse/{qr['id']}"
    day = TODAY - dt.timedelta(days=2)
    qr["authored"] = f"{day.isoformat()}T15:00:00Z"
    qr["identifier"] = {"system": "urn:ietf:rfc:3986", "value": f"urn:uuid:{uuid.uuid4()}"}
    _find(qr["item"], "session.date")["answer"] = [{"valueDate": day.isoformat()}]
    _find(qr["item"], "risk.suicidal-thoughts")["answer"] = [
        {"valueCoding": {"system": MBT, "code": "risk-yes", "display": "Yes"}}]
    group = _find(qr["item"], "risk")
    group["item"] = [i for i in group["item"] if i["linkId"] != "risk.follow-up"] + [{
        "linkId": "risk.follow-up", "item": [
            {"linkId": "risk.level", "answer": [{"valueCoding": {"system": MBT, "code": "risk-moderate",
                                                                 "display": "Moderate"}}]},
            {"linkId": "risk.action", "answer": [
                {"valueCoding": {"system": MBT, "code": "risk-explored", "display": "Risk explored in session"}},
                {"valueCoding": {"system": MBT, "code": "crisis-line-given", "display": "Crisis line given"}}]},
            {"linkId": "risk.action-detail", "answer": [{"valueString": "Extra appointment booked for Thursday"}]},
            {"linkId": "risk.crisis-plan-reviewed", "answer": [{"valueBoolean": True}]}]}]
    checkin = copy.deepcopy(by_id[f"{pid}-checkin-27"])
    checkin["fullUrl"] = f"urn:uuid:{uuid.uuid4()}"
    cr = checkin["resource"]
    cr["id"] = f"{pid}-risk-checkin"
    checkin["request"]["url"] = f"QuestionnaireResponse/{cr['id']}"
    cr["authored"] = f"{(TODAY - dt.timedelta(days=1)).isoformat()}T13:00:00Z"
    cr["identifier"] = {"system": "urn:ietf:rfc:3986", "value": f"urn:uuid:{uuid.uuid4()}"}
    _find(cr["item"], "checkin.risk.suicide-thoughts")["answer"] = [{"valueBoolean": True}]
    risk = _find(cr["item"], "checkin.risk")
    plan = _find(cr["item"], "checkin.risk.plan")
    if plan is None:
        risk["item"].insert(2, {"linkId": "checkin.risk.plan", "answer": [{"valueBoolean": False}]})
    risk["item"] = [i for i in risk["item"] if i["linkId"] != "checkin.risk.follow-up"] + [{
        "linkId": "checkin.risk.follow-up", "item": [
            {"linkId": "checkin.risk.safe-now", "answer": [{"valueBoolean": True}]},
            {"linkId": "checkin.risk.contact-wanted", "answer": [{"valueBoolean": True}]}]}]
    return [session, checkin]


@pytest.fixture(scope="module")
def patient(stack) -> str:
    """Peter's records under a new patient id, and this week's two risk reports, on HAPI."""
    pid = f"mbt-test-dash-{uuid.uuid4().hex[:8]}"
    text = (definitions_dir() / "examples" / "Bundle-mbt-example-peter.json").read_text()
    text = text.replace("mbt-example-peter", pid).replace('"peter-', f'"{pid}-').replace("/peter-", f"/{pid}-")
    bundle = json.loads(text)
    entries = [e for e in bundle["entry"] if e["resource"]["resourceType"] != "Practitioner"]
    practitioner = next(e for e in bundle["entry"] if e["resource"]["resourceType"] == "Practitioner")
    text = json.dumps(entries).replace(f'"{practitioner["fullUrl"]}"', '"Practitioner/mbt-example-clinician"')
    entries = json.loads(text)
    for e in entries:
        if e["resource"]["resourceType"] == "QuestionnaireResponse":
            e["resource"]["identifier"] = {"system": "urn:ietf:rfc:3986", "value": f"urn:uuid:{uuid.uuid4()}"}
    entries += _risky_records(entries, pid)
    answer = requests.post(stack.fhir_base, json={**bundle, "entry": entries}, headers=FHIR_JSON, timeout=120)
    assert answer.status_code == 200, answer.text[:2000]
    return pid


@pytest.fixture(params=WIDTHS, ids=[str(w) for w in WIDTHS])
def width(request) -> int:
    return request.param


@pytest.fixture
def dpage(browser, width, page_watch, request):
    with watched_page(browser, page_watch, request, viewport={"width": width, "height": 900}) as pg:
        yield pg


@pytest.fixture
def dshot(dpage, page_watch):
    def take(step: str, element=None):
        return take_shot(dpage, page_watch, step, element)

    return take


def _launch(page, stack, pid: str) -> None:
    """The sandbox's launch page, with this patient chosen (it lists only the first patients of the server)."""
    page.goto(stack.launch_page)
    page.locator("#patient").evaluate("(s, v) => { s.add(new Option(v, v)); s.value = v; }", pid)
    page.locator("#practitioner").select_option("mbt-example-clinician")
    page.get_by_role("button", name="Launch").click()
    page.wait_for_url(f"{stack.app_base}/dashboard**")


def _no_sideways_scroll(page) -> None:
    scroll = page.evaluate("document.documentElement.scrollWidth")
    assert scroll <= page.viewport_size["width"] + 1, f"the page scrolls sideways ({scroll}px)"


def test_dashboard_risk_alert_and_charts(dpage, stack, patient, dshot, width):
    page = dpage
    _launch(page, stack, patient)
    dshot("dashboard")
    _no_sideways_scroll(page)

    alert = page.get_by_role("alert", name="Risk")
    expect(alert).to_be_visible()
    session = alert.locator("li.risk-record", has_text="session record")
    expect(session).to_contain_text(_label(TODAY - dt.timedelta(days=2)))
    expect(session).to_contain_text("suicidal thoughts")
    expect(session).to_contain_text("What was done: Risk explored in session, Crisis line given")
    expect(session).to_contain_text("The crisis plan was reviewed with the patient.")
    checkin = alert.locator("li.risk-record", has_text="check-in")
    expect(checkin).to_contain_text("entered by the patient")
    expect(checkin).to_contain_text("would like to be contacted before the next session")
    expect(alert).to_contain_text("What I can do")
    dshot("risk-alert", alert)

    charts = page.locator("svg.chart")
    expect(charts).to_have_count(5)
    for i in range(5):
        box = charts.nth(i).bounding_box()
        assert box and box["width"] >= 440, f"chart {i} drawn at {box}"
        tick = charts.nth(i).locator("text.tick").first.bounding_box()
        assert tick and tick["height"] >= 9, f"chart {i}: labels {tick['height']:.1f}px high, too small to read"
    arousal = page.get_by_role("group", name="Peak arousal (0–10), session by session")
    points = arousal.locator("g.pt")
    dates = points.evaluate_all("ps => ps.map(p => p.dataset.date)")
    assert len(dates) >= 40 and dates == sorted(dates)
    newest = arousal.locator(f'g.pt[data-date="{dates[-1]}"]')
    tip = newest.locator(".tip")
    expect(tip).to_be_hidden()
    newest.hover()
    expect(tip).to_be_visible()
    expect(tip).to_have_text(re.compile(rf"^{_label(TODAY - dt.timedelta(days=2))}: \d+$"))
    card = page.locator("section.figure").filter(has=arousal)
    dshot("chart-hovered", card)
    page.mouse.move(0, 0)
    expect(tip).to_be_hidden()

    # the keyboard: one tab stop per chart, the arrow keys go from point to point, each shows its value
    assert points.evaluate_all("ps => ps.filter(p => p.tabIndex === 0).length") == 1
    newest.focus()
    page.keyboard.press("ArrowLeft")
    page.keyboard.press("ArrowLeft")
    focused = arousal.locator(f'g.pt[data-date="{dates[-3]}"]')
    expect(focused).to_be_focused()
    expect(focused.locator(".tip")).to_be_visible()
    assert page.evaluate("document.activeElement.nextElementSibling === null"), "drawn over the later points"
    dshot("chart-focused", card)
    page.keyboard.press("Home")
    expect(arousal.locator(f'g.pt[data-date="{dates[0]}"]')).to_be_focused()

    # the same data as a table, opened by a click, and shown when printed without one
    table = card.locator("details.chart-table table")
    expect(table).to_be_hidden()
    card.get_by_text("Show as table").click()
    expect(table).to_be_visible()
    assert table.locator("tbody tr").count() == len(dates)
    card.get_by_text("Show as table").click()
    page.emulate_media(media="print")
    expect(table).to_be_visible()
    dshot("printed")
    page.emulate_media(media="screen")


def test_records_list_filtered_and_paged(dpage, stack, patient, dshot, width):
    page = dpage
    _launch(page, stack, patient)
    records = page.get_by_role("region", name="Records")
    rows = records.locator("table.records tbody tr")
    expect(rows).to_have_count(10)
    expect(rows.first).to_contain_text(_label(TODAY - dt.timedelta(days=1)))
    flagged = records.locator("tr.risk")
    expect(flagged.first).to_contain_text("Risk reported")
    records.get_by_role("link", name=re.compile(r"^Check-ins \(\d+\)$")).click()
    page.wait_for_url(re.compile(r".*/records\?type=checkin.*"))
    _no_sideways_scroll(page)
    table = page.locator("table.records")
    kinds = table.locator("tbody tr").evaluate_all("rows => rows.map(r => r.dataset.kind)")
    assert set(kinds) == {"checkin"} and len(kinds) == 25
    expect(page.locator(".range")).to_have_text("1–25 of 27 check-ins")
    expect(table.locator("tr.risk").first).to_contain_text("thoughts of suicide")
    expect(page.get_by_role("link", name=re.compile("Check-ins"))).to_have_attribute("aria-current", "page")
    dshot("records-check-ins")
    page.get_by_role("link", name="Older →").click()
    expect(page.locator(".range")).to_have_text("26–27 of 27 check-ins")
    page.locator("table.records tbody tr").first.get_by_role("link", name="Open").click()
    expect(page.locator("main")).to_contain_text("the patient")
    dshot("check-in-opened")


def test_a_draft_is_discarded_after_confirming(dpage, stack, patient, dshot, width):
    page = dpage
    _launch(page, stack, patient)
    page.get_by_role("link", name="Record a session").click()
    page.locator('[data-link-id="session.note"] textarea').fill("Started, to be finished later.")
    page.get_by_role("button", name="Save draft").click()
    page.get_by_role("link", name="Dashboard").click()
    drafts = page.get_by_role("region", name="Drafts (not records yet)")
    row = drafts.locator("tbody tr").last
    expect(row).to_contain_text("Clinician")
    row.get_by_text("Discard", exact=True).click()
    confirm = row.get_by_role("button", name="Yes, discard it")
    expect(confirm).to_be_visible()
    dshot("discard-asked", drafts)
    count = drafts.locator("tbody tr").count()
    confirm.click()
    page.wait_for_url(f"{stack.app_base}/dashboard**")
    expect(page.locator(".flash")).to_contain_text("was deleted from the FHIR server")
    if count == 1:
        expect(page.get_by_role("region", name="Drafts (not records yet)")).to_have_count(0)
    dshot("discarded")
