"""What changed between two versions of a record, told in the Questionnaire's words."""

from __future__ import annotations

import copy

from app_helpers import example_response, questionnaire
from fhir_mbt.content import shipped
from smart_app.record_changes import MAX_TEXT, Change, changes

SYS = "http://example.org/cs"

QUESTIONNAIRE = {
    "resourceType": "Questionnaire",
    "item": [
        {"linkId": "date", "text": "Date of the session", "type": "date"},
        {"linkId": "mood", "text": "Mood today", "type": "choice", "answerOption": [
            {"valueCoding": {"system": SYS, "code": "low", "display": "Low"}},
            {"valueCoding": {"system": SYS, "code": "ok", "display": "Steady"}},
        ]},
        {"linkId": "risk", "text": "Risk", "type": "group", "item": [
            {"linkId": "risk.thoughts", "text": "Thoughts of self-harm?", "type": "boolean"},
            {"linkId": "risk.actions", "text": "Actions taken", "type": "choice", "repeats": True, "answerOption": [
                {"valueCoding": {"system": SYS, "code": "plan", "display": "Crisis plan reviewed"}},
                {"valueCoding": {"system": SYS, "code": "call", "display": "Follow-up call booked"}},
                {"valueCoding": {"system": SYS, "code": "gp", "display": "GP informed"}},
            ]},
        ]},
        {"linkId": "goals", "text": "Treatment goal", "type": "group", "repeats": True, "item": [
            {"linkId": "goal.text", "text": "Goal", "type": "string"},
        ]},
        {"linkId": "note", "text": "Note", "type": "text"},
        {"linkId": "hours", "text": "Hours of sleep", "type": "decimal"},
    ],
}


def coding(code, display=None):
    return {"valueCoding": {"system": SYS, "code": code, **({"display": display} if display else {})}}


def record(**answers):
    """A response with the given answers (linkId → list of answer dicts; groups built as needed)."""
    items = []
    for link in ("date", "mood", "note", "hours"):
        if link in answers:
            items.append({"linkId": link, "answer": answers[link]})
    risk = [{"linkId": link, "answer": answers[link]} for link in ("risk.thoughts", "risk.actions") if link in answers]
    if risk:
        items.insert(2, {"linkId": "risk", "item": risk})
    for goal in answers.get("goals", []):
        items.append({"linkId": "goals", "item": [{"linkId": "goal.text", "answer": [{"valueString": goal}]}]})
    return {"resourceType": "QuestionnaireResponse", "status": "completed", "item": items}


def diff(older, newer, **kw):
    return changes(older, newer, [QUESTIONNAIRE], **kw)


def test_changed_added_and_removed_answers_by_question_text():
    older = record(date=[{"valueDate": "2026-03-02"}], note=[{"valueString": "first"}])
    newer = record(date=[{"valueDate": "2026-03-09"}], hours=[{"valueDecimal": 7.5}])
    assert diff(older, newer) == [
        Change("Date of the session", "changed", ("2026-03-02",), ("2026-03-09",)),
        Change("Note", "removed", ("first",), ()),
        Change("Hours of sleep", "added", (), ("7.5",)),
    ]


def test_codings_are_told_by_the_questionnaire_display_and_compared_by_code():
    older = record(mood=[coding("low")])
    newer = record(mood=[coding("ok", "ok-ish (a display the record carries)")])
    assert diff(older, newer) == [Change("Mood today", "changed", ("Low",), ("Steady",))]
    # The same code with another display is not a change.
    assert diff(record(mood=[coding("ok", "Steady")]), record(mood=[coding("ok", "steady")])) == []


def test_nested_groups_name_their_section_and_booleans_read_yes_or_no():
    older = record(**{"risk.thoughts": [{"valueBoolean": False}]})
    newer = record(**{"risk.thoughts": [{"valueBoolean": True}]})
    assert diff(older, newer) == [Change("Thoughts of self-harm?", "changed", ("No",), ("Yes",), section="Risk")]


def test_repeated_answers_say_what_was_added_and_removed():
    older = record(**{"risk.actions": [coding("plan"), coding("call")]})
    newer = record(**{"risk.actions": [coding("call"), coding("gp")]})
    [change] = diff(older, newer)
    assert (change.question, change.section, change.kind) == ("Actions taken", "Risk", "changed")
    assert change.old == ("Crisis plan reviewed", "Follow-up call booked")
    assert change.new == ("Follow-up call booked", "GP informed")
    assert change.added == ("GP informed",) and change.removed == ("Crisis plan reviewed",)


def test_instances_of_a_repeating_group_are_numbered():
    older = record(goals=["Pause before reacting"])
    newer = record(goals=["Pause before reacting", "Notice shame"])
    assert diff(older, newer) == [Change("Goal", "added", (), ("Notice shame",), section="Treatment goal (2)")]


def test_a_question_not_in_the_form_is_named_by_its_text_never_its_link_id():
    older = {"item": [{"linkId": "old.q7", "text": "An older question", "answer": [{"valueInteger": 3}]},
                      {"linkId": "old.q8", "answer": [{"valueInteger": 1}]}]}
    found = diff(older, {"item": []})
    assert [c.question for c in found] == ["An older question", "A question that is not in this form"]
    assert not any("old.q" in c.question + c.section for c in found)


def test_long_text_is_shortened_and_identical_versions_have_no_changes():
    long = "word " * 200
    [change] = diff(record(note=[{"valueString": "short"}]), record(note=[{"valueString": long}]))
    assert len(change.new[0]) <= MAX_TEXT and change.new[0].endswith("…")
    same = record(date=[{"valueDate": "2026-03-02"}], goals=["a", "b"])
    assert diff(same, copy.deepcopy(same)) == []


def test_a_first_version_compared_with_nothing_lists_every_answer_as_added():
    newer = record(date=[{"valueDate": "2026-03-02"}], mood=[coding("low")])
    assert [c.kind for c in diff(None, newer)] == ["added", "added"]


def test_date_times_are_shown_as_the_caller_says():
    q = {"item": [{"linkId": "at", "text": "When", "type": "dateTime"}]}
    older = {"item": [{"linkId": "at", "answer": [{"valueDateTime": "2026-03-02T09:00:00Z"}]}]}
    newer = {"item": [{"linkId": "at", "answer": [{"valueDateTime": "2026-03-02T10:00:00Z"}]}]}
    [change] = changes(older, newer, [q], when=lambda v: "local " + v[11:16])
    assert change.old == ("local 09:00",) and change.new == ("local 10:00",)
    [day] = changes(record(date=[{"valueDate": "2026-03-02"}]), record(date=[{"valueDate": "2026-03-09"}]),
                    [QUESTIONNAIRE], when=lambda v: f"day {v[-2:]}")
    assert day.old == ("day 02",) and day.new == ("day 09",)


def test_a_real_session_record_amended_reads_in_clinical_words(ehr, example_data):
    """The shipped session record: a value-set choice by its display, nested in its groups."""
    older = example_response(ehr, "mbt-session-record")
    newer = copy.deepcopy(older)
    q = questionnaire("mbt-session-record")

    def answers(items, link):
        for item in items:
            if item["linkId"] == link:
                return item
            found = answers(item.get("item", []), link)
            if found:
                return found

    attendance = answers(newer["item"], "session.attendance")
    assert attendance is not None
    before = attendance["answer"][0]["valueCoding"]
    options = [c for c in shipped().expand(q_item(q, "session.attendance")["answerValueSet"])
               if c["code"] != before["code"]]
    attendance["answer"] = [{"valueCoding": {"system": options[0]["system"], "code": options[0]["code"]}}]
    [change] = changes(older, newer, [q], shipped())
    assert change.kind == "changed" and change.question == q_item(q, "session.attendance")["text"]
    assert change.old == (label(q, before),) and change.new == (options[0]["display"],)
    assert "session.attendance" not in change.question + change.section


def q_item(q, link):
    stack = list(q["item"])
    while stack:
        item = stack.pop()
        if item["linkId"] == link:
            return item
        stack.extend(item.get("item", []))
    raise KeyError(link)


def label(q, coding):
    for c in shipped().expand(q_item(q, "session.attendance")["answerValueSet"]):
        if c["code"] == coding["code"]:
            return c["display"]
