"""A saved record as a summary: what is shown, in what words and order, and what is left out."""

from __future__ import annotations

import copy
import json

import pytest

from fhir_mbt.content import definitions_dir, shipped, terminology
from smart_app.record_summary import STATUS_WORDS, person_name, questionnaire_of, summarize


def _examples() -> dict[str, dict]:
    bundle = json.loads((definitions_dir() / "examples" / "Bundle-mbt-example-peter.json").read_text())
    return {e["resource"]["id"]: e["resource"] for e in bundle["entry"]}


EXAMPLES = _examples()


def example(rid: str) -> dict:
    return copy.deepcopy(EXAMPLES[rid])


def questionnaire(qid: str) -> dict:
    return shipped().get(terminology.questionnaire_url(qid))


def walk(entries):
    for e in entries:
        yield e
        yield from walk(e.children)


def shown(summary) -> dict[str, list[str]]:
    return {e.link_id: [a.text for a in e.answers] for e in walk(summary.entries) if not e.group}


def find(items: list, link_id: str) -> dict:
    for item in items:
        if item.get("linkId") == link_id:
            return item
        for nested in [item.get("item") or [], *[a.get("item") or [] for a in item.get("answer") or []]]:
            try:
                return find(nested, link_id)
            except KeyError:
                pass
    raise KeyError(link_id)


def test_a_disabled_item_is_hidden_even_when_the_response_holds_an_answer_to_it():
    """No rupture: 'Was the rupture repaired?' is not enabled, so its stray answer is not shown."""
    response = example("peter-session-01")
    alliance = find(response["item"], "alliance")
    assert find(alliance["item"], "alliance.rupture")["answer"] == [{"valueBoolean": False}]
    alliance["item"].append({"linkId": "alliance.repair", "text": "Was the rupture repaired?", "answer": [
        {"valueCoding": {"system": terminology.CODE_SYSTEM, "code": "repair-made", "display": "Repaired"}}]})
    alliance["item"].append({"linkId": "alliance.rupture-description", "answer": [{"valueString": "STRAY"}]})
    summary = summarize(questionnaire(terminology.SESSION_RECORD), response)
    answers = shown(summary)
    assert answers["alliance.rupture"] == ["No"]
    assert "alliance.repair" not in answers and "alliance.rupture-description" not in answers
    texts = [e.text for e in walk(summary.entries)]
    assert "Was the rupture repaired?" not in texts and "STRAY" not in json.dumps([a for a in answers.values()])
    # the missed-session follow-up is not enabled when the session took place: no trace of it
    assert not any(e.link_id.startswith("session.missed") for e in walk(summary.entries))


def test_the_same_item_shows_when_its_condition_holds():
    response = example("peter-session-01")
    alliance = find(response["item"], "alliance")
    find(alliance["item"], "alliance.rupture")["answer"] = [{"valueBoolean": True}]
    alliance["item"].insert(1, {"linkId": "alliance.repair", "answer": [
        {"valueCoding": {"system": terminology.CODE_SYSTEM, "code": "repair-made"}}]})
    answers = shown(summarize(questionnaire(terminology.SESSION_RECORD), response))
    assert answers["alliance.rupture"] == ["Yes"]
    repaired = answers["alliance.repair"]
    assert len(repaired) == 1 and repaired[0] and repaired[0] != "repair-made", "the display, not the code"


def test_unanswered_items_and_empty_groups_are_left_out():
    response = example("peter-session-01")
    details = find(response["item"], "session.details")
    details["item"] = [i for i in details["item"] if i["linkId"] != "we-mode"]
    summary = summarize(questionnaire(terminology.SESSION_RECORD), response)
    links = {e.link_id for e in walk(summary.entries)}
    assert "we-mode" not in links and "we-mode.example" not in links
    assert "session.note" not in shown(summary) or shown(summary)["session.note"]
    for e in walk(summary.entries):
        assert e.answers or e.children, f"{e.link_id} is shown with nothing in it"
    # display items (instructions) are never part of a summary
    assert "risk.help" not in links and "adherence.help" not in links


def test_order_and_wording_are_the_questionnaires():
    response = example("peter-session-01")
    response["item"].reverse()
    for item in response["item"]:
        item["text"] = "WORDING STORED IN THE RESPONSE"
    summary = summarize(questionnaire(terminology.SESSION_RECORD), response)
    top = [e.link_id for e in summary.entries]
    defined = [i["linkId"] for i in questionnaire(terminology.SESSION_RECORD)["item"]]
    assert top == [link for link in defined if link in top], "the Questionnaire's order, not the response's"
    assert top[0] == "session.date"
    assert summary.entries[0].text == "Date of the session"
    assert "WORDING STORED IN THE RESPONSE" not in [e.text for e in walk(summary.entries)]


def test_answers_read_as_display_text_units_and_dates():
    summary = summarize(questionnaire(terminology.FORMULATION), example("peter-formulation-1"))
    answers = shown(summary)
    assert answers["presentation.type"] == ["Oscillating"]
    assert answers["contract.length-months"] == ["24 months"]
    assert answers["contract.sessions-per-week"] == ["2 per week"]
    assert answers["revision.is-revision"] == ["No"]
    date = next(e for e in walk(summary.entries) if e.link_id == "agreement.date").answers[0]
    assert (date.kind, date.value) == ("date", "2026-03-02")
    arousal = next(e for e in walk(summarize(questionnaire(terminology.SESSION_RECORD),
                                             example("peter-session-01")).entries) if e.link_id == "arousal.peak")
    assert arousal.answers[0].text == "6" and arousal.answers[0].band == "Moderate", "its ObservationDefinition's band"


def test_scores_are_listed_apart_with_range_and_meaning():
    summary = summarize(questionnaire(terminology.RFQ8), example("peter-rfq8-m0"))
    scores = {s.link_id: s for s in summary.scores}
    assert set(scores) == {"rfq8.certainty", "rfq8.uncertainty"}
    certainty, uncertainty = scores["rfq8.certainty"], scores["rfq8.uncertainty"]
    assert (certainty.value, uncertainty.value) == ("0.5", "1.5")
    assert certainty.range == uncertainty.range == "0 to 3"
    assert "hypomentalizing" in uncertainty.meaning and "Higher" in uncertainty.meaning
    assert "hypermentalizing" in certainty.meaning
    assert "rfq8.certainty" not in shown(summary), "a score is not repeated among the answers"
    assert "rfq8.scores" not in {e.link_id for e in summary.entries}, "its group is empty once the scores move"
    session = summarize(questionnaire(terminology.SESSION_RECORD), example("peter-session-01"))
    mean = next(s for s in session.scores if s.link_id == "adherence.mean")
    assert mean.range == "1 to 7" and "4 is good enough" in mean.meaning


def test_author_status_and_who_entered_it():
    q = questionnaire(terminology.SESSION_RECORD)
    response = example("peter-session-01")
    assert response["author"]["display"] == "Dr Morgan Reyes"
    summary = summarize(q, response)
    assert (summary.author, summary.status_words, summary.entered_by) == \
        ("Dr Morgan Reyes", STATUS_WORDS["completed"], "clinician")
    response["author"] = {"reference": "Practitioner/dr-anna"}
    anna = {"resourceType": "Practitioner", "id": "dr-anna", "name": [{"given": ["Anna"], "family": "Berg"}]}
    assert summarize(q, response, resources={"Practitioner/dr-anna": anna}).author == "Anna Berg"
    assert summarize(q, response).author == "Practitioner/dr-anna", "unresolved: the reference, never nothing"
    response["author"] = response["source"] = {"reference": "Patient/mbt-example-peter"}
    response["subject"] = {"reference": "Patient/mbt-example-peter"}
    mine = summarize(q, response, patient_name="Peter Example")
    assert (mine.author, mine.entered_by) == ("Peter Example", "patient")
    response["status"] = "amended"
    assert "Amended" in summarize(q, response).status_words
    response["status"] = "in-progress"
    assert "In progress" in summarize(q, response).status_words


@pytest.mark.parametrize("rid", sorted(r for r, res in EXAMPLES.items() if res["resourceType"] == "QuestionnaireResponse"))
def test_every_example_record_summarizes(rid):
    response = example(rid)
    summary = summarize(questionnaire_of(response), response)
    assert summary.entries and not summary.other, "every answer of a record of the shipped form has its place"


def test_an_answer_the_questionnaire_does_not_have_is_listed_not_dropped():
    response = example("peter-checkin-27")
    response["item"].append({"linkId": "checkin.retired-question", "text": "A question of an older version",
                             "answer": [{"valueString": "still here"}]})
    summary = summarize(questionnaire(terminology.WEEKLY_CHECKIN), response)
    assert [(e.text, [a.text for a in e.answers]) for e in summary.other] == \
        [("A question of an older version", ["still here"])]


def test_a_reference_to_an_earlier_record_becomes_a_link_not_a_bare_reference():
    plan = example("peter-crisis-plan-2")
    find(plan["item"], "crisis-plan.previous")["answer"] = [
        {"valueReference": {"reference": "QuestionnaireResponse/peter-formulation-1"}}]
    entry = next(e for e in walk(summarize(questionnaire(terminology.CRISIS_PLAN), plan).entries)
                 if e.link_id == "crisis-plan.previous")
    assert [(a.kind, a.value, a.text) for a in entry.answers] == [("record", "peter-formulation-1", "the earlier record")]


def test_person_name_reads_text_or_parts():
    assert person_name({"name": [{"text": "Dr A. Berg"}]}) == "Dr A. Berg"
    assert person_name({"name": [{"prefix": ["Dr"], "given": ["Morgan"], "family": "Reyes"}]}) == "Dr Morgan Reyes"
    assert person_name({"name": "not a list of names"}) == ""
    assert person_name(None) == ""
