"""Entering a record in Chromium: scores previewed while answering equal the engine's, answer
grids (keyboard, phone fallback), the long forms' section index, sticky save bar and Cancel, a
new session record's date and the last session's agreed focus, the error list that leads to
its question. Screenshots: test-artifacts/screenshots/<test>-NN-<step>.png.
"""

from __future__ import annotations

import datetime as dt
import random
import re
import zoneinfo

import pytest
import requests
from playwright.sync_api import Page, expect

from fhir_mbt.cds.record import flatten
from fhir_mbt.content import shipped, terminology
from fhir_mbt.engine.score_program import score_programs
from fhir_mbt.engine.scoring import score
from integration.browser.conftest import take_shot, watched_page
from smart_app.form_post import parse_form

PETER = "mbt-example-peter"
FHIR_JSON = {"Accept": "application/fhir+json"}
SETS = 20
SCORED = ["rfq-8", "mbt-mentalizing-profile", "mbt-weekly-checkin", "mbt-session-record"]


def question(page, link_id: str):
    return page.locator(f'[data-link-id="{link_id}"]')


def questionnaire(qid: str) -> dict:
    return shipped().get(terminology.questionnaire_url(qid))


def fhir_search(stack, **params) -> list[dict]:
    resp = requests.get(f"{stack.fhir_base}/QuestionnaireResponse", params={"_count": "500", **params},
                        headers=FHIR_JSON, timeout=60)
    assert resp.status_code == 200, resp.text[:500]
    return [e["resource"] for e in resp.json().get("entry", [])]


def open_form(page: Page, stack, qid: str) -> str:
    page.goto(f"{stack.app_base}/forms/{qid}/new")
    page.wait_for_url(re.compile(rf".*/forms/{re.escape(qid)}/new\?s=.*"))
    return page.url


def unfold_scores(page: Page) -> None:
    """Open the scores kept from the patient (folded away on a clinician's form)."""
    for summary in page.locator("details.clinician-scores > summary").all():
        summary.click()


def posted(page: Page) -> dict[str, list[str]]:
    """What the form would post now (disabled inputs, as a browser does, left out)."""
    pairs = page.evaluate("() => Array.from(new FormData(document.querySelector('form.questionnaire')).entries())")
    out: dict[str, list[str]] = {}
    for name, value in pairs:
        out.setdefault(name, []).append(value)
    return {k: v for k, v in out.items() if k.startswith("a:")}


def engine_scores(qid: str, form: dict[str, list[str]]) -> dict:
    q = questionnaire(qid)
    index = shipped()
    items = parse_form(q, form, index)
    response = {"resourceType": "QuestionnaireResponse", "questionnaire": f"{q['url']}|{q['version']}",
                "status": "in-progress", "subject": {"reference": f"Patient/{PETER}"}, "item": items}
    return score(response, q, index)


def inputs_of(qid: str) -> list[str]:
    """The items the scores of a form read, in the order the form shows them."""
    wanted: set[str] = set()
    for program in score_programs(questionnaire(qid)).values():
        stack = [program]
        while stack:
            node = stack.pop()
            if isinstance(node, dict):
                wanted.update(node.get("answers", ()))
                stack.extend(node.values())
            elif isinstance(node, list):
                stack.extend(node)
    order = []

    def walk(items):
        for item in items or ():
            if item["linkId"] in wanted:
                order.append(item["linkId"])
            walk(item.get("item"))

    walk(questionnaire(qid)["item"])
    return order


def clear_answers(page: Page, link_ids: list[str]) -> None:
    page.evaluate("""(ids) => {
        for (const id of ids) {
            document.querySelectorAll(`[data-answer-for="${CSS.escape(id)}"]`).forEach((input) => {
                if (input.type === "radio" || input.type === "checkbox") { input.checked = false; }
                else { input.value = ""; }
            });
        }
        document.querySelector("form.questionnaire").dispatchEvent(new Event("change", {bubbles: true}));
    }""", link_ids)


def answer_randomly(page: Page, link_id: str, rng: random.Random) -> None:
    """One random answer (sometimes none) to an item, if the form shows it now."""
    inputs = page.locator(f'[data-answer-for="{link_id}"]')
    first = inputs.first
    if not first.is_enabled():
        return  # not asked with the answers given so far
    if rng.random() < 0.12:
        return  # left unanswered: the score must say it needs more answers
    kind = first.get_attribute("type")
    if kind in ("radio", "checkbox"):
        inputs.nth(rng.randrange(inputs.count())).check()
    elif kind == "number":
        first.fill(str(rng.choice([0, 0, 1, 2, 3, 5, 8, 13, 40])))
    else:
        raise AssertionError(f"no random answer for input type {kind}")


def previewed(page: Page) -> dict[str, str | None]:
    out = {}
    for output in page.locator("output[data-score-program]").all():
        link_id = output.locator("xpath=ancestor::*[@data-link-id][1]").get_attribute("data-link-id")
        out[link_id] = output.get_attribute("data-value")
    return out


def same(engine_value, shown: str | None) -> bool:
    if engine_value is None:
        return shown == ""
    return shown not in (None, "") and float(shown) == float(engine_value)


@pytest.mark.parametrize("qid", SCORED)
def test_previewed_scores_equal_the_engines(launched: Page, stack, shot, qid):
    page = launched
    open_form(page, stack, qid)
    programs = score_programs(questionnaire(qid))
    assert programs, f"{qid} has scores to preview"
    unfold_scores(page)
    notes = page.locator(".score-note")
    if qid == "mbt-session-record":
        question(page, "session.attendance").get_by_label("Attended", exact=True).check()
    link_ids = inputs_of(qid)
    rng = random.Random(f"preview-{qid}")
    compared = 0
    for n in range(SETS):
        clear_answers(page, link_ids)
        for link_id in link_ids:
            answer_randomly(page, link_id, rng)
        shown = previewed(page)
        expected = engine_scores(qid, posted(page))
        assert set(shown) == set(programs), (shown, programs)
        for link_id, value in shown.items():
            assert same(expected[link_id], value), (n, link_id, expected[link_id], value, posted(page))
            compared += 1
        if n == 0:
            shot("random-answers-previewed")
    assert compared == SETS * len(programs)
    expect(notes.first).to_have_text("preview; saved scores are computed when you save")
    expect(notes.first).to_be_visible()


def test_scores_in_preview_follow_a_change_of_answer(launched: Page, stack, shot):
    page = launched
    open_form(page, stack, "rfq-8")
    scores = page.locator("details.clinician-scores")
    expect(scores).not_to_have_attribute("open", re.compile(".*"))  # folded away: the patient may be looking
    unfold_scores(page)
    certainty = question(page, "rfq8.certainty").locator("output")
    expect(certainty).to_have_text("needs more answers")
    for n in range(1, 9):
        question(page, f"rfq8.{n}").get_by_label("Strongly disagree", exact=True).check()
    expect(certainty).to_have_text("3.00")
    expect(question(page, "rfq8.uncertainty").locator("output")).to_have_text("0.50")
    question(page, "rfq8.1").get_by_label("Disagree", exact=True).check()
    expect(certainty).to_have_text("2.83")
    shot("rfq8-previewed")


def test_rfq8_grid_is_a_labelled_row_per_statement_usable_by_keyboard(launched: Page, stack, shot):
    page = launched
    open_form(page, stack, "rfq-8")
    grid = page.locator(".answer-grid")
    expect(grid).to_have_count(1)
    scale = [c["display"] for c in shipped().expand("http://fhir-mbt.org/fhir/ValueSet/mbt-agreement-7")]
    expect(grid.locator(".grid-head .grid-col")).to_have_text(scale)
    rows = grid.locator("fieldset.grid-row")
    expect(rows).to_have_count(8)
    statements = [i["text"] for i in questionnaire("rfq-8")["item"] if i["linkId"] in {f"rfq8.{n}" for n in range(1, 9)}]
    expect(rows.locator("legend")).to_have_text([re.compile("^" + re.escape(t) + r"( \*)?$") for t in statements])
    # Every radio button is named by its row's statement and its own point of the scale.
    first_row = page.get_by_role("group", name=statements[0])
    for label in scale:
        expect(first_row.get_by_role("radio", name=label, exact=True)).to_have_count(1)
    # Keyboard: arrows move along a row; Tab goes on to the next statement.
    first_row.get_by_role("radio", name=scale[0], exact=True).focus()
    page.keyboard.press("Space")
    page.keyboard.press("ArrowRight")
    page.keyboard.press("ArrowRight")
    expect(first_row.get_by_role("radio", name=scale[2], exact=True)).to_be_checked()
    page.keyboard.press("Tab")
    page.keyboard.press("Space")
    second = page.get_by_role("group", name=statements[1])
    expect(second.get_by_role("radio", name=scale[0], exact=True)).to_be_checked()
    head = grid.locator(".grid-head").bounding_box()
    cell = rows.first.locator(".grid-cell").nth(3).bounding_box()
    column = grid.locator(".grid-col").nth(3).bounding_box()
    assert abs((cell["x"] + cell["width"] / 2) - (column["x"] + column["width"] / 2)) < 3, "columns line up"
    assert head["width"] > 600
    shot("rfq8-grid", grid)


@pytest.fixture
def narrow(browser, page_watch, request):
    """A page 360 px wide (a phone)."""
    with watched_page(browser, page_watch, request, viewport={"width": 360, "height": 740}, is_mobile=True, has_touch=True, device_scale_factor=2) as pg:
        yield pg


def _nshot(page, page_watch, step):
    take_shot(page, page_watch, step)


def test_grid_becomes_lists_on_a_phone(narrow: Page, stack, page_watch):
    page = narrow
    page.goto(f"{stack.sandbox_base}/portal/")
    page.locator("#patient").select_option(PETER)
    page.get_by_role("button", name="Open MBT").click()
    page.wait_for_url(f"{stack.app_base}/me/**")
    page.goto(f"{stack.app_base}/me/forms/rfq-8/new")
    expect(page.locator(".grid-head")).to_be_hidden()
    labels = page.locator(".grid-row").first.locator(".grid-label")
    expect(labels).to_have_count(7)
    for i in range(7):
        expect(labels.nth(i)).to_be_visible()
        assert labels.nth(i).bounding_box()["width"] > 40, "the scale's words are shown beside each button"
    width = page.evaluate("document.documentElement.scrollWidth")
    assert width <= 361, f"the page scrolls sideways ({width}px)"
    page.locator(".grid-row").first.locator(".grid-cell").nth(5).click()
    expect(page.locator(".grid-row").first.locator("input").nth(5)).to_be_checked()
    _nshot(page, page_watch, "rfq8-phone")


def _newest_session_focus(stack) -> tuple[str, str] | None:
    records = [r for r in fhir_search(stack, subject=f"Patient/{PETER}")
               if r["questionnaire"].split("|")[0].endswith("/mbt-session-record")
               and r["status"] in ("completed", "amended")]
    if not records:
        return None
    newest = max(records, key=lambda r: r["authored"])
    answers = flatten(newest.get("item"))
    day = dt.date.fromisoformat(answers["session.date"][0])
    return f"{day.day} {day:%b %Y}", (answers.get("next.focus") or [""])[0]


@pytest.mark.parametrize("width", [1280, 800])
def test_long_form_index_save_bar_cancel_and_last_session(launched: Page, stack, shot, width):
    page = launched
    page.set_viewport_size({"width": width, "height": 900})
    last = _newest_session_focus(stack)
    open_form(page, stack, "mbt-session-record")
    today = dt.datetime.now(zoneinfo.ZoneInfo("UTC")).date().isoformat()  # the stack's MBT_TIMEZONE: UTC
    expect(question(page, "session.date").locator("input")).to_have_value(today)
    assert last is not None, "the example patient has completed session records"
    focus = last[1] or "none recorded"  # another test may have saved a session without one
    expect(page.locator(".last-session")).to_have_text(f"Last session ({last[0]}) — focus agreed: {focus}")
    shot("session-form-top")

    sidebar, listed = page.locator("nav.section-sidebar"), page.locator("details.section-list")
    index = sidebar if width >= 1100 else listed
    (expect(sidebar).to_be_visible() if width >= 1100 else expect(sidebar).to_be_hidden())
    (expect(listed).to_be_hidden() if width >= 1100 else expect(listed).to_be_visible())
    if width < 1100:
        listed.locator("summary").click()
    links = index.locator("a")
    texts = links.all_inner_texts()
    assert "Clinician self-rating of MBT adherence" in texts and "Missed session follow-up" in texts
    # Sections that do not apply to the answers given are marked so.
    question(page, "session.attendance").get_by_label("Attended", exact=True).check()
    expect(index.locator("li", has_text="Missed session follow-up")).to_have_class(re.compile("not-applicable"))
    expect(index.locator("li", has_text="Alliance")).not_to_have_class(re.compile("not-applicable"))
    index.get_by_role("link", name="Clinician self-rating of MBT adherence").click()
    target = question(page, "adherence")
    expect(target).to_be_in_viewport()
    assert page.url.endswith("#f-a-session.details-adherence")

    bar = page.locator(".save-bar")
    box = bar.bounding_box()
    assert box["y"] + box["height"] <= 900 + 1 and box["y"] > 600, "the save bar stays at the foot of the window"
    for name in ("Save draft", "Complete", "Cancel"):
        expect(bar.get_by_role("button" if name != "Cancel" else "link", name=name)).to_be_visible()
    if width >= 1100:
        sidebar_box = sidebar.bounding_box()
        assert sidebar_box["y"] >= 0, "the index stays in view beside the form"
    shot("session-form-at-adherence")

    # Cancel with answers given: asked first; "stay" keeps the form.
    dialogs = []

    def dismiss(dialog):
        dialogs.append(dialog.message)
        dialog.dismiss()

    page.once("dialog", dismiss)
    bar.get_by_role("link", name="Cancel").click()
    expect(page.locator("form.questionnaire")).to_be_visible()
    assert dialogs and "without saving" in dialogs[0]
    assert "/forms/mbt-session-record/new" in page.url
    page.once("dialog", lambda d: d.accept())
    bar.get_by_role("link", name="Cancel").click()
    page.wait_for_url(f"{stack.app_base}/dashboard**")


def test_cancel_without_changes_leaves_at_once(launched: Page, stack):
    page = launched
    open_form(page, stack, "rfq-8")
    page.on("dialog", lambda d: pytest.fail(f"asked although nothing changed: {d.message}"))
    page.get_by_role("link", name="Cancel").click()
    page.wait_for_url(f"{stack.app_base}/dashboard**")


def test_error_list_leads_to_each_question(launched: Page, stack, shot, page_watch):
    page = launched
    page_watch.expect(r"status of 422")
    open_form(page, stack, "mbt-weekly-checkin")
    question(page, "checkin.blow-ups").locator("input").fill("-2")
    page.get_by_role("button", name="Complete").click()
    page.wait_for_load_state()
    links = page.locator(".form-errors .error-list a")
    expect(links.first).to_be_visible()
    texts = links.all_inner_texts()
    assert "Blow-ups this week cannot be below 0" in texts, texts
    for text in texts:
        assert "checkin." not in text
    links.filter(has_text="Blow-ups this week cannot be below 0").click()
    assert page.url.endswith("#f-a-checkin.blow-ups")
    expect(page.locator("#f-a-checkin\\.blow-ups")).to_be_in_viewport()
    shot("checkin-errors")
