"""The record page: a summary read in one FHIR request, with author, local time, Print and Amend."""

from __future__ import annotations

import re
from urllib.parse import parse_qs, urlsplit

import pytest

from app_helpers import launch
from smart_app import create_app

RECORD = "/forms/r/peter-session-01"


def head(html: str) -> str:
    """The record's own header: title, status, date, author, buttons."""
    start = html.index("<h1>")
    return html[start:html.index("</header>", start)]


def requests_for(ehr, before: int) -> list:
    return ehr.fhir_requests[before:]


def test_a_record_page_costs_one_fhir_request(launched, ehr):
    launched.get("/dashboard")
    before = len(ehr.fhir_requests)
    page = launched.get(RECORD)
    assert page.status_code == 200
    sent = requests_for(ehr, before)
    assert len(sent) == 1
    query = parse_qs(urlsplit(sent[0].url).query)
    assert query["_id"] == ["peter-session-01"] and query["subject"] == ["Patient/mbt-example-peter"]
    assert set(query["_include"]) == {"QuestionnaireResponse:author", "QuestionnaireResponse:subject"}


def test_one_request_even_before_the_patient_was_read(client, ehr, example_data):
    """Straight from the launch to a record (a link from the EHR): the Patient comes with the record."""
    launch(client, ehr)
    before = len(ehr.fhir_requests)
    html = client.get(RECORD).get_data(as_text=True)
    assert len(requests_for(ehr, before)) == 1
    assert "Peter Example" in html and "PETER-0001" in html


def test_the_author_is_named_from_the_included_resource(launched, ehr):
    record = ehr.resources[("QuestionnaireResponse", "peter-session-01")]
    record["author"] = {"reference": "Practitioner/dr-anna"}
    ehr.put({"resourceType": "Practitioner", "id": "dr-anna", "name": [{"given": ["Anna"], "family": "Berg"}]})
    launched.get("/dashboard")
    before = len(ehr.fhir_requests)
    html = launched.get(RECORD).get_data(as_text=True)
    assert "by Anna Berg" in html
    assert len(requests_for(ehr, before)) == 1


def test_the_page_reads_as_a_summary(launched):
    html = launched.get(RECORD).get_data(as_text=True)
    assert "<input" not in html and "<select" not in html and "<textarea" not in html
    top = head(html)
    assert "MBT session record" in top and "for Peter Example" in top
    assert "Completed" in top and "by Dr Morgan Reyes" in top and "entered by a clinician" in top
    assert re.search(r'<button type="button" class="button print-page">Print</button>', top)
    assert 'href="/forms/r/peter-session-01/edit' in top and ">Amend<" in top
    assert "Was the rupture repaired?" not in html, "not enabled: no rupture in this session"
    assert "<h3>Scores</h3>" in html and "Mean adherence" in html and "4 is good enough" in html
    assert len(html) < 40_000, "a summary, not the whole form"


@pytest.mark.parametrize("zone, shown", [("Europe/London", "2 Mar 2026, 16:00 GMT"),
                                         ("America/New_York", "2 Mar 2026, 11:00 EST"),
                                         ("Australia/Sydney", "3 Mar 2026, 03:00 AEDT")])
def test_the_time_is_the_services_local_time(app, client, ehr, example_data, zone, shown):
    app.config["MBT_TIMEZONE"] = zone
    launch(client, ehr)
    html = client.get(RECORD).get_data(as_text=True)
    assert shown in head(html)


def test_a_draft_offers_resume_and_says_so(launched, ehr):
    ehr.resources[("QuestionnaireResponse", "peter-session-01")]["status"] = "in-progress"
    shown = head(launched.get(RECORD).get_data(as_text=True))
    assert "In progress" in shown and "Resume draft" in shown and ">Amend<" not in shown


def test_a_server_that_refuses_the_includes_still_shows_the_record(launched, ehr):
    ehr.fault(method="GET", path="QuestionnaireResponse", query="_include", status=400)
    page = launched.get(RECORD)
    assert page.status_code == 200 and "by Dr Morgan Reyes" in page.get_data(as_text=True)


def test_no_such_record_or_another_patients_is_404(launched, ehr):
    assert launched.get("/forms/r/no-such-record").status_code == 404
    assert launched.get("/forms/r/bad%20id").status_code == 404
    other = dict(ehr.resources[("QuestionnaireResponse", "peter-session-01")], id="bellas-record",
                 subject={"reference": "Patient/bella"})
    ehr.put(other)
    assert launched.get("/forms/r/bellas-record").status_code == 404


def test_print_styles_hide_the_app_and_show_the_service(launched, app):
    html = launched.get(RECORD).get_data(as_text=True)
    assert 'href="/static/record.css"' in html
    with launched.get("/static/record.css") as answer:
        css = answer.get_data(as_text=True)
    printing = css[css.index("@media print"):]
    hidden = next(rule for rule in printing.split("}") if "display: none" in rule)
    for selector in (".app-header", ".patient-banner", ".no-print", "button", "nav"):
        assert selector in hidden
    assert re.search(r"\.print-header \{ display: block", printing)
    header = html[html.index('class="print-header"'):]
    assert "MBT service" in header[:400] and "born 14 Oct 1999" in header[:400]


def test_the_service_contact_is_printed(tmp_path, ehr, example_data):
    app = create_app({"TESTING": True, "MBT_SESSION_DB": str(tmp_path / "s.sqlite3"),
                      "MBT_ALLOWED_ISSUERS": ["https://ehr.test/fhir"], "MBT_CLIENT_ID": "mbt-app",
                      "MBT_SERVICE_NAME": "Riverside MBT Programme", "MBT_SERVICE_CONTACT": "01234 567890"})
    client = app.test_client()
    launch(client, ehr)
    html = client.get(RECORD).get_data(as_text=True)
    header = html[html.index('class="print-header"'):html.index("</div>", html.index('class="print-header"'))]
    assert "Riverside MBT Programme" in header and "01234 567890" in header


def test_favicon(client):
    icon = client.get("/favicon.ico")
    assert icon.status_code == 200 and icon.mimetype == "image/vnd.microsoft.icon"
    assert icon.data[:4] == b"\x00\x00\x01\x00", "an ICO file"
    with client.get("/static/favicon.svg") as svg:
        assert svg.status_code == 200 and svg.mimetype == "image/svg+xml"


def test_every_page_links_the_icon(launched):
    assert '<link rel="icon" href="/static/favicon.svg"' in launched.get(RECORD).get_data(as_text=True)


def test_a_revision_links_the_record_it_replaces(launched):
    html = launched.get("/forms/r/peter-crisis-plan-2").get_data(as_text=True)
    assert 'href="/forms/r/peter-formulation-1?patient=mbt-example-peter"' in html
    assert ">QuestionnaireResponse/" not in html
