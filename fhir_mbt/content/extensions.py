"""The FHIR and SDC extensions the project reads, and the one reader of each.

Questionnaires carry their behaviour in extensions (scores, extraction,
bounds, units, controls). The validator, the engine and the app's form
renderer all need some of them; they ask here, so each extension's URL and
its reading (which ``value[x]`` counts, what inherits) are written once.
"""

from __future__ import annotations

from typing import Any, Iterator, Mapping

from fhir_mbt.errors import ContentError

__all__ = [
    "CALCULATED_EXPRESSION",
    "CONSTRAINT",
    "DISPLAY_CATEGORY",
    "CQF_CALCULATED_VALUE",
    "ENABLE_WHEN_EXPRESSION",
    "ENTRY_FORMAT",
    "HIDDEN",
    "ITEM_CONTROL",
    "ITEM_OBSERVATION_DEFINITION",
    "MAX_DECIMAL_PLACES",
    "MAX_VALUE",
    "MIN_LENGTH",
    "MIN_VALUE",
    "OBSERVATION_EXTRACT",
    "OBSERVATION_EXTRACT_CATEGORY",
    "ORDINAL_URLS",
    "REGEX",
    "SDC",
    "UNIT",
    "VARIABLE",
    "VERSION_ALGORITHM",
    "calculated_value",
    "constraints",
    "extensions",
    "fhirpath",
    "has",
    "observation_definition",
    "observation_extract",
    "value",
    "value_of",
    "variables",
    "version_algorithm",
    "weight",
]

SDC = "http://hl7.org/fhir/uv/sdc/StructureDefinition/"
_CORE = "http://hl7.org/fhir/StructureDefinition/"

CALCULATED_EXPRESSION = SDC + "sdc-questionnaire-calculatedExpression"
ENABLE_WHEN_EXPRESSION = SDC + "sdc-questionnaire-enableWhenExpression"
OBSERVATION_EXTRACT = SDC + "sdc-questionnaire-observationExtract"
OBSERVATION_EXTRACT_CATEGORY = SDC + "sdc-questionnaire-observation-extract-category"
VARIABLE = _CORE + "variable"
UNIT = _CORE + "questionnaire-unit"
MIN_VALUE = _CORE + "minValue"
MAX_VALUE = _CORE + "maxValue"
MIN_LENGTH = _CORE + "minLength"
REGEX = _CORE + "regex"
MAX_DECIMAL_PLACES = _CORE + "maxDecimalPlaces"
ITEM_CONTROL = _CORE + "questionnaire-itemControl"
CONSTRAINT = _CORE + "questionnaire-constraint"
#: What a display item is for (R4 forbids a ``code`` on display items; this extension says it instead).
DISPLAY_CATEGORY = _CORE + "questionnaire-displayCategory"
HIDDEN = _CORE + "questionnaire-hidden"
ENTRY_FORMAT = _CORE + "entryFormat"
#: On the value of minValue/maxValue: a bound computed when answering (SDC "cqf-calculatedValue").
CQF_CALCULATED_VALUE = _CORE + "cqf-calculatedValue"
#: R5's ``Questionnaire.versionAlgorithm[x]`` in R4: FHIR's cross-version extension. SDC (rule
#: sdc-2) wants it wherever a Questionnaire has a ``version``; the value is a Coding of the
#: version-algorithm code system (``semver``).
VERSION_ALGORITHM = "http://hl7.org/fhir/5.0/StructureDefinition/extension-Questionnaire.versionAlgorithm[x]"
VERSION_ALGORITHM_SYSTEM = "http://hl7.org/fhir/version-algorithm"
#: The project's link from a scored item to the ObservationDefinition that says how to read its value.
ITEM_OBSERVATION_DEFINITION = "http://fhir-mbt.org/fhir/StructureDefinition/item-observation-definition"
#: Answer weights: R5's itemWeight and the older R4 ordinalValue, read alike.
ORDINAL_URLS = (_CORE + "itemWeight", _CORE + "ordinalValue")


def extensions(element: Mapping, url: str) -> Iterator[dict]:
    """The extensions of ``element`` with this URL, in order."""
    for ext in element.get("extension", ()):
        if isinstance(ext, dict) and ext.get("url") == url:
            yield ext


def has(element: Mapping, url: str) -> bool:
    return next(extensions(element, url), None) is not None


def value(element: Mapping, url: str) -> tuple[str, Any] | None:
    """The ``(value[x] key, value)`` of the first extension with this URL that has one."""
    for ext in extensions(element, url):
        for key, found in ext.items():
            if key.startswith("value"):
                return key, found
    return None


def value_of(element: Mapping, url: str) -> Any:
    """Just the value of :func:`value` (None when absent)."""
    found = value(element, url)
    return found[1] if found else None


def version_algorithm(resource: Mapping) -> str | None:
    """How the resource's versions compare: the version-algorithm code (e.g. ``semver``), or for a
    ``valueString`` the FHIRPath it holds; None when the extension is absent or has neither."""
    found = value(resource, VERSION_ALGORITHM)
    if found is None:
        return None
    key, given = found
    if key == "valueCoding" and isinstance(given, Mapping) and given.get("system") == VERSION_ALGORITHM_SYSTEM:
        return given.get("code") if isinstance(given.get("code"), str) else None
    if key == "valueString" and isinstance(given, str):
        return given
    return None


def observation_extract(element: Mapping) -> bool | None:
    """The SDC observationExtract flag set on this element itself (None: not set, inherit)."""
    for ext in extensions(element, OBSERVATION_EXTRACT):
        if isinstance(ext.get("valueBoolean"), bool):
            return ext["valueBoolean"]
    return None


def observation_definition(item: Mapping) -> str | None:
    """The id of the ObservationDefinition an item names (``ObservationDefinition/<id>``), if any."""
    for ext in extensions(item, ITEM_OBSERVATION_DEFINITION):
        reference = (ext.get("valueReference") or {}).get("reference")
        if isinstance(reference, str) and reference.startswith("ObservationDefinition/"):
            return reference.split("/", 1)[1] or None
    return None


def weight(element: Mapping) -> Any:
    """The answer weight (itemWeight / ordinalValue) declared on an element, if any."""
    for ext in element.get("extension", ()):
        if isinstance(ext, dict) and ext.get("url") in ORDINAL_URLS:
            for key in ("valueDecimal", "valueInteger"):
                if key in ext:
                    return ext[key]
    return None


def fhirpath(element: Mapping, url: str) -> str | None:
    """The FHIRPath text of the first Expression-valued extension with this URL."""
    for ext in extensions(element, url):
        expr = ext.get("valueExpression") or {}
        if expr.get("language", "text/fhirpath") == "text/fhirpath" and expr.get("expression"):
            return expr["expression"]
    return None


def calculated_value(element: Mapping, url: str) -> tuple[str, str] | None:
    """``(value[x] key, FHIRPath text)`` of a value computed when the form is filled in.

    SDC makes a minValue/maxValue dynamic by putting a ``cqf-calculatedValue``
    Expression on the extension's value, e.g. ``_valueDate`` (JSON's home for
    a primitive's extensions) holding ``today()``: "not after today". A static
    ``valueDate`` beside it is the fallback for renderers that cannot
    evaluate it. None when the extension has no such expression.
    """
    for ext in extensions(element, url):
        for key, found in ext.items():
            if key.startswith("_value") and isinstance(found, Mapping):
                text = fhirpath(found, CQF_CALCULATED_VALUE)
                if text:
                    return key[1:], text
    return None


def variables(element: Mapping) -> tuple[tuple[str, str], ...]:
    """The SDC ``variable`` extensions of an element as (name, FHIRPath text) pairs."""
    out = []
    for ext in extensions(element, VARIABLE):
        expr = ext.get("valueExpression") or {}
        if expr.get("language") == "text/fhirpath" and expr.get("name") and expr.get("expression"):
            out.append((expr["name"], expr["expression"]))
    return tuple(out)


def constraints(element: Mapping) -> list[tuple[str, str, str, str]]:
    """The ``questionnaire-constraint`` rules of an element as (key, severity, human text, FHIRPath).

    Severity is ``error`` unless the rule says ``warning``. A rule without
    an expression or a human text is a defect of the content.
    """
    out = []
    for found in extensions(element, CONSTRAINT):
        parts = {e.get("url"): next((v for k, v in e.items() if k.startswith("value")), None)
                 for e in found.get("extension", ()) if isinstance(e, dict)}
        expression, human = parts.get("expression"), parts.get("human")
        if not isinstance(expression, str) or not isinstance(human, str):
            raise ContentError("a questionnaire-constraint needs an expression and a human text")
        severity = parts.get("severity") if parts.get("severity") in ("error", "warning") else "error"
        out.append((str(parts.get("key") or ""), severity, human, expression))
    return out
