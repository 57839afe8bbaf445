"""How the client signs requests, and gets one chance to refresh on a 401.

An auth object is a ``requests`` auth callable (it adds a header to a prepared
request) with one more method, ``refresh()``. The client calls ``refresh()`` at
most once per call, after a 401 and before reading the body; if it returns
True the request is sent again, once. The client knows nothing of SMART: a
SMART token set and a function that refreshes it are all :class:`BearerAuth`
needs, so the app can persist the refreshed tokens from inside that function.
"""

from __future__ import annotations

import logging
import threading
import time
from typing import Any, Callable, Protocol, runtime_checkable

import requests

from fhir_mbt.errors import FhirMbtError

__all__ = ["Auth", "BearerAuth", "TokenHolder"]

log = logging.getLogger("fhir_mbt.client")


@runtime_checkable
class Auth(Protocol):
    """Signs requests; may refresh its credentials once after a 401."""

    def __call__(self, request: requests.PreparedRequest) -> requests.PreparedRequest: ...

    def refresh(self) -> bool:
        """Renew the credentials; True when sending the request again may help."""
        ...


class TokenHolder(Protocol):
    """What :class:`BearerAuth` needs of a token set (``fhir_mbt.smart.TokenSet`` fits)."""

    access_token: str

    def expired(self, now: float | None = None, leeway: float = ...) -> bool: ...


class BearerAuth:
    """``Authorization: Bearer`` from a token set, refreshed by ``refresher``.

    ``refresher`` takes the current token set and returns the new one (for
    SMART, ``SmartClient.refresh``, wrapped to also store the result). A token
    already known to be expired is refreshed before the request is sent, which
    saves the round trip that would end in 401.
    """

    def __init__(
        self,
        token_set: Any,
        refresher: Callable[[Any], Any] | None = None,
        *,
        leeway: float = 30.0,
        clock: Callable[[], float] = time.time,
    ):
        self._token_set = token_set
        self._refresher = refresher
        self._leeway = leeway
        self._clock = clock
        self._lock = threading.Lock()
        self.refresh_error: FhirMbtError | None = None
        self._tried: str | None = None

    @property
    def token_set(self) -> Any:
        """The current token set; read it after a call to store a refreshed one."""
        return self._token_set

    def __call__(self, request: requests.PreparedRequest) -> requests.PreparedRequest:
        if self._refresher is not None and self._is_expired() and self._tried != self._token_set.access_token:
            log.info("access token expired; refreshing before the request")
            self.refresh()
        request.headers["Authorization"] = f"Bearer {self._token_set.access_token}"
        return request

    def _is_expired(self) -> bool:
        expired = getattr(self._token_set, "expired", None)
        return bool(expired(self._clock(), self._leeway)) if callable(expired) else False

    def refresh(self) -> bool:
        """Refresh once for the current token: a second call for the same one does nothing."""
        if self._refresher is None:
            return False
        with self._lock:
            current = getattr(self._token_set, "access_token", None)
            if current is not None and current == self._tried:
                return False
            self._tried = current
            try:
                self._token_set = self._refresher(self._token_set)
            except FhirMbtError as exc:
                self.refresh_error = exc
                log.warning("token refresh failed: %s", type(exc).__name__)
                return False
            self.refresh_error = None
            log.info("access token refreshed")
            return True

    def __repr__(self) -> str:
        return f"BearerAuth(refresher={'yes' if self._refresher else 'no'})"
