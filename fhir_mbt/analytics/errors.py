"""The errors of the analytics path, registered under :class:`fhir_mbt.errors.FhirMbtError`.

    FhirMbtError
    └── AnalyticsError
        ├── ViewDefinitionInvalid(ValueError)  a ViewDefinition breaks the SQL-on-FHIR v2 shape
        │   └── UnsupportedConstruct           uses a FHIRPath construct the runner lacks (names it)
        ├── ViewEvaluationError(ValueError)    a view failed on a resource (names view, resource)
        ├── ExportError                        a Bulk Data export failed (carries status and body)
        │   ├── ExportNotSupported             the server has no $export at that level
        │   ├── ExportFailed                   the job ended in error (carries the OperationOutcome)
        │   ├── ExportExpired                  the job or its files are gone (404/410)
        │   └── ExportTimedOut                 the job outlived the wait allowed
        ├── BackendAuthError                   SMART Backend Services: no token was issued
        ├── EngineUnavailable                  an optional engine (Pathling/Spark, Java) is missing
        └── ReportError(ValueError)            the tables lack what the report needs
"""

from __future__ import annotations

from typing import Any

from fhir_mbt.errors import FhirMbtError

__all__ = [
    "AnalyticsError",
    "ViewDefinitionInvalid",
    "UnsupportedConstruct",
    "ViewEvaluationError",
    "ExportError",
    "ExportNotSupported",
    "ExportFailed",
    "ExportExpired",
    "ExportTimedOut",
    "BackendAuthError",
    "EngineUnavailable",
    "ReportError",
]


class AnalyticsError(FhirMbtError):
    """Root of the errors of :mod:`fhir_mbt.analytics`."""


class ViewDefinitionInvalid(AnalyticsError, ValueError):
    """A ViewDefinition does not have the SQL-on-FHIR v2 shape."""


class UnsupportedConstruct(ViewDefinitionInvalid):
    """A ViewDefinition uses something the runner does not implement; ``construct`` names it."""

    def __init__(self, construct: str, where: str = ""):
        self.construct = construct
        self.where = where
        at = f" in {where}" if where else ""
        super().__init__(f"unsupported FHIRPath construct {construct!r}{at}")


class ViewEvaluationError(AnalyticsError, ValueError):
    """A view could not be evaluated over a resource."""


class ExportError(AnalyticsError):
    """A Bulk Data export failed; ``status`` and ``body`` are from the last HTTP answer."""

    def __init__(self, message: str, status: int | None = None, body: Any = None):
        self.status = status
        self.body = body
        super().__init__(message)


class ExportNotSupported(ExportError):
    """The server does not offer ``$export`` at the level asked for."""


class ExportFailed(ExportError):
    """The export job ended in error; ``outcome`` is the server's OperationOutcome (if any)."""

    def __init__(self, message: str, status: int | None = None, body: Any = None):
        super().__init__(message, status, body)
        self.outcome = body if isinstance(body, dict) and body.get("resourceType") == "OperationOutcome" else None


class ExportExpired(ExportError):
    """The job's status URL or a file URL is gone (deleted or expired on the server)."""


class ExportTimedOut(ExportError):
    """The job did not finish within the allowed time."""


class BackendAuthError(AnalyticsError):
    """SMART Backend Services authorization failed."""


class EngineUnavailable(AnalyticsError):
    """An optional engine cannot run here; the message says what is missing."""


class ReportError(AnalyticsError, ValueError):
    """The tables do not hold what the report needs."""
