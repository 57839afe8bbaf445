"""The patient-view card rules: critical risk not followed up, session gap, RFQ-8 due, and silence."""

from __future__ import annotations

import json

from cds_records import PATIENT, TODAY, checkin, review, rfq8, session, steady, task
from fhir_mbt.cds.cards import Links, Settings, patient_cards, unreadable_card

LINKS = Links(launch_url="https://mbt.example.org/launch")


def cards(responses, tasks=(), **kw):
    return patient_cards(responses, list(tasks), PATIENT, links=LINKS, today=TODAY, **kw)


def by(indicator, found):
    return [c for c in found if c["indicator"] == indicator]


def test_nothing_needs_attention_gives_no_cards():
    assert cards(steady()) == []


def test_no_records_at_all_gives_no_cards():
    assert cards([]) == []


def test_every_card_has_source_and_a_smart_link_to_the_app():
    found = cards([session(40, risk={"risk.self-harm": "risk-yes"}), checkin(1, suicide_thoughts=True)])
    assert {c["indicator"] for c in found} == {"critical", "warning"}
    for card in found:
        assert card["source"]["label"] and card["source"]["url"].startswith("http")
        assert card["links"][0]["type"] == "smart" and card["links"][0]["url"] == LINKS.launch_url
        assert len(card["summary"]) < 140 and card["uuid"]
    assert found[0]["indicator"] == "critical", "most urgent first"


def test_patient_reported_risk_with_an_open_task_is_critical():
    risky = checkin(1, suicide_thoughts=True, safe_now=False)
    open_task = task(risky)
    [card] = by("critical", cards([*steady(3), risky], [open_task]))
    assert "not yet followed up" in card["summary"] and risky["authored"][:10] in card["summary"]
    assert f"QuestionnaireResponse/{risky['id']}" in card["detail"]
    assert f"Task/{open_task['id']}".replace("-", "\\-") in card["detail"] or open_task["id"] in card["detail"]
    assert "thoughts of suicide" in card["detail"] and "does not feel safe" in card["detail"]
    assert json.loads(card["links"][0]["appContext"]) == {"records": [f"QuestionnaireResponse/{risky['id']}"]}
    assert "suggestions" not in card, "no one-click action on a risk card"


def test_closed_task_means_followed_up_no_card():
    risky = checkin(1, suicide_thoughts=True)
    assert by("critical", cards([*steady(3), risky], [task(risky, status="completed")])) == []


def test_patient_check_in_without_a_task_is_still_critical():
    assert by("critical", cards([*steady(3), checkin(1, acted=True)]))


def test_check_in_a_clinician_entered_is_not_a_follow_up_to_chase():
    assert by("critical", cards([*steady(3), checkin(1, acted=True, by_patient=False)])) == []


def test_session_risk_without_action_is_critical_with_action_is_followed_up():
    no_action = session(2, risk={"risk.suicide-attempt": "risk-yes"})
    [card] = by("critical", cards([*steady(9), no_action]))
    assert "suicide attempt" in card["detail"]
    assert by("critical", cards([*steady(9), session(2, risk={"risk.suicide-attempt": "risk-yes"}, action=True)])) == []


def test_risk_outside_the_window_is_not_critical_unless_its_task_is_still_open():
    old = checkin(60, suicide_thoughts=True)
    assert by("critical", cards([*steady(), old])) == []
    [card] = by("critical", cards([*steady(), old], [task(old)]))
    assert old["authored"][:10] in card["summary"]


def test_a_later_clear_record_does_not_hide_recent_risk():
    risky = checkin(8, plan=True)
    found = by("critical", cards([*steady(1), risky], [task(risky)]))
    assert found and "a plan to end their life" in found[0]["detail"]


def test_other_patients_and_drafts_are_ignored():
    other = checkin(1, suicide_thoughts=True)
    other["subject"] = {"reference": "Patient/someone-else"}
    draft = checkin(1, suicide_thoughts=True)
    draft["status"] = "in-progress"
    assert cards([*steady(), other, draft], [task(other, patient="someone-else")]) == []


def test_text_from_the_record_cannot_inject_markdown_links():
    risky = checkin(1, suicide_thoughts=True)
    bad = task(risky)
    bad["description"] = "[click](https://evil.example) <script>"
    [card] = by("critical", cards([*steady(3), risky], [bad]))
    assert "[click](" not in card["detail"] and "<script>" not in card["detail"]


def test_no_attended_session_for_n_weeks_warns():
    records = [session(30), session(23, attendance="did-not-attend"), rfq8(10)]
    [card] = cards(records)
    assert card["indicator"] == "warning" and "No attended MBT session for 4 weeks" in card["summary"]
    assert cards(records, settings=Settings(session_gap_weeks=5)) == []


def test_rfq8_review_due_warns_with_a_safe_suggestion():
    records = [*steady(), ]
    records = [r for r in records if "rfq-8" not in r["questionnaire"]] + [rfq8(13 * 7)]
    [card] = cards(records)
    assert card["indicator"] == "warning" and card["summary"].startswith("RFQ-8 review due")
    [suggestion] = card["suggestions"]
    assert card["selectionBehavior"] == "at-most-one"
    [action] = suggestion["actions"]
    assert action["type"] == "create" and action["resource"]["resourceType"] == "Task"
    assert action["resource"]["for"] == {"reference": f"Patient/{PATIENT}"}
    assert cards(records, settings=Settings(rfq8_interval_weeks=14)) == []


def test_rfq8_never_answered_is_due():
    records = [r for r in steady() if "rfq-8" not in r["questionnaire"]]
    [card] = cards(records)
    assert "not answered yet" in card["summary"]


def test_no_warnings_once_treatment_has_ended_but_risk_still_shows():
    risky = checkin(1, suicide_thoughts=True)
    ended = [session(60), review(30, "status-completed"), risky]
    assert [c["indicator"] for c in cards(ended, [task(risky)])] == ["critical"]


def test_malformed_answers_do_not_break_the_rules():
    broken = session(2)
    broken["item"][1]["answer"] = [{"valueString": "attended"}]
    assert isinstance(cards([broken, *steady(3)]), list)


def test_unreadable_card_says_risk_is_unknown():
    card = unreadable_card(LINKS, "The server did not answer.")
    assert card["indicator"] == "warning" and "unknown" in card["summary"]
    assert card["links"][0]["type"] == "smart"


def test_reading_only_recent_records_gives_the_same_risk_as_reading_all():
    import random

    from fhir_mbt.cds import risk
    from fhir_mbt.cds.record import entry

    rng = random.Random(16)
    for _ in range(300):
        records = []
        for _ in range(rng.randint(0, 12)):
            ago = rng.randint(-5, 80)
            if rng.random() < 0.5:
                records.append(entry(session(ago, risk={"risk.self-harm": rng.choice(["risk-yes", "risk-no"])}),
                                     "session.date"))
            else:
                records.append(entry(checkin(ago, acted=rng.random() < 0.3)))
        records.sort(key=lambda e: e.date)
        sessions = [e for e in records if "session" in e.response["questionnaire"]]
        checkins = [e for e in records if "checkin" in e.response["questionnaire"]]
        full = risk.recent(risk.findings(sessions, checkins), TODAY)
        assert [(f.date, f.reason) for f in risk.recent_in(sessions, checkins, TODAY)] == \
            [(f.date, f.reason) for f in full]
