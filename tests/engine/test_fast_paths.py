"""The engine's shortcuts give what the general paths give.

Each fast path (the per-item answer tests in validation, scoring on a
partial copy that takes over the validator's view, repeated FHIRPath
subexpressions computed once, identifiers hashed from a shared prefix) must
never change a result, only its cost.
"""

from __future__ import annotations

import copy
import uuid

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import engine_support as es
from fhir_mbt.engine.compiled import compile_questionnaire
from fhir_mbt.content import shipped
from fhir_mbt.engine.identity import _NAMESPACE, ObservationIds, uuid5
from fhir_mbt.engine.fhirpath import _plain, compile_expression
from fhir_mbt.engine.view import ResponseView
from fhir_mbt.engine.answers import check_answer, fast_checks
from fhir_mbt.engine.scoring import apply_scores, calculate

INDEX = shipped()
QUESTIONNAIRES = list(INDEX.resources("Questionnaire")) + [es.questionnaire()]


def _compiled(q: dict):
    index = INDEX if q.get("url") != es.Q_URL else es.demo_index(q)
    return compile_questionnaire(index.get(q["url"]), index)


def _candidates(defn) -> list:
    values: list = [True, False, 0, 1, -1, 7, 8, 2**31, -(2**31) - 1, 1.5, 0.0, 3.0, float("nan"), float("inf"),
                    "", "text", "2024", "2024-02-30", "2024-01-01", "2024-01-01T10:00:00Z",
                    "2024-01-01T10:00:00", "10:00:00", "25:00:00", None, [], {}, {"code": ""},
                    {"system": 1, "code": "x"}, {"code": "nope"}]
    for bound in (defn.min_value, defn.max_value):
        if bound is not None and isinstance(bound[1], (int, float)):
            values += [bound[1], bound[1] - 1, bound[1] + 1, bound[1] - 0.5, bound[1] + 0.5]
    values += [dict(c) for c in defn.option_codings.values()]
    values += [{"system": s, "code": c} for (s, c) in list(defn.allowed or {})[:5]]
    values += [{"code": c} for (_, c) in list(defn.allowed or {})[:2]]
    return values


@pytest.mark.parametrize("q", QUESTIONNAIRES, ids=lambda q: q["url"].rsplit("/", 1)[-1])
def test_answer_checks_accept_only_what_the_full_check_accepts(q):
    compiled = _compiled(q)
    for defn in compiled.walk():
        for key, check in fast_checks(defn).items():
            for value in _candidates(defn):
                found = []
                check_answer({key: value}, defn, "here", lambda *issue, **kw: found.append(issue))
                if check(value):
                    assert found == [], (defn.link_id, key, value)


@pytest.mark.parametrize("q", QUESTIONNAIRES, ids=lambda q: q["url"].rsplit("/", 1)[-1])
def test_scoring_with_the_validators_view_matches_a_fresh_one(q):
    compiled = _compiled(q)

    @settings(max_examples=15, deadline=None, database=None, suppress_health_check=list(HealthCheck))
    @given(es.answers_for(compiled.questionnaire, compiled.index), st.booleans())
    def check(resp, stale):
        if stale and resp.get("item"):  # scores missing: scoring adds them, the adopted view is dropped
            resp = copy.deepcopy(resp)
            resp["item"] = resp["item"][:-1] or resp["item"]
        before = copy.deepcopy(resp)
        fresh, fresh_results = calculate(resp, compiled)
        adopted, adopted_results = calculate(resp, compiled, ResponseView(resp, compiled))
        assert adopted == fresh and resp == before
        assert [(c.defn, c.original is None, c.answers) for c in adopted_results] == \
            [(c.defn, c.original is None, c.answers) for c in fresh_results]

    check()


def test_scoring_copies_only_what_it_writes_to():
    resp = es.response(es.minimal_items())
    before = copy.deepcopy(resp)
    scored = apply_scores(resp, index=es.demo_index())
    assert resp == before
    untouched = [a for a, b in zip(resp["item"], scored["item"]) if a is b]
    assert untouched and all(n["linkId"] != "scores" for n in untouched)


@pytest.mark.parametrize("expression", [
    "iif(%resource.repeat(item).where(linkId='n').answer.value.count() = 1, "
    "%resource.repeat(item).where(linkId='n').answer.value + 1, {})",
    "%resource.repeat(item).where(linkId in ('n' | 'd')).answer.value.aggregate($total + $this, 0) "
    "+ %resource.repeat(item).where(linkId in ('n' | 'd')).answer.value.count()",
    "%resource.repeat(item).select(%resource.repeat(item).count())",
    "%resource.repeat(item).where(linkId='g').item.select($this.linkId & %resource.repeat(item).count().toString())",
])
def test_repeated_subexpressions_agree_with_fhirpathpy(expression):
    qr = {"resourceType": "QuestionnaireResponse", "item": [
        {"linkId": "n", "answer": [{"valueInteger": 4}]},
        {"linkId": "g", "item": [{"linkId": "d", "answer": [{"valueDecimal": 1.5}]}, {"linkId": "x"}]},
    ]}
    compiled = compile_expression(expression)
    assert compiled.compiled
    env = {"resource": qr, "rootResource": qr, "context": qr}
    fast = [_plain(v) for v in compiled._fast(qr, env, None)]  # raises if it had to fall back
    assert fast == compiled.evaluate(qr) == compiled.interpret(qr, qr, env, None)


def test_observation_ids_are_uuid5_of_the_full_name():
    ids = ObservationIds("http://x|abc")
    for path, key in [("/a/b", ""), ("/g[1]/c", "http://s|c"), ("/ü", "0")]:
        expected = str(uuid.uuid5(_NAMESPACE, f"http://x|abc#{path}#{key}"))
        assert ids(path, key)["value"] == expected == uuid5(f"http://x|abc#{path}#{key}")
