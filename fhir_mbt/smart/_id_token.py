"""Verifying the id_token and reading who the user is from it.

The id_token is only worth its ``fhirUser`` claim if it is verified:
signature with the server's key (found in its JWKS by ``kid``, fetched
again once when the ``kid`` is unknown, since keys rotate), issuer equal to
the ``issuer`` the server publishes, audience our ``client_id``, and not
expired. Only asymmetric algorithms are accepted: ``none`` and the HMAC
family would let anyone who knows the client id mint one. Expiry is checked
against the injected clock, with a small leeway for clock skew.

An id_token returned by a refresh is optional in SMART, and EHRs send it
with fewer claims (no ``aud``, no ``fhirUser``) or not at all. The identity
comes from the first, fully verified one; a refreshed one is only checked
for what it does carry (signature, and issuer if present), see
:func:`verify_refreshed_id_token`.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass
from typing import Any, Callable

import jwt
import requests

from fhir_mbt.smart._discovery import SmartConfiguration
from fhir_mbt.smart._errors import IdTokenInvalid
from fhir_mbt.smart._http import get, json_object

__all__ = ["JwksCache", "verify_id_token", "verify_refreshed_id_token", "ALLOWED_ALGORITHMS", "IdTokenClaims"]

log = logging.getLogger("fhir_mbt.smart")

ALLOWED_ALGORITHMS = ("RS256", "RS384", "RS512", "ES256", "ES384", "ES512", "PS256", "PS384", "PS512")
_FAMILY = {"RS": "RSA", "PS": "RSA", "ES": "EC"}


@dataclass(frozen=True)
class IdTokenClaims:
    """The verified claims the app uses."""

    sub: str
    fhir_user: str | None
    claims: dict[str, Any]


class JwksCache:
    """The servers' signing keys, kept for ``ttl`` seconds per ``jwks_uri``."""

    def __init__(self, session: requests.Session, timeout: Any, ttl: float = 3600.0,
                 clock: Callable[[], float] = time.time):
        self._session = session
        self._timeout = timeout
        self._ttl = ttl
        self._clock = clock
        self._sets: dict[str, tuple[float, jwt.PyJWKSet]] = {}

    def _fetch(self, uri: str) -> jwt.PyJWKSet:
        response = get(self._session, uri, self._timeout)
        if not response.ok:
            raise IdTokenInvalid(f"jwks_uri answered {response.status_code}", response=response)
        body = json_object(response, IdTokenInvalid, "JWKS")
        try:
            keys = jwt.PyJWKSet.from_dict(body)
        except (jwt.PyJWKSetError, jwt.PyJWKError, TypeError, KeyError, ValueError) as exc:
            raise IdTokenInvalid(f"JWKS is unusable: {exc}", response=response) from None
        self._sets[uri] = (self._clock(), keys)
        return keys

    def key(self, uri: str, kid: str | None) -> jwt.PyJWK:
        cached = self._sets.get(uri)
        fresh = cached is None or self._clock() - cached[0] > self._ttl
        keys = self._fetch(uri) if fresh else cached[1]
        found = _pick(keys, kid)
        if found is None and not fresh:
            found = _pick(self._fetch(uri), kid)
        if found is None:
            raise IdTokenInvalid("no key in the server's JWKS matches the id_token")
        return found


def _pick(keys: jwt.PyJWKSet, kid: str | None) -> jwt.PyJWK | None:
    usable = [k for k in keys.keys if getattr(k, "public_key_use", None) in (None, "sig")]
    if kid is None:
        return usable[0] if len(usable) == 1 else None
    return next((k for k in usable if k.key_id == kid), None)


def _signing_key(id_token: str, jwks_uri: str, jwks: JwksCache):
    """The accepted algorithm of ``id_token`` and the server's key for it (both id_token checks use this)."""
    try:
        header = jwt.get_unverified_header(id_token)
    except jwt.PyJWTError:
        raise IdTokenInvalid("id_token is not a JWT") from None
    alg = header.get("alg")
    if alg not in ALLOWED_ALGORITHMS:
        raise IdTokenInvalid(f"id_token algorithm {alg!r} is not accepted")
    key = jwks.key(jwks_uri, header.get("kid"))
    if key.key_type != _FAMILY[alg[:2]]:
        raise IdTokenInvalid("id_token algorithm does not match its key")
    return alg, key


def verify_id_token(
    id_token: str,
    config: SmartConfiguration,
    *,
    client_id: str,
    jwks: JwksCache,
    now: float,
    leeway: float = 30.0,
) -> IdTokenClaims:
    """The verified claims of ``id_token``; :class:`IdTokenInvalid` otherwise."""
    if not config.issuer or not config.jwks_uri:
        raise IdTokenInvalid("the server publishes no issuer and jwks_uri to verify an id_token with")
    alg, key = _signing_key(id_token, config.jwks_uri, jwks)
    try:
        claims = jwt.decode(
            id_token,
            key.key,
            algorithms=[alg],
            audience=client_id,
            issuer=config.issuer,
            options={
                "require": ["iss", "sub", "aud", "exp", "iat"],
                "verify_exp": False,
                "verify_iat": False,
                "verify_nbf": False,
            },
        )
    except jwt.PyJWTError as exc:
        raise IdTokenInvalid(f"id_token rejected: {type(exc).__name__}") from None
    _check_times(claims, now, leeway)
    audience = claims["aud"]
    if isinstance(audience, list) and len(audience) > 1 and claims.get("azp") != client_id:
        raise IdTokenInvalid("id_token has several audiences and azp is not this client")
    fhir_user = claims.get("fhirUser") or claims.get("profile")
    if fhir_user is not None and not isinstance(fhir_user, str):
        raise IdTokenInvalid("fhirUser claim is not a string")
    log.info("id_token verified for %s", config.fhir_base)
    return IdTokenClaims(sub=str(claims["sub"]), fhir_user=fhir_user, claims=claims)


def _check_times(claims: dict[str, Any], now: float, leeway: float) -> None:
    def number(name: str) -> float | None:
        value = claims.get(name)
        if value is None:
            return None
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise IdTokenInvalid(f"id_token {name} is not a number")
        return float(value)

    exp, iat, nbf = number("exp"), number("iat"), number("nbf")
    if exp is not None and now > exp + leeway:
        raise IdTokenInvalid("id_token has expired")
    if iat is not None and iat > now + leeway:
        raise IdTokenInvalid("id_token is issued in the future")
    if nbf is not None and nbf > now + leeway:
        raise IdTokenInvalid("id_token is not valid yet")


def verify_refreshed_id_token(
    id_token: str,
    config: SmartConfiguration,
    *,
    client_id: str,
    jwks: JwksCache,
) -> dict[str, Any]:
    """The claims of an id_token from a refresh, checked leniently.

    The signature must verify with the server's key and an ``iss``, if
    present, must be the server's issuer; an ``aud``, if present, must name
    this client. Missing claims and expiry are not held against it: the
    access token next to it is what matters, and the identity was taken
    from the first id_token. :class:`IdTokenInvalid` when what is there is
    wrong.
    """
    if not config.jwks_uri:
        raise IdTokenInvalid("the server publishes no jwks_uri to verify an id_token with")
    alg, key = _signing_key(id_token, config.jwks_uri, jwks)
    try:
        claims = jwt.decode(
            id_token,
            key.key,
            algorithms=[alg],
            options={"verify_aud": False, "verify_iss": False, "verify_exp": False,
                     "verify_iat": False, "verify_nbf": False},
        )
    except jwt.PyJWTError as exc:
        raise IdTokenInvalid(f"id_token rejected: {type(exc).__name__}") from None
    if "iss" in claims and config.issuer and claims["iss"] != config.issuer:
        raise IdTokenInvalid("refreshed id_token names another issuer")
    audience = claims.get("aud")
    if audience is not None:
        names = audience if isinstance(audience, list) else [audience]
        if client_id not in names:
            raise IdTokenInvalid("refreshed id_token is for another client")
    return claims
