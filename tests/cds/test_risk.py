"""The risk rule's readers beyond the alert's reasons: per record, what was done; which records to flag;
and the window, which no later clear record can shorten."""

from __future__ import annotations

import datetime as dt

from cds_records import TODAY, checkin, coding, item, session
from fhir_mbt.cds import risk
from fhir_mbt.cds.record import entry


def _entries(responses):
    sessions = [entry(r, "session.date") for r in responses if "session-record" in r["questionnaire"]]
    checkins = [entry(r) for r in responses if "checkin" in r["questionnaire"]]
    return sessions, checkins


def _with(response: dict, *items: dict) -> dict:
    response["item"] = [*response["item"], *items]
    return response


def test_the_alert_keeps_its_reasons_and_level_and_adds_the_records():
    risky = _with(session(3, risk={"risk.suicidal-thoughts": "risk-yes", "risk.self-harm": "risk-yes"}),
                  item("risk.level", coding("risk-moderate")))
    found = risk.alert(*_entries([risky, checkin(1)]), TODAY)
    assert found["reasons"] == [f"self-harm reported in the session of {risky['item'][0]['answer'][0]['valueDate']}",
                                f"suicidal thoughts reported in the session of {risky['item'][0]['answer'][0]['valueDate']}"]
    assert found["level"] == "risk-moderate"
    [record] = found["records"]
    assert record.response_id == risky["id"] and record.kind == "session"
    assert record.what == ("self-harm", "suicidal thoughts") and record.level == "risk-moderate"


def test_what_a_session_record_says_was_done():
    risky = _with(session(3, risk={"risk.suicidal-thoughts": "risk-yes"}),
                  item("risk.action", coding("risk-explored"), coding("crisis-plan-updated")),
                  item("risk.action-detail", {"valueString": "Extra session on Friday"}),
                  item("risk.crisis-plan-reviewed", {"valueBoolean": True}))
    [record] = risk.alert(*_entries([risky]), TODAY)["records"]
    assert record.actions == ("risk-explored", "crisis-plan-updated")
    assert record.action_detail == "Extra session on Friday"
    assert record.crisis_plan_reviewed is True and record.contact_wanted is None


def test_what_a_missed_session_says_was_done():
    missed = _with(session(3, attendance="did-not-attend"),
                   item("session.missed.risk-concern", {"valueBoolean": True}),
                   item("session.missed.risk-action", coding("crisis-line-given")),
                   item("session.missed.crisis-plan-reviewed", {"valueBoolean": False}))
    [record] = risk.alert(*_entries([missed]), TODAY)["records"]
    assert record.what == ("risk concern after a missed session",)
    assert record.actions == ("crisis-line-given",) and record.crisis_plan_reviewed is False


def test_a_checkin_says_whether_the_patient_wants_contact():
    wants = _with(checkin(2, suicide_thoughts=True, safe_now=False),
                  item("checkin.risk.contact-wanted", {"valueBoolean": True}))
    [record] = risk.alert(*_entries([wants]), TODAY)["records"]
    assert record.kind == "checkin" and record.contact_wanted is True
    assert record.what == ("thoughts of suicide", "does not feel safe")
    assert record.actions == () and record.crisis_plan_reviewed is None


def test_records_are_newest_first_one_line_each():
    older = checkin(9, suicide_thoughts=True, plan=True)
    newer = session(2, risk={"risk.self-harm": "risk-yes"})
    records = risk.alert(*_entries([older, newer]), TODAY)["records"]
    assert [r.response_id for r in records] == [newer["id"], older["id"]]
    assert records[1].what == ("thoughts of suicide", "a plan to end their life")


def test_flags_mark_every_record_that_reported_risk_however_old():
    old = session(200, risk={"risk.suicide-attempt": "risk-yes"})
    clear = session(2)
    recent = checkin(1, acted=True)
    flags = risk.flagged(*_entries([old, clear, recent]))
    assert flags == {old["id"]: ("a suicide attempt",), recent["id"]: ("self-harm",)}


def test_later_clear_records_never_hide_risk_inside_the_window():
    """Risk reported 13 days ago stays up through clear sessions and check-ins after it, and after the 14 days
    until a record asks again: only a clear record from after the window ends it."""
    risky = checkin(13, suicide_thoughts=True)
    later = [session(10), checkin(8), session(6), checkin(1), session(0)]
    sessions, checkins = _entries([risky, *later])
    assert risk.alert(sessions, checkins, TODAY) is not None
    assert risk.alert(sessions, checkins, TODAY + dt.timedelta(days=1)) is not None, "day 14: still inside"
    assert risk.alert(sessions, checkins, TODAY + dt.timedelta(days=5)) is not None, \
        "past the window, but nothing has asked since the last clear record inside it"
    asked_after = checkin(-2)  # day 15 after the risk: clear
    sessions, checkins = _entries([risky, *later, asked_after])
    assert risk.alert(sessions, checkins, TODAY + dt.timedelta(days=2)) is None
