"""Who is calling: the EHR's signed JWT on every CDS Hooks request (CDS Hooks 2.0, "Trusting CDS Clients").

    Authorization: Bearer <JWT> ─► header: asymmetric alg, kid (jku, if sent, must be the registered JWKS)
                                ─► key: the issuer's JWKS (registered per issuer, fetched, cached)
                                ─► claims: signature, iss on the allowlist, aud = the URL called,
                                   exp (at most MAX_LIFETIME ahead), iat, jti never seen before

Anything else is :class:`ClientNotTrusted` (the service answers 401). The
JWKS is fetched over https (plain http only on loopback, for development
and tests), with a timeout, kept for ``cache_seconds``, and fetched again
at most every ``refetch_seconds`` when a token names a ``kid`` it lacks
(the EHR rotated its key). ``jti`` values are remembered until their token
expires; the memory is per process.
"""

from __future__ import annotations

import ipaddress
import threading
import time
from typing import Any, Callable, Mapping
from urllib.parse import urlsplit

import jwt
import requests

from fhir_mbt.errors import FhirMbtError

__all__ = ["ClientNotTrusted", "ClientVerifier", "ASYMMETRIC_ALGORITHMS", "MAX_LIFETIME"]

#: What the EHR may sign with: never "none", never a shared secret (HS*).
ASYMMETRIC_ALGORITHMS = ("RS256", "RS384", "RS512", "PS256", "PS384", "PS512", "ES256", "ES384", "ES512")
#: A token may not live longer than this (seconds between now and exp, and between iat and exp).
MAX_LIFETIME = 300
LEEWAY = 30
MAX_JTI = 100_000


class ClientNotTrusted(FhirMbtError):
    """The request's JWT does not prove it comes from a registered EHR (the reason is for the log only)."""


def _loopback(host: str | None) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host or "").is_loopback
    except ValueError:
        return False


def check_jwks_url(url: str) -> str:
    parts = urlsplit(url)
    if parts.scheme == "https" and parts.netloc:
        return url
    if parts.scheme == "http" and _loopback(parts.hostname):
        return url
    raise ValueError(f"a JWKS URL must be https (http only on loopback): {url!r}")


class ClientVerifier:
    """Checks CDS clients' JWTs. ``issuers`` maps each trusted ``iss`` to the URL of its JWKS."""

    def __init__(self, issuers: Mapping[str, str], *, session: requests.Session | None = None,
                 timeout: float = 3.0, cache_seconds: float = 3600.0, refetch_seconds: float = 60.0,
                 clock: Callable[[], float] = time.time,
                 first_use: Callable[[str, float], bool] | None = None):
        """``first_use(key, expires)`` records a ``jti`` and says whether it is new; pass one backed
        by storage every worker shares (the default remembers within this process only)."""
        self.issuers = {iss: check_jwks_url(url) for iss, url in issuers.items()}
        self._session = session or requests.Session()
        self._timeout = timeout
        self._cache_seconds = cache_seconds
        self._refetch_seconds = refetch_seconds
        self._clock = clock
        self._lock = threading.Lock()
        self._keys: dict[str, tuple[float, dict[str, Any]]] = {}
        self._seen: dict[str, float] = {}
        self._shared_first_use = first_use

    def __repr__(self) -> str:
        return f"ClientVerifier(issuers={sorted(self.issuers)!r})"

    # -- keys -------------------------------------------------------------------------
    def _fetch(self, url: str) -> dict[str, Any]:
        try:
            answer = self._session.get(url, timeout=self._timeout, headers={"Accept": "application/json"},
                                       allow_redirects=False)
            answer.raise_for_status()
            body = answer.json()
        except (requests.RequestException, ValueError) as exc:
            raise ClientNotTrusted(f"the issuer's JWKS could not be read ({type(exc).__name__})") from exc
        keys = body.get("keys") if isinstance(body, dict) else None
        if not isinstance(keys, list):
            raise ClientNotTrusted("the issuer's JWKS has no keys")
        return {k["kid"]: k for k in keys if isinstance(k, dict) and isinstance(k.get("kid"), str)}

    def _key(self, url: str, kid: str) -> dict[str, Any]:
        now = self._clock()
        with self._lock:
            cached = self._keys.get(url)
        if cached is None or now - cached[0] > self._cache_seconds or (
                kid not in cached[1] and now - cached[0] > self._refetch_seconds):
            keys = self._fetch(url)
            with self._lock:
                self._keys[url] = cached = (now, keys)
        key = cached[1].get(kid)
        if key is None:
            raise ClientNotTrusted("no key with that kid in the issuer's JWKS")
        return key

    # -- replay -----------------------------------------------------------------------
    def _first_use(self, jti: str, exp: float) -> bool:
        if self._shared_first_use is not None:
            return self._shared_first_use(jti, exp + LEEWAY)
        now = self._clock()
        with self._lock:
            if len(self._seen) > 1000:
                self._seen = {j: e for j, e in self._seen.items() if e + LEEWAY >= now}
            if len(self._seen) > MAX_JTI:
                return False  # flooded: refuse rather than forget what was seen
            if jti in self._seen:
                return False
            self._seen[jti] = exp
            return True

    # -- the check --------------------------------------------------------------------
    def verify(self, authorization: str | None, audience: str) -> dict[str, Any]:
        """The claims of the bearer JWT in ``authorization`` (the header's value), if it is trusted."""
        if not authorization or not authorization.startswith("Bearer "):
            raise ClientNotTrusted("no bearer token")
        token = authorization[len("Bearer "):].strip()
        try:
            header = jwt.get_unverified_header(token)
            unverified = jwt.decode(token, options={"verify_signature": False})
        except jwt.PyJWTError as exc:
            raise ClientNotTrusted(f"not a JWT ({type(exc).__name__})") from exc
        alg = header.get("alg")
        if alg not in ASYMMETRIC_ALGORITHMS:
            raise ClientNotTrusted(f"algorithm {alg!r} is not accepted")
        if header.get("typ") not in (None, "JWT"):
            raise ClientNotTrusted("typ is not JWT")
        kid = header.get("kid")
        if not isinstance(kid, str) or not kid:
            raise ClientNotTrusted("no kid")
        iss = unverified.get("iss")
        url = self.issuers.get(iss) if isinstance(iss, str) else None
        if url is None:
            raise ClientNotTrusted("issuer not on the allowlist")
        if header.get("jku") not in (None, url):
            raise ClientNotTrusted("jku is not the issuer's registered JWKS")
        jwk = self._key(url, kid)
        if jwk.get("alg") not in (None, alg):
            raise ClientNotTrusted("the key is for another algorithm")
        try:
            key = jwt.PyJWK(jwk, algorithm=alg).key
            claims = jwt.decode(token, key, algorithms=[alg], audience=audience, issuer=iss, leeway=LEEWAY,
                                options={"require": ["iss", "aud", "exp", "iat", "jti"]})
        except jwt.PyJWTError as exc:
            raise ClientNotTrusted(f"token rejected ({type(exc).__name__})") from exc
        now = self._clock()
        exp, iat = claims["exp"], claims["iat"]
        if not isinstance(exp, (int, float)) or not isinstance(iat, (int, float)):
            raise ClientNotTrusted("exp and iat must be numbers")
        if exp - now > MAX_LIFETIME + LEEWAY or exp - iat > MAX_LIFETIME:
            raise ClientNotTrusted("the token lives too long")
        jti = claims["jti"]
        if not isinstance(jti, str) or not jti or not self._first_use(f"{iss}\n{jti}", exp):
            raise ClientNotTrusted("jti already used")
        return claims
