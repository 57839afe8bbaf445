"""FHIRPath: strict parsing, the SDC environment, and the compiled subset agreeing with fhirpathpy."""

from __future__ import annotations

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import engine_support as es
from fhir_mbt.engine.compiled import compile_questionnaire
from fhir_mbt.content import shipped
from fhir_mbt.errors import ContentError
from fhir_mbt.engine.fhirpath import (
    ExpressionEvaluationError,
    ExpressionSyntaxError,
    compile_expression,
    evaluate,
)

QR = {
    "resourceType": "QuestionnaireResponse",
    "item": [
        {"linkId": "a", "answer": [{"valueCoding": {"system": "s", "code": "x"}}]},
        {"linkId": "g", "item": [{"linkId": "n", "answer": [{"valueInteger": 4}]},
                                 {"linkId": "d", "answer": [{"valueDecimal": 1.5}]}]},
    ],
}


@pytest.mark.parametrize("text", ["item.where(", "1 +", "a b", "", "   ", "%"])
def test_syntax_errors_are_errors(text):
    with pytest.raises(ExpressionSyntaxError) as info:
        compile_expression(text)
    assert isinstance(info.value, ContentError) and isinstance(info.value, ValueError)


def test_undefined_variable_is_an_evaluation_error():
    with pytest.raises(ExpressionEvaluationError, match="nope"):
        evaluate("%nope + 1", QR)


def test_compile_is_cached():
    assert compile_expression("1 + 1") is compile_expression("1 + 1")


def test_results_are_plain_json_values():
    assert evaluate("%resource.repeat(item).where(linkId='d').answer.value", QR) == [1.5]
    assert evaluate("%resource.repeat(item).where(linkId='n').answer.value + 1", QR) == [5]
    assert evaluate("(1 / 4)", QR) == [0.25]
    assert evaluate("%resource.item.answer.value", QR) == [{"system": "s", "code": "x"}]


def test_context_variables_and_questionnaire():
    item = QR["item"][1]
    assert evaluate("%context.item.count()", QR, context=item) == [2]
    assert evaluate("item.linkId", QR, context=item) == ["n", "d"]
    assert evaluate("%questionnaire.id", QR, questionnaire={"resourceType": "Questionnaire", "id": "q"}) == ["q"]
    assert evaluate("%total + 1", QR, variables={"total": [2]}) == [3]


def test_weight_and_ordinal_use_the_given_lookup():
    weights = {"x": 2.5}.get
    assert evaluate("%resource.item.answer.value.weight()", QR, weights=lambda c: weights(c["code"])) == [2.5]
    assert evaluate("%resource.item.answer.value.ordinal()", QR, weights=lambda c: weights(c["code"])) == [2.5]
    assert evaluate("%resource.item.answer.value.weight()", QR) == []


@pytest.mark.parametrize("expression, expected", [
    ("iif(true, 1, 2)", [1]),
    ("iif({}, 1)", []),
    ("(1 | 2 | 2 | 3).count()", [3]),
    ("(1 | 2 | 3).aggregate($total + $this, 0)", [6]),
    ("(1 | 2 | 3).select($this * 2).sum()", [12]),
    ("(7 div 2)", [3]),
    ("(7 mod 2)", [1]),
    ("(1 / 0)", []),
    ("(2 / 3).round(2)", [0.67]),
    ("(0.125).round(2)", [0.13]),
    ("'a' in ('a' | 'b')", [True]),
    ("('a' | 'b') contains 'c'", [False]),
    ("true and {}", []),
    ("false and {}", [False]),
    ("true or {}", [True]),
    ("{} implies true", [True]),
    ("(1 | 2).exists($this > 1)", [True]),
    ("(1 | 2).all($this > 1)", [False]),
    ("'5'.toInteger() + 1", [6]),
    ("('a' & {})", ["a"]),
    ("-(3)", [-3]),
    ("(10 | 20 | 30)[1]", [20]),
    ("{}.empty()", [True]),
])
def test_compiled_subset_semantics(expression, expected):
    assert evaluate(expression, QR) == expected


def test_unsupported_functions_fall_back_to_fhirpathpy():
    expr = compile_expression("'abc'.upper()")
    assert not expr.compiled
    assert expr.evaluate(QR) == ["ABC"]


def _shipped_expressions():
    index = shipped()
    out = []
    for q in index.resources("Questionnaire"):
        compiled = compile_questionnaire(q, index)
        for d in compiled.walk():
            for expr in (d.calculated, d.enable_expression):
                if expr is not None:
                    out.append((q, expr))
    return out


def test_every_shipped_expression_compiles_to_the_fast_form():
    found = _shipped_expressions()
    assert found, "the shipped Questionnaires have calculated items"
    slow = [e.expression for _, e in found if not e.compiled]
    assert slow == []


@pytest.mark.parametrize("qid", ["rfq-8", "mbt-session-record", "mbt-weekly-checkin", "mbt-mentalizing-profile"])
def test_compiled_and_interpreted_agree_on_shipped_expressions(qid):
    index = shipped()
    q = index.by_id("Questionnaire", qid)
    compiled = compile_questionnaire(q, index)
    exprs = [d.calculated for d in compiled.walk() if d.calculated is not None]

    @settings(max_examples=30, deadline=None, suppress_health_check=list(HealthCheck))
    @given(es.answers_for(q, index, status="in-progress"))
    def check(resp):
        for expr in exprs:
            env = {"resource": resp, "rootResource": resp, "context": resp, "questionnaire": q}
            fast = expr.evaluate(resp, questionnaire=q, weights=compiled.weight_of)
            slow = expr.interpret(resp, resp, env, compiled.weight_of)
            assert len(fast) == len(slow)
            for f, s in zip(fast, slow):
                assert f == pytest.approx(s, abs=1e-9), expr.expression

    check()


@given(st.lists(st.integers(-50, 50), min_size=1, max_size=6))
@settings(max_examples=40, deadline=None, suppress_health_check=list(HealthCheck))
def test_arithmetic_agrees_with_fhirpathpy(numbers):
    text = " + ".join(f"({n})" for n in numbers) + f" / {len(numbers)}"
    expr = compile_expression(text)
    env = {"resource": QR, "rootResource": QR, "context": QR}
    assert expr.evaluate(QR) == pytest.approx(expr.interpret(QR, QR, env, None))


def test_switching_the_compiler_off_sends_evaluation_to_fhirpathpy(monkeypatch):
    from fhir_mbt.engine import fhirpath

    expr = compile_expression("1 + 2")
    assert expr.compiled
    calls = []
    real = fhirpath.CompiledExpression.interpret
    monkeypatch.setattr(fhirpath.CompiledExpression, "interpret",
                        lambda self, *a: calls.append(self.expression) or real(self, *a))
    assert expr.evaluate(QR) == [3] and calls == []
    fhirpath.use_compiler(False)
    try:
        assert expr.evaluate(QR) == [3] and calls == ["1 + 2"]
    finally:
        fhirpath.use_compiler(True)
