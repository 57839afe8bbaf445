"""The app's side of the limits: date inputs carry min/max, and a date or a text
over the limit comes back on the page with a message naming the question, the
answers kept and nothing written."""

from __future__ import annotations

import datetime as dt
import html as html_lib
import re

import pytest

from app_helpers import field_name, form_csrf, post_data_from_response
from fhir_mbt.content import shipped, terminology
from fhir_mbt.engine.answers import MAX_TEXT_LENGTH
from fhir_mbt.engine.clock import latest_today
from smart_app.form_post import FormError, parse_form
from smart_app.questionnaire_form import build_form, walk_fields

SESSION = terminology.SESSION_RECORD
NOTE = "a" * 600_000


def questionnaire(qid: str) -> dict:
    return shipped().get(terminology.questionnaire_url(qid))


def session_post(ehr, **answers) -> dict:
    q = questionnaire(SESSION)
    example = min((r for r in ehr.of_type("QuestionnaireResponse") if f"/{SESSION}|" in r["questionnaire"]),
                  key=lambda r: r["authored"])
    data = post_data_from_response(q, example)
    for link_id, value in answers.items():
        data[field_name(q, link_id)] = [value]
    return data


def writes(ehr) -> int:
    return len(ehr.fhir_requests)


def _input(html: str, name: str) -> str:
    return re.search(r'<(?:input|textarea)[^>]*name="' + re.escape(name) + r'"[^>]*>', html).group(0)


# --- date inputs ------------------------------------------------------------------------


@pytest.mark.parametrize("qid,link_id", [(SESSION, "session.date"), (terminology.FORMULATION, "agreement.date")])
def test_date_inputs_carry_min_and_max(launched, qid, link_id):
    html = launched.get(f"/forms/{qid}/new", follow_redirects=True).get_data(as_text=True)
    tag = _input(html, field_name(questionnaire(qid), link_id))
    assert 'type="date"' in tag
    assert f'max="{latest_today().isoformat()}"' in tag
    assert 'min="1900-01-01"' in tag


def test_the_renderer_evaluates_the_computed_maximum_for_the_day_given():
    fields = {f.link_id: f for f in walk_fields(build_form(questionnaire(SESSION), shipped(),
                                                           today=dt.date(2026, 11, 30)))}
    assert (fields["session.date"].min, fields["session.date"].max) == ("1900-01-01", "2026-11-30")


@pytest.mark.parametrize("action", ["complete", "draft"])
def test_a_future_session_date_is_refused_beside_the_question(launched, ehr, action):
    path = f"/forms/{SESSION}/new"
    hidden = form_csrf(launched, path)
    before = writes(ehr)
    answer = launched.post(path, data={**session_post(ehr, **{"session.date": "2062-11-30"}), **hidden,
                                       "action": action})
    assert answer.status_code == 422
    page = answer.get_data(as_text=True)
    assert "Date of the session cannot be in the future" in page
    assert 'value="2062-11-30"' in _input(page, field_name(questionnaire(SESSION), "session.date"))
    assert writes(ehr) == before, "nothing was sent to the FHIR server"


def test_a_session_dated_today_saves(launched, ehr):
    path = f"/forms/{SESSION}/new"
    hidden = form_csrf(launched, path)
    today = dt.datetime.now(dt.timezone.utc).date().isoformat()
    answer = launched.post(path, data={**session_post(ehr, **{"session.date": today}), **hidden,
                                       "action": "complete"})
    assert answer.status_code == 302, answer.get_data(as_text=True)[:2000]


# --- text -------------------------------------------------------------------------------


@pytest.mark.parametrize("action", ["complete", "draft"])
def test_a_600000_character_note_is_refused_with_the_text_kept(launched, ehr, action):
    path = f"/forms/{SESSION}/new"
    hidden = form_csrf(launched, path)
    before = writes(ehr)
    answer = launched.post(path, data={**session_post(ehr, **{"session.note": NOTE}), **hidden, "action": action})
    assert answer.status_code == 422
    page = answer.get_data(as_text=True)
    assert "Note is longer than 20,000 characters (600,000 typed)" in page
    textarea = page.index('name="' + field_name(questionnaire(SESSION), "session.note") + '"')
    assert NOTE in page[textarea:], "the text is still on the page"
    assert writes(ehr) == before, "nothing was sent to the FHIR server"


def test_a_note_at_the_limit_saves(launched, ehr):
    path = f"/forms/{SESSION}/new"
    hidden = form_csrf(launched, path)
    yesterday = (dt.datetime.now(dt.timezone.utc).date() - dt.timedelta(days=1)).isoformat()  # not the example's day
    answer = launched.post(path, data={**session_post(ehr, **{"session.note": "a" * MAX_TEXT_LENGTH,
                                                              "session.date": yesterday}), **hidden,
                                       "action": "complete"})
    assert answer.status_code == 302, answer.get_data(as_text=True)[:2000]
    stored = [r for r in ehr.of_type("QuestionnaireResponse")
              if r.get("identifier", {}).get("value") == hidden["submission_id"]]
    assert len(stored) == 1
    notes = [a["valueString"] for i in stored[0]["item"] if i["linkId"] == "session.note" for a in i["answer"]]
    assert notes == ["a" * MAX_TEXT_LENGTH]


def test_the_renderer_refuses_long_free_text_of_an_open_choice():
    q = questionnaire(terminology.WEEKLY_CHECKIN)
    name = field_name(q, "checkin.emotions")
    with pytest.raises(FormError) as caught:
        parse_form(q, {name + ".other": ["x" * (MAX_TEXT_LENGTH + 1)]}, shipped())
    message = caught.value.errors[name]
    # The question is long, so it is named by its code's display, never by its linkId.
    assert message.startswith("Emotions noticed is longer than 20,000 characters") and "checkin." not in message


def test_the_message_is_escaped_like_everything_else(launched, ehr):
    path = f"/forms/{SESSION}/new"
    hidden = form_csrf(launched, path)
    note = "<script>alert(1)</script>" + "a" * MAX_TEXT_LENGTH
    page = launched.post(path, data={**session_post(ehr, **{"session.note": note}), **hidden,
                                     "action": "complete"}).get_data(as_text=True)
    assert "<script>alert(1)</script>" not in page and html_lib.escape("<script>alert(1)</script>") in page
