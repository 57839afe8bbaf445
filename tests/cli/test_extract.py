"""``fhir-mbt extract`` prints the transaction Bundle; failures go to stderr with a non-zero exit."""

from __future__ import annotations

import json

from fhir.resources.R4B.bundle import Bundle
from fhir_mbt.cli import main
from fhir_mbt.cli.extract import INCOMPLETE

RFQ = "http://fhir-mbt.org/fhir/Questionnaire/rfq-8|0.1.0"
CHECKIN = "http://fhir-mbt.org/fhir/Questionnaire/mbt-weekly-checkin|0.1.0"
MBT = "http://fhir-mbt.org/fhir/CodeSystem/mbt"


def rfq(**extra):
    return {
        "resourceType": "QuestionnaireResponse", "questionnaire": RFQ, "status": "completed",
        "subject": {"reference": "Patient/p1"}, "authored": "2026-03-02T10:00:00Z",
        "author": {"reference": "Patient/p1"},
        "item": [{"linkId": f"rfq8.{i}", "answer": [{"valueCoding": {"system": MBT, "code": "agree"}}]}
                 for i in range(1, 9)],
        **extra,
    }


def write(tmp_path, resource, name="response.json"):
    path = tmp_path / name
    path.write_text(json.dumps(resource), encoding="utf-8")
    return str(path)


def test_prints_a_transaction_bundle(tmp_path, capsys):
    assert main(["extract", write(tmp_path, rfq())]) == 0
    bundle = json.loads(capsys.readouterr().out)
    Bundle.model_validate(bundle)
    types = [e["resource"]["resourceType"] for e in bundle["entry"]]
    assert types == ["QuestionnaireResponse", "Observation", "Observation", "Provenance"]
    scores = bundle["entry"][0]["resource"]["item"][-1]
    assert scores["linkId"] == "rfq8.scores", "the written response carries its scores"


def test_broken_response_exits_1(tmp_path, capsys):
    assert main(["extract", write(tmp_path, rfq(status="finished"))]) == 1
    captured = capsys.readouterr()
    assert captured.out == ""
    assert json.loads(captured.err)["issue"][0]["expression"] == ["QuestionnaireResponse.status"]


def test_wrong_questionnaire_version_exits_1(tmp_path, capsys):
    assert main(["extract", write(tmp_path, rfq(questionnaire=RFQ.replace("0.1.0", "9.0.0")))]) == 1
    assert json.loads(capsys.readouterr().err)["issue"][0]["code"] == "not-found"


def test_draft_is_written_alone(tmp_path, capsys):
    draft = rfq(status="in-progress")
    draft["item"] = draft["item"][:3]
    assert main(["extract", write(tmp_path, draft)]) == 0
    bundle = json.loads(capsys.readouterr().out)
    assert [e["resource"]["resourceType"] for e in bundle["entry"]] == ["QuestionnaireResponse"]


def test_unextractable_answers_are_listed_with_exit_2(tmp_path, capsys):
    questionnaire = json.loads(json.dumps(__import__("fhir_mbt.content", fromlist=["shipped"]).shipped().get(RFQ)))
    del questionnaire["item"][-1]["item"][0]["code"]
    args = ["extract", write(tmp_path, rfq()), "--questionnaire", write(tmp_path, questionnaire, "q.json")]
    assert main(args) == INCOMPLETE
    captured = capsys.readouterr()
    Bundle.model_validate(json.loads(captured.out))
    problems = json.loads(captured.err)["issue"]
    assert "rfq8.certainty" in problems[0]["diagnostics"]


def test_an_amendment_carries_its_reason_on_the_provenance(tmp_path, capsys):
    earlier = rfq(id="r1")
    amended = rfq(id="r1", status="amended")
    amended["item"][0]["answer"] = [{"valueCoding": {"system": MBT, "code": "disagree"}}]
    args = ["extract", write(tmp_path, amended), "--previous", write(tmp_path, earlier, "earlier.json"),
            "--reason", "  Item 1 was entered wrongly:\n corrected with the patient  "]
    assert main(args) == 0
    bundle = json.loads(capsys.readouterr().out)
    Bundle.model_validate(bundle)
    [provenance] = [e["resource"] for e in bundle["entry"] if e["resource"]["resourceType"] == "Provenance"]
    assert provenance["reason"] == [{"text": "Item 1 was entered wrongly: corrected with the patient"}]
    assert provenance["activity"]["coding"][0]["code"] == "UPDATE"


def test_an_amendment_without_a_reason_has_none(tmp_path, capsys):
    assert main(["extract", write(tmp_path, rfq(id="r1", status="amended"))]) == 0
    bundle = json.loads(capsys.readouterr().out)
    [provenance] = [e["resource"] for e in bundle["entry"] if e["resource"]["resourceType"] == "Provenance"]
    assert "reason" not in provenance


def test_a_reason_for_what_is_not_an_amendment_is_refused(tmp_path, capsys):
    assert main(["extract", write(tmp_path, rfq()), "--reason", "why"]) == 1
    captured = capsys.readouterr()
    assert captured.out == "" and "--reason is for an amended response" in captured.err


def test_an_overlong_reason_is_refused(tmp_path, capsys):
    assert main(["extract", write(tmp_path, rfq(id="r1", status="amended")), "--reason", "x" * 501]) == 1
    captured = capsys.readouterr()
    assert captured.out == "" and "at most 500 characters" in captured.err
