"""Questionnaire ⇄ form: every example response survives the round trip; bad posts are located."""

from __future__ import annotations

import pytest

from app_helpers import post_data_from_response
from fhir_mbt.content import shipped
from smart_app.form_post import FormError, parse_form
from smart_app.questionnaire_form import build_form, walk_fields

QUESTION = {
    "resourceType": "Questionnaire",
    "item": [
        {"linkId": "n", "type": "integer", "text": "N"},
        {"linkId": "d", "type": "decimal", "text": "D"},
        {"linkId": "when", "type": "date", "text": "When"},
        {"linkId": "ok", "type": "boolean", "text": "OK"},
        {"linkId": "c", "type": "choice", "text": "C", "answerOption": [{"valueCoding": {"system": "s", "code": "a"}}]},
        {"linkId": "short", "type": "string", "text": "S", "maxLength": 3},
        {"linkId": "g", "type": "group", "repeats": True, "text": "G", "item": [{"linkId": "g.t", "type": "string", "text": "T"}]},
    ],
}


def examples():
    index = shipped()
    seen = {}
    for r in index.resources("Bundle", examples=True)[0]["entry"]:
        res = r["resource"]
        if res["resourceType"] == "QuestionnaireResponse":
            seen.setdefault(res["questionnaire"], res)
    return list(seen.values())


@pytest.mark.parametrize("response", examples(), ids=lambda r: r["questionnaire"].rsplit("/", 1)[-1])
def test_example_answers_survive_form_round_trip(response):
    index = shipped()
    q = index.get(response["questionnaire"])
    calculated = {f.link_id for f in walk_fields(build_form(q, index)) if f.calculated}
    items = parse_form(q, post_data_from_response(q, response), index)

    def answers(items_, out):
        for item in items_ or ():
            if item["linkId"] not in calculated:
                for a in item.get("answer", ()):
                    out.append((item["linkId"], {k: v for k, v in a.items() if k.startswith("value")}))
            answers(item.get("item"), out)
        return out

    assert answers(items, []) == answers(response["item"], [])


def test_bad_values_are_located_and_readable_ones_kept():
    form = {
        "a:n": ["twelve"],
        "a:d": ["1e999x"],
        "a:when": ["31/12/2026"],
        "a:ok": ["maybe"],
        "a:c": ["s|zzz"],
        "a:short": ["toolong"],
        "a:g[0]/g.t": ["first"],
        "a:g[1]/g.t": ["second"],
    }
    with pytest.raises(FormError) as info:
        parse_form(QUESTION, form, shipped())
    assert set(info.value.errors) == {"a:n", "a:d", "a:when", "a:ok", "a:c", "a:short"}
    assert info.value.errors["a:n"] == "N must be a whole number"
    groups = [i for i in info.value.items if i["linkId"] == "g"]
    assert [g["item"][0]["answer"][0]["valueString"] for g in groups] == ["first", "second"]


def test_good_values_are_typed():
    form = {"a:n": ["0"], "a:d": ["2.5"], "a:when": ["2026-11-23"], "a:ok": ["no"], "a:c": ["s|a"]}
    items = {i["linkId"]: i["answer"][0] for i in parse_form(QUESTION, form, shipped())}
    assert items == {
        "n": {"valueInteger": 0},
        "d": {"valueDecimal": 2.5},
        "when": {"valueDate": "2026-11-23"},
        "ok": {"valueBoolean": False},
        "c": {"valueCoding": {"system": "s", "code": "a"}},
    }


def test_two_answers_to_a_single_question_are_refused():
    with pytest.raises(FormError) as info:
        parse_form(QUESTION, {"a:n": ["1", "2"]}, shipped())
    assert "only one answer" in info.value.errors["a:n"]
