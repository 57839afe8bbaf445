"""Malformed data from the server: never a 500, never the whole page lost; hostile input refused."""

from __future__ import annotations

import json

import pytest

from app_helpers import YES, field_name, form_csrf, form_data, latest_session, launch, questionnaire, set_answer

PATIENT = "mbt-example-peter"


def _responses(ehr):
    return sorted(ehr.of_type("QuestionnaireResponse"), key=lambda r: r["authored"])


def _first_coded(response):
    stack = list(response.get("item", []))
    while stack:
        item = stack.pop()
        for answer in item.get("answer", []):
            if "valueCoding" in answer:
                return answer
            stack.extend(answer.get("item", []))
        stack.extend(item.get("item", []))
    return None


def test_value_coding_not_an_object_gives_a_clear_page(client, ehr, example_data):
    record = next(r for r in _responses(ehr) if _first_coded(r))
    _first_coded(record)["valueCoding"] = "risk-yes"
    launch(client, ehr)
    for path in (f"/forms/r/{record['id']}", f"/forms/r/{record['id']}/edit"):
        page = client.get(path)
        assert page.status_code in (200, 409, 502), path
        assert "Something went wrong" not in page.get_data(as_text=True)


def test_bad_next_link_port_is_a_clear_page(launched, ehr):
    bad = {"resourceType": "Bundle", "type": "searchset", "entry": [],
           "link": [{"relation": "next", "url": "https://ehr.test:99999/fhir/QuestionnaireResponse?page=2"}]}
    for path in ("/dashboard", "/copy/formulation", "/forms/mbt-formulation/revise"):
        ehr.fail_next.append((200, json.dumps(bad)))
        page = launched.get(path)
        assert page.status_code == 502, path
        assert "unreadable" in page.get_data(as_text=True)


@pytest.mark.parametrize("change", [
    {"name": "Peter Smith"},
    {"name": [{"family": None, "given": ["Peter"]}]},
    {"name": [{"given": "Peter", "family": 7}]},
    {"identifier": ["123", "456"]},
    {"name": ["Peter"], "identifier": [{"value": {"x": 1}}]},
])
def test_odd_patient_shapes_still_show_the_dashboard(client, ehr, example_data, change):
    ehr.resources[("Patient", PATIENT)].update(change)
    launch(client, ehr)
    for path in ("/dashboard", "/copy/formulation"):
        page = client.get(path)
        assert page.status_code == 200, path


def test_one_bad_record_is_skipped_and_named_risk_alert_first(client, ehr, example_data):
    latest = latest_session(ehr)
    assert set_answer(latest, "risk.suicidal-thoughts", YES)
    ehr.put(latest)
    other = next(r for r in _responses(ehr) if r["id"] != latest["id"] and "checkin" in r["questionnaire"])
    other["item"][0]["answer"] = [{"valueDate": {"x": 1}}]
    launch(client, ehr)
    page = client.get("/dashboard")
    assert page.status_code == 200
    html = page.get_data(as_text=True)
    assert "1 record could not be read" in html
    assert "{&#39;x&#39;: 1}" not in html and "{'x': 1}" not in html
    assert html.index('class="risk-alert"') < html.index("1 record could not be read")
    assert "Treatment goals" in html


def test_odd_answer_type_is_not_shown_raw(client, ehr, example_data):
    latest = latest_session(ehr)
    assert set_answer(latest, "session.date", [{"valueDate": {"x": 1}}])
    ehr.put(latest)
    launch(client, ehr)
    page = client.get("/dashboard")
    assert page.status_code == 200
    html = page.get_data(as_text=True)
    assert "{'x': 1}" not in html and "{&#39;x&#39;: 1}" not in html
    assert "1 record could not be read" in html


@pytest.mark.parametrize("text", ["before\x00after", "safe \u202egnirts"])
def test_nul_and_bidi_override_are_refused(launched, ehr, text):
    qid = "mbt-session-record"
    q = questionnaire(qid)
    path = f"/forms/{qid}/new"
    launched.get(path, follow_redirects=True)
    data = form_data(ehr, qid)
    data[field_name(q, "session.note")] = [text]
    before = len(ehr.of_type("QuestionnaireResponse"))
    answer = launched.post(path, data={**data, **form_csrf(launched, path), "action": "complete"})
    assert answer.status_code == 422
    assert "cannot be saved" in answer.get_data(as_text=True)
    assert len(ehr.of_type("QuestionnaireResponse")) == before


def test_full_width_digits_are_not_numbers():
    from smart_app.form_post import _convert

    for kind in ("integer", "decimal", "quantity"):
        with pytest.raises(ValueError):
            _convert({"type": kind}, "１２", {})
    with pytest.raises(ValueError):
        _convert({"type": "date"}, "２０２６-０１-０１", {})
    assert _convert({"type": "integer"}, "12", {}) == {"valueInteger": 12}


def test_revision_of_another_patients_record_is_refused(launched, ehr):
    import copy

    qid = "mbt-formulation"
    q = questionnaire(qid)
    mine = next(r for r in _responses(ehr) if "formulation" in r["questionnaire"])
    theirs = copy.deepcopy(mine)
    theirs.update(id="someone-elses", subject={"reference": "Patient/bella"})
    theirs.pop("identifier", None)
    ehr.put(theirs)
    path = f"/forms/{qid}/new"
    launched.get(path, follow_redirects=True)
    data = form_data(ehr, qid)
    data[field_name(q, "revision.is-revision")] = ["yes"]
    data[field_name(q, "revision.previous")] = ["QuestionnaireResponse/someone-elses"]
    data[field_name(q, "revision.reason")] = ["Reviewed together"]
    before = len(ehr.of_type("QuestionnaireResponse"))
    answer = launched.post(path, data={**data, **form_csrf(launched, path), "action": "complete"})
    assert answer.status_code == 422
    assert "not one of this patient" in answer.get_data(as_text=True)
    assert len(ehr.of_type("QuestionnaireResponse")) == before
    # the patient's own earlier formulation is accepted
    data[field_name(q, "revision.previous")] = [f"QuestionnaireResponse/{mine['id']}"]
    answer = launched.post(path, data={**data, **form_csrf(launched, path), "action": "complete"})
    assert answer.status_code == 302, (answer.status_code, [l for l in answer.get_data(as_text=True).splitlines() if "error" in l][:8])
