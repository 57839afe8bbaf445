"""The app in a real browser: EHR launch from the sandbox, the dashboard and its charts, a
session record filled in and saved, a validation error, the patient copy, and the app
framed by the EHR.

Peter Example (Patient/mbt-example-peter) has about six months of records. Each test that
saves a session uses its own date, so tests do not depend on each other's data.
"""

from __future__ import annotations

import datetime as dt
import re
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlparse

import pytest
import requests
from playwright.sync_api import Page, expect

PETER = "mbt-example-peter"
SESSION_FORM = "mbt-session-record"
FHIR_JSON = {"Accept": "application/fhir+json"}

CHARTS = [
    "RFQ-8 scores over time",
    "In-session mentalizing (1–5), session by session",
    "Peak arousal (0–10), session by session",
    "Prementalizing modes seen, session by session",
    "Weekly blow-ups and pauses",
]


# -- helpers --------------------------------------------------------------------------------
def question(page, link_id: str):
    """The wrapper of one question or group, by its linkId."""
    return page.locator(f'[data-link-id="{link_id}"]')


def choose(page, link_id: str, label: str) -> None:
    question(page, link_id).get_by_label(label, exact=True).check()


def move_slider(page, link_id: str, steps: int) -> None:
    """Move a slider with the keyboard, as a user would: right for +, left for -."""
    slider = question(page, link_id).locator("input[type=range]")
    slider.focus()
    key = "ArrowRight" if steps > 0 else "ArrowLeft"
    for _ in range(abs(steps)):
        slider.press(key)


def answer_the_rest_of_the_risk_check(page) -> None:
    """The risk questions a session record asks besides self-harm and suicidal thoughts."""
    for link_id in ("risk.suicide-attempt", "risk.harm-to-others", "risk.emergency-attendance"):
        choose(page, link_id, "No")


def open_session_form(page, stack) -> str:
    """From any app page, follow "Record a session"; return the form's submission id."""
    page.get_by_role("link", name="Record a session").click()
    page.wait_for_url(f"{stack.app_base}/forms/{SESSION_FORM}/new**")
    expect(page.get_by_role("heading", level=1)).to_have_text(re.compile("session", re.I))
    submission_id = page.locator("input[name=submission_id]").input_value()
    assert submission_id
    return submission_id


def fhir_get(stack, path: str, **params) -> dict:
    resp = requests.get(f"{stack.fhir_base}/{path}", params=params, headers=FHIR_JSON, timeout=30)
    assert resp.status_code == 200, resp.text[:500]
    return resp.json()


def responses_with_identifier(stack, value: str) -> list[dict]:
    bundle = fhir_get(stack, "QuestionnaireResponse", identifier=value, subject=f"Patient/{PETER}")
    return [e["resource"] for e in bundle.get("entry", [])]


def answers(items: list[dict], found: dict | None = None) -> dict[str, list]:
    """linkId -> answers, from a QuestionnaireResponse's nested items."""
    found = {} if found is None else found
    for item in items or []:
        if item.get("answer"):
            found.setdefault(item["linkId"], []).extend(item["answer"])
        answers(item.get("item"), found)
        for answer in item.get("answer", []):
            answers(answer.get("item"), found)
    return found


def session_rows(page, stack, date: str):
    """The rows of the session records dated ``date`` (ISO), on the records page filtered to sessions."""
    page.goto(f"{stack.app_base}/records?type=session")
    day = dt.date.fromisoformat(date)
    return (page.locator("table.records tbody tr[data-kind=session]")
            .filter(has=page.get_by_role("cell", name=f"{day.day} {day:%b %Y}", exact=True)))


# -- 1. launch and dashboard ----------------------------------------------------------------
def test_launch_from_sandbox_shows_the_dashboard(page: Page, stack, shot):
    page.goto(stack.launch_page)
    expect(page).to_have_title(re.compile("Local EHR sandbox"))
    page.locator("#patient").select_option(PETER)
    practitioner = page.locator("#practitioner option").first
    practitioner_id = practitioner.get_attribute("value")
    assert practitioner_id, "the sandbox offers no practitioner"
    page.locator("#practitioner").select_option(practitioner_id)
    shot("sandbox-launch-page")

    with page.expect_request(lambda r: r.url.startswith(f"{stack.app_base}/launch?")) as launch_request:
        page.get_by_role("button", name="Launch").click()
    query = parse_qs(urlparse(launch_request.value.url).query)
    assert query["iss"] == [stack.iss]
    assert query.get("launch") and query["launch"][0]

    page.wait_for_url(f"{stack.app_base}/dashboard**")
    expect(page).to_have_title(re.compile("Dashboard"))

    banner = page.get_by_role("region", name="Patient")
    expect(banner).to_be_visible()
    expect(banner.locator("strong")).to_have_text("Peter Example")
    expect(banner).to_contain_text("1999-10-14")

    for title in CHARTS:
        chart = page.get_by_role("group", name=title, exact=True)
        expect(chart).to_be_visible()
        box = chart.bounding_box()
        assert box and box["width"] > 200 and box["height"] > 40, f"{title}: drawn at {box}"
        marks = chart.locator("circle, rect, polyline")
        assert marks.count() > 3, f"{title}: no data drawn"
    # The session charts have one point per attended session.
    assert page.get_by_role("group", name=CHARTS[1]).locator("circle").count() >= 40

    goals = page.locator("section.card").filter(has=page.get_by_role("heading", name="Treatment goals"))
    expect(goals.locator("li")).to_have_count(3)
    expect(goals).to_contain_text("Relationships")

    crisis = page.locator(".emergency")
    expect(crisis).to_be_visible()
    expect(crisis).to_have_text(re.compile(r"Crisis line: \S+"))

    records = page.locator("table.records tbody tr")
    expect(records).to_have_count(10)
    expect(page.get_by_role("link", name=re.compile(r"^All \d+ records$"))).to_be_visible()
    shot("dashboard")
    for title in CHARTS:
        card = page.locator("section.card").filter(has=page.get_by_role("group", name=title, exact=True))
        shot("chart-" + re.sub(r"[^a-z0-9]+", "-", title.lower()).strip("-"), card)


def test_chart_legends_match_their_series(launched: Page):
    page = launched
    # legend key -> the colour the chart draws that series with
    pairs = page.evaluate(
        """() => Array.from(document.querySelectorAll('section.card')).flatMap(card => {
            const svg = card.querySelector('svg.chart');
            if (!svg) return [];
            return ['0', '1'].flatMap(k => {
              const key = card.querySelector('.legend .k' + k);
              const mark = svg.querySelector('.s' + k + ', .bar' + k);
              if (!key || !mark) return [];
              const style = getComputedStyle(mark);
              return [{
                chart: svg.getAttribute('aria-label'), series: key.textContent.trim(),
                legend: getComputedStyle(key, '::before').color,
                drawn: mark.tagName === 'polyline' ? style.stroke : style.fill,
              }];
            });
        })"""
    )
    assert len(pairs) >= 4, pairs
    wrong = [p for p in pairs if p["legend"] != p["drawn"]]
    assert wrong == [], "a legend key's colour differs from its series: " + "; ".join(
        f"{p['chart']} / {p['series']}: legend {p['legend']}, drawn {p['drawn']}" for p in wrong)


def test_chart_labels_are_legible(launched: Page, shot):
    """Axis labels sit inside their chart and are at least 2 px apart."""
    page = launched
    problems = page.evaluate(
        """() => Array.from(document.querySelectorAll('svg.chart')).flatMap(svg => {
            const box = svg.getBoundingClientRect();
            const labels = Array.from(svg.querySelectorAll('text'))
              .map(t => ({text: t.textContent, r: t.getBoundingClientRect()}))
              .filter(l => l.r.width > 0);
            const found = [];
            for (const l of labels) {
              if (l.r.left < box.left - 0.5 || l.r.right > box.right + 0.5)
                found.push(`${svg.getAttribute('aria-label')}: "${l.text}" is cut off at the edge`);
            }
            for (let i = 0; i < labels.length; i++) for (let j = i + 1; j < labels.length; j++) {
              const a = labels[i].r, b = labels[j].r;
              const overlap = Math.min(a.right, b.right) - Math.max(a.left, b.left);
              const sameRow = Math.min(a.bottom, b.bottom) - Math.max(a.top, b.top) > 1;
              if (sameRow && overlap > -2)  // less than 2 px apart
                found.push(`${svg.getAttribute('aria-label')}: "${labels[i].text}" runs into "${labels[j].text}"`);
            }
            return found;
        })"""
    )
    if problems:
        for title in CHARTS:
            chart = page.get_by_role("group", name=title, exact=True)
            shot("chart-" + re.sub(r"[^a-z0-9]+", "-", title.lower()).strip("-"), chart)
    assert problems == [], "chart labels collide or are clipped: " + "; ".join(problems[:6])


# -- 2. a session record, filled in and saved -----------------------------------------------
def test_record_a_session(launched: Page, stack, shot):
    page = launched
    date = "2026-11-20"
    before = session_rows(page, stack, date).count()  # 0 on a fresh server
    submission_id = open_session_form(page, stack)
    shot("session-form-empty")

    details, missed = question(page, "session.details"), question(page, "session.missed")
    expect(details).to_be_hidden()
    expect(missed).to_be_hidden()

    # Attendance decides which part of the form applies.
    choose(page, "session.attendance", "Did not attend")
    expect(missed).to_be_visible()
    expect(details).to_be_hidden()
    expect(question(page, "session.missed.contact-attempted").get_by_label("Yes", exact=True)).to_be_enabled()
    shot("session-form-did-not-attend")
    choose(page, "session.attendance", "Attended")
    expect(details).to_be_visible()
    expect(missed).to_be_hidden()
    expect(missed.locator("input").first).to_be_disabled()  # hidden answers are not sent

    # The repair question follows the rupture answer.
    repair = question(page, "alliance.repair")
    expect(repair).to_be_hidden()
    choose(page, "alliance.rupture", "Yes")
    expect(repair).to_be_visible()
    expect(repair.get_by_label("Repaired", exact=True)).to_be_enabled()
    shot("session-form-rupture-yes")
    choose(page, "alliance.rupture", "No")
    expect(repair).to_be_hidden()
    expect(repair.get_by_label("Repaired", exact=True)).to_be_disabled()
    choose(page, "alliance.rupture", "Yes")
    expect(repair).to_be_visible()
    choose(page, "alliance.repair", "Partially repaired")
    question(page, "alliance.rupture-description").locator("textarea").fill(
        "Felt criticised when the homework was mentioned; we slowed down and looked at it together."
    )

    # The risk follow-up appears for self-harm or suicidal thoughts, and only then.
    follow_up = question(page, "risk.follow-up")
    expect(follow_up).to_be_hidden()
    choose(page, "risk.self-harm", "Yes")
    expect(follow_up).to_be_visible()
    choose(page, "risk.self-harm", "No")
    expect(follow_up).to_be_hidden()
    choose(page, "risk.suicidal-thoughts", "Yes")
    expect(follow_up).to_be_visible()
    shot("session-form-risk-follow-up")
    choose(page, "risk.suicidal-thoughts", "No")
    expect(follow_up).to_be_hidden()

    # The answers.
    question(page, "session.date").locator("input").fill(date)
    choose(page, "session.format", "Individual")
    choose(page, "session.level-of-care", "Outpatient")
    choose(page, "session.modality", "In person")
    choose(page, "risk.self-harm", "No")
    answer_the_rest_of_the_risk_check(page)
    choose(page, "session.phase", "Middle phase")
    peak = question(page, "arousal.peak")
    expect(peak.locator("output")).to_have_text("not rated")
    move_slider(page, "arousal.peak", 6)
    expect(peak.locator("output")).to_have_text("6")
    expect(peak.locator("input[type=range]")).to_have_attribute("name", re.compile("arousal.peak"))
    choose(page, "arousal.collapse", "Yes")
    question(page, "arousal.collapse-context").locator("textarea").fill("Talking about the exam.")
    choose(page, "mentalizing.level", "Moderate")
    choose(page, "mentalizing.modes", "Pretend mode")
    choose(page, "interventions.used", "Empathic validation")
    choose(page, "interventions.used", "Clarification")
    choose(page, "interventions.stage", "What")
    choose(page, "adherence.stance", "5")  # a row of the adherence grid, 1 to 7
    expect(question(page, "adherence.stance").get_by_label("5", exact=True)).to_be_checked()
    question(page, "next.focus").locator("textarea").fill("The exam plan.")
    shot("session-form-filled")

    page.get_by_role("button", name="Complete").click()
    page.wait_for_url(f"{stack.app_base}/dashboard**")
    expect(page.locator(".flash")).to_have_text("Saved.")
    expect(session_rows(page, stack, date)).to_have_count(before + 1)
    row = session_rows(page, stack, date).first
    expect(row).to_contain_text("Session")
    expect(row).to_contain_text("Attended")
    expect(row).to_contain_text("rupture")
    shot("dashboard-after-save")

    # On the FHIR server: one completed response and the Observations taken from it.
    saved = responses_with_identifier(stack, submission_id)
    assert len(saved) == 1, saved
    qr = saved[0]
    assert qr["status"] == "completed"
    assert qr["subject"]["reference"] == f"Patient/{PETER}"
    assert qr["questionnaire"].split("|")[0].endswith(f"/Questionnaire/{SESSION_FORM}")
    got = answers(qr.get("item"))
    assert got["session.date"] == [{"valueDate": date}]
    assert got["arousal.peak"] == [{"valueInteger": 6}]
    assert got["alliance.rupture"] == [{"valueBoolean": True}]
    assert got["alliance.repair"][0]["valueCoding"]["code"] == "partially-repaired"
    assert got["risk.self-harm"][0]["valueCoding"]["code"] == "risk-no"
    assert "risk.level" not in got  # the hidden follow-up was not sent
    assert "session.missed.contact-attempted" not in got
    assert got["mentalizing.level-score"] == [{"valueInteger": 3}]  # calculated when saved

    bundle = fhir_get(stack, "Observation", **{"derived-from": f"QuestionnaireResponse/{qr['id']}", "_count": 100})
    observations = [e["resource"] for e in bundle.get("entry", [])]
    assert len(observations) >= 5, [o.get("code") for o in observations]
    for obs in observations:
        assert obs["subject"]["reference"] == f"Patient/{PETER}"
        assert obs["status"] in ("final", "amended")
    values = [o.get("valueInteger", (o.get("valueQuantity") or {}).get("value")) for o in observations]
    assert 6 in values, observations  # the peak arousal
    effective = {str(o.get("effectiveDateTime") or (o.get("effectivePeriod") or {}).get("start", ""))[:10]
                 for o in observations}
    # Dated like SDC extraction says: from the response's authored time (the time of writing).
    assert effective == {qr["authored"][:10]}, effective


# -- 3. a validation problem ----------------------------------------------------------------
def test_validation_error_is_shown_beside_the_question_and_answers_are_kept(launched: Page, stack, shot, page_watch):
    page = launched
    date = "2026-11-27"
    before = session_rows(page, stack, date).count()  # 0 on a fresh server
    submission_id = open_session_form(page, stack)
    choose(page, "session.format", "Group")
    choose(page, "session.level-of-care", "Outpatient")
    choose(page, "session.modality", "Video")
    choose(page, "session.attendance", "Attended")
    choose(page, "risk.self-harm", "No")
    choose(page, "risk.suicidal-thoughts", "No")
    answer_the_rest_of_the_risk_check(page)
    move_slider(page, "arousal.peak", 3)
    expect(question(page, "arousal.peak").locator("output")).to_have_text("3")
    choose(page, "arousal.collapse", "No")
    choose(page, "mentalizing.level", "Good")
    choose(page, "mentalizing.modes", "Teleological mode")
    choose(page, "interventions.used", "Clarification")
    choose(page, "interventions.stage", "What")
    choose(page, "alliance.rupture", "No")
    note = "Typed before the date was forgotten: keep me."
    question(page, "session.note").locator("textarea").fill(note)
    # No date (a new record starts dated today; the clinician cleared it): the session date is required.
    question(page, "session.date").locator("input").fill("")
    shot("session-form-without-date")

    page_watch.expect(r"status of 422")  # the form comes back as 422 Unprocessable Entity
    with page.expect_response(lambda r: r.request.method == "POST") as posted:
        page.get_by_role("button", name="Complete").click()
    assert posted.value.status == 422
    page.wait_for_load_state()

    expect(page.locator(".form-errors")).to_be_visible()
    date_question = question(page, "session.date")
    expect(date_question).to_have_class(re.compile(r"\bhas-error\b"))
    error = date_question.locator(".field-error")
    expect(error).to_be_visible()
    expect(error).not_to_be_empty()
    expect(page.locator(".field-error")).to_have_count(1)  # only the date is wrong
    shot("session-form-date-error")

    # Everything else is still there.
    expect(question(page, "session.format").get_by_label("Group", exact=True)).to_be_checked()
    expect(question(page, "session.modality").get_by_label("Video", exact=True)).to_be_checked()
    expect(question(page, "session.attendance").get_by_label("Attended", exact=True)).to_be_checked()
    expect(question(page, "session.details")).to_be_visible()
    expect(question(page, "risk.self-harm").get_by_label("No", exact=True)).to_be_checked()
    expect(question(page, "mentalizing.level").get_by_label("Good", exact=True)).to_be_checked()
    expect(question(page, "mentalizing.modes").get_by_label("Teleological mode", exact=True)).to_be_checked()
    expect(question(page, "alliance.rupture").get_by_label("No", exact=True)).to_be_checked()
    expect(question(page, "alliance.repair")).to_be_hidden()
    expect(question(page, "session.note").locator("textarea")).to_have_value(note)
    peak = question(page, "arousal.peak")
    expect(peak.locator("input[type=range]")).to_have_value("3")
    expect(peak.locator("output")).to_have_text("3")
    expect(peak.locator("input[type=range]")).to_have_attribute("name", re.compile("arousal.peak"))
    assert page.locator("input[name=submission_id]").input_value() == submission_id
    assert responses_with_identifier(stack, submission_id) == []  # nothing was saved

    # Give the date; now it saves, once.
    date_question.locator("input").fill(date)
    page.get_by_role("button", name="Complete").click()
    page.wait_for_url(f"{stack.app_base}/dashboard**")
    expect(page.locator(".flash")).to_have_text("Saved.")
    expect(session_rows(page, stack, date)).to_have_count(before + 1)
    shot("dashboard-after-fix")
    saved = responses_with_identifier(stack, submission_id)
    assert [r["status"] for r in saved] == ["completed"]
    assert answers(saved[0].get("item"))["session.note"] == [{"valueString": note}]


def test_a_slider_moved_to_its_minimum_keeps_its_answer_after_an_error(launched: Page, stack, shot, page_watch):
    """Peak arousal 0 (calm) is an answer: it must survive a round trip like any other."""
    page = launched
    open_session_form(page, stack)
    choose(page, "session.attendance", "Attended")
    move_slider(page, "arousal.peak", 2)
    move_slider(page, "arousal.peak", -2)
    peak = question(page, "arousal.peak")
    expect(peak.locator("output")).to_have_text("0")
    expect(peak.locator("input[type=range]")).to_have_attribute("name", re.compile("arousal.peak"))
    page_watch.expect(r"status of 422")
    page.get_by_role("button", name="Complete").click()  # many required answers missing
    page.wait_for_load_state()
    expect(page.locator(".form-errors")).to_be_visible()
    shot("session-form-errors")
    expect(peak.locator(".field-error")).to_have_count(0)
    expect(peak.locator("output")).to_have_text("0")
    expect(peak.locator("input[type=range]")).to_have_attribute("name", re.compile("arousal.peak"))


# -- 4. the patient copy --------------------------------------------------------------------
def test_patient_copy_shows_the_crisis_plan(launched: Page, stack, shot):
    page = launched
    page.get_by_role("navigation").get_by_role("link", name="Patient copy").click()
    page.wait_for_url(f"{stack.app_base}/**")
    expect(page.get_by_role("heading", level=1)).to_have_text("Your formulation for Peter Example")
    plan = page.locator("article.copy section").filter(has=page.get_by_role("heading", name="Your crisis plan"))
    expect(plan).to_be_visible()
    expect(plan).to_contain_text("What I can do:")
    what_i_can_do = plan.locator("p").filter(has_text="What I can do:")
    assert re.search(r"What I can do:\s*\w", what_i_can_do.inner_text()), "the crisis plan is empty"
    expect(plan).to_contain_text("In a crisis:")
    expect(page.locator("article.copy").get_by_role("heading", name="Your goals")).to_be_visible()
    expect(page.get_by_role("button", name="Print")).to_be_visible()
    shot("patient-copy")

    # Printed, the page drops the app's navigation and the print button, keeps the plan.
    page.emulate_media(media="print")
    expect(page.get_by_role("button", name="Print")).to_be_hidden()
    expect(page.locator(".app-header nav")).to_be_hidden()
    expect(plan).to_be_visible()
    shot("patient-copy-print")

    goals = page.locator("article.copy section").filter(has=page.get_by_role("heading", name="Your goals"))
    doubled = [line for line in goals.locator("li").all_inner_texts() if ".." in line]
    assert doubled == [], "a goal's sentence ends with two full stops: " + (doubled[0] if doubled else "")


# -- 5. inside the EHR's frame --------------------------------------------------------------
def _framing_page(src: str) -> str:
    return (
        "<!doctype html><html><head><meta charset=utf-8><title>EHR chart</title></head><body>"
        "<h1>EHR chart</h1>"
        f'<iframe id="app" name="app" src="{src}" style="width:1200px;height:1400px;border:1px solid #999">'
        "</iframe></body></html>"
    )


def test_app_works_inside_a_frame_of_the_sandbox_origin(page: Page, stack, shot):
    """An EHR page on the sandbox's origin frames the launch; the app comes up in the frame
    (its frame-ancestors allow that origin and its session cookie works there)."""
    chart_url = f"{stack.sandbox_base}/__browser-test/chart"
    page.route(chart_url, lambda route: route.fulfill(
        status=200, content_type="text/html", body=_framing_page(stack.launch_page)))
    page.goto(chart_url)
    app = page.frame_locator("#app")
    app.locator("#patient").select_option(PETER)
    shot("ehr-frame-launch-page")
    app.get_by_role("button", name="Launch").click()

    banner = app.get_by_role("region", name="Patient")
    expect(banner.locator("strong")).to_have_text("Peter Example")
    for title in CHARTS:
        expect(app.get_by_role("group", name=title, exact=True)).to_be_visible()
    frame = page.frame(name="app")
    assert frame is not None and frame.url.startswith(f"{stack.app_base}/dashboard")
    shot("ehr-frame-dashboard")

    # And a form works in the frame: the repair question still follows the rupture answer.
    app.get_by_role("link", name="Record a session").click()
    expect(app.get_by_role("heading", level=1)).to_have_text(re.compile("session", re.I))
    app.locator('[data-link-id="session.attendance"]').get_by_label("Attended", exact=True).check()
    app.locator('[data-link-id="alliance.rupture"]').get_by_label("Yes", exact=True).check()
    expect(app.locator('[data-link-id="alliance.repair"]')).to_be_visible()
    shot("ehr-frame-form")


@pytest.fixture
def foreign_origin():
    """A page on an origin that is not a configured EHR: a tiny server on loopback that
    answers every GET with ``foreign_origin.body``."""

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self):  # noqa: N802 - http.server's name
            body = server.body.encode()
            self.send_response(200)
            self.send_header("Content-Type", "text/html; charset=utf-8")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args):
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.body = ""
    server.base = f"http://127.0.0.1:{server.server_port}"
    thread = threading.Thread(target=server.serve_forever, name="foreign-origin", daemon=True)
    thread.start()
    try:
        yield server
    finally:
        server.shutdown()
        server.server_close()


def test_app_refuses_to_be_framed_by_another_origin(page: Page, stack, page_watch, shot, foreign_origin):
    """frame-ancestors: a page on an origin that is not a configured EHR cannot frame the app."""
    foreign_origin.body = _framing_page(f"{stack.app_base}/")
    page_watch.expect(r"frame-ancestors")
    with page.expect_console_message(lambda m: "frame-ancestors" in m.text) as refused:
        page.goto(f"{foreign_origin.base}/chart")
    assert stack.app_base in refused.value.text
    assert stack.sandbox_base in refused.value.text  # the policy names the EHR's origin
    frame = page.frame(name="app")
    assert frame is not None
    assert not frame.url.startswith(stack.app_base), frame.url
    expect(page.frame_locator("#app").get_by_text("Open MBT")).to_have_count(0)
    shot("foreign-frame-refused")
