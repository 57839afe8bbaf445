"""Reading one patient's record from the FHIR server, in as few round trips as possible."""

from __future__ import annotations

from typing import Any

from fhir_mbt.client import FhirClient
from fhir_mbt.errors import ContentError

__all__ = ["read_patient_record", "MalformedRecord"]

PAGE_SIZE = 1000


class MalformedRecord(ContentError):
    """A resource from the server does not have the shape the app relies on."""


def _check(resource: Any) -> dict:
    if not isinstance(resource, dict) or not isinstance(resource.get("resourceType"), str):
        raise MalformedRecord("the server returned an entry that is not a FHIR resource")
    if resource["resourceType"] == "QuestionnaireResponse":
        if not isinstance(resource.get("item", []), list) or not isinstance(resource.get("questionnaire", ""), str):
            raise MalformedRecord(f"QuestionnaireResponse/{resource.get('id')} is malformed")
    return resource


def read_patient_record(fhir: FhirClient, patient_id: str) -> tuple[dict | None, list[dict]]:
    """The Patient and all their QuestionnaireResponses, newest first.

    One search returns the responses with the Patient included; only a
    patient with no response at all costs a second request (to read the
    Patient). Pages beyond the first are followed (bounded by the client).
    """
    patient = None
    responses: list[dict] = []
    params = {
        "subject": f"Patient/{patient_id}",
        "_include": "QuestionnaireResponse:subject",
        "_sort": "-authored",
        "_count": str(PAGE_SIZE),
    }
    for resource in fhir.search("QuestionnaireResponse", params):
        resource = _check(resource)
        if resource["resourceType"] == "Patient":
            patient = resource
        elif resource["resourceType"] == "QuestionnaireResponse":
            responses.append(resource)
    if patient is None:
        patient = _check(fhir.read("Patient", patient_id))
    return patient, responses
