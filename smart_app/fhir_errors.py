"""What a person is told when a library call fails, in one table."""

from __future__ import annotations

from fhir_mbt import client
from fhir_mbt.errors import ContentError, FhirMbtError
from fhir_mbt.smart import SmartError

__all__ = ["describe", "describe_read"]

_RETRY = "Nothing was saved. Try again in a moment; if it keeps happening, tell your administrator."


_READ = "This page could not be shown: {what}. Nothing was changed. Try again in a moment; if it keeps happening, tell your administrator."


def describe_read(exc: FhirMbtError) -> tuple[str, str, int]:
    """(title, message, HTTP status) for a page that only reads: it says what failed, not "Nothing was saved"."""
    title, message, status = describe(exc)
    if message == _RETRY:
        what = {
            504: "the FHIR server did not answer within the time this page allows",
            502: "the FHIR server failed or sent something unreadable while the patient's records were read",
        }.get(status, "reading the patient's records failed")
        return title, _READ.format(what=what), status
    if isinstance(exc, ContentError):
        return title, "A record on the FHIR server does not have the expected shape. Nothing was changed.", status
    return title, message.replace("Nothing was saved. ", "").replace(" Nothing was saved.", ""), status


def describe(exc: FhirMbtError) -> tuple[str, str, int]:
    """(title, message, HTTP status) for an error page."""
    if isinstance(exc, client.Timeout):
        return "The FHIR server did not answer in time", _RETRY, 504
    if isinstance(exc, client.Unauthorized):
        return "Your sign-in has expired", "Open the app again from the patient's chart.", 401
    if isinstance(exc, client.Forbidden):
        return "Not allowed", "The EHR did not give this app permission for that. Nothing was saved.", 403
    if isinstance(exc, client.ResourceNotFound):
        return "Not found", "The record is not on the FHIR server (it may have been removed).", 404
    if isinstance(exc, client.VersionConflict):
        return "Changed by someone else", "Someone saved this record after you opened it. Reload it to see their changes.", 409
    if isinstance(exc, client.MalformedResponse):
        return "The FHIR server sent something unreadable", _RETRY, 502
    if isinstance(exc, (client.ServerError, client.TransportError, client.RateLimited)):
        return "The FHIR server is not available", _RETRY, 502
    if isinstance(exc, client.FhirError):
        return "The FHIR server refused the request", "Nothing was saved. " + _first_line(exc), 502
    if isinstance(exc, SmartError):
        return "Sign-in problem", "Open the app again from the patient's chart.", 401
    if isinstance(exc, ContentError):
        return "A record could not be read", "A record on the FHIR server does not have the expected shape. Nothing was changed.", 502
    return "Something went wrong", _RETRY, 500


def _first_line(exc: Exception) -> str:
    text = str(exc).splitlines()[0] if str(exc) else ""
    return text[:200]
