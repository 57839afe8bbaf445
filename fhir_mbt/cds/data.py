"""The data the ``patient-view`` service needs: from the EHR's prefetch, else read within a time budget.

One query, the one the app's dashboard runs: the patient's
QuestionnaireResponses, newest first, with the Tasks whose focus they are
(``_revinclude=Task:focus``), so every care-team follow-up, open or closed,
comes with its record. It is offered as the prefetch template; when the EHR
did not satisfy it, the service runs it itself on ``fhirServer`` with the
``fhirAuthorization`` token, each request bounded by what is left of the
budget. Of a prefetched Bundle split into pages, the first page is read:
newest first, a thousand responses is years of weekly records, more than
any card looks back.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Any, Mapping

from fhir_mbt.client import BearerAuth, FhirClient, FhirError
from fhir_mbt.errors import FhirMbtError

__all__ = ["PREFETCH_KEY", "PREFETCH", "PatientData", "Unavailable", "NoData", "from_prefetch", "fetch",
           "gather"]

PREFETCH_KEY = "mbtRecords"
PAGE_SIZE = 1000
PREFETCH = {
    PREFETCH_KEY: ("QuestionnaireResponse?subject=Patient/{{context.patientId}}&_revinclude=Task:focus"
                   f"&_sort=-authored&_count={PAGE_SIZE}"),
}


class Unavailable(FhirMbtError):
    """The record could not be read (in time, or at all): say so, never guess."""


class NoData(FhirMbtError):
    """Neither prefetch nor a FHIR server and token to read with (CDS Hooks: 412)."""


@dataclass
class PatientData:
    responses: list[dict] = field(default_factory=list)
    tasks: list[dict] = field(default_factory=list)

    def add(self, resource: Any) -> None:
        if not isinstance(resource, dict):
            return
        kind = resource.get("resourceType")
        if kind == "QuestionnaireResponse":
            self.responses.append(resource)
        elif kind == "Task":
            self.tasks.append(resource)


def _static_token(access_token: str):
    class _Token:
        def __init__(self):
            self.access_token = access_token

        def expired(self, now=None, leeway=0.0) -> bool:
            return False

    return _Token()


def from_prefetch(prefetch: Any) -> PatientData | None:
    """The prefetched record, or None when the EHR did not send (or could not satisfy) the template."""
    if not isinstance(prefetch, Mapping):
        return None
    bundle = prefetch.get(PREFETCH_KEY)
    if not isinstance(bundle, Mapping):
        return None  # absent, null (nothing found is an empty Bundle for a search) or not a resource
    if bundle.get("resourceType") == "OperationOutcome":
        return None
    if bundle.get("resourceType") != "Bundle":
        raise Unavailable("the prefetched data is not a Bundle")
    data = PatientData()
    for entry in bundle.get("entry") or []:
        if isinstance(entry, Mapping):
            data.add(entry.get("resource"))
    return data


def _client(fhir_server: str, authorization: Mapping, budget: float, session=None) -> FhirClient:
    token = authorization.get("access_token")
    if not isinstance(token, str) or not token:
        raise NoData("fhirAuthorization has no access_token")
    return FhirClient(fhir_server, auth=BearerAuth(_static_token(token)), session=session,
                      timeout=(budget, budget), max_retries=0, page_limit=10)


def fetch(fhir_server: str, authorization: Mapping, patient_id: str, *, budget: float,
          session=None) -> PatientData:
    """Run the template on the EHR's server, every request bounded by what is left of ``budget`` seconds."""
    deadline = time.monotonic() + budget
    client = _client(fhir_server, authorization, budget, session)
    data = PatientData()
    params = {"subject": f"Patient/{patient_id}", "_revinclude": "Task:focus", "_sort": "-authored",
              "_count": str(PAGE_SIZE)}
    try:
        for bundle in client.pages("QuestionnaireResponse", params):
            for entry in bundle.get("entry") or []:
                if isinstance(entry, Mapping):
                    data.add(entry.get("resource"))
            left = deadline - time.monotonic()
            if left <= 0.05:
                raise Unavailable("the FHIR server did not answer within the time budget")
            client.timeout = (left, left)
    except FhirError as exc:
        raise Unavailable(f"the FHIR server could not be read ({type(exc).__name__})") from exc
    return data


def gather(request: Mapping, patient_id: str, *, budget: float, session=None) -> PatientData:
    """The record for a hook request: its prefetch when satisfied, else read from ``fhirServer``."""
    data = from_prefetch(request.get("prefetch"))
    if data is not None:
        return data
    server, authorization = request.get("fhirServer"), request.get("fhirAuthorization")
    if not isinstance(server, str) or not isinstance(authorization, Mapping):
        raise NoData("no prefetch, and no fhirServer with fhirAuthorization to read with")
    try:
        return fetch(server, authorization, patient_id, budget=budget, session=session)
    except ValueError as exc:  # fhirServer is not an absolute http(s) URL
        raise NoData("fhirServer is not an absolute http(s) URL") from exc
