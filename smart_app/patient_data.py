"""Reading one patient's record from the FHIR server, in as few round trips as possible."""

from __future__ import annotations

from typing import Any

from fhir_mbt.client import FhirClient
from fhir_mbt.errors import ContentError

__all__ = ["read_patient_record", "check_response_shape", "MalformedRecord", "Responses"]

PAGE_SIZE = 1001
#: The newest this many responses are read for a page (over five years of weekly sessions and check-ins).
MAX_RECORDS = 1000
#: Items (questions and groups, nested ones included) of one response considered; the forms have a few hundred.
MAX_ITEMS = 1000

#: The JSON type each answer value must have; anything else makes the record malformed.
_VALUE_TYPES: dict[str, type | tuple[type, ...]] = {
    "valueBoolean": bool,
    "valueInteger": int,
    "valueDecimal": (int, float),
    "valueDate": str,
    "valueDateTime": str,
    "valueTime": str,
    "valueString": str,
    "valueUri": str,
    "valueCoding": dict,
    "valueQuantity": dict,
    "valueReference": dict,
    "valueAttachment": dict,
}


class Responses(list):
    """The responses read; how many records were skipped because they could not be read, how many
    were cut to :data:`MAX_ITEMS` items, and whether older records beyond :data:`MAX_RECORDS` were left."""

    skipped: int = 0
    cut: int = 0
    #: When older records were left unread: how many were read (:data:`MAX_RECORDS`), else 0.
    capped: int = 0
    cut_at: int = MAX_ITEMS


def _count_items(items: list, cap: int) -> int:
    """The number of items in the tree, counting no further than ``cap + 1``."""
    count, stack = 0, [items]
    while stack and count <= cap:
        for item in stack.pop():
            count += 1
            if item.get("item"):
                stack.append(item["item"])
            for answer in item.get("answer", ()):
                if answer.get("item"):
                    stack.append(answer["item"])
    return count


def _prune(items: list, left: list[int]) -> list:
    """The first ``left[0]`` items of the tree, in document order (a copy; the rest dropped)."""
    kept = []
    for item in items:
        if left[0] <= 0:
            break
        left[0] -= 1
        copy = dict(item)
        if item.get("item"):
            copy["item"] = _prune(item["item"], left)
        if item.get("answer"):
            copy["answer"] = [dict(a, item=_prune(a["item"], left)) if a.get("item") else a for a in item["answer"]]
        kept.append(copy)
    return kept


def _answer_ok(answer: dict) -> bool:
    for key, value in answer.items():
        if key.startswith("value"):
            wanted = _VALUE_TYPES.get(key)
            if wanted is None or not isinstance(value, wanted):
                return False
            if key in ("valueInteger", "valueDecimal") and isinstance(value, bool):
                return False
            if key == "valueCoding" and not all(isinstance(value.get(k, ""), str)
                                                for k in ("system", "code", "display")):
                return False
    return True


class MalformedRecord(ContentError):
    """A resource from the server does not have the shape the app relies on."""


def _items_ok(items: Any, depth: int = 0) -> bool:
    if not isinstance(items, list) or depth > 20:
        return False
    for item in items:
        if not isinstance(item, dict) or not isinstance(item.get("linkId"), str):
            return False
        if "item" in item and not _items_ok(item["item"], depth + 1):
            return False
        answers = item.get("answer", [])
        if not isinstance(answers, list):
            return False
        for answer in answers:
            if not isinstance(answer, dict) or not _answer_ok(answer):
                return False
            if "item" in answer and not _items_ok(answer["item"], depth + 1):
                return False
    return True


def check_response_shape(resource: Any) -> dict:
    """The QuestionnaireResponse, if its shape is what the app relies on."""
    if (
        not isinstance(resource, dict)
        or resource.get("resourceType") != "QuestionnaireResponse"
        or not isinstance(resource.get("id", ""), str)
        or not isinstance(resource.get("questionnaire", ""), str)
        or not isinstance(resource.get("status", ""), str)
        or not isinstance(resource.get("authored", ""), str)
        or not isinstance(resource.get("subject", {}), dict)
        or not isinstance(resource.get("meta", {}), dict)
        or not _items_ok(resource.get("item", []))
    ):
        rid = resource.get("id") if isinstance(resource, dict) else None
        raise MalformedRecord(f"QuestionnaireResponse/{rid} from the server is malformed")
    return resource


def _check(resource: Any) -> dict:
    if not isinstance(resource, dict) or not isinstance(resource.get("resourceType"), str):
        raise MalformedRecord("the server returned an entry that is not a FHIR resource")
    if resource["resourceType"] == "QuestionnaireResponse":
        check_response_shape(resource)
    return resource


def read_patient_record(fhir: FhirClient, patient_id: str,
                        tasks: list[dict] | None = None) -> tuple[dict | None, Responses]:
    """The Patient and all their QuestionnaireResponses, newest first.

    One search returns the responses with the Patient included; only a
    patient with no response at all costs a second request (to read the
    Patient). Pages beyond the first are followed (bounded by the client).
    Given a ``tasks`` list, the same search also brings the Tasks whose
    focus is one of the responses (``_revinclude``), appended to it.

    A response that does not have the shape the app relies on is left out and
    counted (``responses.skipped``): one bad record must not hide the others,
    least of all a risk alert.
    """
    patient = None
    responses = Responses()
    params = {
        "subject": f"Patient/{patient_id}",
        "_include": "QuestionnaireResponse:subject",
        "_sort": "-authored",
        # One more than is shown: its presence says that older records were left.
        "_count": str(min(PAGE_SIZE, MAX_RECORDS + 1)),
    }
    if tasks is not None:
        params["_revinclude"] = "Task:focus"
    for resource in fhir.search("QuestionnaireResponse", params):
        try:
            resource = _check(resource)
        except MalformedRecord:
            responses.skipped += 1
            continue
        if resource["resourceType"] == "Patient":
            patient = resource
        elif resource["resourceType"] == "Task" and tasks is not None:
            tasks.append(resource)
        elif resource["resourceType"] == "QuestionnaireResponse":
            if len(responses) >= MAX_RECORDS:
                responses.capped = MAX_RECORDS
                break
            if _count_items(resource.get("item", []), MAX_ITEMS) > MAX_ITEMS:
                resource = {**resource, "item": _prune(resource["item"], [MAX_ITEMS])}
                responses.cut += 1
            responses.append(resource)
    if patient is None:
        patient = _check(fhir.read("Patient", patient_id))
    return patient, responses
