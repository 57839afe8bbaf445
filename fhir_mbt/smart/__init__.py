"""SMART App Launch 2.x, client side, knowing nothing of any web framework.

    smart = SmartClient(client_id=..., redirect_uri=..., scope=SCOPES,
                        issuers=["https://ehr.example/fhir"])
    url, pending = smart.authorize(iss, launch=launch)   # store pending server-side
    ...
    tokens = smart.complete(store.pop(state), request_args)  # store tokens server-side
    fhir = FhirClient(tokens.issuer, auth=BearerAuth(tokens, smart.refresh))

Discovery (well-known document, CapabilityStatement fallback), issuer
allowlist, PKCE S256 and state, v2 scopes (v1 grants read too), public and
confidential clients (``client_secret_basic``, ``client_secret_post``,
``private_key_jwt``; each server's advertised methods pick one), the
launch context with fhirContext, id_token verification and refresh. Errors
come from one tree, see :mod:`._errors`.
"""

from fhir_mbt.smart._authorize import PendingAuthorization, authorization_request, read_callback
from fhir_mbt.smart._client import SmartClient
from fhir_mbt.smart._client_auth import (
    CLIENT_ASSERTION_TYPE,
    ClientAuth,
    ClientSecretBasic,
    ClientSecretPost,
    PrivateKeyJwt,
    PublicClient,
    choose_client_auth,
    public_jwks,
)
from fhir_mbt.smart._discovery import OAUTH_URIS, SmartConfiguration, discover
from fhir_mbt.smart._errors import (
    AuthorizationDenied,
    AuthorizationError,
    AuthorizationExpired,
    DiscoveryError,
    IdTokenInvalid,
    InvalidClient,
    InvalidGrant,
    IssuerNotAllowed,
    MalformedTokenResponse,
    PkceNotSupported,
    RefreshUnavailable,
    SmartError,
    SmartTransportError,
    StateMismatch,
    TokenError,
)
from fhir_mbt.smart._id_token import IdTokenClaims
from fhir_mbt.smart._issuers import IssuerAllowlist, normalize_issuer
from fhir_mbt.smart._pkce import code_challenge, states_match
from fhir_mbt.smart._scopes import (
    FHIR_USER,
    LAUNCH,
    LAUNCH_ENCOUNTER,
    LAUNCH_PATIENT,
    OFFLINE_ACCESS,
    ONLINE_ACCESS,
    OPENID,
    GrantedScopes,
    Scope,
    parse_scope,
    resource_scope,
    scope_string,
)
from fhir_mbt.smart._tokens import FhirContextItem, LaunchContext, TokenSet

__all__ = [
    "SmartClient",
    "SmartConfiguration",
    "discover",
    "OAUTH_URIS",
    "IssuerAllowlist",
    "normalize_issuer",
    "PendingAuthorization",
    "authorization_request",
    "read_callback",
    "states_match",
    "code_challenge",
    "ClientAuth",
    "PublicClient",
    "ClientSecretBasic",
    "ClientSecretPost",
    "PrivateKeyJwt",
    "choose_client_auth",
    "public_jwks",
    "CLIENT_ASSERTION_TYPE",
    "TokenSet",
    "LaunchContext",
    "FhirContextItem",
    "IdTokenClaims",
    "GrantedScopes",
    "Scope",
    "parse_scope",
    "resource_scope",
    "scope_string",
    "LAUNCH",
    "LAUNCH_PATIENT",
    "LAUNCH_ENCOUNTER",
    "OPENID",
    "FHIR_USER",
    "ONLINE_ACCESS",
    "OFFLINE_ACCESS",
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
