"""Everything the sandbox remembers, in memory, behind one lock.

Launches, pending standalone authorizations, authorization codes, grants and
the tokens of each grant. Codes and tokens are kept under their SHA-256, so
nothing here holds a usable credential; they are random
(``secrets.token_urlsafe(32)``) and never logged.

A grant is what one completed authorization produced: client, scopes and
launch context. Access and refresh tokens point at it. Codes are single use:
presenting a used code again revokes the grant it produced (RFC 6749
section 4.1.2), and so does presenting a refresh token that was already
rotated away, since either means a credential leaked.
"""

from __future__ import annotations

import hashlib
import secrets
import threading
import time
from dataclasses import dataclass, field, replace
from typing import Any, Callable

__all__ = ["Store", "Launch", "Context", "Grant", "CODE_LIFETIME", "LAUNCH_LIFETIME",
           "PENDING_LIFETIME", "REFRESH_LIFETIME"]

CODE_LIFETIME = 60
LAUNCH_LIFETIME = 3600
PENDING_LIFETIME = 600
REFRESH_LIFETIME = 24 * 3600
_USED_CODE_MEMORY = 600


def new_secret() -> str:
    return secrets.token_urlsafe(32)


def _h(value: str) -> str:
    return hashlib.sha256(value.encode("utf-8")).hexdigest()


@dataclass(frozen=True)
class Context:
    """Who the app runs for: the patient (and encounter) in context, and the user."""

    patient: str | None = None
    encounter: str | None = None
    practitioner: str | None = None
    #: The patient signed in themselves (the portal): the app's fhirUser is the Patient.
    patient_user: bool = False
    #: A CDS card's SMART link ``appContext``, handed to the app in the token response.
    app_context: str | None = None


@dataclass(frozen=True)
class Launch:
    context: Context
    created_at: float


@dataclass(frozen=True)
class CodeRecord:
    client_id: str
    redirect_uri: str
    code_challenge: str
    scopes: tuple[str, ...]
    context: Context
    nonce: str | None
    expires_at: float


@dataclass
class Grant:
    grant_id: str
    client_id: str
    scopes: tuple[str, ...]
    context: Context
    nonce: str | None = None
    refresh_hash: str | None = None
    refresh_expires_at: float = 0.0
    pages: set[str] = field(default_factory=set)
    revoked: bool = False


@dataclass(frozen=True)
class AccessToken:
    grant_id: str
    scopes: tuple[str, ...]
    expires_at: float


class Store:
    """The sandbox's memory. ``clock`` is injectable for tests."""

    def __init__(self, clock: Callable[[], float] = time.time):
        self.clock = clock
        self._lock = threading.Lock()
        self._launches: dict[str, Launch] = {}
        self._pending: dict[str, tuple[float, dict[str, Any]]] = {}
        self._codes: dict[str, CodeRecord] = {}
        self._used_codes: dict[str, tuple[float, str]] = {}
        self._grants: dict[str, Grant] = {}
        self._access: dict[str, AccessToken] = {}
        self._refresh: dict[str, str] = {}
        self._retired_refresh: dict[str, str] = {}

    def _sweep(self, now: float) -> None:
        self._launches = {k: v for k, v in self._launches.items() if now - v.created_at <= LAUNCH_LIFETIME}
        self._pending = {k: v for k, v in self._pending.items() if now - v[0] <= PENDING_LIFETIME}
        self._codes = {k: v for k, v in self._codes.items() if v.expires_at >= now}
        self._used_codes = {k: v for k, v in self._used_codes.items() if now - v[0] <= _USED_CODE_MEMORY}
        self._access = {k: v for k, v in self._access.items() if v.expires_at >= now}

    # --- launches and pending standalone authorizations ------------------------
    def add_launch(self, context: Context) -> str:
        launch_id = new_secret()
        with self._lock:
            now = self.clock()
            self._sweep(now)
            self._launches[_h(launch_id)] = Launch(context, now)
        return launch_id

    def launch(self, launch_id: str) -> Launch | None:
        with self._lock:
            found = self._launches.get(_h(launch_id))
            if found and self.clock() - found.created_at <= LAUNCH_LIFETIME:
                return found
            return None

    def add_pending(self, request: dict[str, Any]) -> str:
        key = new_secret()
        with self._lock:
            now = self.clock()
            self._sweep(now)
            self._pending[_h(key)] = (now, dict(request))
        return key

    def pop_pending(self, key: str) -> dict[str, Any] | None:
        with self._lock:
            found = self._pending.pop(_h(key), None)
            if found is None or self.clock() - found[0] > PENDING_LIFETIME:
                return None
            return found[1]

    # --- authorization codes --------------------------------------------------
    def add_code(self, *, client_id: str, redirect_uri: str, code_challenge: str,
                 scopes: tuple[str, ...], context: Context, nonce: str | None) -> str:
        code = new_secret()
        with self._lock:
            now = self.clock()
            self._sweep(now)
            self._codes[_h(code)] = CodeRecord(client_id, redirect_uri, code_challenge, scopes,
                                               context, nonce, now + CODE_LIFETIME)
        return code

    def take_code(self, code: str) -> CodeRecord | None:
        """The code's record, once; a code seen before revokes what it produced."""
        key = _h(code)
        with self._lock:
            record = self._codes.pop(key, None)
            now = self.clock()
            if record is None:
                used = self._used_codes.get(key)
                if used is not None:
                    self._revoke(used[1])
                return None
            self._used_codes[key] = (now, "")
            return record if record.expires_at >= now else None

    # --- grants and tokens --------------------------------------------------
    def add_grant(self, code: str | None, *, client_id: str, scopes: tuple[str, ...],
                  context: Context, nonce: str | None) -> Grant:
        grant = Grant(new_secret(), client_id, scopes, context, nonce)
        with self._lock:
            self._grants[grant.grant_id] = grant
            if code is not None:
                self._used_codes[_h(code)] = (self.clock(), grant.grant_id)
        return grant

    def issue(self, grant: Grant, scopes: tuple[str, ...], lifetime: int,
              with_refresh: bool) -> tuple[str, str | None]:
        """A new access token (and, if asked, a new refresh token replacing the old one)."""
        access = new_secret()
        refresh = new_secret() if with_refresh else None
        with self._lock:
            now = self.clock()
            self._sweep(now)
            self._access[_h(access)] = AccessToken(grant.grant_id, scopes, now + lifetime)
            if refresh is not None:
                if grant.refresh_hash:
                    self._refresh.pop(grant.refresh_hash, None)
                    self._retired_refresh[grant.refresh_hash] = grant.grant_id
                grant.refresh_hash = _h(refresh)
                grant.refresh_expires_at = now + REFRESH_LIFETIME
                self._refresh[grant.refresh_hash] = grant.grant_id
        return access, refresh

    def grant_for_refresh(self, refresh_token: str) -> Grant | None:
        key = _h(refresh_token)
        with self._lock:
            grant_id = self._refresh.get(key)
            if grant_id is None:
                retired = self._retired_refresh.get(key)
                if retired is not None:
                    self._revoke(retired)
                return None
            grant = self._grants.get(grant_id)
            if grant is None or grant.revoked or grant.refresh_expires_at < self.clock():
                return None
            return grant

    def access(self, token: str) -> tuple[AccessToken, Grant] | None:
        """The live access token and (a copy of) its grant, or ``None``."""
        with self._lock:
            found = self._access.get(_h(token))
            if found is None or found.expires_at < self.clock():
                return None
            grant = self._grants.get(found.grant_id)
            if grant is None or grant.revoked:
                return None
            return found, replace(grant, pages=set(grant.pages))

    def remember_pages(self, grant_id: str, page_ids: set[str]) -> None:
        if page_ids:
            with self._lock:
                grant = self._grants.get(grant_id)
                if grant is not None:
                    grant.pages |= page_ids

    def _revoke(self, grant_id: str) -> None:
        grant = self._grants.get(grant_id)
        if grant is None:
            return
        grant.revoked = True
        self._access = {k: v for k, v in self._access.items() if v.grant_id != grant_id}
        if grant.refresh_hash:
            self._refresh.pop(grant.refresh_hash, None)
