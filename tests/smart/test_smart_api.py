"""The public face of fhir_mbt.smart: pinned, and every error under one root."""

import inspect

import fhir_mbt.smart as smart
from fhir_mbt.errors import FhirMbtError


def test_exported_names_are_pinned():
    assert sorted(smart.__all__) == sorted([
        "SmartClient", "SmartConfiguration", "discover", "OAUTH_URIS", "IssuerAllowlist",
        "normalize_issuer", "PendingAuthorization", "authorization_request", "read_callback",
        "states_match", "code_challenge", "ClientAuth", "PublicClient", "ClientSecretBasic", "ClientSecretPost", "choose_client_auth", "public_jwks",
        "PrivateKeyJwt", "CLIENT_ASSERTION_TYPE", "TokenSet", "LaunchContext", "FhirContextItem",
        "IdTokenClaims", "GrantedScopes", "Scope", "parse_scope", "resource_scope", "scope_string",
        "LAUNCH", "LAUNCH_PATIENT", "LAUNCH_ENCOUNTER", "OPENID", "FHIR_USER", "ONLINE_ACCESS",
        "OFFLINE_ACCESS", "SmartError", "IssuerNotAllowed", "DiscoveryError", "PkceNotSupported",
        "AuthorizationError", "StateMismatch", "AuthorizationExpired", "AuthorizationDenied",
        "TokenError", "InvalidGrant", "InvalidClient", "MalformedTokenResponse", "IdTokenInvalid",
        "RefreshUnavailable", "SmartTransportError",
    ])
    assert all(hasattr(smart, name) for name in smart.__all__)


def test_every_error_derives_from_smart_error_and_the_root():
    errors = [getattr(smart, n) for n in smart.__all__
              if inspect.isclass(getattr(smart, n)) and issubclass(getattr(smart, n), Exception)]
    assert len(errors) == 15
    assert all(issubclass(e, smart.SmartError) and issubclass(e, FhirMbtError) for e in errors)
    from fhir_mbt.smart import _errors
    for name in _errors.__all__:
        assert name in _errors.__doc__


def test_smart_and_fhir_errors_are_separate_branches():
    from fhir_mbt.client import FhirError
    assert not issubclass(smart.SmartError, FhirError) and not issubclass(FhirError, smart.SmartError)
