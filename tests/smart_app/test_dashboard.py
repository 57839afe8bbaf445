"""The dashboard: what a clinician sees first, how few requests it costs, how it fails."""

from __future__ import annotations

import json

from app_helpers import REASON, YES, latest_session, launch, long_history, set_answer

PATIENT = "mbt-example-peter"


def find_item(items: list, link_id: str) -> dict | None:
    """The item ``link_id``, wherever it is nested."""
    for item in items or []:
        if item.get("linkId") == link_id:
            return item
        found = find_item(item.get("item"), link_id) or next(
            (f for a in item.get("answer", []) if (f := find_item(a.get("item"), link_id))), None)
        if found:
            return found
    return None


def alert_of(html: str) -> str:
    """The risk alert's section of a page ("" when there is none)."""
    if 'class="risk-alert"' not in html:
        return ""
    start = html.index('class="risk-alert"')
    return html[start:html.index("</section>", start)]


def test_dashboard_shows_formulation_goals_and_charts(launched):
    html = launched.get("/dashboard").get_data(as_text=True)
    assert "Peter" in html
    assert "Treatment goals" in html and "<li><strong>" in html
    assert html.count("<svg") >= 4
    assert "RFQ-8 scores over time" in html
    assert "Prementalizing modes seen" in html
    assert "Weekly blow-ups and pauses" in html


def test_long_history_costs_at_most_two_round_trips(client, ehr, example_data):
    long_history(ehr, sessions=260, rfq=20)
    assert launch(client, ehr).status_code == 302
    before = len(ehr.fhir_requests)
    page = client.get("/dashboard")
    assert page.status_code == 200
    assert len(ehr.fhir_requests) - before <= 2
    assert page.get_data(as_text=True).count("<circle") >= 280


def test_risk_alert_with_crisis_plan_beside_it(client, ehr, example_data):
    latest = latest_session(ehr)
    assert set_answer(latest, "risk.suicidal-thoughts", YES)
    ehr.put(latest)
    launch(client, ehr)
    html = client.get("/dashboard").get_data(as_text=True)
    alert = alert_of(html)
    assert "suicidal thoughts" in alert
    assert "Crisis plan" in alert and "What I can do" in alert
    assert "Call 988" in alert


def test_no_risk_alert_when_latest_records_are_clear(launched, ehr):
    page = launched.get("/dashboard")
    assert page.status_code == 200
    html = page.get_data(as_text=True)
    assert "Treatment goals" in html
    assert 'class="risk-alert"' not in html


def test_missed_session_does_not_hide_earlier_risk(client, ehr, example_data):
    latest = latest_session(ehr)
    assert set_answer(latest, "risk.self-harm", YES)
    ehr.put(latest)
    missed = json.loads(json.dumps(latest))
    missed["id"] = "missed-after"
    missed["identifier"] = {"system": "urn:ietf:rfc:3986", "value": "urn:uuid:00000000-0000-4000-8000-00000000dead"}
    missed["authored"] = "2027-01-01T10:00:00Z"
    missed["item"] = [i for i in missed["item"] if i["linkId"] not in ("session.details",)]
    set_answer(missed, "session.date", [{"valueDate": "2026-12-31"}])
    ehr.put(missed)
    launch(client, ehr)
    html = client.get("/dashboard").get_data(as_text=True)
    assert "<strong>self-harm</strong>" in alert_of(html)


def test_amending_an_older_checkin_does_not_hide_newer_risk(client, ehr, example_data):
    from app_helpers import form_csrf, post_data_from_response
    from fhir_mbt.content import terminology
    from fhir_mbt.content import shipped

    checkins = sorted((r for r in ehr.of_type("QuestionnaireResponse") if "checkin" in r["questionnaire"]),
                      key=lambda r: r["authored"])
    newest, older = checkins[-1], checkins[-2]
    assert set_answer(newest, "checkin.risk.self-harm-thoughts", [{"valueBoolean": True}])
    ehr.put(newest)
    launch(client, ehr)
    edit = f"/forms/r/{older['id']}/edit"
    questionnaire = shipped().get(terminology.questionnaire_url(terminology.WEEKLY_CHECKIN))
    data = post_data_from_response(questionnaire, older)
    answer = client.post(edit, data={**data, **form_csrf(client, edit), "action": "complete", **REASON})
    assert answer.status_code == 302, answer.get_data(as_text=True)[:2000]
    amended = ehr.resources[("QuestionnaireResponse", older["id"])]
    assert amended["status"] == "amended" and amended["authored"] == older["authored"]
    html = client.get("/dashboard").get_data(as_text=True)
    assert "thoughts of self-harm" in alert_of(html)


def test_self_harm_in_checkin_without_thoughts_alerts(client, ehr, example_data):
    checkins = sorted((r for r in ehr.of_type("QuestionnaireResponse") if "checkin" in r["questionnaire"]),
                      key=lambda r: r["authored"])
    assert set_answer(checkins[-1], "checkin.risk.acted", [{"valueBoolean": True}])
    ehr.put(checkins[-1])
    launch(client, ehr)
    html = client.get("/dashboard").get_data(as_text=True)
    assert "check-in entered by the patient:\n          <strong>self-harm</strong>" in alert_of(html)


def test_risk_concern_after_missed_session_alerts(client, ehr, example_data):
    missed = [r for r in ehr.of_type("QuestionnaireResponse")
              if "session-record" in r["questionnaire"] and "session.missed" in json.dumps(r)]
    assert missed, "the example has missed sessions with follow-up answers"
    latest = max(missed, key=lambda r: r["authored"])
    assert set_answer(latest, "session.missed.risk-concern", [{"valueBoolean": True}])
    for other in ehr.of_type("QuestionnaireResponse"):
        if other["authored"] > latest["authored"] and "formulation" not in other["questionnaire"]:
            del ehr.resources[("QuestionnaireResponse", other["id"])]
    ehr.put(latest)
    launch(client, ehr)
    html = client.get("/dashboard").get_data(as_text=True)
    assert "risk concern after a missed session" in alert_of(html)


def test_hostile_patient_name_is_just_a_name(client, ehr, example_data):
    patient = ehr.resources[("Patient", PATIENT)]
    patient["name"] = [{"text": "<script>alert(1)</script>"}]
    formulation = [r for r in ehr.of_type("QuestionnaireResponse") if "formulation" in r["questionnaire"]]
    for f in formulation:
        set_answer(f, "presenting.difficulties", [{"valueString": '"><img src=x onerror=alert(2)>'}])
    launch(client, ehr)
    html = client.get("/dashboard").get_data(as_text=True)
    assert "<script>alert(1)</script>" not in html
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in html
    assert "<img src=x" not in html


def test_server_error_gives_a_clear_page(launched, ehr):
    ehr.fail_next.append((500, {"resourceType": "OperationOutcome", "issue": []}))
    page = launched.get("/dashboard")
    assert page.status_code == 502
    assert "not available" in page.get_data(as_text=True)


def test_timeout_gives_a_clear_page(launched, ehr, rsps):
    import requests

    rsps.replace(
        "GET",
        __import__("re").compile(r"https://ehr\.test/fhir/.*"),
        body=requests.exceptions.ReadTimeout("slow"),
    )
    page = launched.get("/dashboard")
    assert page.status_code == 504
    assert "did not answer in time" in page.get_data(as_text=True)


def test_malformed_bundle_gives_a_clear_page(launched, ehr):
    ehr.fail_next.append((200, "{not json"))
    page = launched.get("/dashboard")
    assert page.status_code == 502
    assert "unreadable" in page.get_data(as_text=True)


def test_malformed_nested_answer_gives_a_clear_page(launched, ehr):
    bad = {"resourceType": "Bundle", "type": "searchset", "entry": [
        {"resource": {"resourceType": "QuestionnaireResponse", "id": "x", "questionnaire": "q",
                      "item": [{"linkId": "a", "answer": "not a list"}]}}
    ]}
    ehr.fail_next.append((200, json.dumps(bad)))
    page = launched.get("/dashboard")
    assert page.status_code == 200
    assert "1 record could not be read" in page.get_data(as_text=True)


def test_malformed_response_resource_gives_a_clear_page(launched, ehr):
    bad = {"resourceType": "Bundle", "type": "searchset", "entry": [
        {"resource": {"resourceType": "QuestionnaireResponse", "id": "x", "item": "not a list", "questionnaire": "q"}}
    ]}
    ehr.fail_next.append((200, json.dumps(bad)))
    page = launched.get("/dashboard")
    assert page.status_code == 200
    assert "1 record could not be read" in page.get_data(as_text=True)


def test_patient_copy_is_printable(launched):
    page = launched.get("/copy/formulation")
    html = page.get_data(as_text=True)
    assert page.status_code == 200
    assert "Your crisis plan" in html and "What I can do" in html
    assert "@media print" not in html  # styles come from the stylesheet, not inline


# --- the alert: what was done, the record that raised it, and where it shows -------------------------------


def _recent(ehr, qid: str, rid: str, days_ago: int) -> dict:
    """A copy of the example's newest record of ``qid``, written ``days_ago`` days before today."""
    import copy
    import datetime as dt

    source = max((r for r in ehr.of_type("QuestionnaireResponse") if f"/{qid}|" in r["questionnaire"]),
                 key=lambda r: r["authored"])
    made = copy.deepcopy(source)
    day = (dt.datetime.now(dt.timezone.utc).date() - dt.timedelta(days=days_ago)).isoformat()
    made.update(id=rid, authored=f"{day}T09:00:00Z",
                identifier={"system": "urn:ietf:rfc:3986", "value": f"urn:uuid:00000000-0000-4000-8000-{rid.encode().hex()[:12]}"})
    set_answer(made, "session.date", [{"valueDate": day}])
    return made


def test_the_alert_says_what_was_done_and_links_the_session_record(client, ehr, example_data):
    mbt = "http://fhir-mbt.org/fhir/CodeSystem/mbt"
    risky = _recent(ehr, "mbt-session-record", "risky-session", 2)
    assert set_answer(risky, "risk.suicidal-thoughts", YES)
    follow_up = find_item(risky["item"], "risk")
    follow_up["item"] = [i for i in follow_up["item"] if i["linkId"] != "risk.follow-up"] + [{
        "linkId": "risk.follow-up", "item": [
            {"linkId": "risk.level", "answer": [{"valueCoding": {"system": mbt, "code": "risk-moderate",
                                                                 "display": "Moderate"}}]},
            {"linkId": "risk.action", "answer": [
                {"valueCoding": {"system": mbt, "code": "risk-explored", "display": "Risk explored in session"}},
                {"valueCoding": {"system": mbt, "code": "crisis-plan-updated", "display": "Crisis plan updated"}}]},
            {"linkId": "risk.action-detail", "answer": [{"valueString": "Extra appointment on Friday"}]},
            {"linkId": "risk.crisis-plan-reviewed", "answer": [{"valueBoolean": True}]}]}]
    ehr.put(risky)
    launch(client, ehr)
    alert = alert_of(client.get("/dashboard").get_data(as_text=True))
    assert "session record:\n          <strong>suicidal thoughts</strong>" in alert
    assert "risk level recorded: <strong>Moderate</strong>" in alert
    assert "What was done: Risk explored in session, Crisis plan updated. “Extra appointment on Friday”." in alert
    assert "The crisis plan was reviewed with the patient." in alert
    assert 'href="/forms/r/risky-session?patient=mbt-example-peter">Open the session record of' in alert
    assert client.get("/forms/r/risky-session").status_code == 200


def test_the_alert_links_the_patients_checkin_and_says_they_want_contact(client, ehr, example_data):
    risky = _recent(ehr, "mbt-weekly-checkin", "risky-checkin", 1)
    assert set_answer(risky, "checkin.risk.suicide-thoughts", [{"valueBoolean": True}])
    risk_group = find_item(risky["item"], "checkin.risk")
    risk_group["item"].append({"linkId": "checkin.risk.follow-up", "item": [
        {"linkId": "checkin.risk.safe-now", "answer": [{"valueBoolean": True}]},
        {"linkId": "checkin.risk.contact-wanted", "answer": [{"valueBoolean": True}]}]})
    ehr.put(risky)
    launch(client, ehr)
    alert = alert_of(client.get("/dashboard").get_data(as_text=True))
    assert "check-in entered by the patient:\n          <strong>thoughts of suicide</strong>" in alert
    assert "The patient would like to be contacted before the next session." in alert
    assert 'href="/forms/r/risky-checkin?patient=mbt-example-peter">Open the check-in of' in alert
    opened = client.get("/forms/r/risky-checkin")
    assert opened.status_code == 200 and "the patient</strong>" in opened.get_data(as_text=True)


def test_a_session_with_risk_and_no_action_says_so(client, ehr, example_data):
    risky = _recent(ehr, "mbt-session-record", "bare-session", 3)
    assert set_answer(risky, "risk.self-harm", YES)
    ehr.put(risky)
    launch(client, ehr)
    assert "No action is recorded in this session record." in alert_of(client.get("/dashboard").get_data(as_text=True))


def test_the_records_page_shows_the_alert_with_the_crisis_plan_too(client, ehr, example_data):
    risky = _recent(ehr, "mbt-weekly-checkin", "risky-checkin", 1)
    assert set_answer(risky, "checkin.risk.acted", [{"valueBoolean": True}])
    ehr.put(risky)
    launch(client, ehr)
    alert = alert_of(client.get("/records?type=rfq8").get_data(as_text=True))
    assert "<strong>self-harm</strong>" in alert and "What I can do" in alert and "Call 988" in alert


def test_a_later_clear_session_does_not_hide_the_alert(client, ehr, example_data):
    risky = _recent(ehr, "mbt-weekly-checkin", "risky-checkin", 12)
    assert set_answer(risky, "checkin.risk.suicide-thoughts", [{"valueBoolean": True}])
    ehr.put(risky)
    clear = _recent(ehr, "mbt-session-record", "clear-session", 0)
    no = [{"valueCoding": {"system": "http://fhir-mbt.org/fhir/CodeSystem/mbt", "code": "risk-no", "display": "No"}}]
    for link in ("risk.self-harm", "risk.suicidal-thoughts", "risk.suicide-attempt"):
        set_answer(clear, link, no)
    ehr.put(clear)
    ehr.put(_recent(ehr, "mbt-weekly-checkin", "clear-checkin", 0))
    launch(client, ehr)
    html = client.get("/dashboard").get_data(as_text=True)
    assert "risky-checkin" in alert_of(html) and "clear-session" not in alert_of(html)


def test_the_alert_and_the_list_give_a_checkins_local_date(client, app, ehr, example_data):
    import datetime as dt

    app.config["MBT_TIMEZONE"] = "Pacific/Auckland"
    risky = _recent(ehr, "mbt-weekly-checkin", "late-checkin", 2)
    sent = dt.date.fromisoformat(risky["authored"][:10])
    risky["authored"] = f"{sent.isoformat()}T23:30:00Z"  # the next morning in Auckland
    assert set_answer(risky, "checkin.risk.suicide-thoughts", [{"valueBoolean": True}])
    ehr.put(risky)
    launch(client, ehr)
    html = client.get("/dashboard").get_data(as_text=True)
    local = sent + dt.timedelta(days=1)
    label = f"{local.day} {local:%b %Y}"
    assert f"<strong>{label}</strong>, check-in" in alert_of(html) and f"Open the check-in of {label}" in alert_of(html)
    row = html[html.index('<tr class="risk" data-record="late-checkin"'):]
    assert f'<td class="date">{label}</td>' in row[:row.index("</tr>")]
