"""The risk alert counts back from today, so no record's date can hide recent risk.

A session record typed with a date decades ahead (2062-11-30 for 2026-11-30)
used to become "the newest record", and the 14-day window counted back from
it, so a check-in from this week reporting suicidal thoughts fell out of the
window and the alert vanished. The crisis plan shown beside the alert comes
from the newest formulation that has one.
"""

from __future__ import annotations

import copy
import datetime as dt
import json

from app_helpers import launch
from fhir_mbt.content import definitions_dir, shipped, terminology
from fhir_mbt.cds.risk import RISK_WINDOW_DAYS, SESSION_RISK
from smart_app.dashboard_data import build_view

TODAY = dt.date(2026, 11, 30)


def set_answer(response: dict, link_id: str, answer: list) -> bool:
    """Put ``answer`` on the item ``link_id``, wherever it is nested; False when absent."""
    for item in response.get("item", []):
        if item.get("linkId") == link_id:
            item["answer"] = answer
            return True
        if set_answer(item, link_id, answer) or any(set_answer(a, link_id, answer) for a in item.get("answer", [])):
            return True
    return False


def _example_responses() -> list[dict]:
    bundle = json.loads((definitions_dir() / "examples" / "Bundle-mbt-example-peter.json").read_text())
    return [e["resource"] for e in bundle["entry"] if e["resource"]["resourceType"] == "QuestionnaireResponse"]


def _latest(responses: list[dict], qid: str) -> dict:
    return max((r for r in responses if f"/{qid}|" in r["questionnaire"]), key=lambda r: r["authored"])


def _checkin_with_thoughts(responses: list[dict], day: dt.date, rid: str = "checkin-this-week") -> dict:
    checkin = copy.deepcopy(_latest(responses, "mbt-weekly-checkin"))
    checkin["id"] = rid
    checkin["identifier"] = {"system": "urn:ietf:rfc:3986", "value": f"urn:uuid:00000000-0000-4000-8000-{rid.encode().hex()[:12]}"}
    checkin["authored"] = f"{day.isoformat()}T09:00:00Z"
    assert set_answer(checkin, "checkin.risk.suicide-thoughts", [{"valueBoolean": True}])
    return checkin


def _clear_session(responses: list[dict], date: str, rid: str = "session-mistyped-date") -> dict:
    session = copy.deepcopy(_latest(responses, "mbt-session-record"))
    session["id"] = rid
    session["identifier"] = {"system": "urn:ietf:rfc:3986", "value": f"urn:uuid:00000000-0000-4000-8000-{rid.encode().hex()[:12]}"}
    assert set_answer(session, "session.date", [{"valueDate": date}])
    no = {"valueCoding": {"system": terminology.CODE_SYSTEM, "code": "risk-no", "display": "No"}}
    for link_id in SESSION_RISK:
        set_answer(session, link_id, [no])
    return session


def _view(responses: list[dict], today: dt.date = TODAY):
    return build_view(responses, None, shipped(), today=today)


# --- the window, as pure data ------------------------------------------------------------


def test_a_future_dated_record_does_not_hide_risk_from_this_week():
    responses = _example_responses()
    responses += [_checkin_with_thoughts(responses, TODAY - dt.timedelta(days=2)),
                  _clear_session(responses, "2062-11-30")]
    risk = _view(responses).risk
    assert risk is not None
    assert any("thoughts of suicide" in r for r in risk["reasons"])


def test_a_clear_record_dated_today_does_not_hide_risk_from_this_week():
    responses = _example_responses()
    responses += [_checkin_with_thoughts(responses, TODAY - dt.timedelta(days=3)),
                  _clear_session(responses, TODAY.isoformat())]
    assert _view(responses).risk is not None


def test_the_window_reaches_back_from_today_to_its_first_day():
    responses = _example_responses()
    first_day = TODAY - dt.timedelta(days=RISK_WINDOW_DAYS)
    responses += [_checkin_with_thoughts(responses, first_day), _clear_session(responses, TODAY.isoformat())]
    assert _view(responses).risk is not None
    responses[-2]["authored"] = f"{(first_day - dt.timedelta(days=1)).isoformat()}T09:00:00Z"
    assert _view(responses).risk is None, "a day before the window, with a clear record since: no alert"


def test_a_future_dated_positive_record_still_alerts():
    responses = _example_responses()
    session = _clear_session(responses, "2062-11-30")
    assert set_answer(session, "risk.suicidal-thoughts", [{"valueBoolean": True}])
    risk = _view(responses + [session]).risk
    assert risk is not None and any("2062-11-30" in r for r in risk["reasons"])


def test_the_last_assessment_still_shows_when_nothing_newer_asked():
    """Weeks without any record must not clear an unanswered positive: the window only ever widens."""
    responses = _example_responses()
    checkin = _checkin_with_thoughts(responses, TODAY - dt.timedelta(days=40))
    later = [r for r in responses if r["authored"] > checkin["authored"]]
    assert later == [], "the example ends before this check-in"
    assert _view(responses + [checkin]).risk is not None


def test_the_clock_defaults_to_the_real_one():
    responses = _example_responses()
    today = dt.datetime.now(dt.timezone.utc).date()
    responses += [_checkin_with_thoughts(responses, today), _clear_session(responses, "2062-11-30")]
    assert build_view(responses, None, shipped()).risk is not None


# --- the crisis plan ---------------------------------------------------------------------


def _drop_crisis(items: list[dict]) -> list[dict]:
    out = []
    for item in items:
        if item["linkId"].startswith("crisis"):
            continue
        item = dict(item)
        if "item" in item:
            item["item"] = _drop_crisis(item["item"])
            if not item["item"]:
                continue
        out.append(item)
    return out


def test_the_crisis_plan_comes_from_the_newest_formulation_that_has_one():
    responses = _example_responses()
    newest = copy.deepcopy(_latest(responses, "mbt-formulation"))
    plan = _view(responses).crisis_plan
    assert plan["self"], "the example's formulations carry a crisis plan"
    newest["id"] = "formulation-without-plan"
    newest["authored"] = f"{TODAY.isoformat()}T09:00:00Z"
    newest["item"] = _drop_crisis(newest["item"])
    view = _view(responses + [newest])
    assert view.formulation.id == "formulation-without-plan"
    assert view.crisis_plan == plan


# --- through the app ---------------------------------------------------------------------


def test_dashboard_alerts_on_this_weeks_risk_despite_a_session_dated_2062(client, ehr, example_data):
    responses = ehr.of_type("QuestionnaireResponse")
    today = dt.datetime.now(dt.timezone.utc).date()
    ehr.put(_checkin_with_thoughts(responses, today))
    ehr.put(_clear_session(responses, "2062-11-30"))
    launch(client, ehr)
    html = client.get("/dashboard").get_data(as_text=True)
    assert 'class="risk-alert"' in html
    assert "thoughts of suicide" in html
