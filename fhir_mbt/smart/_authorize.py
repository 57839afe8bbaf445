"""The authorization request, and reading the redirect that answers it.

The client keeps nothing between the two: :func:`authorization_request`
returns the URL to send the browser to and a :class:`PendingAuthorization`
that the caller stores server-side (keyed by state, in the user's session)
and hands back, once, on the redirect. Popping it from the store is what
makes the state single use; :func:`read_callback` checks it matches.
"""

from __future__ import annotations

import time
from dataclasses import asdict, dataclass, field
from typing import Any, Mapping
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

from fhir_mbt.smart._discovery import SmartConfiguration
from fhir_mbt.smart._errors import (
    AuthorizationDenied,
    AuthorizationError,
    AuthorizationExpired,
    StateMismatch,
)
from fhir_mbt.smart._pkce import code_challenge, new_code_verifier, new_state, states_match

__all__ = ["PendingAuthorization", "authorization_request", "read_callback"]


@dataclass(frozen=True)
class PendingAuthorization:
    """What the app must remember between the authorize redirect and its answer.

    Store it server-side only: ``state`` and ``code_verifier`` are secrets.
    """

    state: str = field(repr=False)
    code_verifier: str = field(repr=False)
    iss: str
    redirect_uri: str
    scope: str
    created_at: float
    launch: str | None = field(default=None, repr=False)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> "PendingAuthorization":
        return cls(**{k: data[k] for k in cls.__dataclass_fields__ if k in data})


def _with_query(url: str, params: Mapping[str, str]) -> str:
    parts = urlsplit(url)
    query = parse_qsl(parts.query, keep_blank_values=True) + list(params.items())
    return urlunsplit((parts.scheme, parts.netloc, parts.path, urlencode(query), parts.fragment))


def authorization_request(
    config: SmartConfiguration,
    *,
    client_id: str,
    redirect_uri: str,
    scope: str,
    launch: str | None = None,
    now: float | None = None,
) -> tuple[str, PendingAuthorization]:
    """The authorize URL (response_type=code, PKCE S256, aud = FHIR base) and its record."""
    state = new_state()
    verifier = new_code_verifier()
    params = {
        "response_type": "code",
        "client_id": client_id,
        "redirect_uri": redirect_uri,
        "scope": scope,
        "state": state,
        "aud": config.fhir_base,
        "code_challenge": code_challenge(verifier),
        "code_challenge_method": "S256",
    }
    if launch is not None:
        params["launch"] = launch
    pending = PendingAuthorization(
        state=state,
        code_verifier=verifier,
        iss=config.fhir_base,
        redirect_uri=redirect_uri,
        scope=scope,
        created_at=time.time() if now is None else now,
        launch=launch,
    )
    return _with_query(config.authorization_endpoint, params), pending


def read_callback(
    pending: PendingAuthorization | None,
    params: Mapping[str, str],
    *,
    now: float | None = None,
    max_age: float = 600.0,
) -> str:
    """The authorization code from the redirect's query parameters.

    State is checked first: an ``error`` with a wrong state could have been
    sent by anyone. ``pending`` is ``None`` when the caller's store held no
    record for this state (unknown, or already used).
    """
    if pending is None or not states_match(pending.state, params.get("state")):
        raise StateMismatch("state does not match a pending authorization of this session")
    current = time.time() if now is None else now
    if current - pending.created_at > max_age:
        raise AuthorizationExpired("the authorization took too long; start the launch again")
    error = params.get("error")
    if error:
        raise AuthorizationDenied(
            f"authorization failed: {error}",
            error=error,
            error_description=params.get("error_description"),
        )
    code = params.get("code")
    if not code:
        raise AuthorizationError("the redirect carries neither a code nor an error")
    return code
