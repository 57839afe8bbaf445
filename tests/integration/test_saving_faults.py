"""The truth about saving, against HAPI FHIR under faults: a proxy in front of HAPI that
fails after the write (an error, a hang, an unreadable reply) or before it, and HAPI
frozen mid-save. Whatever happens, the page tells the truth ("Saved", "Not saved", or
that it could not be known), a changed resubmission lands, and nothing is lost or
written twice. Records are counted on HAPI itself, never through the proxy.

The app here runs with short FHIR timeouts (a few seconds) so that a hang is a timeout.
"""

from __future__ import annotations

import time

import pytest

from app_helpers import Browser, hidden_fields
from demo.stack import Stack
from hapi_helpers import CHECKIN, answer_of, blow_ups, checkin, clinician, new_patient, stored

TRANSACTION = r"^/fhir/?(\?|$)"
LOOK_UP = r"/QuestionnaireResponse\?(.*&)?identifier="
SHORT = {"MBT_FHIR_OPTIONS": {"timeout": (5.0, 8.0), "max_retries": 0}}


@pytest.fixture
def via_proxy(stack, fault_proxy):
    """The sandbox and the app with the fault proxy as their FHIR server (definitions already
    loaded into HAPI by the session's ``stack``)."""
    running = Stack(fhir_base=fault_proxy.base_url, load=False, app_config=SHORT).start()
    try:
        yield running
    finally:
        running.stop()


def _start(stack_, hapi_base_url):
    patient = new_patient(hapi_base_url)
    session = clinician(stack_, patient)
    page = session.get(f"{stack_.app_base}/forms/{CHECKIN}/new")
    assert page.status_code == 200, page.text[:1000]
    return session, hidden_fields(page.text)


def _post(session: Browser, stack_, hidden, data, action="complete"):
    return session.post(f"{stack_.app_base}/forms/{CHECKIN}/new", data={**data, **hidden, "action": action})


def test_a_write_the_proxy_failed_after_is_reported_saved(via_proxy, fault_proxy, hapi_base_url):
    session, hidden = _start(via_proxy, hapi_base_url)
    fault_proxy.add_rule("fail_after_write", method="POST", path=TRANSACTION)
    answer = _post(session, via_proxy, hidden, checkin(12))
    assert "/dashboard" in answer.url, answer.text[:3000]
    assert "the record is on the server" in answer.text and "Nothing was saved" not in answer.text
    assert [h.upstream_status for h in fault_proxy.hits if h.action == "fail_after_write"] == [200]
    [record] = stored(hapi_base_url, hidden["submission_id"])
    assert blow_ups(hapi_base_url, record) == [12]


@pytest.mark.parametrize("action", ["garble_after_write", "hang_after_write"])
def test_an_unreadable_or_missing_reply_after_the_write_is_reported_saved(via_proxy, fault_proxy, hapi_base_url,
                                                                         action):
    session, hidden = _start(via_proxy, hapi_base_url)
    fault_proxy.add_rule(action, method="POST", path=TRANSACTION, hang_seconds=30)
    answer = _post(session, via_proxy, hidden, checkin(9))
    assert "/dashboard" in answer.url, answer.text[:3000]
    assert "the record is on the server" in answer.text
    assert len(stored(hapi_base_url, hidden["submission_id"])) == 1


def test_after_a_failure_that_could_not_be_checked_a_changed_resubmission_lands(via_proxy, fault_proxy,
                                                                                hapi_base_url):
    """Saved, told it failed, and the check cannot be made either: the page says it is not
    known; the clinician corrects 12 to 13 and saves again; one record, and it says 13."""
    session, hidden = _start(via_proxy, hapi_base_url)
    fault_proxy.add_rule("fail_after_write", method="POST", path=TRANSACTION)
    fault_proxy.add_rule("fail_before", method="GET", path=LOOK_UP)
    first = _post(session, via_proxy, hidden, checkin(12))
    assert first.status_code == 502, first.text[:3000]
    assert "Not known whether it was saved" in first.text and "Nothing was saved" not in first.text
    assert 'value="12"' in first.text, "the answers are on the page"
    corrected = _post(session, via_proxy, hidden, checkin(13))
    assert "/dashboard" in corrected.url, corrected.text[:3000]
    [record] = stored(hapi_base_url, hidden["submission_id"])
    assert answer_of(record, "checkin.blow-ups") == [13]
    assert record["status"] == "amended"
    assert blow_ups(hapi_base_url, record) == [13]


def test_a_write_that_never_reached_hapi_is_reported_not_saved(via_proxy, fault_proxy, hapi_base_url):
    session, hidden = _start(via_proxy, hapi_base_url)
    fault_proxy.add_rule("fail_before", method="POST", path=TRANSACTION, status=503)
    first = _post(session, via_proxy, hidden, checkin(4))
    assert first.status_code == 502
    assert "Not saved" in first.text and "this record is not on the server" in first.text
    assert stored(hapi_base_url, hidden["submission_id"]) == []
    again = _post(session, via_proxy, hidden, checkin(4))
    assert "/dashboard" in again.url, again.text[:3000]
    assert len(stored(hapi_base_url, hidden["submission_id"])) == 1


def test_a_draft_corrected_after_a_failure_after_the_write_keeps_the_correction(via_proxy, fault_proxy,
                                                                                hapi_base_url):
    session, hidden = _start(via_proxy, hapi_base_url)
    fault_proxy.add_rule("fail_after_write", method="POST", path=r"^/fhir/QuestionnaireResponse/?(\?|$)")
    fault_proxy.add_rule("fail_before", method="GET", path=LOOK_UP)
    draft = checkin(2)
    assert _post(session, via_proxy, hidden, draft, action="draft").status_code == 502
    assert len(stored(hapi_base_url, hidden["submission_id"])) == 1, "the draft did land"
    corrected = _post(session, via_proxy, hidden, checkin(3), action="draft")
    assert "/edit" in corrected.url, corrected.text[:3000]
    [record] = stored(hapi_base_url, hidden["submission_id"])
    assert record["status"] == "in-progress" and answer_of(record, "checkin.blow-ups") == [3]


def test_hapi_frozen_mid_save_the_app_says_it_cannot_know_then_nothing_is_lost(stack, hapi_server, hapi_base_url):
    if hapi_server is None:
        pytest.skip("HAPI_BASE_URL points at a server this test session cannot freeze")
    short = Stack(fhir_base=hapi_base_url, load=False, app_config=SHORT).start()
    try:
        session, hidden = _start(short, hapi_base_url)
        with hapi_server.frozen():
            first = _post(session, short, hidden, checkin(12))
        assert first.status_code in (502, 504), first.text[:3000]
        assert "Nothing was saved" not in first.text and 'value="12"' in first.text
        assert "Not known whether it was saved" in first.text or "Not saved" in first.text
        # The write queued while HAPI was frozen may land now, or not; either way, saving the
        # corrected answers again leaves one record that says 13.
        deadline = time.monotonic() + 20
        while not stored(hapi_base_url, hidden["submission_id"]) and time.monotonic() < deadline:
            time.sleep(0.5)
        corrected = _post(session, short, hidden, checkin(13))
        assert "/dashboard" in corrected.url, corrected.text[:3000]
        [record] = stored(hapi_base_url, hidden["submission_id"])
        assert answer_of(record, "checkin.blow-ups") == [13]
        assert blow_ups(hapi_base_url, record) == [13]
        again = _post(session, short, hidden, checkin(13))
        assert "already saved" in again.text
        assert len(stored(hapi_base_url, hidden["submission_id"])) == 1
    finally:
        short.stop()
