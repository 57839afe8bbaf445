"""Errors of the SMART App Launch client.

    FhirMbtError
    └── SmartError                         a SMART launch step failed
        ├── IssuerNotAllowed               iss is not on the allowlist: nothing was sent to it
        ├── DiscoveryError                 no usable SMART configuration at that server
        │   └── PkceNotSupported           the server does not offer PKCE with S256
        ├── AuthorizationError             the redirect back from the authorize endpoint is unusable
        │   ├── StateMismatch              state missing, unknown, already used, or different
        │   ├── AuthorizationExpired       the pending authorization is too old
        │   └── AuthorizationDenied        the server sent error=... (access_denied, ...)
        ├── TokenError                     the token endpoint refused or answered badly
        │   ├── InvalidGrant               error=invalid_grant: code or refresh token unusable
        │   ├── InvalidClient              error=invalid_client: client authentication failed
        │   └── MalformedTokenResponse     a 200 answer that is not a usable token response
        ├── IdTokenInvalid                 id_token signature, issuer, audience or expiry wrong
        ├── RefreshUnavailable             no refresh token to refresh with
        └── SmartTransportError            the server could not be reached or timed out

Every error carries the ``requests.Response`` it came from (``None`` when no
request was made or none answered). OAuth errors also carry ``error`` and
``error_description`` as the server sent them. Messages never include a
code, token, secret or verifier.
"""

from __future__ import annotations

from typing import Any

import requests

from fhir_mbt.errors import FhirMbtError

__all__ = [
    "SmartError",
    "IssuerNotAllowed",
    "DiscoveryError",
    "PkceNotSupported",
    "AuthorizationError",
    "StateMismatch",
    "AuthorizationExpired",
    "AuthorizationDenied",
    "TokenError",
    "InvalidGrant",
    "InvalidClient",
    "MalformedTokenResponse",
    "IdTokenInvalid",
    "RefreshUnavailable",
    "SmartTransportError",
]


class SmartError(FhirMbtError):
    """A step of the SMART launch failed."""

    def __init__(
        self,
        message: str,
        *,
        response: requests.Response | None = None,
        error: str | None = None,
        error_description: str | None = None,
        outcome: dict[str, Any] | None = None,
    ):
        super().__init__(message)
        self.response = response
        self.error = error
        self.error_description = error_description
        self.outcome = outcome


class IssuerNotAllowed(SmartError):
    """The ``iss`` given at launch is not one this deployment trusts."""


class DiscoveryError(SmartError):
    """The server publishes no usable SMART configuration."""


class PkceNotSupported(DiscoveryError):
    """The server does not say it supports PKCE with S256."""


class AuthorizationError(SmartError):
    """The authorization response (the redirect back to the app) is unusable."""


class StateMismatch(AuthorizationError):
    """The ``state`` does not match a pending authorization of this session."""


class AuthorizationExpired(AuthorizationError):
    """The pending authorization is older than allowed."""


class AuthorizationDenied(AuthorizationError):
    """The authorization server answered with ``error`` instead of a code."""


class TokenError(SmartError):
    """The token endpoint refused the request or answered something unusable."""


class InvalidGrant(TokenError):
    """``invalid_grant``: the code or refresh token is expired, used, or not ours."""


class InvalidClient(TokenError):
    """``invalid_client``: the server did not accept the client's authentication."""


class MalformedTokenResponse(TokenError):
    """A success answer from the token endpoint that is not a usable token response."""


class IdTokenInvalid(SmartError):
    """The id_token failed verification."""


class RefreshUnavailable(SmartError):
    """There is no refresh token: the user has to launch the app again."""


class SmartTransportError(SmartError):
    """The authorization server could not be reached, or did not answer in time."""
