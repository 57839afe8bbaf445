"""Numbers with a ``questionnaire-unit`` are extracted as UCUM ``valueQuantity``, as the profiles say."""

import pytest

from fhir_mbt.content import shipped
from fhir_mbt.content.extensions import UNIT
from fhir_mbt.engine import extract


def _items(items):
    for item in items:
        yield item
        yield from _items(item.get("item", []))


def _with_units():
    index = shipped()
    for q in index.resources("Questionnaire"):
        for item in _items(q.get("item", [])):
            unit = next((e["valueCoding"] for e in item.get("extension", []) if e["url"] == UNIT), None)
            if unit and item["type"] in ("integer", "decimal") and item.get("code"):
                yield q, item, unit


def _example(index, q):
    bundle = index.resources("Bundle", examples=True)[0]
    return [e["resource"] for e in bundle["entry"] if e["resource"]["resourceType"] == "QuestionnaireResponse"
            and e["resource"]["questionnaire"].split("|")[0] == q["url"] and e["resource"]["status"] != "in-progress"]


def test_the_contract_items_have_units():
    linked = {item["linkId"] for _, item, _ in _with_units()}
    assert {"contract.sessions-per-week", "contract.length-months"} <= linked


@pytest.mark.parametrize("link_id", ["contract.sessions-per-week", "contract.length-months"])
def test_extracted_as_ucum_quantities(link_id):
    index = shipped()
    q, item, unit = next(found for found in _with_units() if found[1]["linkId"] == link_id)
    responses = _example(index, q)
    assert responses
    result = extract(responses[0], q, index)
    code = item["code"][0]["code"]
    [obs] = [o for o in result.observations if o["code"]["coding"][0]["code"] == code]
    assert "valueInteger" not in obs
    quantity = obs["valueQuantity"]
    assert quantity["system"] == "http://unitsofmeasure.org" and quantity["code"] == unit["code"]
    assert isinstance(quantity["value"], (int, float))
