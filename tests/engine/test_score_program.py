"""A score's calculatedExpression as a portable JSON program, for previews in the browser.

The programs' results are compared with the engine's in Chromium
(tests/integration/browser/test_entry_in_browser.py); here: what translates, and what does not.
"""

from __future__ import annotations

import pytest

from fhir_mbt.content import shipped
from fhir_mbt.content import extensions as ext
from fhir_mbt.engine.score_program import NotPortable, score_program, score_programs

INDEX = shipped()


def _calculated(questionnaire):
    out = []

    def walk(items):
        for item in items or ():
            if ext.has(item, ext.CALCULATED_EXPRESSION):
                out.append(item["linkId"])
            walk(item.get("item"))

    walk(questionnaire["item"])
    return out


@pytest.mark.parametrize("questionnaire", INDEX.resources("Questionnaire"), ids=lambda q: q["id"])
def test_every_shipped_score_translates(questionnaire):
    assert sorted(score_programs(questionnaire)) == sorted(_calculated(questionnaire))


def test_a_program_names_its_items_their_types_and_the_rule():
    rfq = next(q for q in INDEX.resources("Questionnaire") if q["id"] == "rfq-8")
    program = score_programs(rfq)["rfq8.certainty"]
    condition, then, otherwise = program["iif"]
    assert condition["op"] == "=" and condition["args"][1] == {"num": "6"}
    answers = condition["args"][0]["of"]
    assert answers["answers"] == [f"rfq8.{n}" for n in range(1, 7)] and answers["key"] == "valueCoding"
    assert set(answers["types"].values()) == {"choice"}
    assert then["call"] == "round" and then["places"] == 2
    assert otherwise == {"empty": True}


def _q(expression, extra_items=(), **item):
    return {"resourceType": "Questionnaire", "item": [
        {"linkId": "a", "type": "choice"}, {"linkId": "n", "type": "integer"}, {"linkId": "t", "type": "string"},
        *extra_items,
        {"linkId": "s", "type": "decimal", **item, "extension": [{"url": ext.CALCULATED_EXPRESSION, "valueExpression": {
            "language": "text/fhirpath", "expression": expression}}]}]}


@pytest.mark.parametrize("expression, why", [
    ("%resource.repeat(item).where(linkId='a').answer.valueCoding.weight().sum()", "weight"),
    ("%resource.repeat(item).where(linkId='n').answer.valueInteger mod 2", "mod"),
    ("%context.item.answer.value", "context"),
    ("%resource.repeat(item).where(linkId='t').answer.valueString.length()", "string"),
    ("%resource.repeat(item).where(text='x').answer.value.count()", "linkId"),
    ("%resource.item[0].answer.value", "path"),
    ("%resource.repeat(item).where(linkId='s2').answer.value.count()", "calculated"),
])
def test_what_does_not_translate_is_left_out(expression, why):
    second = {"linkId": "s2", "type": "integer", "extension": [{"url": ext.CALCULATED_EXPRESSION, "valueExpression": {
        "language": "text/fhirpath", "expression": "1"}}]}
    q = _q(expression, [second])
    with pytest.raises(NotPortable):
        score_program(q, q["item"][-1])
    assert "s" not in score_programs(q), why


def test_a_questionnaire_with_variables_gets_no_previews():
    q = _q("%resource.repeat(item).where(linkId='n').answer.valueInteger.count()")
    assert "s" in score_programs(q)
    q["extension"] = [{"url": ext.VARIABLE, "valueExpression": {"name": "v", "language": "text/fhirpath",
                                                                "expression": "1"}}]
    assert score_programs(q) == {}
