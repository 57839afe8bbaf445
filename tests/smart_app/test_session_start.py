"""A new session record: dated today where the service is, the last session's agreed focus at the
top for one FHIR request, and a form that opens all the same when that read fails."""

from __future__ import annotations

import datetime as dt
import re
import zoneinfo
from html import unescape

import pytest

from app_helpers import example_response, launch
from fhir_mbt.cds.record import flatten
from fhir_mbt.content import terminology

NEW = "/forms/mbt-session-record/new"


def _date_value(html: str) -> str:
    found = re.search(r'<input type="date" id="f-a-session.date" name="a:session.date" value="([^"]*)"', html)
    assert found, "the session date input is on the form"
    return found.group(1)


def _newest_session(ehr) -> dict:
    sessions = [r for r in ehr.of_type("QuestionnaireResponse")
                if r["questionnaire"].split("|")[0].endswith("/mbt-session-record")
                and r["status"] in ("completed", "amended")]
    return max(sessions, key=lambda r: r["authored"])


def _open(client) -> str:
    page = client.get(NEW, follow_redirects=True)
    assert page.status_code == 200
    return page.get_data(as_text=True)


def test_a_new_session_record_is_dated_today_where_the_service_is(app, client, ehr, example_data):
    # Kiritimati (UTC+14) is a day ahead of UTC for ten hours of every day: the zone decides.
    app.config["MBT_TIMEZONE"] = "Pacific/Kiritimati"
    launch(client, ehr)
    today = dt.datetime.now(zoneinfo.ZoneInfo("Pacific/Kiritimati")).date().isoformat()
    assert _date_value(_open(client)) == today


def test_the_last_sessions_focus_is_shown_for_one_request(launched, ehr):
    newest = _newest_session(ehr)
    answers = flatten(newest["item"])
    day = dt.date.fromisoformat(answers["session.date"][0])

    def requests_to_show(path):
        first = launched.get(path)  # the redirect that names the form's submission
        assert first.status_code == 302
        before = len(ehr.fhir_requests)
        page = launched.get(first.headers["Location"])
        return page, ehr.fhir_requests[before:]

    requests_to_show("/forms/rfq-8/new")  # the first page of a launch also reads the patient (for the banner)
    _, other = requests_to_show("/forms/rfq-8/new")  # what any other form costs
    page, sent = requests_to_show(NEW)
    html = unescape(page.get_data(as_text=True))
    searches = [r for r in sent if "/QuestionnaireResponse" in r.url]
    assert len(sent) == len(other) + 1 and len(searches) == 1, [r.url for r in sent]
    query = searches[0].url
    for part in ("_count=1", "_sort=-authored", "status=completed%2Camended", "subject=Patient%2Fmbt-example-peter"):
        assert part in query, query
    assert f"Last session ({day.day} {day:%b %Y})" in html
    assert f"focus agreed: {answers['next.focus'][0]}" in html


def test_a_patient_without_sessions_gets_no_line(launched, ehr):
    for record in list(ehr.of_type("QuestionnaireResponse")):
        if record["questionnaire"].split("|")[0].endswith("/mbt-session-record"):
            ehr.resources.pop(("QuestionnaireResponse", record["id"]))
    html = _open(launched)
    assert "last-session" not in html and "Last session" not in html


@pytest.mark.parametrize("fault", [{"status": 500}, {"timeout": True}, {"status": 200, "body": "not json"}])
def test_the_form_opens_when_the_last_session_cannot_be_read(launched, ehr, fault):
    ehr.fault(method="GET", path="QuestionnaireResponse", query="_sort=-authored", times=3, **fault)
    html = _open(launched)
    assert "could not be read just now" in html
    assert 'class="last-session unavailable"' in html
    assert _date_value(html)  # the form itself is all there
    assert 'name="action" value="complete"' in html


def test_a_draft_keeps_its_date(launched, ehr):
    draft = dict(example_response(ehr, terminology.SESSION_RECORD), id="draft-old", status="in-progress")
    ehr.put(draft)
    html = launched.get("/forms/r/draft-old/edit").get_data(as_text=True)
    assert _date_value(html) == flatten(draft["item"])["session.date"][0]
    assert "Last session" not in html
