"""Text answers have a limit: 20,000 characters, or the item's maxLength when lower.

A 600,000-character note used to be stored as typed (only request bodies
over 1 MB were refused). The engine now refuses any text answer over the
limit, on every string and text item and on the free text of open-choice
items, naming the question by its text; drafts included.
"""

from __future__ import annotations

import copy
import json

import pytest

import engine_support as es
from fhir_mbt.content import definitions_dir, shipped, terminology
from fhir_mbt.engine import ResponseInvalid, process_response, validate_response
from fhir_mbt.engine.answers import MAX_TEXT_LENGTH, check_answer, fast_checks, text_limit
from fhir_mbt.engine.compiled import compile_questionnaire
from fhir_mbt.engine.outcome import issue_link_id

INDEX = shipped()
NOTE = "a" * 600_000


def _session(note: str, status: str = "completed") -> dict:
    bundle = json.loads((definitions_dir() / "examples" / "Bundle-mbt-example-peter.json").read_text())
    sessions = [e["resource"] for e in bundle["entry"]
                if f"/{terminology.SESSION_RECORD}|" in e["resource"].get("questionnaire", "")]
    response = copy.deepcopy(max(sessions, key=lambda r: r["authored"]))
    response["item"] = [i for i in response["item"] if i["linkId"] != "session.note"]
    response["item"].append({"linkId": "session.note", "text": "Note", "answer": [{"valueString": note}]})
    response["status"] = status
    return response


def errors(response: dict, **kwargs) -> list[dict]:
    return [i for i in validate_response(response, **kwargs)["issue"] if i["severity"] in ("error", "fatal")]


def test_the_limit_is_twenty_thousand_characters():
    assert MAX_TEXT_LENGTH == 20_000


def test_a_600000_character_note_is_refused_naming_the_question():
    found = errors(_session(NOTE))
    assert len(found) == 1, [i["diagnostics"] for i in found]
    issue = found[0]
    assert issue["code"] == "too-long"
    assert issue["diagnostics"] == "Note is longer than 20,000 characters (600,000 given): shorten it"
    assert issue_link_id(issue) == "session.note"
    assert issue["expression"][0].endswith(".answer[0].valueString")


def test_nothing_is_extracted_from_it():
    with pytest.raises(ResponseInvalid):
        process_response(_session(NOTE))


def test_drafts_are_held_to_it_too():
    assert [i["code"] for i in errors(_session(NOTE, status="in-progress"))] == ["too-long"]


def test_the_limit_itself_is_allowed():
    assert errors(_session("a" * MAX_TEXT_LENGTH)) == []
    assert [i["code"] for i in errors(_session("a" * (MAX_TEXT_LENGTH + 1)))] == ["too-long"]


def test_characters_not_bytes_are_counted():
    assert errors(_session("é" * MAX_TEXT_LENGTH)) == []


def _text_items():
    for q in INDEX.resources("Questionnaire"):
        for defn in compile_questionnaire(q, INDEX).walk():
            if "valueString" in defn.value_keys:
                yield defn


@pytest.mark.parametrize("defn", list(_text_items()), ids=lambda d: d.link_id)
def test_every_shipped_text_answer_is_capped(defn):
    """The fast path and the full check agree on both sides of the limit, for every item that takes text."""
    fast = fast_checks(defn).get("valueString")
    limit = text_limit(defn)
    for value, ok in (("a" * limit, True), ("a" * (limit + 1), False)):
        found = []
        check_answer({"valueString": value}, defn, "here", lambda *issue, **kw: found.append(issue))
        assert (found == []) is ok, (defn.link_id, len(value), found)
        if fast is not None and not ok:
            assert not fast(value)


def _demo(max_length: int) -> tuple[dict, object]:
    q = es.questionnaire()
    for item in q["item"][1]["item"]:
        if item["linkId"] == "label":
            item["maxLength"] = max_length
    return q, es.demo_index(q)


def test_a_lower_max_length_wins():
    q, index = _demo(10)
    defn = compile_questionnaire(index.get(q["url"]), index).by_link["label"]
    assert text_limit(defn) == 10


def test_a_higher_max_length_is_capped():
    q, index = _demo(50_000)
    defn = compile_questionnaire(index.get(q["url"]), index).by_link["label"]
    assert text_limit(defn) == MAX_TEXT_LENGTH
    found = []
    check_answer({"valueString": "x" * 30_000}, defn, "here", lambda *issue, **kw: found.append(issue))
    assert [code for code, *_ in found] == ["too-long"]


def test_the_free_text_of_an_open_choice_is_capped():
    checkin = INDEX.get(terminology.questionnaire_url(terminology.WEEKLY_CHECKIN))
    defn = compile_questionnaire(checkin, INDEX).by_link["checkin.emotions"]
    assert defn.type == "open-choice"
    found = []
    check_answer({"valueString": "x" * (MAX_TEXT_LENGTH + 1)}, defn, "here", lambda *issue, **kw: found.append(issue))
    assert [code for code, *_ in found] == ["too-long"]
    # A question this long is named by its code's display ("Emotions noticed"), never by its linkId.
    assert found[0][2].startswith("Emotions noticed is longer than") and "checkin." not in found[0][2]
