"""An amendment's reason: on its Provenance (``reason.text``, activity UPDATE), and only on an amendment's."""

from __future__ import annotations

import copy

import pytest

import engine_support as es
from fhir_mbt.engine import ExtractionError, extract, process_response, transaction_bundle
from fhir_mbt.engine.bundle import MAX_REASON

INDEX = es.demo_index()
NOW = "2026-03-05T09:30:00Z"


def amended():
    first = extract(es.response(es.minimal_items()), index=INDEX)
    changed = copy.deepcopy(first.response)
    changed["status"] = "amended"
    return first, extract(changed, index=INDEX, previous=first.response)


def provenance(bundle):
    [prov] = [e["resource"] for e in bundle["entry"] if e["resource"]["resourceType"] == "Provenance"]
    return prov


def test_the_reason_is_the_provenances_reason_text_beside_activity_update():
    _, second = amended()
    prov = provenance(transaction_bundle(second.response, second, now=NOW, reason=" Score\n corrected  "))
    assert prov["reason"] == [{"text": "Score corrected"}]
    assert prov["activity"]["coding"][0]["code"] == "UPDATE" and prov["recorded"] == NOW


def test_without_a_reason_the_provenance_has_none():
    _, second = amended()
    assert "reason" not in provenance(transaction_bundle(second.response, second, now=NOW))
    assert "reason" not in provenance(transaction_bundle(second.response, second, now=NOW, reason="   "))


def test_a_reason_for_a_completed_response_or_without_provenance_is_refused():
    first, second = amended()
    with pytest.raises(ExtractionError, match="amendment only"):
        transaction_bundle(first.response, first, now=NOW, reason="why")
    with pytest.raises(ExtractionError, match="cannot be left out"):
        transaction_bundle(second.response, second, now=NOW, reason="why", provenance=False)
    with pytest.raises(ExtractionError, match=str(MAX_REASON)):
        transaction_bundle(second.response, second, now=NOW, reason="x" * (MAX_REASON + 1))


def test_two_amendments_in_the_same_second_have_two_provenances_and_a_replay_one():
    _, second = amended()
    one = provenance(transaction_bundle(second.response, second, now=NOW, reason="First"))
    other = provenance(transaction_bundle(second.response, second, now=NOW, reason="Second"))
    again = provenance(transaction_bundle(second.response, second, now=NOW, reason="First"))
    assert one["id"] != other["id"] and one["id"] == again["id"]


def test_process_response_passes_the_reason_and_refuses_it_for_a_draft():
    first = extract(es.response(es.minimal_items()), index=INDEX)
    changed = copy.deepcopy(first.response)
    changed["status"] = "amended"
    processed = process_response(changed, index=INDEX, previous=first.response, now=NOW, reason="Corrected")
    assert provenance(processed.bundle)["reason"] == [{"text": "Corrected"}]
    draft = es.response(es.minimal_items())
    draft["status"] = "in-progress"
    with pytest.raises(ExtractionError):
        process_response(draft, index=INDEX, reason="why")
