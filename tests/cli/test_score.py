"""``fhir-mbt score`` prints the scores, or the OperationOutcome and exits 1."""

from __future__ import annotations

import json

from fhir_mbt.cli import main

RFQ = "http://fhir-mbt.org/fhir/Questionnaire/rfq-8|0.1.0"
AGREEMENT = ["strongly-disagree", "disagree", "slightly-disagree", "neither-agree-nor-disagree",
             "slightly-agree", "agree", "strongly-agree"]


def rfq(ratings, **extra):
    return {
        "resourceType": "QuestionnaireResponse", "questionnaire": RFQ, "status": "completed",
        "subject": {"reference": "Patient/p1"}, "authored": "2026-03-02T10:00:00Z",
        "item": [{"linkId": f"rfq8.{i}", "answer": [{"valueCoding": {
            "system": "http://fhir-mbt.org/fhir/CodeSystem/mbt", "code": AGREEMENT[r - 1]}}]}
            for i, r in enumerate(ratings, start=1)],
        **extra,
    }


def write(tmp_path, resource, name="response.json"):
    path = tmp_path / name
    path.write_text(json.dumps(resource), encoding="utf-8")
    return str(path)


def test_prints_scores_as_json(tmp_path, capsys):
    assert main(["score", write(tmp_path, rfq([2, 6, 1, 7, 5, 3, 2, 4]))]) == 0
    assert json.loads(capsys.readouterr().out) == {"rfq8.certainty": 1.0, "rfq8.uncertainty": 1.33}


def test_invalid_response_exits_1_with_outcome_on_stderr(tmp_path, capsys):
    resp = rfq([1] * 7)
    assert main(["score", write(tmp_path, resp)]) == 1
    captured = capsys.readouterr()
    assert captured.out == ""
    outcome = json.loads(captured.err)
    assert outcome["resourceType"] == "OperationOutcome"
    assert outcome["issue"][0]["code"] == "required"


def test_mismatched_questionnaire_file(tmp_path, capsys):
    other = {"resourceType": "Questionnaire", "url": "http://x.example/Questionnaire/q", "status": "active"}
    args = ["score", write(tmp_path, rfq([1] * 8)), "--questionnaire", write(tmp_path, other, "q.json")]
    assert main(args) == 1
    assert json.loads(capsys.readouterr().err)["issue"][0]["expression"] == ["QuestionnaireResponse.questionnaire"]


def test_unreadable_input(tmp_path, capsys):
    bad = tmp_path / "bad.json"
    bad.write_text("{not json", encoding="utf-8")
    assert main(["score", str(bad)]) == 1
    assert json.loads(capsys.readouterr().err)["issue"][0]["severity"] == "fatal"
    assert main(["score", str(tmp_path / "missing.json")]) == 1
    assert "cannot be read" in capsys.readouterr().err
