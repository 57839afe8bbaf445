"""The engine's public face: pinned names and the whole data path in one call."""

from __future__ import annotations

import pytest

import engine_support as es
import fhir_mbt.engine as engine


def test_public_names_are_pinned():
    assert sorted(engine.__all__) == sorted([
        "OBSERVATION_IDENTIFIER_SYSTEM", "RESPONSE_IDENTIFIER_SYSTEM", "ExpressionError", "ExtractionError",
        "ExtractionResult", "Processed", "ResponseError", "ResponseInvalid", "apply_scores", "check_response",
        "extract", "process_response", "score", "transaction_bundle", "validate_response",
    ])
    for name in engine.__all__:
        assert hasattr(engine, name)


def test_process_response_runs_the_whole_path():
    index = es.demo_index()
    processed = engine.process_response(es.response(es.minimal_items()), index=index)
    assert processed.outcome["issue"] == []
    assert processed.response["item"][-1]["linkId"] == "scores"
    kinds = [e["resource"]["resourceType"] for e in processed.bundle["entry"]]
    assert kinds[0] == "QuestionnaireResponse" and kinds[-1] == "Provenance"
    assert kinds.count("Observation") == len(processed.extraction.observations) == 4


def test_process_response_refuses_an_invalid_response():
    with pytest.raises(engine.ResponseInvalid) as info:
        engine.process_response(es.response([]), index=es.demo_index())
    assert info.value.outcome["issue"]


def test_engine_errors_survive_pickling():
    """A worker process (the synthetic cohort runs several) hands its error back intact."""
    import pickle

    outcome = {"resourceType": "OperationOutcome",
               "issue": [{"severity": "error", "code": "value", "diagnostics": "bad", "expression": ["X"]}]}
    again = pickle.loads(pickle.dumps(engine.ResponseInvalid(outcome)))
    assert isinstance(again, engine.ResponseInvalid) and again.outcome == outcome and "bad" in str(again)
    problem = pickle.loads(pickle.dumps(engine.ExtractionError("no", [{"diagnostics": "x"}])))
    assert str(problem) == "no" and problem.problems == [{"diagnostics": "x"}]
