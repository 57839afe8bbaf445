"""The few HTTP calls the SMART client makes, with timeouts and typed failures.

Discovery, JWKS and token requests share one shape: send, turn transport
failures into :class:`SmartTransportError`, and read a JSON object or fail
with the error class the caller names. A POST to the token endpoint never
follows a redirect: the code and credentials go to that address or nowhere. Log lines carry the path and status
only: token requests and answers are never logged.
"""

from __future__ import annotations

import logging
from typing import Any, Mapping
from urllib.parse import urlsplit

import requests

from fhir_mbt.smart._errors import SmartError, SmartTransportError

__all__ = ["DEFAULT_TIMEOUT", "get", "post_form", "json_object"]

log = logging.getLogger("fhir_mbt.smart")

DEFAULT_TIMEOUT: tuple[float, float] = (5.0, 30.0)


def _where(method: str, url: str) -> str:
    parts = urlsplit(url)
    return f"{method} {parts.scheme}://{parts.netloc}{parts.path}"


def _send(session: requests.Session, method: str, url: str, timeout, **kwargs) -> requests.Response:
    try:
        response = session.request(method, url, timeout=timeout, **kwargs)
    except requests.Timeout as exc:
        raise SmartTransportError(f"{_where(method, url)} timed out") from exc
    except requests.RequestException as exc:
        raise SmartTransportError(f"{_where(method, url)} failed: {type(exc).__name__}") from exc
    log.debug("%s -> %s", _where(method, url), response.status_code)
    return response


def get(session: requests.Session, url: str, timeout, accept: str = "application/json") -> requests.Response:
    return _send(session, "GET", url, timeout, headers={"Accept": accept}, allow_redirects=True)


def post_form(
    session: requests.Session,
    url: str,
    data: Mapping[str, str],
    headers: Mapping[str, str],
    timeout,
) -> requests.Response:
    all_headers = {"Accept": "application/json", **headers}
    return _send(
        session, "POST", url, timeout, data=dict(data), headers=all_headers, allow_redirects=False
    )


def json_object(
    response: requests.Response, error: type[SmartError], what: str
) -> dict[str, Any]:
    try:
        body = response.json()
    except ValueError:
        raise error(f"{what} is not JSON", response=response) from None
    if not isinstance(body, dict):
        raise error(f"{what} is not a JSON object", response=response)
    return body
