"""Errors of the FHIR REST client, and the one place that maps a status to an error.

    FhirMbtError
    └── FhirError                          a FHIR REST call failed
        ├── TransportError                 no HTTP answer at all (refused, DNS, TLS, reset)
        │   └── Timeout                    connecting or reading took longer than allowed
        ├── Unauthorized                   401, after the auth object had its one refresh
        ├── Forbidden                      403: authenticated, but not allowed (scopes)
        ├── ResourceNotFound(LookupError)  404
        │   └── ResourceGone               410: it existed and was deleted
        ├── VersionConflict                409 or 412: someone else changed it first
        ├── InvalidResource(ValueError)    400 or 422: the server refused what was sent
        ├── RequestRejected                any other 4xx (405, 406, 415, ...)
        │   └── RateLimited                429 still there after the retries
        ├── ServerError                    5xx still there after the retries
        ├── MalformedResponse(ValueError)  a success answer that is not the FHIR JSON expected
        ├── PageLimitExceeded              a search has more pages than the client follows
        └── PartialWrite                   a write plan of single requests stopped part-way

Every error carries the ``requests.Response`` it came from (``None`` for
transport errors) and the OperationOutcome the server sent, when it sent one.
HAPI answers a failed ``If-Match`` with 409 while the specification says 412;
callers see one :class:`VersionConflict` either way.
"""

from __future__ import annotations

from typing import Any

import requests

from fhir_mbt.errors import FhirMbtError

__all__ = [
    "FhirError",
    "TransportError",
    "Timeout",
    "Unauthorized",
    "Forbidden",
    "ResourceNotFound",
    "ResourceGone",
    "VersionConflict",
    "InvalidResource",
    "RequestRejected",
    "RateLimited",
    "ServerError",
    "MalformedResponse",
    "PageLimitExceeded",
    "PartialWrite",
    "error_for_response",
    "error_for_entry",
    "operation_outcome",
]


class FhirError(FhirMbtError):
    """A FHIR REST call failed."""

    def __init__(
        self,
        message: str,
        *,
        response: requests.Response | None = None,
        outcome: dict[str, Any] | None = None,
    ):
        super().__init__(message)
        self.response = response
        self.outcome = outcome

    @property
    def status(self) -> int | None:
        return None if self.response is None else self.response.status_code


class TransportError(FhirError):
    """The server could not be reached, or the connection broke."""


class Timeout(TransportError):
    """Connecting or reading took longer than the configured timeout."""


class Unauthorized(FhirError):
    """401: the credentials are missing, expired, or were refused after a refresh."""


class Forbidden(FhirError):
    """403: the token is valid but does not allow this interaction."""


class ResourceNotFound(FhirError, LookupError):
    """404: no resource at that address."""


class ResourceGone(ResourceNotFound):
    """410: the resource existed and has been deleted."""


class VersionConflict(FhirError):
    """409 or 412: the resource changed since the version the caller holds."""


class InvalidResource(FhirError, ValueError):
    """400 or 422: the server refused the request or resource as invalid."""


class RequestRejected(FhirError):
    """Any other 4xx status."""


class RateLimited(RequestRejected):
    """429, still there once the retries (if any were allowed) ran out."""


class ServerError(FhirError):
    """5xx, still there once the retries (if any were allowed) ran out."""


class MalformedResponse(FhirError, ValueError):
    """A success answer whose body is not the FHIR JSON the call expects."""


class PageLimitExceeded(FhirError):
    """A search has more pages than the client was told to follow."""


_BY_STATUS: dict[int, type[FhirError]] = {
    400: InvalidResource,
    401: Unauthorized,
    403: Forbidden,
    404: ResourceNotFound,
    409: VersionConflict,
    410: ResourceGone,
    412: VersionConflict,
    422: InvalidResource,
    429: RateLimited,
}


def _error_class(status: int) -> type[FhirError]:
    if status in _BY_STATUS:
        return _BY_STATUS[status]
    if 400 <= status < 500:
        return RequestRejected
    return ServerError


def operation_outcome(response: requests.Response) -> dict[str, Any] | None:
    """The OperationOutcome in an error body, or ``None``; never raises."""
    try:
        body = response.json()
    except ValueError:
        return None
    if isinstance(body, dict) and body.get("resourceType") == "OperationOutcome":
        return body
    return None


def _diagnostics(outcome: dict[str, Any] | None) -> str:
    if not outcome:
        return ""
    texts = []
    for issue in outcome.get("issue") or []:
        if not isinstance(issue, dict):
            continue
        details = issue.get("details") if isinstance(issue.get("details"), dict) else {}
        text = issue.get("diagnostics") or details.get("text")
        if isinstance(text, str) and text:
            texts.append(text)
    return "; ".join(texts[:3])


def error_for_response(response: requests.Response) -> FhirError | None:
    """The error a response stands for, or ``None`` for a success.

    The class is chosen from the status alone, before the body is looked at, so
    that an HTML page from a gateway in front of the server still gives
    :class:`Unauthorized` or :class:`Forbidden`. The OperationOutcome is then
    read leniently: a body that is not one is simply not carried.
    """
    status = response.status_code
    if status < 400:
        return None
    cls = _error_class(status)
    outcome = operation_outcome(response)
    request = response.request
    where = f"{request.method} {request.url}" if request is not None else response.url
    message = f"{where} answered {status} {response.reason or ''}".rstrip()
    detail = _diagnostics(outcome)
    if detail:
        message = f"{message}: {detail}"
    return cls(message, response=response, outcome=outcome)


def error_for_entry(entry: Any, where: str) -> FhirError | None:
    """The error a batch-response entry stands for (its ``response.status``), or ``None`` for a success.

    ``where`` names the entry's request in the message (never a query, which may name a patient).
    """
    reply = entry.get("response") if isinstance(entry, dict) else None
    status_text = str((reply or {}).get("status") or "").strip()
    code = status_text[:3]
    if not code.isdigit():
        return MalformedResponse(f"{where}: the batch answer has no status for this entry")
    status = int(code)
    if status < 400:
        return None
    outcome = (reply or {}).get("outcome") or entry.get("resource")
    outcome = outcome if isinstance(outcome, dict) and outcome.get("resourceType") == "OperationOutcome" else None
    message = f"{where} answered {status_text}"
    detail = _diagnostics(outcome)
    return _error_class(status)(f"{message}: {detail}" if detail else message, outcome=outcome)


class PartialWrite(FhirError):
    """A plan of single requests stopped part-way; ``stored`` names what was written.

    Running the same Bundle again completes it (every entry is idempotent).
    """

    def __init__(self, message: str, *, stored: list[str], missing: list[str], cause: FhirError,
                 answer: dict[str, Any]):
        super().__init__(message, response=getattr(cause, "response", None))
        self.stored = stored
        self.missing = missing
        self.cause = cause
        self.answer = answer
