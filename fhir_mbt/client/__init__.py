"""The one FHIR REST client of the project.

    from fhir_mbt.client import FhirClient, BearerAuth, VersionConflict

    fhir = FhirClient(base_url, auth=BearerAuth(token_set, refresher))
    for obs in fhir.search("Observation", {"patient": pid, "_count": 100}):
        ...

It signs every request with its auth object and refreshes it once on a 401,
puts a timeout on every call, retries only reads, follows ``next`` links up
to a bound, and raises errors from one tree (see :mod:`._errors`) that carry
the response and the OperationOutcome.
"""

from fhir_mbt.client._auth import Auth, BearerAuth, TokenHolder
from fhir_mbt.client._client import DEFAULT_TIMEOUT, FHIR_JSON, FhirClient
from fhir_mbt.client._errors import (
    FhirError,
    Forbidden,
    InvalidResource,
    MalformedResponse,
    PageLimitExceeded,
    PartialWrite,
    RateLimited,
    RequestRejected,
    ResourceGone,
    ResourceNotFound,
    ServerError,
    Timeout,
    TransportError,
    Unauthorized,
    VersionConflict,
)
from fhir_mbt.client._plans import CONDITIONAL, SEARCH, TRANSACTION, ServerWrites, write_bundle
from fhir_mbt.client._result import WriteResult
from fhir_mbt.client._retry import RetryPolicy

__all__ = [
    "FhirClient",
    "ServerWrites",
    "PartialWrite",
    "write_bundle",
    "TRANSACTION",
    "CONDITIONAL",
    "SEARCH",
    "DEFAULT_TIMEOUT",
    "FHIR_JSON",
    "Auth",
    "BearerAuth",
    "TokenHolder",
    "WriteResult",
    "RetryPolicy",
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
]
