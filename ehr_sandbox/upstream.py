"""Talking to the real FHIR server behind the sandbox, and hiding its address.

Apps must only ever see the sandbox's FHIR base: resources, ``next`` links
and ``Location`` headers that name the upstream base are rewritten on the
way out, and the sandbox's base in request bodies (``fullUrl`` of a
transaction, absolute references) on the way in. Rewriting is textual, on
the base URL followed by a path, query or end, so ``.../fhir`` never matches
inside ``.../fhirX``.
"""

from __future__ import annotations

import re
from typing import Any, Mapping

import requests

__all__ = ["Upstream", "UpstreamUnavailable", "REQUEST_HEADERS", "RESPONSE_HEADERS"]

#: FHIR request headers passed to the server (Authorization never is).
REQUEST_HEADERS = ("Content-Type", "Accept", "If-Match", "If-None-Exist", "If-None-Match",
                   "If-Modified-Since", "Prefer")
#: Response headers passed back to the app; the rest belong to the hop.
RESPONSE_HEADERS = ("Content-Type", "ETag", "Last-Modified", "Location", "Content-Location",
                    "Retry-After")
_TEXT = ("json", "xml", "text", "html")


class UpstreamUnavailable(Exception):
    """The upstream server could not be reached or did not answer in time."""

    def __init__(self, message: str, *, timeout: bool = False):
        super().__init__(message)
        self.timeout = timeout


def _base_pattern(base: str) -> re.Pattern[str]:
    return re.compile(re.escape(base.rstrip("/")) + r"(?=[/?#\"'<\s]|$)")


class Upstream:
    """The upstream FHIR server at ``base``, as seen from the sandbox at ``public_base``."""

    def __init__(self, base: str, public_base: str, *, timeout: Any,
                 session: requests.Session | None = None):
        self.base = base.rstrip("/")
        self.public_base = public_base.rstrip("/")
        self.timeout = timeout
        self.session = session if session is not None else requests.Session()
        self._out = _base_pattern(self.base)
        self._in = _base_pattern(self.public_base)

    def __repr__(self) -> str:
        return f"Upstream({self.base!r})"

    def to_public(self, text: str) -> str:
        return self._out.sub(self.public_base, text)

    def to_upstream(self, text: str) -> str:
        return self._in.sub(self.base, text)

    @staticmethod
    def is_text(content_type: str | None) -> bool:
        return bool(content_type) and any(t in content_type.lower() for t in _TEXT)

    def request(self, method: str, path: str, *, params: Any = None,
                headers: Mapping[str, str] | None = None, body: bytes | None = None) -> requests.Response:
        """Send one request to ``{base}/{path}``; body and headers as given (already rewritten)."""
        url = f"{self.base}/{path}" if path else self.base
        try:
            return self.session.request(method, url, params=params, headers=dict(headers or {}),
                                        data=body, timeout=self.timeout, allow_redirects=False)
        except requests.Timeout as exc:
            raise UpstreamUnavailable(f"{method} {path or '/'} timed out", timeout=True) from exc
        except requests.RequestException as exc:
            raise UpstreamUnavailable(f"{method} {path or '/'} failed: {type(exc).__name__}") from exc

    def read_json(self, path: str, params: Any = None) -> dict[str, Any] | None:
        """A resource or Bundle as JSON, or ``None`` when the server says no."""
        response = self.request("GET", path, params=params, headers={"Accept": "application/fhir+json"})
        if response.status_code != 200:
            return None
        try:
            body = response.json()
        except ValueError:
            return None
        return body if isinstance(body, dict) else None
