"""Scores: RFQ-8 as published (hand-computed cases), weights, calculation order, no mutation."""

from __future__ import annotations

import copy

import pytest

import engine_support as es
from fhir_mbt.content import shipped
from fhir_mbt.errors import ContentError
from fhir_mbt.engine.validate import validate_response
from fhir_mbt.engine.scoring import answer_weights, apply_scores, score

RFQ = "http://fhir-mbt.org/fhir/Questionnaire/rfq-8|0.1.0"
MBT = "http://fhir-mbt.org/fhir/CodeSystem/mbt"
AGREEMENT = ["strongly-disagree", "disagree", "slightly-disagree", "neither-agree-nor-disagree",
             "slightly-agree", "agree", "strongly-agree"]
INDEX = es.demo_index()


def rfq(ratings: list[int], status: str = "completed") -> dict:
    """An RFQ-8 response; ``ratings[i]`` is item i+1 on the 1..7 scale."""
    return {
        "resourceType": "QuestionnaireResponse",
        "questionnaire": RFQ,
        "status": status,
        "subject": {"reference": "Patient/p1"},
        "authored": "2026-03-02T10:00:00Z",
        "item": [
            {"linkId": f"rfq8.{i}", "answer": [{"valueCoding": {"system": MBT, "code": AGREEMENT[r - 1]}}]}
            for i, r in enumerate(ratings, start=1) if r is not None
        ],
    }


def test_rfq_codes_match_the_shipped_value_set():
    codes = [c["code"] for c in shipped().expand("http://fhir-mbt.org/fhir/ValueSet/mbt-agreement-7")]
    assert codes == AGREEMENT


# Worked by hand from the published rules:
#   RFQ_c = mean(items 1,2,3,4,5,6 with 1->3, 2->2, 3->1, 4..7->0)
#   RFQ_u = mean(items 2,4,5,6,8 with 1..4->0, 5->1, 6->2, 7->3; item 7 with 1->3, 2->2, 3->1, 4..7->0)
@pytest.mark.parametrize("ratings, certainty, uncertainty", [
    # all 1s: c = 6*3/6 = 3; u = (0*5 + item7 1->3)/6 = 0.5
    ([1, 1, 1, 1, 1, 1, 1, 1], 3.0, 0.5),
    # all 7s: c = 0; u = (3*5 + item7 7->0)/6 = 2.5
    ([7, 7, 7, 7, 7, 7, 7, 7], 0.0, 2.5),
    # all 4s: every recode gives 0
    ([4, 4, 4, 4, 4, 4, 4, 4], 0.0, 0.0),
    # mixed 2,6,1,7,5,3,2,4: c = (2+0+3+0+0+1)/6 = 1.0;
    # u = (item2 6->2 + item4 7->3 + item5 5->1 + item6 3->0 + item8 4->0 + item7 2->2)/6 = 8/6 = 1.33
    ([2, 6, 1, 7, 5, 3, 2, 4], 1.0, 1.33),
    # items 2,4,5,6 count in both: 1s there give c = (0+3+0+3+3+3)/6 = 2.0 with items 1,3 at 7,
    # and u = (0+0+0+0 + item8 7->3 + item7 7->0)/6 = 0.5
    ([7, 1, 7, 1, 1, 1, 7, 7], 2.0, 0.5),
    # the same items at 7: c = 0; u = (3+3+3+3 + item8 1->0 + item7 1->3)/6 = 2.5
    ([1, 7, 1, 7, 7, 7, 1, 1], 1.0, 2.5),
    # 3s and 5s: c = items 1..6 at 3 -> 1 each = 1.0; u = items 2,4,5,6,8 at 3 -> 0, item 7 at 5 -> 0 = 0
    ([3, 3, 3, 3, 3, 3, 5, 3], 1.0, 0.0),
    # 5s: c = 0; u = (1*5 + item7 5->0)/6 = 0.83
    ([5, 5, 5, 5, 5, 5, 5, 5], 0.0, 0.83),
])
def test_rfq8_subscales_as_published(ratings, certainty, uncertainty):
    resp = rfq(ratings)
    assert validate_response(resp)["issue"] == []
    assert score(resp) == {"rfq8.certainty": pytest.approx(certainty), "rfq8.uncertainty": pytest.approx(uncertainty)}


def test_rfq8_incomplete_gives_no_score():
    resp = rfq([1, 2, 3, 4, 5, 6, 7, None], status="in-progress")
    assert score(resp) == {"rfq8.certainty": 1.0, "rfq8.uncertainty": None}


def test_apply_scores_writes_read_only_items_without_mutating():
    resp = rfq([2, 6, 1, 7, 5, 3, 2, 4])
    before = copy.deepcopy(resp)
    scored = apply_scores(resp)
    assert resp == before
    assert scored["item"][-1] == {
        "linkId": "rfq8.scores", "text": scored["item"][-1]["text"],
        "item": [
            {"linkId": "rfq8.certainty", "text": scored["item"][-1]["item"][0]["text"],
             "answer": [{"valueDecimal": 1.0}]},
            {"linkId": "rfq8.uncertainty", "text": scored["item"][-1]["item"][1]["text"],
             "answer": [{"valueDecimal": pytest.approx(1.33)}]},
        ],
    }
    assert validate_response(scored)["issue"] == []
    assert apply_scores(scored) == scored


def test_apply_scores_replaces_stale_values_and_drops_empty_ones():
    scored = apply_scores(rfq([1] * 8))
    stale = copy.deepcopy(scored)
    stale["item"][-1]["item"][0]["answer"][0]["valueDecimal"] = 0.1
    assert validate_response(stale)["issue"][0]["code"] == "invariant"
    assert apply_scores(stale) == scored
    partial = copy.deepcopy(scored)
    partial["status"] = "in-progress"
    del partial["item"][0]
    rescored = apply_scores(partial)
    assert [i["linkId"] for i in rescored["item"][-1]["item"]] == ["rfq8.uncertainty"]


def test_weights_from_answer_option_value_set_and_code_system():
    items = es.minimal_items()
    items[0]["item"][1]["answer"] = [es.coding("mid")]
    items[0]["item"].append({"linkId": "picks", "answer": [es.coding("red"), es.coding("green"), es.coding("blue")]})
    resp = es.response(items)
    assert answer_weights(resp, index=INDEX) == {"pick": [2], "picks": [10, 20, 30]}
    # total = itemWeight 2 (answerOption) + ordinalValue 10 (ValueSet) + itemWeight 20 (ValueSet)
    #         + ordinalValue 30 (CodeSystem concept)
    assert score(resp, index=INDEX) == {"total": 62.0, "double": 124}


def test_scores_depend_on_scores_in_order():
    q = es.questionnaire()
    scores = q["item"][-1]["item"]
    scores.reverse()
    index = es.demo_index(q)
    resp = es.response(es.minimal_items())
    assert score(resp, index=index) == {"double": 2, "total": 1.0}


def test_cyclic_calculations_are_a_content_error():
    q = es.questionnaire()
    total = q["item"][-1]["item"][0]
    total["extension"][-1]["valueExpression"]["expression"] = (
        "%resource.repeat(item).where(linkId='double').answer.value")
    with pytest.raises(ContentError, match="cycle"):
        score(es.response(es.minimal_items()), index=es.demo_index(q))


def test_calculation_giving_the_wrong_type_is_a_content_error():
    q = es.questionnaire()
    q["item"][-1]["item"][1]["extension"][-1]["valueExpression"]["expression"] = "'two'"
    with pytest.raises(ContentError, match="double"):
        score(es.response(es.minimal_items()), index=es.demo_index(q))


@pytest.mark.parametrize("qid, link_ids", [
    ("mbt-weekly-checkin", {"checkin.score.self-worth", "checkin.score.curiosity", "checkin.score.pause-proportion"}),
    ("mbt-mentalizing-profile", {"profile.score.imbalance", "profile.score.modes", "profile.score.capacity"}),
    ("mbt-session-record", {"mentalizing.level-score", "adherence.mean"}),
])
def test_shipped_scores_are_listed(qid, link_ids):
    q = shipped().by_id("Questionnaire", qid)
    resp = {"resourceType": "QuestionnaireResponse", "questionnaire": f"{q['url']}|{q['version']}",
            "status": "in-progress"}
    assert set(score(resp)) == link_ids


def test_weekly_checkin_pause_proportion():
    q = shipped().by_id("Questionnaire", "mbt-weekly-checkin")
    resp = {
        "resourceType": "QuestionnaireResponse", "questionnaire": f"{q['url']}|{q['version']}",
        "status": "in-progress",
        "item": [{"linkId": "checkin.blow-ups", "answer": [{"valueInteger": 1}]},
                 {"linkId": "checkin.pauses", "answer": [{"valueInteger": 2}]}],
    }
    assert score(resp)["checkin.score.pause-proportion"] == 66
    resp["item"][0]["answer"][0]["valueInteger"] = 0
    resp["item"][1]["answer"][0]["valueInteger"] = 0
    assert score(resp)["checkin.score.pause-proportion"] is None
