"""Discarding a draft: only a clinician's in-progress record of the launched patient, confirmed, If-Match on
the version seen; DELETE, or entered-in-error where the server will not delete; conflicts and failures said
truthfully, nothing else touched."""

from __future__ import annotations

import copy
import re
from html import unescape

import pytest

from app_helpers import SESSION, example_response, form_csrf, form_data, launch

PATIENT = "mbt-example-peter"
QR = "QuestionnaireResponse"


def _draft(ehr, rid: str = "draft-1", *, author: str | None = None, status: str = "in-progress",
           subject: str = PATIENT) -> dict:
    """A draft on the server, cloned from the example's first session record."""
    draft = copy.deepcopy(example_response(ehr, SESSION))
    draft.update(id=rid, status=status, subject={"reference": f"Patient/{subject}"},
                 identifier={"system": "urn:ietf:rfc:3986", "value": f"urn:uuid:00000000-0000-4000-8000-{rid.encode().hex()[:12].ljust(12, '0')}"},
                 authored="2026-11-27T09:30:00Z")
    if author:
        draft["author"] = {"reference": author}
    return ehr.put(draft)


def _csrf(client) -> str:
    """This session's CSRF token, as any form of the app carries it."""
    return form_csrf(client, f"/forms/{SESSION}/new")["csrf_token"]


def _discard(client, rid: str, version: str = "1", **extra):
    data = {"csrf_token": _csrf(client), "version_id": version, "confirm": "yes", **extra}
    return client.post(f"/forms/r/{rid}/discard", data=data)


def _stored(ehr, rid: str) -> dict | None:
    return ehr.resources.get((QR, rid))


def _deletes(ehr) -> list:
    return [r for r in ehr.fhir_requests if r.method == "DELETE"]


# --- the lists offer it, with a confirmation ------------------------------------------------------


def test_the_dashboard_offers_discard_with_a_confirmation_and_no_script(launched, ehr):
    _draft(ehr)
    html = launched.get("/dashboard").get_data(as_text=True)
    row = re.search(r'<tr data-draft="draft-1">.*?</tr>', html, re.S).group(0)
    assert "Resume" in row and '<details class="confirm">' in row and "<summary>Discard</summary>" in row
    assert 'action="/forms/r/draft-1/discard' in row and 'name="version_id" value="1"' in row
    assert 'name="csrf_token"' in row and 'name="confirm" value="yes"' in row


def test_a_patients_own_draft_is_shown_as_theirs_without_discard(launched, ehr):
    _draft(ehr, "patient-draft", author=f"Patient/{PATIENT}")
    html = launched.get("/records").get_data(as_text=True)
    row = re.search(r'<tr data-draft="patient-draft">.*?</tr>', html, re.S).group(0)
    assert "The patient's own draft" in row and "Discard" not in row and "/discard" not in row


def test_the_confirmation_page_and_a_post_without_confirm_discard_nothing(launched, ehr):
    _draft(ehr)
    page = launched.get("/forms/r/draft-1/discard")
    html = page.get_data(as_text=True)
    assert page.status_code == 200 and "Discard this draft?" in html and "Yes, discard it" in html
    answer = launched.post("/forms/r/draft-1/discard", data={"csrf_token": _csrf(launched), "version_id": "1"})
    assert answer.status_code == 200 and "Discard this draft?" in answer.get_data(as_text=True)
    assert _stored(ehr, "draft-1") is not None and _deletes(ehr) == []


# --- the happy paths ------------------------------------------------------------------------------------


def test_a_draft_saved_in_the_app_is_deleted_with_if_match(launched, ehr):
    new = f"/forms/{SESSION}/new"
    saved = launched.post(new, data={**form_data(ehr, SESSION), **form_csrf(launched, new), "action": "draft"})
    assert saved.status_code == 302, saved.get_data(as_text=True)[-2000:]
    [draft] = [r for r in ehr.of_type(QR) if r["status"] == "in-progress"]
    version = draft["meta"]["versionId"]
    answer = _discard(launched, draft["id"], version, next="dashboard.records")
    assert answer.status_code == 303 and answer.headers["Location"].startswith("/records")
    assert _stored(ehr, draft["id"]) is None
    [withdraw] = [r for r in ehr.fhir_requests if r.method == "PUT"]
    assert withdraw.headers["If-Match"] == f'W/"{version}"'
    assert '"status": "entered-in-error"' in withdraw.body.decode() or '"status":"entered-in-error"' in withdraw.body.decode()
    [delete] = _deletes(ehr)
    assert delete.headers["If-Match"] == f'W/"{int(version) + 1}"', "the version the withdrawal wrote"
    shown = launched.get(answer.headers["Location"]).get_data(as_text=True)
    assert "was deleted from the FHIR server" in shown and f'data-draft="{draft["id"]}"' not in shown


def test_a_server_that_refuses_delete_gets_entered_in_error_with_if_match(launched, ehr):
    _draft(ehr)
    ehr.deletes = False
    answer = _discard(launched, "draft-1")
    assert answer.status_code == 303
    stored = _stored(ehr, "draft-1")
    assert stored["status"] == "entered-in-error" and stored["meta"]["versionId"] == "2"
    [put] = [r for r in ehr.fhir_requests if r.method == "PUT"]
    assert put.headers["If-Match"] == 'W/"1"'
    shown = launched.get("/dashboard").get_data(as_text=True)
    assert "was withdrawn" in shown and "marked as entered in error" in shown and 'data-draft="draft-1"' not in shown
    assert 'data-record="draft-1"' not in shown, "withdrawn, it is no record either"


def test_without_a_delete_scope_the_draft_is_withdrawn_without_trying_delete(client, ehr, example_data):
    ehr.granted_scope = ("launch openid fhirUser patient/Patient.r patient/QuestionnaireResponse.crus "
                         "patient/Observation.crus patient/Provenance.cu")
    launch(client, ehr)
    _draft(ehr)
    answer = _discard(client, "draft-1")
    assert answer.status_code == 303 and _deletes(ehr) == []
    assert _stored(ehr, "draft-1")["status"] == "entered-in-error"


# --- what is never discarded ------------------------------------------------------------------------------


@pytest.mark.parametrize("status", ["completed", "amended", "entered-in-error"])
def test_a_record_that_is_not_a_draft_is_never_discarded(launched, ehr, status):
    _draft(ehr, status=status)
    for answer in (launched.get("/forms/r/draft-1/discard"), _discard(launched, "draft-1")):
        html = answer.get_data(as_text=True)
        assert answer.status_code == 403 and "A completed record cannot be discarded" in html
        assert "never discarded" in html
    assert _stored(ehr, "draft-1")["status"] == status and _deletes(ehr) == []
    assert [r for r in ehr.fhir_requests if r.method == "PUT"] == []


def test_the_patients_own_draft_is_refused(launched, ehr):
    _draft(ehr, author=f"Patient/{PATIENT}")
    answer = _discard(launched, "draft-1")
    assert answer.status_code == 403 and "the patient's own draft" in unescape(answer.get_data(as_text=True)).lower()
    assert _stored(ehr, "draft-1")["status"] == "in-progress" and _deletes(ehr) == []


def test_another_patients_draft_is_not_found(launched, ehr):
    _draft(ehr, subject="someone-else")
    answer = _discard(launched, "draft-1")
    assert answer.status_code == 404 and _stored(ehr, "draft-1") is not None and _deletes(ehr) == []


def test_a_post_without_the_csrf_token_discards_nothing(launched, ehr):
    _draft(ehr)
    answer = launched.post("/forms/r/draft-1/discard", data={"version_id": "1", "confirm": "yes"})
    assert answer.status_code == 400 and _stored(ehr, "draft-1") is not None


def test_a_post_without_a_version_discards_nothing(launched, ehr):
    _draft(ehr)
    answer = _discard(launched, "draft-1", version="")
    assert answer.status_code == 400 and "which version" in answer.get_data(as_text=True)
    assert _stored(ehr, "draft-1") is not None


def test_a_read_only_launch_may_not_discard(client, ehr, example_data):
    ehr.granted_scope = "launch openid fhirUser patient/Patient.r patient/QuestionnaireResponse.rs"
    launch(client, ehr)
    _draft(ehr)
    assert "Discard" not in client.get("/dashboard").get_data(as_text=True)
    answer = _discard(client, "draft-1")
    assert answer.status_code == 403 and _stored(ehr, "draft-1") is not None


def test_a_stale_tab_for_another_patient_is_refused(launched, ehr):
    _draft(ehr)
    answer = _discard(launched, "draft-1", patient="someone-else")
    assert answer.status_code == 409 and _stored(ehr, "draft-1") is not None


# --- conflicts and failures ------------------------------------------------------------------------------------


def test_a_draft_saved_again_since_the_page_was_shown_is_not_discarded(launched, ehr):
    draft = _draft(ehr)
    ehr.put({**draft, "authored": "2026-11-28T10:00:00Z"})  # someone saved it again: version 2
    answer = _discard(launched, "draft-1", version="1")
    assert answer.status_code == 409 and "saved again after you looked at it" in answer.get_data(as_text=True)
    stored = _stored(ehr, "draft-1")
    assert stored["status"] == "in-progress" and stored["meta"]["versionId"] == "2" and _deletes(ehr) == []


def test_a_save_racing_the_discard_wins_and_is_kept(launched, ehr):
    draft = _draft(ehr)
    handle = ehr.handle

    def racing(method, url, body, headers):
        if method in ("PUT", "DELETE") and not racing.done:  # someone saves the draft just before
            racing.done = True
            ehr.put({**draft, "authored": "2026-11-28T10:00:00Z"})
        return handle(method, url, body, headers)

    racing.done = False
    ehr.handle = racing
    answer = _discard(launched, "draft-1")
    assert answer.status_code == 409 and "nothing was discarded or overwritten" in answer.get_data(as_text=True)
    stored = _stored(ehr, "draft-1")
    assert stored["status"] == "in-progress" and stored["meta"]["versionId"] == "2" and _deletes(ehr) == []


def test_a_server_that_ignores_if_match_on_delete_cannot_lose_a_racing_save(launched, ehr):
    """HAPI deletes whatever the If-Match says: the withdrawal before the DELETE is what checks the version."""
    draft = _draft(ehr)
    delete, handle = ehr._delete, ehr.handle
    ehr._delete = lambda rtype, rid, if_match: delete(rtype, rid, None)

    def racing(method, url, body, headers):
        if method in ("PUT", "DELETE") and not racing.done:  # saved after the app read it, before it wrote
            racing.done = True
            ehr.put({**draft, "authored": "2026-11-28T10:00:00Z"})
        return handle(method, url, body, headers)

    racing.done = False
    ehr.handle = racing
    answer = _discard(launched, "draft-1", version="1")
    assert answer.status_code == 409
    stored = _stored(ehr, "draft-1")
    assert stored is not None and stored["status"] == "in-progress" and stored["meta"]["versionId"] == "2"


def test_a_server_error_on_the_withdrawal_leaves_the_draft_and_says_so(launched, ehr):
    _draft(ehr)
    ehr.fault(method="PUT", path="QuestionnaireResponse/draft-1", status=500)
    answer = _discard(launched, "draft-1")
    html = answer.get_data(as_text=True)
    assert answer.status_code == 502 and "still there, unchanged: nothing was lost" in html
    assert "Try again" in html
    stored = _stored(ehr, "draft-1")
    assert stored["status"] == "in-progress" and stored["meta"]["versionId"] == "1" and _deletes(ehr) == []


def test_a_withdrawal_that_landed_despite_a_server_error_goes_on_to_delete(launched, ehr):
    _draft(ehr)
    ehr.fault(method="PUT", path="QuestionnaireResponse/draft-1", status=500, after_write=True)
    answer = _discard(launched, "draft-1")
    assert answer.status_code == 303 and _stored(ehr, "draft-1") is None
    assert "was deleted from the FHIR server" in launched.get("/dashboard").get_data(as_text=True)


def test_a_server_error_on_the_delete_leaves_the_draft_withdrawn_and_says_so(launched, ehr):
    _draft(ehr)
    ehr.fault(method="DELETE", path="QuestionnaireResponse/draft-1", status=500)
    answer = _discard(launched, "draft-1")
    assert answer.status_code == 303 and _stored(ehr, "draft-1")["status"] == "entered-in-error"
    assert "was withdrawn" in launched.get("/dashboard").get_data(as_text=True)


def test_a_delete_that_landed_despite_a_server_error_is_reported_done(launched, ehr):
    _draft(ehr)
    ehr.fault(method="DELETE", path="QuestionnaireResponse/draft-1", status=500, after_write=True)
    answer = _discard(launched, "draft-1")
    assert answer.status_code == 303 and _stored(ehr, "draft-1") is None
    assert "was deleted from the FHIR server" in launched.get("/dashboard").get_data(as_text=True)


def test_when_the_server_cannot_be_asked_afterwards_the_page_says_it_does_not_know(launched, ehr):
    _draft(ehr)
    ehr.fault(method="PUT", path="QuestionnaireResponse/draft-1", status=503)
    ehr.fault(method="GET", path="QuestionnaireResponse/draft-1", status=503, skip=1)
    answer = _discard(launched, "draft-1")
    html = answer.get_data(as_text=True)
    assert answer.status_code == 502 and "could not be checked afterwards" in html
    assert _stored(ehr, "draft-1")["status"] == "in-progress"


def test_a_server_that_refuses_both_changes_nothing(launched, ehr):
    _draft(ehr)
    ehr.deletes = False
    ehr.fault(method="PUT", path="QuestionnaireResponse/draft-1", status=405)
    answer = _discard(launched, "draft-1")
    assert answer.status_code == 502 and "still there" in answer.get_data(as_text=True)
    assert _stored(ehr, "draft-1")["status"] == "in-progress"


def test_a_draft_already_gone_says_so(launched, ehr):
    _draft(ehr)
    version = "1"
    del ehr.resources[(QR, "draft-1")]
    answer = _discard(launched, "draft-1", version)
    assert answer.status_code == 404 and "no longer on the FHIR server" in answer.get_data(as_text=True)


def test_the_discarded_drafts_form_page_no_longer_leads_to_it(launched, ehr):
    new = f"/forms/{SESSION}/new"
    opened = launched.get(new)
    form_url = opened.headers["Location"]
    hidden = form_csrf(launched, form_url)
    saved = launched.post(new, data={**form_data(ehr, SESSION), **hidden, "action": "draft"})
    assert saved.status_code == 302
    [draft] = [r for r in ehr.of_type(QR) if r["status"] == "in-progress"]
    assert _discard(launched, draft["id"], draft["meta"]["versionId"]).status_code == 303
    again = launched.get(form_url)
    assert again.status_code == 302 and f"/forms/r/{draft['id']}" not in again.headers["Location"]
