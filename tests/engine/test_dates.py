"""Clinical dates make sense: not in the future (today allowed), not before 1900.

The content says so the SDC way (a static ``minValue`` and a ``maxValue``
computed by ``today()`` through ``cqf-calculatedValue``), so any SDC renderer
can enforce it; the engine evaluates the computed bound, for the day
:mod:`fhir_mbt.engine.clock` calls today (the date in UTC+14), and names
the question by its text when a date breaks it.
"""

from __future__ import annotations

import copy
import datetime as dt
import json

import pytest

from fhir_mbt.content import definitions_dir, extensions as ext, shipped, terminology
from fhir_mbt.engine import ResponseInvalid, process_response, validate_response
from fhir_mbt.engine.clock import latest_today
from fhir_mbt.engine.compiled import compile_questionnaire
from fhir_mbt.engine.fhirpath import compile_expression
from fhir_mbt.engine.outcome import issue_link_id

INDEX = shipped()
TODAY = dt.date(2026, 11, 30)
UTC = dt.timezone.utc


def _examples() -> list[dict]:
    bundle = json.loads((definitions_dir() / "examples" / "Bundle-mbt-example-peter.json").read_text())
    return [e["resource"] for e in bundle["entry"] if e["resource"]["resourceType"] == "QuestionnaireResponse"]


def _example(qid: str, needs: str) -> dict:
    found = [r for r in _examples() if f"/{qid}|" in r["questionnaire"] and needs in json.dumps(r)]
    return copy.deepcopy(max(found, key=lambda r: r["authored"]))


def _set(items: list[dict], link_id: str, value: str) -> bool:
    for item in items:
        if item.get("linkId") == link_id:
            item["answer"] = [{"valueDate": value}]
            return True
        if _set(item.get("item", []), link_id, value) or any(_set(a.get("item", []), link_id, value)
                                                              for a in item.get("answer", [])):
            return True
    return False


def session_on(day: str, status: str = "completed") -> dict:
    response = _example(terminology.SESSION_RECORD, '"session.date"')
    assert _set(response["item"], "session.date", day)
    response["status"] = status
    return response


def formulation_agreed_on(day: str) -> dict:
    response = _example(terminology.FORMULATION, '"agreement.date"')
    assert _set(response["item"], "agreement.date", day)
    return response


def errors(response: dict, **kwargs) -> list[dict]:
    return [i for i in validate_response(response, **kwargs)["issue"] if i["severity"] in ("error", "fatal")]


# --- the content ------------------------------------------------------------------------


def _date_items():
    for q in INDEX.resources("Questionnaire"):
        for defn in compile_questionnaire(q, INDEX).walk():
            if defn.type in ("date", "dateTime"):
                yield q["id"], defn


def test_the_clinical_dates_are_the_ones_bounded():
    bounded = {(qid, d.link_id) for qid, d in _date_items()}
    assert {(terminology.SESSION_RECORD, "session.date"), (terminology.FORMULATION, "agreement.date")} <= bounded


@pytest.mark.parametrize("qid,defn", list(_date_items()), ids=lambda v: getattr(v, "link_id", v))
def test_every_date_question_is_bounded_the_sdc_way(qid, defn):
    """A static minValue, and a maxValue whose value carries cqf-calculatedValue = today().

    The maxValue also has a static value, a far-future fallback for renderers
    and validators that cannot evaluate the expression (HAPI's validator
    reports a maxValue without a value as an error).
    """
    assert defn.min_value == ("valueDate", "1900-01-01")
    assert defn.max_value == ("valueDate", "2099-12-31")
    key, expression = defn.max_calculated
    assert key == "valueDate" and expression.expression == "today()"
    assert ext.calculated_value(defn.item, ext.MAX_VALUE) == ("valueDate", "today()")
    assert ext.calculated_value(defn.item, ext.MIN_VALUE) is None


# --- the engine -------------------------------------------------------------------------


def test_today_is_allowed():
    assert errors(session_on(TODAY.isoformat()), today=TODAY) == []
    assert errors(formulation_agreed_on(TODAY.isoformat()), today=TODAY) == []


@pytest.mark.parametrize("day", ["2026-12-01", "2062-11-30", "9999-12-31"])
def test_a_session_date_in_the_future_is_refused_naming_the_question(day):
    found = errors(session_on(day), today=TODAY)
    assert len(found) == 1, found
    issue = found[0]
    assert issue["diagnostics"] == "Date of the session cannot be in the future"
    assert issue_link_id(issue) == "session.date"
    assert issue["expression"][0].endswith(".answer[0].valueDate")
    assert issue["code"] == "value"


def test_an_agreement_date_in_the_future_is_refused():
    found = errors(formulation_agreed_on("2027-01-01"), today=TODAY)
    assert [i["diagnostics"] for i in found] == ["Date agreed cannot be in the future"]
    assert issue_link_id(found[0]) == "agreement.date"


@pytest.mark.parametrize("day", ["1899-12-31", "0202-11-30", "1026-11-30"])
def test_an_absurdly_old_date_is_refused(day):
    found = errors(session_on(day), today=TODAY)
    assert [i["diagnostics"] for i in found] == ["Date of the session cannot be before 1900-01-01"]


def test_the_first_allowed_day_is_1900_01_01():
    assert errors(session_on("1900-01-01"), today=TODAY) == []


def test_drafts_keep_the_date_rules_too():
    found = errors(session_on("2062-11-30", status="in-progress"), today=TODAY)
    assert [i["diagnostics"] for i in found] == ["Date of the session cannot be in the future"]


def test_process_response_refuses_a_future_date_and_extracts_nothing():
    with pytest.raises(ResponseInvalid) as caught:
        process_response(session_on("2062-11-30"), today=TODAY)
    assert "cannot be in the future" in str(caught.value)
    assert process_response(session_on(TODAY.isoformat()), today=TODAY).extraction is not None


# --- what "today" is: the date in UTC+14 ------------------------------------------------


@pytest.mark.parametrize("now,today", [
    (dt.datetime(2026, 11, 30, 9, 59, 59, tzinfo=UTC), dt.date(2026, 11, 30)),
    (dt.datetime(2026, 11, 30, 10, 0, 0, tzinfo=UTC), dt.date(2026, 12, 1)),
    (dt.datetime(2026, 11, 30, 23, 59, 59, tzinfo=UTC), dt.date(2026, 12, 1)),
    (dt.datetime(2026, 12, 1, 0, 0, 0, tzinfo=dt.timezone(dt.timedelta(hours=13))), dt.date(2026, 12, 1)),
    (dt.datetime(2026, 11, 30, 23, 0, 0, tzinfo=dt.timezone(dt.timedelta(hours=-8))), dt.date(2026, 12, 1)),
])
def test_today_is_the_latest_date_anywhere(now, today):
    assert latest_today(now) == today


def test_the_boundary_follows_the_clock():
    """Auckland's (UTC+13) 1 December starts at 11:00 UTC on 30 November; UTC+14's an hour before."""
    tomorrow = session_on("2026-12-01")
    before = latest_today(dt.datetime(2026, 11, 30, 9, 59, 59, tzinfo=UTC))
    at = latest_today(dt.datetime(2026, 11, 30, 10, 0, 0, tzinfo=UTC))
    assert [i["diagnostics"] for i in errors(tomorrow, today=before)] == ["Date of the session cannot be in the future"]
    assert errors(tomorrow, today=at) == []


def test_the_default_clock_is_the_latest_date_anywhere():
    today = latest_today()
    assert errors(session_on(today.isoformat())) == []
    found = errors(session_on((today + dt.timedelta(days=1)).isoformat()))
    assert [i["diagnostics"] for i in found] == ["Date of the session cannot be in the future"]


def test_latest_today_wants_an_aware_time():
    with pytest.raises(ValueError):
        latest_today(dt.datetime(2026, 11, 30, 12, 0))


# --- computed bounds in general ---------------------------------------------------------


def _questionnaire_with_max(expression: str, static: str | None = None) -> dict:
    q = copy.deepcopy(INDEX.get(terminology.questionnaire_url(terminology.SESSION_RECORD)))
    date_item = q["item"][0]
    assert date_item["linkId"] == "session.date"
    bound = date_item["extension"][1]
    bound["_valueDate"]["extension"][0]["valueExpression"]["expression"] = expression
    if static:
        bound["valueDate"] = static
    return q


def test_fhirpath_today_can_be_fixed():
    assert compile_expression("today()").evaluate({}, today=TODAY) == ["2026-11-30"]
    assert compile_expression("today() - 18 years").evaluate({}, today=TODAY) == ["2008-11-30"]


def test_a_computed_bound_other_than_today_reads_after():
    q = _questionnaire_with_max("today() - 7 days")
    found = errors(session_on("2026-11-25"), questionnaire=q, today=TODAY)
    assert [i["diagnostics"] for i in found] == ["Date of the session cannot be after 2026-11-23"]


def test_a_computed_bound_that_gives_nothing_falls_back_to_the_static_value():
    q = _questionnaire_with_max("{}", static="2026-01-01")
    found = errors(session_on("2026-06-01"), questionnaire=q, today=TODAY)
    assert [i["diagnostics"] for i in found] == ["Date of the session cannot be after 2026-01-01"]


def test_a_broken_bound_expression_is_a_content_problem_not_a_pass():
    q = _questionnaire_with_max("today(")
    found = errors(session_on(TODAY.isoformat()), questionnaire=q, today=TODAY)
    assert found and found[0]["code"] == "processing"


def test_a_bound_that_depends_on_the_day_alone_is_evaluated_once_a_day():
    defn = compile_questionnaire(INDEX.get(terminology.questionnaire_url(terminology.SESSION_RECORD)),
                                 INDEX).by_link["session.date"]
    assert defn.bounds_per_day
    errors(session_on("2026-11-01"), today=TODAY)
    assert defn.bounds_memo == (TODAY, (("valueDate", "1900-01-01"), ("valueDate", "2026-11-30")))
    q = _questionnaire_with_max("%resource.authored")
    assert not compile_questionnaire(q, INDEX).by_link["session.date"].bounds_per_day
