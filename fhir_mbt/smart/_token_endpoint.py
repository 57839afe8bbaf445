"""Requests to the token endpoint: exchanging a code, refreshing, and their errors.

OAuth errors (RFC 6749 section 5.2) are mapped here, in one place: the
``error`` code picks the class, ``error_description`` is carried as sent.
A refresh that returns no new refresh token keeps the old one; one that
returns a new one replaces it (the server may have rotated it).
"""

from __future__ import annotations

import logging
from dataclasses import replace
from typing import Any

import requests

from fhir_mbt.smart._client_auth import ClientAuth
from fhir_mbt.smart._discovery import SmartConfiguration
from fhir_mbt.smart._errors import (
    InvalidClient,
    InvalidGrant,
    MalformedTokenResponse,
    RefreshUnavailable,
    TokenError,
)
from fhir_mbt.smart._http import json_object, post_form
from fhir_mbt.smart._tokens import TokenSet, parse_token_response

__all__ = ["exchange_code", "refresh_tokens", "token_error"]

log = logging.getLogger("fhir_mbt.smart")

_ERRORS: dict[str, type[TokenError]] = {
    "invalid_grant": InvalidGrant,
    "invalid_client": InvalidClient,
}


def token_error(response: requests.Response) -> TokenError:
    """The typed error for a failed token response."""
    error = description = None
    try:
        body = response.json()
    except ValueError:
        body = None
    if isinstance(body, dict):
        error = body.get("error") if isinstance(body.get("error"), str) else None
        description = (
            body.get("error_description") if isinstance(body.get("error_description"), str) else None
        )
    cls = _ERRORS.get(error or "", TokenError)
    if error is None and response.status_code == 401:
        cls = InvalidClient
    message = f"token endpoint answered {response.status_code}"
    if error:
        message = f"{message}: {error}"
    return cls(message, response=response, error=error, error_description=description)


def _token_request(
    config: SmartConfiguration,
    client_auth: ClientAuth,
    data: dict[str, str],
    session: requests.Session,
    timeout: Any,
) -> tuple[dict[str, Any], requests.Response]:
    headers: dict[str, str] = {}
    form = dict(data)
    client_auth.apply(form, headers, config.token_endpoint)
    response = post_form(session, config.token_endpoint, form, headers, timeout)
    if response.status_code != 200:
        error = token_error(response)
        fallback = getattr(client_auth, "fallback", None)
        retry = fallback() if isinstance(error, InvalidClient) and callable(fallback) else None
        if retry is None:
            raise error
        # The secret has characters that urlencoding changes, and this server may not decode them.
        log.info("client authentication refused; sending the secret once more without urlencoding")
        return _token_request(config, retry, data, session, timeout)
    return json_object(response, MalformedTokenResponse, "token response"), response


def exchange_code(
    config: SmartConfiguration,
    client_auth: ClientAuth,
    *,
    code: str,
    redirect_uri: str,
    code_verifier: str,
    requested_scope: str,
    session: requests.Session,
    timeout: Any,
    now: float,
) -> TokenSet:
    """Trade an authorization code (and its PKCE verifier) for a token set."""
    data = {
        "grant_type": "authorization_code",
        "code": code,
        "redirect_uri": redirect_uri,
        "code_verifier": code_verifier,
    }
    body, response = _token_request(config, client_auth, data, session, timeout)
    tokens = parse_token_response(
        body, issuer=config.fhir_base, requested_scope=requested_scope, now=now, response=response
    )
    log.info("token obtained from %s (scope: %s)", config.fhir_base, tokens.scope)
    return tokens


def refresh_tokens(
    config: SmartConfiguration,
    client_auth: ClientAuth,
    tokens: TokenSet,
    *,
    session: requests.Session,
    timeout: Any,
    now: float,
) -> TokenSet:
    """A new token set from ``tokens.refresh_token``; context kept unless resent."""
    if not tokens.refresh_token:
        raise RefreshUnavailable("no refresh token: launch the app again")
    data = {"grant_type": "refresh_token", "refresh_token": tokens.refresh_token}
    body, response = _token_request(config, client_auth, data, session, timeout)
    fresh = parse_token_response(
        body, issuer=tokens.issuer, requested_scope=str(tokens.scope), now=now, response=response
    )
    context = tokens.context
    sent = fresh.context
    if sent.patient or sent.encounter or sent.fhir_context:
        context = replace(sent, fhir_user=context.fhir_user)
    return replace(
        fresh,
        refresh_token=fresh.refresh_token or tokens.refresh_token,
        id_token=fresh.id_token or tokens.id_token,
        context=context,
    )
