"""A record's history page, its earlier versions, and the formulation's history, against the faked EHR."""

from __future__ import annotations

import copy
import re
from urllib.parse import urlsplit

import pytest

from app_helpers import field_name, form_csrf, launch, ours, post_data_from_response, questionnaire

from smart_app.dashboard_data import flatten

from .test_amendment import NO_PROVENANCE, completed
from .test_forms import session_post, submit
from .test_write_plans import V2, as_server

FOCUS = "Focus for the next session"


def amend(client, ehr, rid, focus, reason):
    answer = submit(client, f"/forms/r/{rid}/edit", {**session_post(ehr, next_focus=focus), "amend_reason": reason})
    assert answer.status_code == 302, answer.get_data(as_text=True)[:2000]


def amended_twice(client, ehr) -> dict:
    record = completed(client, ehr)
    amend(client, ehr, record["id"], "Look at the shame after the exam", "Focus agreed with the patient at the end")
    amend(client, ehr, record["id"], "Repair after the row at home", "Corrected after supervision")
    return record


def requests_for(ehr, client, path):
    before = len(ehr.fhir_requests)
    page = client.get(path)
    return page, ehr.fhir_requests[before:]


def versions_shown(html: str) -> list[str]:
    return re.findall(r"<h3>(Version \d+ of \d+)", html)


def test_every_version_is_listed_with_who_when_why_and_what_changed(launched, ehr):
    record = amended_twice(launched, ehr)
    page = launched.get(f"/forms/r/{record['id']}/history")
    html = page.get_data(as_text=True)
    assert page.status_code == 200
    assert versions_shown(html) == ["Version 3 of 3", "Version 2 of 3", "Version 1 of 3"]
    assert html.index("Corrected after supervision") < html.index("Focus agreed with the patient at the end")
    assert "First saved" in html
    # What changed, in the form's words: the question's text, the old and the new answer.
    third = html[html.index("Version 3 of 3"):html.index("Version 2 of 3")]
    assert FOCUS in third and "Look at the shame after the exam" in third and "Repair after the row at home" in third
    assert "1 change from version 2" in third
    assert "next-focus" not in html and "session.next" not in html, "never a linkId"
    assert "Amended" in third and "Completed" in html
    assert "23 Nov 2026" in html, "when: local date and time"
    assert html.count("<dt>Who</dt><dd>not recorded</dd>") == 3, "the fake EHR's launch names no user"


def test_the_record_page_links_to_its_history(launched, ehr):
    record = completed(launched, ehr)
    html = launched.get(f"/forms/r/{record['id']}").get_data(as_text=True)
    assert f'href="/forms/r/{record["id"]}/history?patient=' in html


def test_the_history_costs_one_round_trip_more_than_the_record_at_most(launched, ehr):
    record = amended_twice(launched, ehr)
    _, view = requests_for(ehr, launched, f"/forms/r/{record['id']}")
    page, history = requests_for(ehr, launched, f"/forms/r/{record['id']}/history")
    assert page.status_code == 200
    assert len(view) == 1 and len(history) == 1 <= len(view) + 1
    [batch] = history
    assert batch.method == "POST" and urlsplit(batch.url).path == "/fhir"
    body = batch.body.decode() if isinstance(batch.body, bytes) else batch.body
    assert '"type":"batch"' in body.replace(" ", "") and "_history" in body and "_revinclude=Provenance:target" in body


def test_without_batch_the_history_costs_two_requests(client, ehr, example_data):
    ehr.batches = False
    as_server(ehr, client, False, True, V2 + " patient/Provenance.rs")
    record = amended_twice(client, ehr)
    _, view = requests_for(ehr, client, f"/forms/r/{record['id']}")
    page, history = requests_for(ehr, client, f"/forms/r/{record['id']}/history")
    html = page.get_data(as_text=True)
    assert page.status_code == 200 and versions_shown(html)[0] == "Version 3 of 3"
    assert [r.method for r in history] == ["GET", "GET"] and len(history) <= len(view) + 1
    assert "Corrected after supervision" in html, "versioned Provenance targets are matched exactly"


def test_a_server_that_refuses_the_batch_is_read_one_request_at_a_time(launched, ehr):
    record = amended_twice(launched, ehr)
    ehr.fault(method="POST", path="", status=400, body={"resourceType": "OperationOutcome", "issue": [
        {"severity": "error", "code": "not-supported", "diagnostics": "batch is not supported"}]})
    page, history = requests_for(ehr, launched, f"/forms/r/{record['id']}/history")
    assert page.status_code == 200 and "Corrected after supervision" in page.get_data(as_text=True)
    assert [r.method for r in history] == ["POST", "GET", "GET"]


def test_without_leave_to_read_provenance_the_page_says_the_reasons_are_not_shown(client, ehr, example_data):
    as_server(ehr, client, True, True, V2)  # Provenance: create and update only
    record = amended_twice(client, ehr)
    page, history = requests_for(ehr, client, f"/forms/r/{record['id']}/history")
    html = page.get_data(as_text=True)
    assert page.status_code == 200 and len(history) == 1
    assert "Provenance" not in (history[0].body.decode() if isinstance(history[0].body, bytes) else history[0].body)
    assert "does not let this app read the reasons" in html and "Corrected after supervision" not in html
    assert versions_shown(html) == ["Version 3 of 3", "Version 2 of 3", "Version 1 of 3"]


def test_a_refused_provenance_read_still_shows_the_versions(launched, ehr):
    record = amended_twice(launched, ehr)
    original = ehr.handle

    def handle(method, url, body, headers):
        if "_revinclude" in url:
            return 403, {"resourceType": "OperationOutcome", "issue": [{"severity": "error", "code": "forbidden"}]}, {}
        return original(method, url, body, headers)

    ehr.handle = handle
    html = launched.get(f"/forms/r/{record['id']}/history").get_data(as_text=True)
    assert "could not be read" in html and len(versions_shown(html)) == 3


def test_a_long_history_is_cut_to_the_newest_hundred_and_says_so(launched, ehr):
    record = completed(launched, ehr)
    stored = ehr.resources[("QuestionnaireResponse", record["id"])]
    for n in range(104):
        version = copy.deepcopy(stored)
        version["status"] = "amended"
        ehr.put(version)
    html = launched.get(f"/forms/r/{record['id']}/history").get_data(as_text=True)
    shown = versions_shown(html)
    assert len(shown) == 100 and shown[0] == "Version 105 of 105" and shown[-1] == "Version 6 of 105"
    assert "Only the newest 100 versions are listed, of 105" in html


def test_an_earlier_version_is_shown_read_only_and_marked_superseded(launched, ehr):
    record = amended_twice(launched, ehr)
    page = launched.get(f"/forms/r/{record['id']}/v/1")
    html = page.get_data(as_text=True)
    assert page.status_code == 200
    assert "Earlier version 1 of 3" in html and "superseded on 23 Nov 2026" in html
    assert f'href="/forms/r/{record["id"]}?patient=' in html and "Read the current version" in html
    assert "/edit" not in html, "no Amend on an earlier version"
    original_focus = session_post(ehr)
    assert any(v[0] in html for k, v in original_focus.items() if k.endswith("next-focus") or "focus" in k)
    assert "Repair after the row at home" not in html
    current = launched.get(f"/forms/r/{record['id']}/v/3")
    assert current.status_code == 302, current.get_data(as_text=True)
    assert urlsplit(current.headers["Location"]).path == f"/forms/r/{record['id']}"


def test_the_version_page_costs_one_round_trip(launched, ehr):
    record = amended_twice(launched, ehr)
    page, sent = requests_for(ehr, launched, f"/forms/r/{record['id']}/v/2")
    assert page.status_code == 200 and len(sent) == 1
    body = sent[0].body.decode() if isinstance(sent[0].body, bytes) else sent[0].body
    assert f"QuestionnaireResponse/{record['id']}/_history/2" in body


@pytest.mark.parametrize("path", ["/forms/r/{rid}/history", "/forms/r/{rid}/v/1"])
def test_another_patients_record_is_refused_like_the_record_itself(launched, ehr, path):
    other = ehr.put({"resourceType": "QuestionnaireResponse", "status": "completed",
                     "questionnaire": "http://fhir-mbt.org/fhir/Questionnaire/mbt-session-record|0.9.0",
                     "subject": {"reference": "Patient/someone-else"}, "authored": "2026-03-02T10:00:00Z",
                     "item": [{"linkId": "session.date", "answer": [{"valueDate": "2026-03-02"}]}]})
    assert launched.get(f"/forms/r/{other['id']}").status_code == 404
    page = launched.get(path.format(rid=other["id"]))
    assert page.status_code == 404 and "2026-03-02" not in page.get_data(as_text=True)


def test_an_older_version_of_another_patient_is_withheld(launched, ehr):
    record = completed(launched, ehr)
    amend(launched, ehr, record["id"], "changed", "Corrected")
    first = ehr.versions[("QuestionnaireResponse", record["id"])][0]
    first["subject"] = {"reference": "Patient/someone-else"}
    first["item"] = [{"linkId": "session.note", "answer": [{"valueString": "another patient's words"}]}]
    html = launched.get(f"/forms/r/{record['id']}/history").get_data(as_text=True)
    assert "another patient&#39;s words" not in html and "another patient's words" not in html
    assert "cannot be shown" in html
    assert launched.get(f"/forms/r/{record['id']}/v/1").status_code == 404


@pytest.mark.parametrize("path", ["/forms/r/bad%20id/history", "/forms/r/x/v/..%2F..", "/forms/r/x/v/a%3Fb",
                                  "/forms/r/" + "a" * 65 + "/history"])
def test_ids_are_checked_before_any_request(launched, ehr, path):
    page, sent = requests_for(ehr, launched, path)
    assert page.status_code == 404 and sent == []


def test_the_formulation_history_lists_revisions_and_amendments(launched, ehr):
    dashboard = launched.get("/dashboard").get_data(as_text=True)
    assert 'href="/forms/formulation/history?patient=' in dashboard
    newest = max((r for r in ehr.of_type("QuestionnaireResponse") if "formulation" in r["questionnaire"]),
                 key=lambda r: r["authored"])
    edit = f"/forms/r/{newest['id']}/edit"
    data = post_data_from_response(questionnaire("mbt-formulation"), newest)
    data[field_name(questionnaire("mbt-formulation"), "presenting.difficulties")] = ["A sentence rewritten with the patient"]
    answer = launched.post(edit, data={**data, **form_csrf(launched, edit), "action": "complete",
                                       "amend_reason": "Wording agreed with Peter"})
    assert answer.status_code == 302, answer.get_data(as_text=True)[:3000]
    page, sent = requests_for(ehr, launched, "/forms/formulation/history")
    html = page.get_data(as_text=True)
    assert page.status_code == 200 and len(sent) == 2, "the patient's records, then one batch"
    assert "Formulation of 1 Jun 2026 (a revision)" in html and "Formulation of 2 Mar 2026" in html
    assert html.index("Formulation of 1 Jun 2026") < html.index("Formulation of 2 Mar 2026"), "newest first"
    assert "Wording agreed with Peter" in html and "A sentence rewritten with the patient" in html
    assert html.count('<span class="tag">current</span>') == 1 and "revised since" in html
    assert "from the formulation of 2 Mar 2026" in html, "a revision is compared with the formulation before it"
    assert f"/forms/r/{newest['id']}/v/1" in html, "earlier versions are readable"
    reason = flatten(newest["item"]).get("revision.reason")
    assert reason and reason[0][:40] in html, "a revision's own reason is its first version's why"


def test_a_deleted_record_has_no_history_page(launched, ehr):
    record = completed(launched, ehr)
    ehr.versions[("QuestionnaireResponse", record["id"])].append(None)
    original = ehr._history

    def history(resource_type, rid, query):
        status, bundle, headers = original(resource_type, rid, query)
        if rid == record["id"]:
            bundle["entry"][0] = {"request": {"method": "DELETE", "url": f"QuestionnaireResponse/{rid}/_history/2"},
                                  "response": {"status": "204", "lastModified": "2026-11-23T11:00:00Z"}}
        return status, bundle, headers

    ehr.versions[("QuestionnaireResponse", record["id"])].pop()
    ehr._history = history
    page = launched.get(f"/forms/r/{record['id']}/history")
    assert page.status_code == 404 and "removed" in page.get_data(as_text=True)


def test_a_launch_for_another_patient_is_told_not_shown_the_history(launched, ehr, app):
    record = completed(launched, ehr)
    page = launched.get(f"/forms/r/{record['id']}/history?patient=someone-else")
    assert page.status_code == 409


def test_the_reason_shows_for_the_version_it_was_written_for_even_when_the_target_has_no_version(launched, ehr):
    record = amended_twice(launched, ehr)
    for prov in ehr.of_type("Provenance"):
        assert all("/_history/" not in t["reference"] for t in prov["target"]), "a transaction: unversioned targets"
    html = launched.get(f"/forms/r/{record['id']}/history").get_data(as_text=True)
    second = html[html.index("Version 2 of 3"):html.index("Version 1 of 3")]
    third = html[html.index("Version 3 of 3"):html.index("Version 2 of 3")]
    assert "Focus agreed with the patient at the end" in second and "Corrected after supervision" not in second
    assert "Corrected after supervision" in third


def test_a_provenance_launch_without_read_scope_still_amends(client, ehr, example_data):
    as_server(ehr, client, True, True, NO_PROVENANCE)
    record = completed(client, ehr)
    amend(client, ehr, record["id"], "changed", "Corrected")
    assert launch(client, ehr).status_code == 302
    html = client.get(f"/forms/r/{record['id']}/history").get_data(as_text=True)
    assert len(versions_shown(html)) == 2 and ours(ehr, "Provenance") == []



def test_reasons_are_shown_as_text_and_a_long_one_from_elsewhere_is_cut(launched, ehr):
    record = completed(launched, ehr)
    amend(launched, ehr, record["id"], "changed", '<script>alert(1)</script> "fixed"')
    ehr.put({"resourceType": "Provenance", "target": [{"reference": f"QuestionnaireResponse/{record['id']}"}],
             "recorded": "2026-11-23T12:00:00Z", "reason": [{"text": "word " * 400}]})
    html = launched.get(f"/forms/r/{record['id']}/history").get_data(as_text=True)
    assert "<script>alert(1)</script>" not in html and "&lt;script&gt;alert(1)&lt;/script&gt;" in html
    assert ("word " * 199).strip() in html and ("word " * 201).strip() not in html and "…" in html
