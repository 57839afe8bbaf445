"""Choosing a write plan from a CapabilityStatement."""

from fhir_mbt.client import CONDITIONAL, SEARCH, TRANSACTION, ServerWrites

TYPES = {"QuestionnaireResponse", "Observation"}


def capability(transaction=True, conditional=True, types=("QuestionnaireResponse", "Observation", "Provenance"),
               interactions=("read", "create", "update")):
    return {"resourceType": "CapabilityStatement", "rest": [{
        "mode": "server",
        "interaction": [{"code": "transaction"}] if transaction else [{"code": "batch"}],
        "resource": [{"type": t, "interaction": [{"code": c} for c in interactions],
                      "conditionalCreate": conditional} for t in types],
    }]}


def test_transaction_when_the_server_takes_them():
    assert ServerWrites.from_capability(capability()).plan(TYPES) == TRANSACTION


def test_conditional_single_requests_without_transactions():
    assert ServerWrites.from_capability(capability(transaction=False)).plan(TYPES) == CONDITIONAL


def test_search_then_create_without_conditional_create():
    assert ServerWrites.from_capability(capability(False, False)).plan(TYPES) == SEARCH


def test_conditional_create_must_hold_for_every_type_written():
    writes = ServerWrites.from_capability(capability(False, True, types=("QuestionnaireResponse",)))
    assert writes.plan(TYPES) == SEARCH


def test_writable_types():
    writes = ServerWrites.from_capability(capability(types=("QuestionnaireResponse", "Observation"),
                                                     interactions=("read", "search-type")))
    assert not writes.can_write("Observation")
    assert writes.can_write("Provenance"), "a type the statement does not list is not ruled out"


def test_an_empty_statement_gives_the_safest_plan():
    assert ServerWrites.from_capability({}).plan(TYPES) == SEARCH
