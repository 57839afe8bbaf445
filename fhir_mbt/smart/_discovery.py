"""Finding a server's SMART endpoints and checking they are safe to use.

SMART 2.x servers publish ``{iss}/.well-known/smart-configuration``; older
ones only put an ``oauth-uris`` extension in their CapabilityStatement. The
well-known document is read first, and the CapabilityStatement only when the
server answers it with a 4xx (never on a 5xx, a timeout or a broken body:
a server that has the document but fails to serve it is not a SMART 1 server).

PKCE with S256 is required. The well-known document must list it in
``code_challenge_methods_supported`` (a required field in 2.x). The
CapabilityStatement has no such field, so a server found only that way
cannot be shown to bind the code to the verifier; it is refused unless the
deployment has checked it and sets ``assume_s256_on_fallback``. The app
always sends S256 anyway.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any

import requests

from fhir_mbt.smart._errors import DiscoveryError, PkceNotSupported
from fhir_mbt.smart._http import get, json_object
from fhir_mbt.smart._issuers import is_loopback

__all__ = ["SmartConfiguration", "discover", "parse_smart_configuration", "parse_capability_statement",
           "OAUTH_URIS"]

log = logging.getLogger("fhir_mbt.smart")

OAUTH_URIS = "http://fhir-registry.smarthealthit.org/StructureDefinition/oauth-uris"
SOURCE_WELL_KNOWN = "smart-configuration"
SOURCE_CAPABILITY_STATEMENT = "capability-statement"


@dataclass(frozen=True)
class SmartConfiguration:
    """The parts of a server's SMART configuration the client relies on."""

    fhir_base: str
    authorization_endpoint: str
    token_endpoint: str
    source: str = SOURCE_WELL_KNOWN
    issuer: str | None = None
    jwks_uri: str | None = None
    capabilities: tuple[str, ...] = ()
    code_challenge_methods_supported: tuple[str, ...] = ()
    grant_types_supported: tuple[str, ...] = ()
    scopes_supported: tuple[str, ...] = ()
    response_types_supported: tuple[str, ...] = ()
    token_endpoint_auth_methods_supported: tuple[str, ...] = ()
    token_endpoint_auth_signing_alg_values_supported: tuple[str, ...] = ()
    registration_endpoint: str | None = None
    management_endpoint: str | None = None
    introspection_endpoint: str | None = None
    revocation_endpoint: str | None = None

    @property
    def supports_s256(self) -> bool:
        return "S256" in self.code_challenge_methods_supported


def _url(value: Any, name: str, response: requests.Response, required: bool) -> str | None:
    if value is None and not required:
        return None
    if not isinstance(value, str) or not value:
        raise DiscoveryError(f"{name} is missing or not a string", response=response)
    parts = requests.utils.urlparse(value)
    if parts.scheme not in {"http", "https"} or not parts.hostname:
        raise DiscoveryError(f"{name} is not an absolute http(s) URL", response=response)
    if parts.scheme != "https" and not is_loopback(parts.hostname):
        raise DiscoveryError(f"{name} must use https", response=response)
    return value


def _strings(value: Any, name: str, response: requests.Response) -> tuple[str, ...]:
    if value is None:
        return ()
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise DiscoveryError(f"{name} is not a list of strings", response=response)
    return tuple(value)


def _dicts(value: Any) -> list[dict[str, Any]]:
    return [v for v in value if isinstance(v, dict)] if isinstance(value, list) else []


def parse_smart_configuration(
    body: dict[str, Any], fhir_base: str, response: requests.Response
) -> SmartConfiguration:
    """Check and keep a ``.well-known/smart-configuration`` document."""
    methods = _strings(body.get("code_challenge_methods_supported"),
                       "code_challenge_methods_supported", response)
    grants = _strings(body.get("grant_types_supported"), "grant_types_supported", response)
    if grants and "authorization_code" not in grants:
        raise DiscoveryError("the server does not offer the authorization_code grant", response=response)
    config = SmartConfiguration(
        fhir_base=fhir_base,
        source=SOURCE_WELL_KNOWN,
        authorization_endpoint=_url(body.get("authorization_endpoint"), "authorization_endpoint",
                                    response, True),
        token_endpoint=_url(body.get("token_endpoint"), "token_endpoint", response, True),
        issuer=_url(body.get("issuer"), "issuer", response, False),
        jwks_uri=_url(body.get("jwks_uri"), "jwks_uri", response, False),
        capabilities=_strings(body.get("capabilities"), "capabilities", response),
        code_challenge_methods_supported=methods,
        grant_types_supported=grants,
        scopes_supported=_strings(body.get("scopes_supported"), "scopes_supported", response),
        response_types_supported=_strings(body.get("response_types_supported"),
                                          "response_types_supported", response),
        token_endpoint_auth_methods_supported=_strings(
            body.get("token_endpoint_auth_methods_supported"),
            "token_endpoint_auth_methods_supported", response),
        token_endpoint_auth_signing_alg_values_supported=_strings(
            body.get("token_endpoint_auth_signing_alg_values_supported"),
            "token_endpoint_auth_signing_alg_values_supported", response),
        registration_endpoint=_url(body.get("registration_endpoint"), "registration_endpoint",
                                   response, False),
        management_endpoint=_url(body.get("management_endpoint"), "management_endpoint",
                                 response, False),
        introspection_endpoint=_url(body.get("introspection_endpoint"), "introspection_endpoint",
                                    response, False),
        revocation_endpoint=_url(body.get("revocation_endpoint"), "revocation_endpoint",
                                 response, False),
    )
    if not config.supports_s256:
        raise PkceNotSupported(
            "the server does not list S256 in code_challenge_methods_supported", response=response
        )
    return config


def parse_capability_statement(
    body: dict[str, Any], fhir_base: str, response: requests.Response
) -> SmartConfiguration:
    """Read the ``oauth-uris`` extension of a CapabilityStatement (SMART 1 servers)."""
    if body.get("resourceType") != "CapabilityStatement":
        raise DiscoveryError("metadata is not a CapabilityStatement", response=response)
    uris: dict[str, Any] = {}
    for rest in _dicts(body.get("rest")):
        security = rest.get("security")
        for ext in _dicts(security.get("extension") if isinstance(security, dict) else None):
            if ext.get("url") == OAUTH_URIS:
                for sub in _dicts(ext.get("extension")):
                    if isinstance(sub.get("url"), str):
                        uris[sub["url"]] = sub.get("valueUri", sub.get("valueUrl"))
    if not uris:
        raise DiscoveryError("the server advertises no SMART endpoints", response=response)
    return SmartConfiguration(
        fhir_base=fhir_base,
        source=SOURCE_CAPABILITY_STATEMENT,
        authorization_endpoint=_url(uris.get("authorize"), "authorize", response, True),
        token_endpoint=_url(uris.get("token"), "token", response, True),
        registration_endpoint=_url(uris.get("register"), "register", response, False),
        management_endpoint=_url(uris.get("manage"), "manage", response, False),
        introspection_endpoint=_url(uris.get("introspect"), "introspect", response, False),
        revocation_endpoint=_url(uris.get("revoke"), "revoke", response, False),
    )


def discover(
    fhir_base: str,
    session: requests.Session,
    timeout,
    *,
    assume_s256_on_fallback: bool = False,
) -> SmartConfiguration:
    """The SMART configuration of an (already allowed) FHIR base URL."""
    base = fhir_base.rstrip("/")
    response = get(session, f"{base}/.well-known/smart-configuration", timeout)
    if response.ok:
        body = json_object(response, DiscoveryError, "smart-configuration")
        config = parse_smart_configuration(body, base, response)
        log.info("SMART configuration of %s read from smart-configuration", base)
        return config
    if not 400 <= response.status_code < 500:
        raise DiscoveryError(
            f"smart-configuration answered {response.status_code}", response=response
        )
    log.info("no smart-configuration at %s (%s); reading the CapabilityStatement",
             base, response.status_code)
    response = get(session, f"{base}/metadata", timeout, accept="application/fhir+json")
    if not response.ok:
        raise DiscoveryError(f"metadata answered {response.status_code}", response=response)
    body = json_object(response, DiscoveryError, "CapabilityStatement")
    config = parse_capability_statement(body, base, response)
    if not assume_s256_on_fallback:
        raise PkceNotSupported(
            "the server publishes no smart-configuration, so S256 support is unknown",
            response=response,
        )
    log.warning("SMART endpoints of %s from the CapabilityStatement; S256 assumed", base)
    return config
