"""The reason for an amendment: asked for, required, written on the Provenance on every write plan,
and never lost silently."""

from __future__ import annotations

import pytest

from app_helpers import REASON, form_csrf, hidden_fields, launch, ours

from .test_forms import SESSION, session_post, submit
from .test_write_plans import NO_OBSERVATIONS, PLANS, V2, as_server

NO_PROVENANCE = ("launch openid fhirUser patient/Patient.r patient/QuestionnaireResponse.crus "
                 "patient/Observation.crus")


def completed(client, ehr) -> dict:
    assert submit(client, f"/forms/{SESSION}/new", session_post(ehr)).status_code == 302
    [record] = ours(ehr, "QuestionnaireResponse")
    return record


def provenances(ehr, rid, activity=None):
    found = [p for p in ehr.of_type("Provenance")
             if any(t["reference"].split("/_history/")[0] == f"QuestionnaireResponse/{rid}" for t in p["target"])]
    return [p for p in found if activity is None or p["activity"]["coding"][0]["code"] == activity]


def test_the_amend_form_asks_for_a_reason_and_a_draft_does_not(launched, ehr):
    record = completed(launched, ehr)
    page = launched.get(f"/forms/r/{record['id']}/edit").get_data(as_text=True)
    assert 'name="amend_reason"' in page and "Reason for amending this record" in page
    assert page.index('name="amend_reason"') < page.index('value="complete"'), "shown before the save button"
    draft_path = f"/forms/{SESSION}/new"
    hidden = form_csrf(launched, draft_path)
    launched.post(draft_path, data={**session_post(ehr, session_date="2026-10-01"), **hidden, "action": "draft"})
    [draft] = [r for r in ours(ehr, "QuestionnaireResponse") if r["status"] == "in-progress"]
    resume = launched.get(f"/forms/r/{draft['id']}/edit").get_data(as_text=True)
    assert 'name="amend_reason"' not in resume
    done = launched.post(f"/forms/r/{draft['id']}/edit", data={
        **session_post(ehr, session_date="2026-10-01"), **hidden_fields(resume), "action": "complete"})
    assert done.status_code == 302, "completing a draft needs no reason"


@pytest.mark.parametrize("reason, message", [
    ("", "Say why this record is being amended"),
    ("   \n  ", "Say why this record is being amended"),
    ("x" * 501, "longer than 500 characters"),
    ("fixed\u202e", "control characters"),
])
def test_an_amendment_without_a_usable_reason_writes_nothing_and_keeps_the_answers(launched, ehr, reason, message):
    record = completed(launched, ehr)
    edit = f"/forms/r/{record['id']}/edit"
    hidden = form_csrf(launched, edit)
    before = len(ehr.fhir_requests)
    versions = {k: v["meta"]["versionId"] for k, v in ehr.resources.items()}
    answer = launched.post(edit, data={**session_post(ehr, next_focus="the corrected focus"), **hidden,
                                       "amend_reason": reason, "action": "complete"})
    html = answer.get_data(as_text=True)
    assert answer.status_code == 422
    assert message in html and 'aria-invalid="true"' in html
    assert "the corrected focus" in html, "the answers are kept"
    assert [r for r in ehr.fhir_requests[before:] if r.method != "GET"] == [], "nothing written"
    assert {k: v["meta"]["versionId"] for k, v in ehr.resources.items()} == versions


def test_the_reason_is_not_an_answer(launched, ehr):
    record = completed(launched, ehr)
    edit = f"/forms/r/{record['id']}/edit"
    assert submit(launched, edit, {**session_post(ehr), **REASON}).status_code == 302
    stored = ehr.resources[("QuestionnaireResponse", record["id"])]
    assert stored["status"] == "amended" and REASON["amend_reason"] not in str(stored)


@pytest.mark.parametrize("plan", PLANS)
def test_the_reason_is_on_the_provenance_of_the_amendment_on_every_plan(client, ehr, example_data, plan):
    transactions, conditional, scope = PLANS[plan]
    as_server(ehr, client, transactions, conditional, scope)
    record = completed(client, ehr)
    edit = f"/forms/r/{record['id']}/edit"
    sent_from = len(ehr.fhir_requests)
    assert submit(client, edit, {**session_post(ehr, next_focus="changed"), **REASON}).status_code == 302
    [update] = provenances(ehr, record["id"], "UPDATE")
    assert update["reason"] == [{"text": REASON["amend_reason"]}]
    [create] = provenances(ehr, record["id"], "CREATE")
    assert "reason" not in create
    amended = ehr.resources[("QuestionnaireResponse", record["id"])]
    targets = [t["reference"] for t in update["target"] if "QuestionnaireResponse" in t["reference"]]
    if transactions:
        [bundle] = [r for r in ehr.fhir_requests[sent_from:] if r.method == "POST" and "Bundle" in str(r.body)[:200]]
        assert REASON["amend_reason"] in bundle.body.decode() if isinstance(bundle.body, bytes) else bundle.body
        assert targets == [f"QuestionnaireResponse/{record['id']}"]
    else:
        # Written one by one, the Provenance names the version it was written for.
        assert targets == [f"QuestionnaireResponse/{record['id']}/_history/{amended['meta']['versionId']}"]


def test_when_provenance_may_not_be_written_the_clinician_is_told_the_reason_was_not_stored(client, ehr,
                                                                                          example_data):
    as_server(ehr, client, True, True, NO_PROVENANCE)
    record = completed(client, ehr)
    edit = f"/forms/r/{record['id']}/edit"
    answer = submit(client, edit, {**session_post(ehr, next_focus="changed"), **REASON})
    assert answer.status_code == 302
    page = client.get(answer.headers["Location"], follow_redirects=True).get_data(as_text=True)
    assert "Amendment saved." in page
    assert "reason for the amendment" in page and REASON["amend_reason"] in page and "was not stored" in page
    assert provenances(ehr, record["id"]) == []


def test_a_save_without_observations_still_writes_the_reason(client, ehr, example_data):
    as_server(ehr, client, True, True, NO_OBSERVATIONS + " patient/Provenance.crus")
    record = completed(client, ehr)
    edit = f"/forms/r/{record['id']}/edit"
    assert submit(client, edit, {**session_post(ehr, next_focus="changed"), **REASON}).status_code == 302
    [update] = provenances(ehr, record["id"], "UPDATE")
    assert update["reason"][0]["text"] == REASON["amend_reason"]


def test_an_amendment_that_stops_before_its_provenance_says_so_and_saving_again_writes_the_reason(
        client, ehr, example_data):
    as_server(ehr, client, False, True, V2)
    record = completed(client, ehr)
    edit = f"/forms/r/{record['id']}/edit"
    hidden = form_csrf(client, edit)
    data = {**session_post(ehr, next_focus="changed"), **REASON}
    original = ehr._fault_for

    def fault_for(request):  # the Provenance's id is derived from the save: fail any PUT of a Provenance
        if request.method == "PUT" and "/Provenance/" in request.url:
            return {"timeout": False, "status": 500, "after": False, "body": {"resourceType": "OperationOutcome",
                    "issue": [{"severity": "error", "code": "exception", "diagnostics": "injected"}]}}
        return original(request)

    ehr._fault_for = fault_for
    first = client.post(edit, data={**data, **hidden, "action": "complete"})
    html = first.get_data(as_text=True)
    assert first.status_code == 502 and "Partly saved" in html and "Provenance" in html
    assert REASON["amend_reason"] in html, "the reason is still on the page"
    assert ehr.resources[("QuestionnaireResponse", record["id"])]["status"] == "amended"
    assert provenances(ehr, record["id"], "UPDATE") == []
    ehr._fault_for = original
    again = client.post(edit, data={**data, **hidden_fields(html), "action": "complete"})
    assert again.status_code == 302, again.get_data(as_text=True)[:2000]
    [update] = provenances(ehr, record["id"], "UPDATE")
    assert update["reason"] == [{"text": REASON["amend_reason"]}]


def test_a_second_amendment_gets_its_own_provenance_and_reason(launched, ehr):
    record = completed(launched, ehr)
    edit = f"/forms/r/{record['id']}/edit"
    assert submit(launched, edit, {**session_post(ehr, next_focus="one"), "amend_reason": "First fix"}).status_code == 302
    assert submit(launched, edit, {**session_post(ehr, next_focus="two"), "amend_reason": "Second fix"}).status_code == 302
    reasons = sorted(p["reason"][0]["text"] for p in provenances(ehr, record["id"], "UPDATE"))
    assert reasons == ["First fix", "Second fix"]


def test_a_fresh_launch_does_not_carry_a_reason_over(client, ehr, example_data):
    assert launch(client, ehr).status_code == 302
    record = completed(client, ehr)
    page = client.get(f"/forms/r/{record['id']}/edit").get_data(as_text=True)
    assert "<textarea id=\"amend_reason\"" in page and REASON["amend_reason"] not in page
