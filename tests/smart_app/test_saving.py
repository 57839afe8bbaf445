"""One event, one record, and the truth about saving, against the faked EHR.

Faults are injected on the fake server: before the write (nothing written), after
the write (written, but the app is told it failed), a timeout, an unreadable reply.
"""

from __future__ import annotations

import re
from urllib.parse import urlsplit

import pytest

from app_helpers import REASON, SESSION, field_name, form_csrf, form_data, hidden_fields, ours, questionnaire

CHECKIN = "mbt-weekly-checkin"
RFQ8 = "rfq-8"


def checkin_post(ehr, blow_ups: int = 12) -> dict:
    data = form_data(ehr, CHECKIN)
    data[field_name(questionnaire(CHECKIN), "checkin.blow-ups")] = [str(blow_ups)]
    return data


def open_form(client, qid):
    """GET a new form as a browser does: returns (the page's URL, its hidden fields)."""
    url = f"/forms/{qid}/new"
    page = client.get(url)
    if page.status_code == 302:  # to the URL that names the form's submission
        url = page.headers["Location"]
        page = client.get(url)
    return url, hidden_fields(page.get_data(as_text=True))


def post(client, qid, hidden, data, action="complete"):
    return client.post(f"/forms/{qid}/new", data={**data, **hidden, "action": action})


def stored_with(ehr, submission_id):
    return [r for r in ehr.of_type("QuestionnaireResponse") if r.get("identifier", {}).get("value") == submission_id]


def blow_up_values(ehr, response_id):
    return [o["valueInteger"] if "valueInteger" in o else o.get("valueQuantity", {}).get("value")
            for o in ehr.of_type("Observation")
            if o.get("derivedFrom", [{}])[0].get("reference") == f"QuestionnaireResponse/{response_id}"
            and "blow" in str(o.get("code")).lower()]


def writes(ehr, since):
    return [r for r in ehr.fhir_requests[since:] if r.method in ("POST", "PUT")]


def flashed(client, response) -> str:
    return client.get(response.headers["Location"], follow_redirects=True).get_data(as_text=True)


# --- one event, one record ----------------------------------------------------------------


def test_back_after_complete_shows_the_record_and_writes_nothing_twice(launched, ehr):
    """The bug: Back fetched the form with a new submission id, and Complete wrote a second record."""
    url, hidden = open_form(launched, SESSION)
    data = form_data(ehr, SESSION)
    assert post(launched, SESSION, hidden, data).status_code == 302
    back = launched.get(url, follow_redirects=True)  # Back: the same page URL, fetched again (no-store)
    html = back.get_data(as_text=True)
    assert "already saved" in html
    if 'name="submission_id"' in html:  # whatever the page offers, completing it again is the same record
        assert post(launched, SESSION, hidden_fields(html), data).status_code in (200, 302)
    assert len(stored_with(ehr, hidden["submission_id"])) == 1
    assert len(ours(ehr, "QuestionnaireResponse")) == 1


def test_refresh_of_the_form_keeps_its_submission(launched, ehr):
    url, hidden = open_form(launched, CHECKIN)
    assert "s=" in url, "a new form's URL names its submission"
    again = hidden_fields(launched.get(url).get_data(as_text=True))
    assert again["submission_id"] == hidden["submission_id"]


def test_resubmitting_a_completed_form_unchanged_writes_nothing(launched, ehr):
    url, hidden = open_form(launched, CHECKIN)
    assert post(launched, CHECKIN, hidden, checkin_post(ehr)).status_code == 302
    before = len(ehr.fhir_requests)
    answer = post(launched, CHECKIN, hidden, checkin_post(ehr))
    assert answer.status_code == 302
    assert writes(ehr, before) == []
    assert "already saved" in flashed(launched, answer)


def test_resubmitting_a_completed_form_with_a_change_amends_it(launched, ehr):
    """Back + Complete with a corrected answer: the record is corrected, not duplicated nor left as it was."""
    url, hidden = open_form(launched, CHECKIN)
    assert post(launched, CHECKIN, hidden, checkin_post(ehr, 12)).status_code == 302
    asked = post(launched, CHECKIN, hidden, checkin_post(ehr, 13))
    html = asked.get_data(as_text=True)
    assert asked.status_code == 422, "the record was saved as complete: a change is an amendment, with a reason"
    assert "already saved as complete, so these changes amend it" in html and 'name="amend_reason"' in html
    assert 'value="13"' in html, "the answers are kept"
    [record] = stored_with(ehr, hidden["submission_id"])
    assert record["status"] == "completed" and blow_up_values(ehr, record["id"]) == [12], "nothing written"
    action = re.search(r'<form method="post" class="questionnaire" action="([^"]+)"', html).group(1)
    assert urlsplit(action).path == f"/forms/r/{record['id']}/edit"
    saved = launched.post(action, data={**checkin_post(ehr, 13), **hidden_fields(html), **REASON, "action": "complete"})
    assert saved.status_code == 302, saved.get_data(as_text=True)[:2000]
    [record] = stored_with(ehr, hidden["submission_id"])
    assert record["status"] == "amended"
    assert blow_up_values(ehr, record["id"]) == [13]


def test_double_click_reads_as_already_saved(launched, ehr):
    """The bug: the losing request of a double click got 409 "Someone else saved this record"."""
    url, hidden = open_form(launched, CHECKIN)
    assert post(launched, CHECKIN, hidden, checkin_post(ehr)).status_code == 302
    # The second click's request started before the first one finished: it does not know the
    # record yet, and the server refuses its transaction (the same Provenance id was just written).
    with launched.session_transaction() as sess:
        submissions = dict(sess["submissions"])
        submissions[hidden["submission_id"]] = {**submissions[hidden["submission_id"]], "rid": None}
        sess["submissions"] = submissions
    ehr.fault(status=409, body={"resourceType": "OperationOutcome",
                                "issue": [{"severity": "error", "code": "conflict", "diagnostics": "version conflict"}]})
    answer = post(launched, CHECKIN, hidden, checkin_post(ehr))
    assert answer.status_code == 302, answer.get_data(as_text=True)[:2000]
    html = flashed(launched, answer)
    assert "already saved" in html and "Someone else" not in html
    assert len(stored_with(ehr, hidden["submission_id"])) == 1


def test_double_click_on_save_amendment_reads_as_already_saved(launched, ehr):
    url, hidden = open_form(launched, CHECKIN)
    assert post(launched, CHECKIN, hidden, checkin_post(ehr, 12)).status_code == 302
    [record] = stored_with(ehr, hidden["submission_id"])
    edit = f"/forms/r/{record['id']}/edit"
    page = form_csrf(launched, edit)
    data = {**checkin_post(ehr, 14), **page, **REASON, "action": "complete"}
    assert launched.post(edit, data=data).status_code == 302
    second = launched.post(edit, data=data)  # the same page, the same version: a second click
    assert second.status_code == 302, second.get_data(as_text=True)[:2000]
    assert "already saved" in flashed(launched, second)
    assert blow_up_values(ehr, record["id"]) == [14]


def test_a_second_checkin_the_same_day_asks_first(launched, ehr):
    _, first = open_form(launched, CHECKIN)
    assert post(launched, CHECKIN, first, checkin_post(ehr, 3)).status_code == 302
    [existing] = ours(ehr, "QuestionnaireResponse")
    _, second = open_form(launched, CHECKIN)  # another tab, or the form opened again
    asked = post(launched, CHECKIN, second, checkin_post(ehr, 4))
    assert asked.status_code == 409
    html = asked.get_data(as_text=True)
    assert "Is this the same" in html and f"/forms/r/{existing['id']}" in html
    assert 'value="4"' in html, "the answers are kept"
    assert "Save anyway" in html
    assert len(ours(ehr, "QuestionnaireResponse")) == 1
    anyway = post(launched, CHECKIN, hidden_fields(html), checkin_post(ehr, 4))
    assert anyway.status_code == 302
    assert len(ours(ehr, "QuestionnaireResponse")) == 2


@pytest.mark.parametrize("qid", [RFQ8])
def test_a_second_rfq8_the_same_day_asks_first(launched, ehr, qid):
    _, first = open_form(launched, qid)
    assert post(launched, qid, first, form_data(ehr, qid)).status_code == 302
    _, second = open_form(launched, qid)
    assert post(launched, qid, second, form_data(ehr, qid)).status_code == 409
    assert len(ours(ehr, "QuestionnaireResponse")) == 1


def test_a_second_session_record_of_the_same_date_and_format_asks_first(launched, ehr):
    q = questionnaire(SESSION)
    _, first = open_form(launched, SESSION)
    assert post(launched, SESSION, first, form_data(ehr, SESSION)).status_code == 302
    _, second = open_form(launched, SESSION)
    assert post(launched, SESSION, second, form_data(ehr, SESSION)).status_code == 409
    other_format = form_data(ehr, SESSION)
    name = field_name(q, "session.format")
    formats = [f for f in _options(q, "session.format") if f not in other_format[name]]
    other_format[name] = [formats[0]]
    assert post(launched, SESSION, second, other_format).status_code == 302, "another format is another session"
    assert len(ours(ehr, "QuestionnaireResponse")) == 2


def _options(q, link_id):
    from fhir_mbt.content import shipped
    from smart_app.questionnaire_form import build_form, walk_fields

    return [o.token for f in walk_fields(build_form(q, shipped())) if f.link_id == link_id for o in f.options]


# --- the truth about saving -------------------------------------------------------------------


@pytest.mark.parametrize("fault", [
    {"status": 500},
    {"status": 502, "body": "<html>Bad gateway</html>"},
    {"timeout": True},
    {"status": 200, "body": '{"resourceType": "Bundle", "type": "transac'},
])
def test_a_write_that_landed_despite_a_failure_is_reported_saved(launched, ehr, fault):
    """The bug: after a timeout, 5xx or unreadable reply *after the write*, the app said "Nothing was saved"."""
    _, hidden = open_form(launched, CHECKIN)
    ehr.fault(after_write=True, **fault)
    answer = post(launched, CHECKIN, hidden, checkin_post(ehr))
    assert answer.status_code == 302, answer.get_data(as_text=True)[:2000]
    html = flashed(launched, answer)
    assert "Saved." in html and "the record is on the server" in html
    assert len(stored_with(ehr, hidden["submission_id"])) == 1


@pytest.mark.parametrize("fault", [{"status": 503}, {"timeout": True}])
def test_a_write_that_did_not_land_is_reported_not_saved(launched, ehr, fault):
    _, hidden = open_form(launched, CHECKIN)
    ehr.fault(**fault)
    answer = post(launched, CHECKIN, hidden, checkin_post(ehr, 7))
    assert answer.status_code in (502, 504)
    html = answer.get_data(as_text=True)
    assert "Not saved" in html and "this record is not on the server" in html
    assert 'value="7"' in html
    assert ours(ehr, "QuestionnaireResponse") == []
    assert post(launched, CHECKIN, hidden, checkin_post(ehr, 7)).status_code == 302
    assert len(stored_with(ehr, hidden["submission_id"])) == 1


def test_a_changed_resubmission_after_an_ambiguous_failure_updates_the_record(launched, ehr):
    """The bug: a correction 12 → 13 after a failure stayed 12, and the app said "Saved."."""
    _, hidden = open_form(launched, CHECKIN)
    ehr.fault(after_write=True, status=500)  # the transaction lands, the app is told it failed
    ehr.fault(method="GET", path="QuestionnaireResponse", query="identifier", status=503)  # and the check cannot be made
    first = post(launched, CHECKIN, hidden, checkin_post(ehr, 12))
    assert first.status_code == 502
    html = first.get_data(as_text=True)
    assert "Not known whether it was saved" in html and "Saving again is safe" in html
    assert "Nothing was saved" not in html
    corrected = post(launched, CHECKIN, hidden, checkin_post(ehr, 13))
    assert corrected.status_code == 302, corrected.get_data(as_text=True)[:2000]
    [record] = stored_with(ehr, hidden["submission_id"])
    assert blow_up_values(ehr, record["id"]) == [13]
    assert record["status"] == "amended"
    assert len(ours(ehr, "QuestionnaireResponse")) == 1


def test_a_changed_resubmission_is_an_edit_even_when_the_app_forgot_the_first_save(launched, ehr):
    """The conditional create finds the earlier version (the session does not know it): the change lands."""
    _, hidden = open_form(launched, CHECKIN)
    assert post(launched, CHECKIN, hidden, checkin_post(ehr, 12)).status_code == 302
    with launched.session_transaction() as sess:
        submissions = dict(sess["submissions"])
        submissions[hidden["submission_id"]] = {**submissions[hidden["submission_id"]], "rid": None}
        sess["submissions"] = submissions
    assert post(launched, CHECKIN, hidden, checkin_post(ehr, 13)).status_code == 302
    [record] = stored_with(ehr, hidden["submission_id"])
    assert blow_up_values(ehr, record["id"]) == [13]


def test_an_unchanged_resubmission_after_an_ambiguous_failure_writes_nothing_new(launched, ehr):
    _, hidden = open_form(launched, CHECKIN)
    ehr.fault(after_write=True, timeout=True)
    ehr.fault(method="GET", path="QuestionnaireResponse", query="identifier", timeout=True)
    assert post(launched, CHECKIN, hidden, checkin_post(ehr)).status_code == 504
    before = len(ehr.fhir_requests)
    resources = {k: v["meta"]["versionId"] for k, v in ehr.resources.items()}
    again = post(launched, CHECKIN, hidden, checkin_post(ehr))
    assert again.status_code == 302
    assert writes(ehr, before) == []
    assert {k: v["meta"]["versionId"] for k, v in ehr.resources.items()} == resources
    assert "already saved" in flashed(launched, again)


def test_a_draft_corrected_after_an_ambiguous_failure_keeps_the_correction(launched, ehr):
    q = questionnaire(SESSION)
    note = field_name(q, "session.note")
    _, hidden = open_form(launched, SESSION)
    draft = {field_name(q, "session.date"): ["2026-10-01"], note: ["first words"]}
    ehr.fault(method="POST", path="QuestionnaireResponse", after_write=True, status=500)
    ehr.fault(method="GET", path="QuestionnaireResponse", query="identifier", status=503)
    assert post(launched, SESSION, hidden, draft, action="draft").status_code == 502
    draft[note] = ["first words, corrected"]
    saved = post(launched, SESSION, hidden, draft, action="draft")
    assert saved.status_code == 302, saved.get_data(as_text=True)[:2000]
    [record] = stored_with(ehr, hidden["submission_id"])
    assert record["status"] == "in-progress"
    assert "first words, corrected" in str(record["item"])


def test_a_draft_that_landed_despite_a_failure_is_reported_saved(launched, ehr):
    q = questionnaire(SESSION)
    _, hidden = open_form(launched, SESSION)
    ehr.fault(method="POST", path="QuestionnaireResponse", after_write=True, status=500)
    saved = post(launched, SESSION, hidden, {field_name(q, "session.note"): ["kept"]}, action="draft")
    assert saved.status_code == 302 and urlsplit(saved.headers["Location"]).path.endswith("/edit")
    assert len(stored_with(ehr, hidden["submission_id"])) == 1


def test_an_edit_that_landed_despite_a_failure_is_reported_saved(launched, ehr):
    _, hidden = open_form(launched, CHECKIN)
    assert post(launched, CHECKIN, hidden, checkin_post(ehr, 12)).status_code == 302
    [record] = stored_with(ehr, hidden["submission_id"])
    edit = f"/forms/r/{record['id']}/edit"
    ehr.fault(after_write=True, status=500)
    answer = launched.post(edit, data={**checkin_post(ehr, 15), **form_csrf(launched, edit), **REASON,
                                       "action": "complete"})
    assert answer.status_code == 302
    assert "the record is on the server" in flashed(launched, answer)
    assert blow_up_values(ehr, record["id"]) == [15]


def test_a_record_the_server_lost_is_written_again_not_dropped(launched, ehr):
    """A server that lost an acknowledged write answers 404: the resubmission saves it again."""
    _, hidden = open_form(launched, CHECKIN)
    assert post(launched, CHECKIN, hidden, checkin_post(ehr, 12)).status_code == 302
    [record] = stored_with(ehr, hidden["submission_id"])
    del ehr.resources[("QuestionnaireResponse", record["id"])]
    again = post(launched, CHECKIN, hidden, checkin_post(ehr, 12))
    assert again.status_code == 302, again.get_data(as_text=True)[:2000]
    assert len(stored_with(ehr, hidden["submission_id"])) == 1


def test_a_failed_read_before_writing_keeps_the_answers(launched, ehr):
    """Saving an edit first reads the record: when that read fails nothing is written and the
    answers come back with "Try again"."""
    _, hidden = open_form(launched, CHECKIN)
    assert post(launched, CHECKIN, hidden, checkin_post(ehr, 12)).status_code == 302
    [record] = stored_with(ehr, hidden["submission_id"])
    edit = f"/forms/r/{record['id']}/edit"
    page = form_csrf(launched, edit)
    ehr.fault(method="GET", path=f"QuestionnaireResponse/{record['id']}", timeout=True)
    answer = launched.post(edit, data={**checkin_post(ehr, 21), **page, "action": "complete"})
    assert answer.status_code == 504
    html = answer.get_data(as_text=True)
    assert "Nothing was saved" in html and "Try again" in html
    again = launched.get(edit).get_data(as_text=True)
    assert 'value="21"' in again, "the answers are back on the form"
    assert blow_up_values(ehr, record["id"]) == [12]


def test_an_amendment_corrected_after_a_failure_that_could_not_be_checked_lands(launched, ehr):
    """The amendment landed but the app could not find out; the clinician corrects it again
    from the same page (the version it was opened at): that newer version is the app's own."""
    _, hidden = open_form(launched, CHECKIN)
    assert post(launched, CHECKIN, hidden, checkin_post(ehr, 12)).status_code == 302
    [record] = stored_with(ehr, hidden["submission_id"])
    edit = f"/forms/r/{record['id']}/edit"
    page = form_csrf(launched, edit)
    ehr.fault(after_write=True, status=500)
    ehr.fault(method="GET", path=f"QuestionnaireResponse/{record['id']}", status=503, skip=1)  # the check
    first = launched.post(edit, data={**checkin_post(ehr, 15), **page, **REASON, "action": "complete"})
    assert first.status_code == 502 and "Not known whether it was saved" in first.get_data(as_text=True)
    assert REASON["amend_reason"] in first.get_data(as_text=True), "the reason is kept on the page"
    again = launched.post(edit, data={**checkin_post(ehr, 16), **hidden_fields(first.get_data(as_text=True)),
                                      **REASON, "action": "complete"})
    assert again.status_code == 302, again.get_data(as_text=True)[:2000]
    assert blow_up_values(ehr, record["id"]) == [16]
