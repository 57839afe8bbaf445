"""What "complete" means, as the content says it: required groups and items, enableWhen and constraints.

For every shipped Questionnaire, an example response with one required part taken out is refused by
the engine when completed (the issue names the question by linkId and by its text) and accepted as a
draft; every example response passes as shipped. The questionnaire-constraints of the session record
("no further action" stands alone; an imminent risk needs an emergency action) are enforced on
completed responses only.
"""

from __future__ import annotations

import copy
import json

import pytest

from fhir_mbt.content import terminology
from fhir_mbt.content import definitions_dir, shipped
from fhir_mbt.engine.outcome import issue_link_id
from fhir_mbt.engine.validate import validate_response
from fhir_mbt.engine.scoring import apply_scores

CS = terminology.CODE_SYSTEM
HIDDEN = "http://hl7.org/fhir/StructureDefinition/questionnaire-hidden"


def _examples() -> dict[str, dict]:
    bundle = json.loads((definitions_dir() / "examples" / "Bundle-mbt-example-peter.json").read_text("utf-8"))
    return {e["resource"]["id"]: e["resource"] for e in bundle["entry"]
            if e["resource"]["resourceType"] == "QuestionnaireResponse"}


EXAMPLES = _examples()


def _without(items: list[dict], link_id: str) -> tuple[list[dict], bool]:
    out, removed = [], False
    for item in items:
        if item.get("linkId") == link_id:
            removed = True
            continue
        item = dict(item)
        if "item" in item:
            item["item"], gone = _without(item["item"], link_id)
            removed |= gone
            if not item["item"]:
                del item["item"]
                if "answer" not in item:
                    continue
        out.append(item)
    return out, removed


def _text_of(questionnaire: dict, link_id: str) -> str:
    def walk(items):
        for item in items:
            if item["linkId"] == link_id:
                return item.get("text", "")
            found = walk(item.get("item", []))
            if found is not None:
                return found
        return None
    return walk(questionnaire["item"])


def _set(items: list[dict], link_id: str, answers: list[dict]) -> bool:
    for item in items:
        if item.get("linkId") == link_id:
            item["answer"] = answers
            return True
        if _set(item.get("item", []), link_id, answers):
            return True
    return False


def _coding(code: str) -> dict:
    return {"valueCoding": {"system": CS, "code": code}}


def _first(qid: str, predicate=lambda r: True) -> dict:
    for response in EXAMPLES.values():
        if f"/Questionnaire/{qid}|" in response["questionnaire"] and predicate(response):
            return response
    raise LookupError(qid)


def _has(link_id: str, value: str | None = None):
    def test(response):
        text = json.dumps(response)
        return f'"linkId": "{link_id}"' in text and (value is None or value in text)
    return test


#: (Questionnaire id, which example, the required part taken out): one row per decision in the content.
CASES = [
    ("mbt-session-record", _has("risk.self-harm"), "session.details"),
    ("mbt-session-record", _has("risk.self-harm"), "risk"),
    ("mbt-session-record", _has("risk.self-harm"), "risk.suicide-attempt"),
    ("mbt-session-record", _has("risk.self-harm"), "risk.harm-to-others"),
    ("mbt-session-record", _has("risk.self-harm"), "risk.emergency-attendance"),
    ("mbt-session-record", _has("risk.follow-up"), "risk.follow-up"),
    ("mbt-session-record", _has("risk.follow-up"), "risk.action"),
    ("mbt-session-record", _has("risk.self-harm"), "arousal"),
    ("mbt-session-record", _has("risk.self-harm"), "interventions.used"),
    ("mbt-session-record", _has("risk.self-harm"), "interventions.stage"),
    ("mbt-session-record", _has("risk.self-harm"), "alliance"),
    ("mbt-session-record", _has("session.missed"), "session.missed"),
    ("mbt-session-record", _has("session.missed.risk-follow-up"), "session.missed.risk-follow-up"),
    ("mbt-session-record", _has("session.missed.risk-follow-up"), "session.missed.risk-action"),
    ("mbt-session-record", _has("session.missed.risk-follow-up"), "session.missed.crisis-plan-reviewed"),
    ("mbt-session-record", _has("session.cancelled-by"), "session.cancelled-by"),
    ("mbt-weekly-checkin", lambda r: True, "checkin.risk"),
    ("mbt-weekly-checkin", lambda r: True, "checkin.risk.suicide-thoughts"),
    ("mbt-weekly-checkin", _has("checkin.risk.plan"), "checkin.risk.plan"),
    ("mbt-weekly-checkin", _has("checkin.risk.follow-up"), "checkin.risk.follow-up"),
    ("mbt-weekly-checkin", lambda r: True, "checkin.repairs"),
    ("rfq-8", lambda r: True, "rfq8.3"),
    ("mbt-mentalizing-profile", lambda r: True, "profile.dimensions"),
    ("mbt-mentalizing-profile", lambda r: True, "profile.modes"),
    ("mbt-mentalizing-profile", lambda r: True, "profile.epistemic-trust"),
    ("mbt-mentalizing-profile", lambda r: True, "profile.capacity.stress"),
    ("mbt-formulation", lambda r: True, "presenting"),
    ("mbt-formulation", lambda r: True, "risk-history"),
    ("mbt-formulation", lambda r: True, "risk-history.means"),
    ("mbt-formulation", lambda r: True, "risk-history.context"),
    ("mbt-formulation", lambda r: True, "comorbidity.concurrent-treatment"),
    ("mbt-formulation", lambda r: True, "goals"),
    ("mbt-formulation", lambda r: True, "crisis"),
    ("mbt-formulation", lambda r: True, "crisis.self"),
    ("mbt-formulation", lambda r: True, "crisis.review-date"),
    ("mbt-formulation", lambda r: True, "agreement"),
    ("mbt-formulation", lambda r: True, "agreement.letter"),
    ("mbt-formulation", lambda r: True, "diagnosis.shared"),
    ("mbt-crisis-plan", lambda r: True, "crisis-plan.revision"),
    ("mbt-crisis-plan", lambda r: True, "crisis"),
    ("mbt-crisis-plan", lambda r: True, "crisis.review-date"),
    ("mbt-crisis-plan", lambda r: True, "crisis-plan.agreement"),
    ("mbt-periodic-review", lambda r: True, "review.status"),
    ("mbt-periodic-review", lambda r: True, "review.functioning"),
    ("mbt-periodic-review", lambda r: True, "review.goals"),
]


def test_every_questionnaire_has_completeness_cases():
    assert {qid for qid, _, _ in CASES} == set(terminology.QUESTIONNAIRES)


@pytest.mark.parametrize("qid, which, link_id", CASES, ids=[f"{q}:{l}" for q, _, l in CASES])
def test_incomplete_but_completed_response_is_refused(qid, which, link_id):
    example = _first(qid, which)
    questionnaire = shipped().get(example["questionnaire"])
    items, removed = _without(example["item"], link_id)
    assert removed, f"the example {example['id']} has {link_id}"
    response = {**example, "item": items}
    issues = [i for i in validate_response(response)["issue"] if i["severity"] == "error"]
    named = [i for i in issues if i["code"] == "required" and issue_link_id(i) == link_id]
    assert named, issues
    assert _text_of(questionnaire, link_id) in named[0]["diagnostics"], "the question is named by its text"
    draft = {**response, "status": "in-progress"}
    assert [i for i in validate_response(draft)["issue"] if i["code"] == "required"] == [], "drafts stay free"


@pytest.mark.parametrize("rid", sorted(EXAMPLES))
def test_every_example_response_passes(rid):
    assert validate_response(EXAMPLES[rid])["issue"] == []


def _risk_session() -> dict:
    return copy.deepcopy(_first("mbt-session-record", _has("risk.follow-up")))


def test_no_further_action_cannot_be_recorded_with_another_action():
    response = _risk_session()
    assert _set(response["item"], "risk.action", [_coding("risk-explored"), _coding("no-further-action")])
    issues = validate_response(response)["issue"]
    assert [i["code"] for i in issues] == ["invariant"]
    assert "'No further action' cannot be recorded together with another action" in issues[0]["diagnostics"]
    assert issue_link_id(issues[0]) == "risk.follow-up"
    assert validate_response({**response, "status": "in-progress"})["issue"] == []
    assert _set(response["item"], "risk.action", [_coding("no-further-action")])
    assert _set(response["item"], "risk.level", [_coding("risk-low")])
    assert validate_response(response)["issue"] == []


def test_imminent_risk_needs_an_emergency_action():
    response = _risk_session()
    assert _set(response["item"], "risk.level", [_coding("risk-imminent")])
    assert _set(response["item"], "risk.action", [_coding("risk-explored"), _coding("contact-increased")])
    issues = validate_response(response)["issue"]
    assert [i["code"] for i in issues] == ["invariant"] and "emergency action" in issues[0]["diagnostics"]
    for emergency in ("emergency-referral", "emergency-services-called"):
        assert _set(response["item"], "risk.action", [_coding("risk-explored"), _coding(emergency)])
        assert validate_response(response)["issue"] == []


def test_missed_session_path_has_the_same_constraints():
    response = copy.deepcopy(_first("mbt-session-record", _has("session.missed.risk-follow-up")))
    assert _set(response["item"], "session.missed.risk-action",
                [_coding("crisis-line-given"), _coding("no-further-action")])
    issues = validate_response(response)["issue"]
    assert [issue_link_id(i) for i in issues] == ["session.missed.risk-follow-up"]


def test_not_assessed_is_an_answer_and_opens_no_follow_up():
    response = copy.deepcopy(_first("mbt-session-record", _has("risk.self-harm", "risk-not-assessed")))
    assert validate_response(response)["issue"] == []
    assert "risk.follow-up" not in json.dumps(response)


@pytest.mark.parametrize("qid, group", [("mbt-weekly-checkin", "checkin.scores"), ("rfq-8", "rfq8.scores")])
def test_score_groups_are_hidden_from_patients_but_still_computed(qid, group):
    questionnaire = shipped().get(terminology.questionnaire_url(qid))
    [item] = [i for i in questionnaire["item"] if i["linkId"] == group]
    assert {"url": HIDDEN, "valueBoolean": True} in item["extension"]
    example = _first(qid)
    unscored, _ = _without(example["item"], group)
    scored = apply_scores({**example, "item": unscored})
    assert [i for i in scored["item"] if i["linkId"] == group] == [i for i in example["item"] if i["linkId"] == group]


def _concepts(concepts):
    for concept in concepts:
        yield concept
        yield from _concepts(concept.get("concept", []))


def _selectable(concept) -> bool:
    return not any(p.get("code") == "notSelectable" and p.get("valueBoolean") for p in concept.get("property", []))


def test_every_selectable_code_is_used_by_some_content():
    index = shipped()
    code_system = index.get(terminology.CODE_SYSTEM)
    assert code_system["hierarchyMeaning"] == "grouped-by"
    used = set()
    for folder in (definitions_dir(),):
        for path in folder.glob("*.json"):
            if path.name.startswith("CodeSystem-") or path.name == "package.json":
                continue
            text = path.read_text("utf-8")
            used |= {part.split('"', 1)[0] for part in text.split('"code": "')[1:]}
    used |= {d["use"]["code"] for c in _concepts(code_system["concept"]) for d in c.get("designation", [])}
    unused = sorted(c["code"] for c in _concepts(code_system["concept"]) if _selectable(c) and c["code"] not in used)
    assert unused == []


def test_risk_levels_say_the_highest_fitting_level_applies():
    concepts = {c["code"]: c for c in _concepts(shipped().get(terminology.CODE_SYSTEM)["concept"])}
    assert "highest level" in concepts["risk-level"]["definition"]
    assert "emergency action" in concepts["risk-imminent"]["definition"]


def test_mentalizing_profile_says_it_is_not_validated():
    description = shipped().get(terminology.questionnaire_url(terminology.MENTALIZING_PROFILE))["description"]
    assert "not been validated in published research" in description


def test_no_display_item_carries_a_code():
    """R4 que-3: a display item has no ``code``; what it is for goes in questionnaire-displayCategory."""
    offenders = []

    def walk(qid, items):
        for item in items or ():
            if item.get("type") == "display" and item.get("code"):
                offenders.append((qid, item["linkId"]))
            walk(qid, item.get("item"))

    for q in shipped().resources("Questionnaire"):
        walk(q["id"], q.get("item"))
    assert offenders == []
