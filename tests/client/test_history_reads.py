"""Reading a resource's versions, several reads in one batch, and Provenance targets that name versions."""

from __future__ import annotations

import json

import pytest
import responses

from fhir_mbt.client import (
    CONDITIONAL,
    FhirClient,
    Forbidden,
    MalformedResponse,
    ResourceNotFound,
    ServerWrites,
    write_bundle,
)

BASE = "https://fhir.example/r4"


@pytest.fixture
def rsps():
    with responses.RequestsMock() as mock:
        yield mock


@pytest.fixture
def fhir():
    return FhirClient(BASE, max_retries=0)


def test_history_reads_one_page_of_versions(fhir, rsps):
    page = {"resourceType": "Bundle", "type": "history", "total": 2, "entry": []}
    rsps.get(f"{BASE}/QuestionnaireResponse/r1/_history", json=page,
             match=[responses.matchers.query_param_matcher({"_count": "100"})])
    assert fhir.history("QuestionnaireResponse", "r1", {"_count": "100"}) == page


def test_history_refuses_a_searchset_and_a_bad_id(fhir, rsps):
    rsps.get(f"{BASE}/QuestionnaireResponse/r1/_history", json={"resourceType": "Bundle", "type": "searchset"})
    with pytest.raises(MalformedResponse):
        fhir.history("QuestionnaireResponse", "r1")
    with pytest.raises(ValueError):
        fhir.history("QuestionnaireResponse", "../r1")


def test_read_many_sends_one_batch_and_answers_entry_by_entry(fhir, rsps):
    answer = {"resourceType": "Bundle", "type": "batch-response", "entry": [
        {"resource": {"resourceType": "Bundle", "type": "history"}, "response": {"status": "200 OK"}},
        {"response": {"status": "403 Forbidden", "outcome": {"resourceType": "OperationOutcome", "issue": [
            {"severity": "error", "code": "forbidden", "diagnostics": "not in your scopes"}]}}},
        {"resource": {"resourceType": "OperationOutcome"}, "response": {"status": "404 Not Found"}},
        {"response": {"status": "200 OK"}},
    ]}
    rsps.post(BASE, json=answer)
    urls = ["QuestionnaireResponse/r1/_history?_count=100", "Provenance?target=QuestionnaireResponse/r1",
            "QuestionnaireResponse/r1/_history/7", "QuestionnaireResponse/r1"]
    history, forbidden, missing, empty = fhir.read_many(urls)
    assert history["type"] == "history"
    assert isinstance(forbidden, Forbidden) and "not in your scopes" in str(forbidden)
    assert "target=" not in str(forbidden), "the message names no query"
    assert isinstance(missing, ResourceNotFound)
    assert isinstance(empty, MalformedResponse)
    sent = json.loads(rsps.calls[0].request.body)
    assert sent["type"] == "batch" and [e["request"] for e in sent["entry"]] == [
        {"method": "GET", "url": url} for url in urls]


def test_read_many_refuses_an_answer_of_another_length(fhir, rsps):
    rsps.post(BASE, json={"resourceType": "Bundle", "type": "batch-response", "entry": []})
    with pytest.raises(MalformedResponse):
        fhir.read_many(["Patient/p1"])


def test_batch_is_read_from_the_capability_statement():
    def statement(*codes):
        return {"resourceType": "CapabilityStatement", "rest": [
            {"mode": "server", "interaction": [{"code": c} for c in codes]}]}

    assert ServerWrites.from_capability(statement("batch")).batch
    assert not ServerWrites.from_capability(statement("transaction")).batch
    assert not ServerWrites().batch


def test_provenance_written_one_by_one_names_the_version_of_its_target(fhir, rsps):
    qr = {"resourceType": "QuestionnaireResponse", "identifier": {"system": "urn:x", "value": "1"},
          "subject": {"reference": "Patient/p1"}, "status": "amended"}
    prov = {"resourceType": "Provenance", "id": "prov-1", "recorded": "2026-03-02T10:00:00Z",
            "target": [{"reference": "urn:uuid:qr"}, {"reference": "urn:uuid:obs"}], "reason": [{"text": "why"}]}
    obs = {"resourceType": "Observation", "identifier": [{"system": "urn:o", "value": "1"}],
           "subject": {"reference": "Patient/p1"}, "derivedFrom": [{"reference": "urn:uuid:qr"}]}
    bundle = {"resourceType": "Bundle", "type": "transaction", "entry": [
        {"fullUrl": "urn:uuid:qr", "resource": qr, "request": {"method": "PUT", "url": "QuestionnaireResponse/q1"}},
        {"fullUrl": "urn:uuid:obs", "resource": obs,
         "request": {"method": "POST", "url": "Observation", "ifNoneExist": "identifier=urn:o|1"}},
        {"fullUrl": "urn:uuid:prov", "resource": prov, "request": {"method": "PUT", "url": "Provenance/prov-1"}},
    ]}
    rsps.put(f"{BASE}/QuestionnaireResponse/q1", status=200, json={**qr, "id": "q1", "meta": {"versionId": "3"}},
             headers={"Location": f"{BASE}/QuestionnaireResponse/q1/_history/3"})
    rsps.post(f"{BASE}/Observation", status=201, json={**obs, "id": "o9", "meta": {"versionId": "1"}},
              headers={"Location": f"{BASE}/Observation/o9/_history/1"})
    rsps.put(f"{BASE}/Provenance/prov-1", status=201, json={**prov, "meta": {"versionId": "1"}})
    write_bundle(fhir, bundle, CONDITIONAL, ServerWrites(conditional_create=frozenset({"Observation"})))
    sent_obs = json.loads(rsps.calls[1].request.body)
    assert sent_obs["derivedFrom"] == [{"reference": "QuestionnaireResponse/q1"}], "other references stay unversioned"
    sent = json.loads(rsps.calls[2].request.body)
    assert sent["target"] == [{"reference": "QuestionnaireResponse/q1/_history/3"},
                              {"reference": "Observation/o9/_history/1"}]
    assert sent["reason"] == [{"text": "why"}]
