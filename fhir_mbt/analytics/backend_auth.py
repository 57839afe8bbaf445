"""SMART Backend Services: a system's access token by ``client_credentials`` + ``private_key_jwt``.

A bulk export runs without a user, so the client proves who it is with a
short JWT signed by its registered key (the same
:class:`fhir_mbt.smart.PrivateKeyJwt` the app uses) and asks for system
scopes. The token endpoint comes from the server's
``.well-known/smart-configuration`` unless given. Tokens are cached until
shortly before they expire and fetched again after a 401.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Callable

import requests

from fhir_mbt.analytics.errors import BackendAuthError
from fhir_mbt.smart import PrivateKeyJwt

__all__ = ["BackendServicesAuth", "NoAuth", "discover_token_endpoint"]

_TIMEOUT = (10.0, 30.0)


class NoAuth:
    """For a server without authorization (the project's local HAPI)."""

    def headers(self) -> dict[str, str]:
        return {}

    def invalidate(self) -> None:
        pass


def discover_token_endpoint(base_url: str, session: requests.Session | None = None) -> str:
    """The ``token_endpoint`` of the server's SMART configuration."""
    session = session or requests.Session()
    url = base_url.rstrip("/") + "/.well-known/smart-configuration"
    try:
        answer = session.get(url, headers={"Accept": "application/json"}, timeout=_TIMEOUT)
        endpoint = answer.json().get("token_endpoint") if answer.ok else None
    except (requests.RequestException, ValueError) as exc:
        raise BackendAuthError(f"cannot read {url}: {exc}") from None
    if not isinstance(endpoint, str) or not endpoint.startswith(("https://", "http://")):
        raise BackendAuthError(f"{url} names no token_endpoint (HTTP {answer.status_code})")
    return endpoint


@dataclass
class BackendServicesAuth:
    """Signs export requests with a Backend Services token; ``client`` holds the key."""

    client: PrivateKeyJwt
    token_endpoint: str
    scope: str = "system/*.rs"
    session: requests.Session = field(default_factory=requests.Session, repr=False)
    clock: Callable[[], float] = field(default=time.time, repr=False)
    _token: str | None = field(default=None, init=False, repr=False)
    _expires: float = field(default=0.0, init=False, repr=False)

    def headers(self) -> dict[str, str]:
        if self._token is None or self.clock() >= self._expires:
            self._fetch()
        return {"Authorization": f"Bearer {self._token}"}

    def invalidate(self) -> None:
        self._token = None

    def _fetch(self) -> None:
        data: dict[str, str] = {"grant_type": "client_credentials", "scope": self.scope}
        headers: dict[str, str] = {"Accept": "application/json"}
        self.client.apply(data, headers, self.token_endpoint)
        try:
            answer = self.session.post(self.token_endpoint, data=data, headers=headers, timeout=_TIMEOUT)
        except requests.RequestException as exc:
            raise BackendAuthError(f"token endpoint unreachable: {exc}") from None
        try:
            body = answer.json()
        except ValueError:
            body = {}
        if not answer.ok or not isinstance(body.get("access_token"), str):
            reason = body.get("error_description") or body.get("error") or f"HTTP {answer.status_code}"
            raise BackendAuthError(f"no access token from {self.token_endpoint}: {reason}")
        self._token = body["access_token"]
        lifetime = body.get("expires_in") if isinstance(body.get("expires_in"), (int, float)) else 300
        self._expires = self.clock() + max(0.0, float(lifetime) - 30.0)
