"""The records list: every kind of record in one chronological list, newest first, with a type filter,
pages, local dates, who entered each, a risk flag by the alert's rule, and an Open link that opens it."""

from __future__ import annotations

import copy
import datetime as dt
import json
import re
import zoneinfo

import pytest

from app_helpers import YES, launch, long_history, set_answer
from fhir_mbt.content import definitions_dir, shipped
from smart_app.dashboard_data import build_view
from smart_app.records import KINDS, ListRequestError, listing, rows

PATIENT = "mbt-example-peter"
UTC = zoneinfo.ZoneInfo("UTC")


def _responses() -> list[dict]:
    """The example's responses, their urn:uuid references resolved as a server does when it stores the Bundle."""
    bundle = json.loads((definitions_dir() / "examples" / "Bundle-mbt-example-peter.json").read_text())
    text = json.dumps(bundle["entry"])
    for e in bundle["entry"]:
        text = text.replace(f'"{e["fullUrl"]}"', f'"{e["resource"]["resourceType"]}/{e["resource"]["id"]}"')
    return [e["resource"] for e in json.loads(text) if e["resource"]["resourceType"] == "QuestionnaireResponse"]


def _rows(responses, zone=UTC):
    return rows(build_view(responses, None, shipped(), today=dt.date(2026, 11, 30)), zone)


def _table_rows(html: str) -> list[tuple[str, str, str]]:
    """(record id, kind, shown date) of each row of the records table, in page order."""
    table = html[html.index('<table class="records">'):]
    table = table[:table.index("</table>")]
    return re.findall(r'<tr[^>]*data-record="([^"]+)" data-kind="([^"]+)">\s*<td class="date">([^<]*)</td>', table)


# --- the list, as pure data ------------------------------------------------------------------------


def test_every_kind_of_record_is_in_one_list_newest_first():
    responses = _responses()
    listed = _rows(responses)
    assert len(listed) == len(responses), "every completed record of the example, drafts aside"
    assert {r.kind for r in listed} == set(KINDS)
    keys = [r.sort for r in listed]
    assert keys == sorted(keys, reverse=True)
    days = [r.sort[0] for r in listed]
    assert days[0] == "2026-09-03" and days[-1] == "2026-03-02"
    # kinds interleave by date, not one block per kind
    assert len({r.kind for r in listed[:10]}) >= 4


def test_a_sessions_own_date_places_it_not_when_it_was_typed_in():
    responses = _responses()
    late = copy.deepcopy(next(r for r in responses if r["id"] == "peter-session-01"))
    late.update(id="late-entry", authored="2026-09-30T10:00:00Z")
    set_answer(late, "session.date", [{"valueDate": "2026-05-05"}])
    listed = _rows(responses + [late])
    position = [r.id for r in listed].index("late-entry")
    assert listed[position - 1].sort[0] >= "2026-05-05" >= listed[position + 1].sort[0]
    assert listed[position].when == "2026-05-05"


def test_dates_are_the_local_day_and_sort_by_it():
    responses = _responses()
    checkin = next(r for r in responses if r["id"] == "peter-checkin-01")
    checkin["authored"] = "2026-03-02T13:00:00Z"
    auckland = _rows(responses, zoneinfo.ZoneInfo("Pacific/Auckland"))
    row = next(r for r in auckland if r.id == "peter-checkin-01")
    assert row.sort[0] == "2026-03-03", "13:00 UTC is the next morning in Auckland"


def test_details_say_what_each_record_holds():
    by_id = {r.id: r for r in listing(_rows(_responses()), None, 1, per_page=1000).rows}
    assert by_id["peter-checkin-27"].detail == "blow-ups 2 · paused 6"
    assert by_id["peter-rfq8-m6"].detail == "RFQ_c 0.67 · RFQ_u 0.83"
    assert by_id["peter-session-01"].detail.startswith("Individual · Attended")
    assert "agreed with the patient" in by_id["peter-crisis-plan-2"].detail
    assert by_id["peter-formulation-1"].detail.startswith("first formulation")
    assert by_id["peter-formulation-2"].detail.startswith("revision")
    assert by_id["peter-checkin-27"].entered_by == "patient" and by_id["peter-session-01"].entered_by == "clinician"


def test_the_risk_flag_follows_the_alerts_rule_however_old():
    listed = {r.id: r for r in _rows(_responses())}
    flagged = {rid for rid, r in listed.items() if r.risk}
    # the example's risk: suicidal thoughts in sessions of weeks 0, 4 and 11, the check-ins of those weeks,
    # and a risk concern after a missed session
    assert len(flagged) >= 5
    assert all(listed[rid].kind in ("session", "checkin") for rid in flagged)
    assert any("suicidal thoughts" in listed[rid].risk for rid in flagged)
    assert any("thoughts of suicide" in listed[rid].risk for rid in flagged)
    assert not listed["peter-session-27"].risk


def test_filter_and_pages():
    listed = _rows(_responses())
    first = listing(listed, None, "1")
    assert (first.first, first.last, first.total, first.pages) == (1, 25, 88, 4)
    last = listing(listed, None, "4")
    assert (last.first, last.last) == (76, 88) and len(last.rows) == 13
    assert [r.id for r in first.rows] + [r.id for p in (2, 3) for r in listing(listed, None, p).rows] \
        + [r.id for r in last.rows] == [r.id for r in listed], "the pages together are the list, in order"
    checkins = listing(listed, "checkin", None)
    assert {r.kind for r in checkins.rows} == {"checkin"} and checkins.total == 26 and checkins.pages == 2
    assert checkins.counts["session"] == 52 and checkins.everything == 88


@pytest.mark.parametrize("kind, page, status", [("bogus", "1", 400), (None, "abc", 400), (None, "0", 400),
                                                (None, "-1", 400), (None, "5", 404), ("rfq8", "2", 404)])
def test_a_type_or_page_that_does_not_exist_is_a_clear_error(kind, page, status):
    with pytest.raises(ListRequestError) as caught:
        listing(_rows(_responses()), kind, page)
    assert caught.value.status == status and str(caught.value)


def test_an_empty_list_has_one_empty_page():
    empty = listing([], None, None)
    assert (empty.rows, empty.total, empty.pages, empty.first, empty.last) == ([], 0, 1, 0, 0)


# --- through the app ---------------------------------------------------------------------------------------


def test_the_dashboard_lists_the_newest_records_of_every_kind(launched):
    html = launched.get("/dashboard").get_data(as_text=True)
    shown = _table_rows(html)
    assert len(shown) == 10 and shown[0] == ("peter-group-27", "session", "3 Sep 2026")
    assert {kind for _, kind, _ in shown} >= {"session", "checkin", "rfq8", "profile", "review"}
    assert "The newest 10 of 88 records" in html and 'href="/records?patient=' in html
    assert 'href="/records?type=checkin&amp;patient=mbt-example-peter">Check-ins (26)</a>' in html


def test_the_records_page_filters_and_pages_without_script(launched):
    html = launched.get("/records?type=checkin&page=2").get_data(as_text=True)
    shown = _table_rows(html)
    assert len(shown) == 1 and shown[0][1] == "checkin"
    assert "26–26 of 26 check-ins" in html and "Page 2 of 2" in html
    assert 'rel="prev" href="/records?type=checkin&amp;page=1&amp;patient=' in html and 'rel="next"' not in html
    assert 'aria-current="page">Check-ins (26)</a>' in html
    second = launched.get("/records?page=2").get_data(as_text=True)
    assert "26–50 of 88 records" in second and len(_table_rows(second)) == 25
    assert 'rel="next" href="/records?page=3&amp;patient=' in second


@pytest.mark.parametrize("query, status, words", [("type=nonsense", 400, "no record type"),
                                                   ("page=9", 404, "There is no page 9"),
                                                   ("page=two", 400, "not a page number")])
def test_the_records_page_refuses_what_does_not_exist_clearly(launched, query, status, words):
    page = launched.get(f"/records?{query}")
    html = page.get_data(as_text=True)
    assert page.status_code == status and words in html and "Show all records" in html


def test_rows_that_reported_risk_are_flagged(client, ehr, example_data):
    latest = max((r for r in ehr.of_type("QuestionnaireResponse") if "session-record" in r["questionnaire"]),
                 key=lambda r: r["authored"])
    assert set_answer(latest, "risk.self-harm", YES)
    ehr.put(latest)
    launch(client, ehr)
    html = client.get("/records").get_data(as_text=True)
    row = re.search(rf'<tr class="risk" data-record="{latest["id"]}".*?</tr>', html, re.S)
    assert row and '<strong class="risk-flag">Risk reported</strong>: self-harm' in row.group(0)
    clear = re.search(r'<tr data-record="peter-checkin-27".*?</tr>', html, re.S)
    assert clear and "risk-flag" not in clear.group(0)


def test_every_open_link_opens_its_record_checkins_entered_by_the_patient_included(launched):
    html = launched.get("/records?type=checkin").get_data(as_text=True)
    links = re.findall(r'<a href="(/forms/r/[^"?]+)\?patient=mbt-example-peter">Open</a>', html)
    assert len(links) == 25
    for link in (links[0], links[-1]):
        page = launched.get(link)
        assert page.status_code == 200, link
        text = page.get_data(as_text=True)
        assert "entered by <strong class=\"by-patient\">the patient</strong>" in text and "MBT weekly check-in" in text


def test_the_records_page_reads_what_the_dashboard_reads(client, ehr, example_data):
    long_history(ehr, sessions=260, rfq=20, checkins=260)
    assert launch(client, ehr).status_code == 302
    counts = {}
    for path in ("/dashboard", "/records", "/records?type=session&page=7"):
        before = len(ehr.fhir_requests)
        page = client.get(path)
        assert page.status_code == 200, path
        counts[path] = [r.url.split("?")[0] for r in ehr.fhir_requests[before:]]
    assert len(counts["/dashboard"]) <= 2
    assert counts["/records"] == counts["/dashboard"] == counts["/records?type=session&page=7"]
