"""The one exception root of the library.

Every error the library raises derives from :class:`FhirMbtError`, so a caller
can catch the whole family in one place. Errors about clinical content or data
(a bad definition, a response that does not fit its Questionnaire) also derive
from :class:`ValueError`, because that is what they are.

    FhirMbtError
    ├── ContentError(ValueError)          shipped or given definitions are unusable
    │   ├── ContentNotFound(LookupError)  no definition with that canonical URL/version
    │   ├── ContentInvalid                a definition breaks the rules (carries problems)
    │   └── ExpressionError               fhir_mbt.engine.fhirpath: a FHIRPath expression is unusable
    ├── PackageError                      the FHIR NPM package could not be built
    ├── UploadError                       fhir_mbt.content.upload: a server's answer leaves an upload unclear
    ├── ResponseError(ValueError)         fhir_mbt.engine.errors: a QuestionnaireResponse is unusable
    │   ├── ResponseInvalid               breaks its Questionnaire (carries the OperationOutcome)
    │   └── ExtractionError               cannot be turned into Observations
    ├── FhirError                         fhir_mbt.client: a FHIR REST call failed (carries the response)
    │   ├── TransportError / Timeout, Unauthorized, Forbidden, ResourceNotFound / ResourceGone,
    │   ├── VersionConflict (409 and 412), InvalidResource, RequestRejected / RateLimited,
    │   └── ServerError, MalformedResponse, PageLimitExceeded
    ├── ClientNotTrusted                  fhir_mbt.cds.client_auth: a CDS Hooks request's JWT is not trusted
    ├── NoData, Unavailable               fhir_mbt.cds.data: no way to read the record / it could not be read
    ├── SmartError                        fhir_mbt.smart: a SMART launch step failed
    │   ├── IssuerNotAllowed, DiscoveryError / PkceNotSupported, AuthorizationError
    │   │   (StateMismatch, AuthorizationExpired, AuthorizationDenied), TokenError
    │   └── (InvalidGrant, InvalidClient, MalformedTokenResponse), IdTokenInvalid, RefreshUnavailable
    └── AnalyticsError                    fhir_mbt.analytics: exports, views, report
        ├── ViewDefinitionInvalid(ValueError) / UnsupportedConstruct, ViewEvaluationError(ValueError)
        ├── ExportError / ExportNotSupported, ExportFailed, ExportExpired, ExportTimedOut
        └── BackendAuthError, EngineUnavailable, ReportError(ValueError), NdjsonError(ValueError)

Subsystems define their own subclasses next to the code that raises them and
register them under one of the branches above.
"""

from __future__ import annotations

__all__ = [
    "FhirMbtError",
    "ContentError",
    "ContentNotFound",
    "ContentInvalid",
    "PackageError",
]


class FhirMbtError(Exception):
    """Root of every error raised by fhir_mbt."""


class ContentError(FhirMbtError, ValueError):
    """A FHIR definition cannot be loaded or used."""


class ContentNotFound(ContentError, LookupError):
    """No definition is known under the requested canonical URL (and version)."""

    def __init__(self, url: str, version: str | None = None):
        self.url = url
        self.version = version
        where = f"{url}|{version}" if version else url
        super().__init__(f"no definition found for {where}")


class ContentInvalid(ContentError):
    """One or more definitions break the content rules.

    ``problems`` is the list of :class:`fhir_mbt.content.validation.Problem` found.
    """

    def __init__(self, problems):
        self.problems = list(problems)
        lines = "\n".join(str(p) for p in self.problems[:20])
        more = "" if len(self.problems) <= 20 else f"\n... and {len(self.problems) - 20} more"
        super().__init__(f"{len(self.problems)} problem(s) in the content:\n{lines}{more}")


class PackageError(FhirMbtError):
    """The FHIR NPM package could not be built or read."""
