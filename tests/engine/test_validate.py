"""Validation of QuestionnaireResponses: valid ones pass, every kind of invalid one is located."""

from __future__ import annotations

import copy
import json

import pytest
from hypothesis import HealthCheck, given, settings

import engine_support as es
from fhir_mbt.content import definitions_dir, shipped
from fhir_mbt.errors import FhirMbtError
from fhir_mbt.engine.errors import ResponseError, ResponseInvalid
from fhir_mbt.engine.outcome import LINK_ID_EXTENSION, issue_link_id
from fhir_mbt.engine.validate import check_response, validate_and_score, validate_response

INDEX = es.demo_index()
SETTINGS = settings(max_examples=50, deadline=None, suppress_health_check=list(HealthCheck))


def issues(resp, **kwargs):
    return validate_response(resp, index=kwargs.pop("index", INDEX), **kwargs)["issue"]


def only_issue(resp, **kwargs) -> dict:
    found = [i for i in issues(resp, **kwargs) if i["severity"] in ("error", "fatal")]
    assert len(found) == 1, json.dumps(found, indent=1)
    return found[0]


def with_main(*extra, flag=False) -> list[dict]:
    items = es.minimal_items(flag)
    items[0]["item"].extend(extra)
    order = [d["linkId"] for d in es.questionnaire()["item"][1]["item"]]
    items[0]["item"].sort(key=lambda n: order.index(n["linkId"]) if n["linkId"] in order else 99)
    return items


# ------------------------------------------------------------------ valid
def test_minimal_response_is_valid():
    assert issues(es.response(es.minimal_items())) == []
    assert issues(es.response(es.minimal_items(flag=True))) == []


def test_every_answer_type_valid():
    items = with_main(
        {"linkId": "count", "answer": [{"valueInteger": 0}]},
        {"linkId": "dose", "answer": [{"valueDecimal": 0.25}]},
        {"linkId": "label", "answer": [{"valueString": "ten chars!"}]},
        {"linkId": "note", "answer": [{"valueString": "free text"}]},
        {"linkId": "day", "answer": [{"valueDate": "2026-02-28"}]},
        {"linkId": "moment", "answer": [{"valueDateTime": "2026-02-28T10:00:00+01:00"}]},
        {"linkId": "clock", "answer": [{"valueTime": "23:59:59"}]},
        {"linkId": "link", "answer": [{"valueUri": "https://example.org/x"}]},
        {"linkId": "picks", "answer": [es.coding("red"), es.coding("blue")]},
        {"linkId": "open", "answer": [{"valueString": "something else"}]},
        {"linkId": "amount", "answer": [{"valueQuantity": {"value": 5, "unit": "mg"}}]},
        {"linkId": "ref", "answer": [{"valueReference": {"reference": "Patient/p1"}}]},
        {"linkId": "file", "answer": [{"valueAttachment": {"contentType": "text/plain", "data": "aGk="}}]},
    )
    items += [
        {"linkId": "rep", "item": [{"linkId": "rep-value", "answer": [{"valueInteger": 1}]}]},
        {"linkId": "rep", "item": [{"linkId": "rep-value", "answer": [{"valueInteger": 2}]}]},
        {"linkId": "parent", "answer": [{**es.coding("low"), "item": [
            {"linkId": "child", "answer": [{"valueString": "nested"}]}]}]},
    ]
    assert issues(es.response(items)) == []


@SETTINGS
@given(es.answers_for(es.questionnaire(), INDEX))
def test_generated_answers_to_the_demo_form_are_valid(resp):
    assert issues(resp) == []


@pytest.mark.parametrize("qid", ["mbt-formulation", "mbt-mentalizing-profile", "rfq-8", "mbt-weekly-checkin",
                                 "mbt-session-record", "mbt-crisis-plan", "mbt-periodic-review"])
def test_generated_answers_to_shipped_questionnaires_are_valid(qid):
    index = shipped()
    q = index.by_id("Questionnaire", qid)

    @SETTINGS
    @given(es.answers_for(q, index))
    def check(resp):
        assert validate_response(resp, index=index)["issue"] == []

    check()


def test_every_shipped_questionnaire_is_covered():
    shipped_ids = {q["id"] for q in shipped().resources("Questionnaire")}
    assert shipped_ids <= {"mbt-formulation", "mbt-mentalizing-profile", "rfq-8", "mbt-weekly-checkin",
                           "mbt-session-record", "mbt-crisis-plan", "mbt-periodic-review"}


def test_example_responses_are_valid():
    path = definitions_dir() / "examples" / "Bundle-mbt-example-peter.json"
    if not path.exists():
        pytest.skip("example bundle not shipped")
    bundle = json.loads(path.read_text(encoding="utf-8"))
    responses = [e["resource"] for e in bundle["entry"] if e["resource"]["resourceType"] == "QuestionnaireResponse"]
    assert responses
    for resp in responses:
        assert validate_response(resp)["issue"] == [], resp.get("id")


def test_strict_mode_runs_the_r4_model():
    resp = es.response(es.minimal_items(), language=12)
    assert issues(resp) == []
    found = issues(resp, strict=True)
    assert found and found[0]["expression"] == ["QuestionnaireResponse.language"]


def test_valid_response_is_not_mutated_and_scores_come_back():
    resp = es.response(es.minimal_items())
    before = copy.deepcopy(resp)
    outcome, scored = validate_and_score(resp, index=INDEX)
    assert outcome["issue"] == [] and resp == before
    assert scored["item"][-1]["linkId"] == "scores"


# ------------------------------------------------------------------ errors
def test_errors_derive_from_the_roots():
    assert issubclass(ResponseInvalid, ResponseError)
    assert issubclass(ResponseError, FhirMbtError) and issubclass(ResponseError, ValueError)


def test_check_response_raises_with_the_outcome():
    resp = es.response([{"linkId": "nope", "answer": [{"valueString": "x"}]}] + es.minimal_items())
    with pytest.raises(ResponseInvalid) as info:
        check_response(resp, index=INDEX)
    assert info.value.outcome["resourceType"] == "OperationOutcome"
    assert "QuestionnaireResponse.item[0]" in str(info.value)
    assert check_response(es.response(es.minimal_items()), index=INDEX)["issue"] == []


def test_issue_carries_link_id_for_the_form():
    issue = only_issue(es.response(with_main({"linkId": "count", "answer": [{"valueInteger": 11}]})))
    assert issue_link_id(issue) == "count"
    assert issue["extension"][0]["url"] == LINK_ID_EXTENSION


# One test per kind of invalid response: (kind, mutation, expression, code)
def _r(items=None, **extra):
    return es.response(es.minimal_items() if items is None else items, **extra)


def test_not_a_questionnaire_response():
    issue = only_issue({"resourceType": "Observation"})
    assert issue["severity"] == "fatal" and issue["expression"] == ["QuestionnaireResponse"]


def test_not_an_object():
    assert only_issue(["x"])["code"] == "structure"


def test_bad_status():
    issue = only_issue(_r(status="done"))
    assert issue["expression"] == ["QuestionnaireResponse.status"] and issue["code"] == "value"


def test_missing_questionnaire_reference():
    resp = _r()
    del resp["questionnaire"]
    issue = only_issue(resp)
    assert issue["expression"] == ["QuestionnaireResponse.questionnaire"] and issue["code"] == "required"


def test_unknown_questionnaire():
    issue = only_issue(_r(questionnaire="http://nowhere.example/Questionnaire/x"))
    assert issue["code"] == "not-found"


def test_wrong_questionnaire_version():
    issue = only_issue(_r(questionnaire=f"{es.Q_URL}|9.9.9"))
    assert issue["code"] == "not-found" and "1.0.0" in issue["diagnostics"]


def test_response_for_another_questionnaire():
    other = {**es.questionnaire(), "url": "http://test.example/fhir/Questionnaire/other"}
    issue = only_issue(_r(), questionnaire=other)
    assert issue["expression"] == ["QuestionnaireResponse.questionnaire"] and issue["code"] == "invalid"


def test_given_questionnaire_version_mismatch():
    other = {**es.questionnaire(), "version": "2.0.0"}
    assert "version" in only_issue(_r(), questionnaire=other)["diagnostics"]


def test_bad_authored():
    assert only_issue(_r(authored="yesterday"))["expression"] == ["QuestionnaireResponse.authored"]


def test_unknown_link_id():
    issue = only_issue(_r(es.minimal_items() + [{"linkId": "ghost", "answer": [{"valueString": "x"}]}]))
    assert issue["expression"] == ["QuestionnaireResponse.item[1]"] and issue_link_id(issue) == "ghost"


def test_item_in_the_wrong_place():
    items = es.minimal_items() + [{"linkId": "count", "answer": [{"valueInteger": 1}]}]
    issue = only_issue(_r(items))
    assert issue["expression"] == ["QuestionnaireResponse.item[1]"] and "main" in issue["diagnostics"]


def test_items_out_of_order():
    items = es.minimal_items()
    items[0]["item"].reverse()
    issue = only_issue(_r(items))
    assert issue["expression"] == ["QuestionnaireResponse.item[0].item[1]"] and "order" in issue["diagnostics"]


def test_question_item_repeated():
    items = es.minimal_items()
    items[0]["item"].insert(1, {"linkId": "flag", "answer": [{"valueBoolean": False}]})
    issue = only_issue(_r(items))
    assert issue["expression"] == ["QuestionnaireResponse.item[0].item[1]"]


def test_non_repeating_group_repeated():
    items = es.minimal_items() + [{"linkId": "opt", "item": [{"linkId": "opt-required", "answer": [
        {"valueString": "a"}]}]}] * 2
    issue = only_issue(_r(items))
    assert issue["expression"] == ["QuestionnaireResponse.item[2]"] and "does not repeat" in issue["diagnostics"]


def test_several_answers_to_a_non_repeating_question():
    items = es.minimal_items()
    items[0]["item"][0]["answer"].append({"valueBoolean": False})
    issue = only_issue(_r(items))
    assert issue["expression"] == ["QuestionnaireResponse.item[0].item[0].answer[1]"]


@pytest.mark.parametrize("link_id, answer, code", [
    ("count", {"valueString": "3"}, "structure"),
    ("count", {"valueInteger": 1.5}, "value"),
    ("count", {"valueInteger": True}, "value"),
    ("dose", {"valueDecimal": "1.5"}, "value"),
    ("day", {"valueDate": "2026-02-30"}, "value"),
    ("day", {"valueDate": "02/03/2026"}, "value"),
    ("moment", {"valueDateTime": "2026-02-03T10:00:00"}, "value"),
    ("clock", {"valueTime": "25:00:00"}, "value"),
    ("label", {"valueString": ""}, "value"),
    ("link", {"valueUri": "not a uri"}, "value"),
    ("picks", {"valueCoding": {"system": es.CS}}, "value"),
    ("picks", {"valueString": "red"}, "structure"),
    ("amount", {"valueQuantity": {"unit": "mg"}}, "value"),
    ("ref", {"valueReference": {}}, "value"),
])
def test_wrong_or_malformed_answer_value(link_id, answer, code):
    issue = only_issue(_r(with_main({"linkId": link_id, "answer": [answer]})))
    assert issue["code"] == code
    assert issue["expression"][0].startswith("QuestionnaireResponse.item[0].item[")
    assert issue["expression"][0].endswith(".answer[0]." + next(iter(answer)))
    assert issue_link_id(issue) == link_id


def test_answer_without_value():
    issue = only_issue(_r(with_main({"linkId": "label", "answer": [{}]})))
    assert issue["code"] == "required" and issue["expression"][0].endswith(".answer[0]")


def test_answer_with_two_values():
    issue = only_issue(_r(with_main({"linkId": "label", "answer": [{"valueString": "a", "valueInteger": 1}]})))
    assert issue["code"] == "structure"


def test_choice_not_among_answer_options():
    items = es.minimal_items()
    items[0]["item"][1]["answer"] = [es.coding("red")]
    issue = only_issue(_r(items))
    assert issue["code"] == "code-invalid"
    assert issue["expression"] == ["QuestionnaireResponse.item[0].item[1].answer[0].valueCoding"]


def test_choice_with_wrong_system():
    items = es.minimal_items()
    items[0]["item"][1]["answer"] = [{"valueCoding": {"system": "http://other", "code": "low"}}]
    assert only_issue(_r(items))["code"] == "code-invalid"


def test_choice_not_in_answer_value_set():
    issue = only_issue(_r(with_main({"linkId": "picks", "answer": [es.coding("red"), es.coding("low")]})))
    assert issue["code"] == "code-invalid" and issue["expression"][0].endswith(".answer[1].valueCoding")


def test_open_choice_coding_must_still_be_listed():
    issue = only_issue(_r(with_main({"linkId": "open", "answer": [es.coding("blue")]})))
    assert issue["code"] == "code-invalid"


def test_value_set_that_cannot_be_expanded_warns():
    q = es.questionnaire()
    q["item"][1]["item"][10]["answerValueSet"] = "http://nowhere.example/ValueSet/x"
    index = es.demo_index(q)
    found = issues(_r(with_main({"linkId": "picks", "answer": [es.coding("red")]})), index=index)
    assert [i["severity"] for i in found] == ["warning"] and found[0]["code"] == "not-supported"
    check_response(_r(with_main({"linkId": "picks", "answer": [es.coding("red")]})), index=index)


@pytest.mark.parametrize("link_id, answer, code", [
    ("count", {"valueInteger": -1}, "value"),
    ("count", {"valueInteger": 11}, "value"),
    ("label", {"valueString": "eleven char"}, "too-long"),
    ("dose", {"valueDecimal": 1.125}, "value"),
])
def test_bounds(link_id, answer, code):
    issue = only_issue(_r(with_main({"linkId": link_id, "answer": [answer]})))
    assert issue["code"] == code and issue_link_id(issue) == link_id


def test_required_item_missing_when_completed():
    items = es.minimal_items()
    del items[0]["item"][1]
    issue = only_issue(_r(items))
    assert issue["code"] == "required" and issue_link_id(issue) == "pick"
    assert issue["expression"] == ["QuestionnaireResponse.item[0]"]


def test_required_item_present_without_answer():
    items = es.minimal_items()
    del items[0]["item"][1]["answer"]
    issue = only_issue(_r(items))
    assert issue["code"] == "required" and issue["expression"] == ["QuestionnaireResponse.item[0].item[1]"]


def test_in_progress_may_be_incomplete():
    resp = _r(status="in-progress")
    resp.pop("item")
    assert issues(resp) == []
    resp = _r(status="completed")
    resp.pop("item")
    assert issues(resp) == [], "flag and pick sit in an optional group, so nothing is required"
    resp["item"] = [{"linkId": "main", "item": [{"linkId": "count", "answer": [{"valueInteger": 1}]}]}]
    assert {issue_link_id(i) for i in issues(resp)} == {"flag", "pick"}
    resp["status"] = "in-progress"
    assert issues(resp) == []


def test_required_child_of_absent_optional_group_is_not_required():
    assert issues(_r()) == []
    items = es.minimal_items() + [{"linkId": "opt", "item": []}]
    assert {i["code"] for i in issues(_r(items))} == {"structure", "required"}


def test_required_item_enabled_by_condition():
    issue = only_issue(_r(es.minimal_items(flag=True)[:1]))
    assert issue_link_id(issue) == "follow" and issue["code"] == "required"


def test_disabled_item_must_be_absent():
    items = es.minimal_items() + [{"linkId": "follow", "answer": [{"valueString": "no"}]}]
    issue = only_issue(_r(items))
    assert issue["code"] == "business-rule" and issue["expression"] == ["QuestionnaireResponse.item[1]"]


def test_exists_operator():
    ok = with_main({"linkId": "count", "answer": [{"valueInteger": 0}]})
    ok.append({"linkId": "exists-follow", "answer": [{"valueString": "x"}]})
    assert issues(_r(ok)) == []
    bad = es.minimal_items() + [{"linkId": "exists-follow", "answer": [{"valueString": "x"}]}]
    assert issue_link_id(only_issue(_r(bad))) == "exists-follow"


def test_enable_behavior_any():
    follow = {"linkId": "any-follow", "answer": [{"valueString": "x"}]}
    by_count = with_main({"linkId": "count", "answer": [{"valueInteger": 6}]}) + [follow]
    assert issues(_r(by_count)) == []
    by_pick = es.minimal_items()
    by_pick[0]["item"][1]["answer"] = [es.coding("high")]
    assert issues(_r(by_pick + [follow])) == []
    neither = with_main({"linkId": "count", "answer": [{"valueInteger": 5}]}) + [follow]
    assert issue_link_id(only_issue(_r(neither))) == "any-follow"


def test_enable_when_expression():
    follow = {"linkId": "expr-follow", "answer": [{"valueString": "x"}]}
    enabled = with_main({"linkId": "label", "answer": [{"valueString": "sesame"}]}) + [follow]
    assert issues(_r(enabled)) == []
    disabled = with_main({"linkId": "label", "answer": [{"valueString": "closed"}]}) + [follow]
    assert issue_link_id(only_issue(_r(disabled))) == "expr-follow"


def test_disabled_ancestor_disables_descendants():
    q = es.questionnaire()
    q["item"][-2]["enableWhen"] = [{"question": "flag", "operator": "=", "answerBoolean": True}]
    index = es.demo_index(q)
    items = es.minimal_items() + [{"linkId": "opt", "item": [{"linkId": "opt-required", "answer": [
        {"valueString": "x"}]}]}]
    issue = only_issue(_r(items), index=index)
    assert issue_link_id(issue) == "opt" and issue["code"] == "business-rule"


def test_answer_of_a_disabled_item_counts_as_none():
    q = es.questionnaire()
    q["item"][1]["item"][1]["enableWhen"] = [{"question": "flag", "operator": "=", "answerBoolean": True}]
    index = es.demo_index(q)
    items = with_main({"linkId": "count", "answer": [{"valueInteger": 1}]})
    items.append({"linkId": "exists-follow", "answer": [{"valueString": "x"}]})
    found = [issue_link_id(i) for i in issues(_r(items), index=index)]
    assert found == ["count", "exists-follow"]


def test_group_with_answers():
    items = es.minimal_items()
    items[0]["answer"] = [{"valueString": "x"}]
    issue = only_issue(_r(items))
    assert issue["expression"] == ["QuestionnaireResponse.item[0].answer"]


def test_display_item_with_answer():
    items = [{"linkId": "intro", "answer": [{"valueString": "x"}]}] + es.minimal_items()
    assert only_issue(_r(items))["expression"] == ["QuestionnaireResponse.item[0]"]


def test_question_children_outside_answers():
    items = es.minimal_items() + [{"linkId": "parent", "answer": [es.coding("low")],
                                   "item": [{"linkId": "child", "answer": [{"valueString": "x"}]}]}]
    found = issues(_r(items))
    assert "QuestionnaireResponse.item[1].item" in [i["expression"][0] for i in found]


def test_nested_answer_items_are_validated_and_located():
    items = es.minimal_items() + [{"linkId": "parent", "answer": [{**es.coding("low"), "item": [
        {"linkId": "child", "answer": [{"valueInteger": 3}]}]}]}]
    issue = only_issue(_r(items))
    assert issue["expression"] == ["QuestionnaireResponse.item[1].answer[0].item[0].answer[0].valueInteger"]


def test_required_nested_answer_item_missing():
    items = es.minimal_items() + [{"linkId": "parent", "answer": [es.coding("low"), ]}]
    issue = only_issue(_r(items))
    assert issue_link_id(issue) == "child" and issue["expression"] == ["QuestionnaireResponse.item[1].answer[0]"]


def test_empty_answer_list():
    items = es.minimal_items()
    items[0]["item"][0]["answer"] = []
    assert only_issue(_r(items))["expression"] == ["QuestionnaireResponse.item[0].item[0].answer"]


def test_item_without_link_id():
    items = es.minimal_items() + [{"answer": [{"valueString": "x"}]}]
    assert only_issue(_r(items))["code"] == "required"


def test_calculated_value_must_match():
    items = es.minimal_items() + [{"linkId": "scores", "item": [{"linkId": "total", "answer": [
        {"valueDecimal": 9.0}]}]}]
    issue = only_issue(_r(items))
    assert issue["code"] == "invariant" and issue_link_id(issue) == "total"
    assert issue["expression"] == ["QuestionnaireResponse.item[1].item[0].answer"]
    items[1]["item"][0]["answer"][0]["valueDecimal"] = 1.0
    items[1]["item"].append({"linkId": "double", "answer": [{"valueInteger": 2}]})
    assert issues(_r(items)) == []


def test_questionnaire_with_duplicate_link_ids_is_unusable():
    q = es.questionnaire()
    q["item"][1]["item"][1]["linkId"] = "flag"
    found = issues(_r(), index=es.demo_index(q))
    assert found[0]["severity"] == "fatal" and "flag" in found[0]["diagnostics"]
