"""Uploading definitions: only what differs is written, in one transaction."""

from __future__ import annotations

import json

import pytest
import responses

import minicontent as mc
from fhir_mbt.client import FhirClient
from fhir_mbt.content import ContentIndex
from fhir_mbt.content.upload import UploadError, same_content, upload_definitions, upload_examples

BASE = "http://fhir.test/fhir"


@pytest.fixture
def index(tmp_path):
    return ContentIndex.from_folder(mc.write(tmp_path / "c"))


def batch_answer(index, present: dict[str, dict]):
    def callback(request):
        body = json.loads(request.body)
        if body["type"] == "batch":
            entries = []
            for entry in body["entry"]:
                key = entry["request"]["url"]
                if key in present:
                    entries.append({"resource": present[key], "response": {"status": "200 OK"}})
                else:
                    entries.append({"response": {"status": "404 Not Found"}})
            return 200, {}, json.dumps({"resourceType": "Bundle", "type": "batch-response", "entry": entries})
        sent.append(body)
        for entry in body["entry"]:
            present[entry["request"]["url"]] = dict(entry["resource"], meta={"versionId": "1"})
        reply = [{"response": {"status": "201 Created"}} for _ in body["entry"]]
        return 200, {}, json.dumps({"resourceType": "Bundle", "type": "transaction-response", "entry": reply})

    sent: list[dict] = []
    return callback, sent


@responses.activate
def test_first_upload_writes_everything_then_nothing(index):
    present: dict[str, dict] = {}
    callback, sent = batch_answer(index, present)
    responses.add_callback(responses.POST, BASE, callback=callback)
    client = FhirClient(BASE)
    first = upload_definitions(client, index)
    assert len(first.written) == 6 and first.unchanged == []
    assert len(sent) == 1 and {e["request"]["method"] for e in sent[0]["entry"]} == {"PUT"}
    second = upload_definitions(client, index)
    assert second.written == [] and len(second.unchanged) == 6
    assert len(sent) == 1, "nothing may be written the second time"


@responses.activate
def test_only_changed_definitions_are_written(index):
    present = {f"{r['resourceType']}/{r['id']}": dict(r, meta={"versionId": "3"}) for r in index.resources()}
    present["ValueSet/modes"] = dict(present["ValueSet/modes"], title="Old title")
    callback, sent = batch_answer(index, present)
    responses.add_callback(responses.POST, BASE, callback=callback)
    report = upload_definitions(FhirClient(BASE), index)
    assert report.written == ["ValueSet/modes"]
    assert [e["request"]["url"] for e in sent[0]["entry"]] == ["ValueSet/modes"]


@responses.activate
def test_a_short_batch_answer_is_an_error(index):
    responses.add(
        responses.POST, BASE, json={"resourceType": "Bundle", "type": "batch-response", "entry": []}
    )
    with pytest.raises(UploadError, match="answered 0 entries"):
        upload_definitions(FhirClient(BASE), index)


def test_same_content_ignores_server_elements_and_number_form():
    ours = {"resourceType": "Observation", "id": "a", "valueQuantity": {"value": 3}}
    theirs = {"resourceType": "Observation", "id": "a", "valueQuantity": {"value": 3.0}, "meta": {"versionId": "2"}}
    assert same_content(ours, theirs)
    assert not same_content(ours, None)
    assert not same_content(ours, dict(theirs, status="final"))


@responses.activate
def test_example_bundle_sent_whole_once(tmp_path):
    def change(files):
        files["examples/Bundle-demo.json"] = {
            "resourceType": "Bundle",
            "id": "demo",
            "type": "transaction",
            "entry": [
                {
                    "fullUrl": "urn:uuid:0f6e7d2c-1111-4e3b-9c55-000000000001",
                    "resource": {"resourceType": "Patient", "id": "p1"},
                    "request": {"method": "PUT", "url": "Patient/p1"},
                },
                {
                    "fullUrl": "urn:uuid:0f6e7d2c-1111-4e3b-9c55-000000000002",
                    "resource": {
                        "resourceType": "Observation",
                        "id": "o1",
                        "status": "final",
                        "code": {"text": "x"},
                        "subject": {"reference": "urn:uuid:0f6e7d2c-1111-4e3b-9c55-000000000001"},
                    },
                    "request": {"method": "PUT", "url": "Observation/o1"},
                },
            ],
        }

    index = ContentIndex.from_folder(mc.write(tmp_path / "c", mc.variant(change)))
    present: dict[str, dict] = {}
    callback, sent = batch_answer(index, present)
    responses.add_callback(responses.POST, BASE, callback=callback)
    # The server stores the resolved reference, as a real one does.
    client = FhirClient(BASE)
    assert upload_examples(client, index).written == ["Bundle/demo"]
    present["Observation/o1"]["subject"] = {"reference": "Patient/p1"}
    assert upload_examples(client, index).unchanged == ["Bundle/demo"]
    assert len(sent) == 1


def test_view_definitions_stay_off_the_server():
    """An R4 server has no ViewDefinition type: upload leaves the views, and the guide's entries for them, behind."""
    from fhir_mbt.content import shipped
    from fhir_mbt.content.upload import for_server

    guide = next(r for r in shipped().resources("ImplementationGuide"))
    assert any(e["reference"]["reference"].startswith("ViewDefinition/") for e in guide["definition"]["resource"])
    kept = for_server(guide)["definition"]["resource"]
    assert kept and not any(e["reference"]["reference"].startswith("ViewDefinition/") for e in kept)
    base = "http://fhir.example.org/r4"

    def answer(request):
        bundle = json.loads(request.body)
        entries = [{"response": {"status": "404" if bundle["type"] == "batch" else "200"}} for _ in bundle["entry"]]
        return 200, {}, json.dumps({"resourceType": "Bundle", "type": f"{bundle['type']}-response", "entry": entries})

    with responses.RequestsMock() as mock:
        mock.add_callback(responses.POST, base, callback=answer, content_type="application/fhir+json")
        report = upload_definitions(FhirClient(base), shipped())
        for call in mock.calls:
            entries = json.loads(call.request.body)["entry"]
            assert not [e for e in entries if e["request"]["url"].startswith("ViewDefinition/")]
    assert report.written and not [k for k in report.written if k.startswith("ViewDefinition/")]
