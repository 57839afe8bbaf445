"""Content checks accept a bound computed the SDC way, and still check its shape.

``maxValue`` with ``_valueDate.extension[cqf-calculatedValue]`` is valid R4
JSON (the FHIR JSON schema has ``_valueDate`` on Extension), but the
fhir.resources models do not model an extension's own primitive extensions;
the model check must not report a well-formed one, and must still catch a
malformed one (the JSON schema lets a string pass for an Expression).
"""

from __future__ import annotations

import copy

from fhir_mbt.content import shipped, terminology
from fhir_mbt.content.validation import validate_resource_structure


def _session_record() -> dict:
    return copy.deepcopy(shipped().get(terminology.questionnaire_url(terminology.SESSION_RECORD)))


def test_a_computed_maximum_passes_the_structure_checks():
    q = _session_record()
    assert "_valueDate" in q["item"][0]["extension"][1]
    assert validate_resource_structure(q) == []


def test_a_malformed_computed_maximum_is_still_reported():
    q = _session_record()
    q["item"][0]["extension"][1]["_valueDate"]["extension"][0]["valueExpression"] = "today()"
    problems = validate_resource_structure(q)
    assert [(rule, where) for rule, where, _ in problems] == [
        ("r4-model", "Questionnaire.item[0].extension[1]._valueDate.extension[0].valueExpression")]
