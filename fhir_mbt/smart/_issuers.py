"""Which FHIR servers the app will talk to.

The ``iss`` of an EHR launch arrives in a URL anyone can craft. Discovery,
the token request and every FHIR call go to addresses derived from it, so an
issuer not configured by the deployment is refused before any request is
made. Comparison is on a normal form (scheme and host lower-cased, default
port and trailing slash dropped) and what is returned is the configured
entry, never the string that came in.
"""

from __future__ import annotations

import ipaddress
from typing import Iterable
from urllib.parse import urlsplit, urlunsplit

from fhir_mbt.smart._errors import IssuerNotAllowed

__all__ = ["IssuerAllowlist", "normalize_issuer", "is_loopback"]

_DEFAULT_PORTS = {"http": 80, "https": 443}


def is_loopback(host: str | None) -> bool:
    if not host:
        return False
    if host.lower() == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def normalize_issuer(url: str) -> str:
    """The normal form of a FHIR base URL; ValueError for anything that is not one."""
    if not isinstance(url, str):
        raise ValueError("issuer must be a string")
    parts = urlsplit(url.strip())
    scheme = parts.scheme.lower()
    if scheme not in _DEFAULT_PORTS or not parts.hostname:
        raise ValueError("issuer must be an absolute http(s) URL")
    if parts.username is not None or parts.password is not None or parts.query or parts.fragment:
        raise ValueError("issuer must not carry credentials, a query or a fragment")
    host = parts.hostname.lower()
    if ":" in host:
        host = f"[{host}]"
    try:
        port = parts.port
    except ValueError as exc:
        raise ValueError("issuer has an invalid port") from exc
    netloc = host if port in (None, _DEFAULT_PORTS[scheme]) else f"{host}:{port}"
    return urlunsplit((scheme, netloc, parts.path.rstrip("/"), "", ""))


class IssuerAllowlist:
    """The FHIR base URLs the app may be launched from.

    Plain ``http`` is accepted only for loopback hosts (a local sandbox);
    anywhere else it would carry tokens in clear text.
    """

    def __init__(self, issuers: Iterable[str]):
        allowed: dict[str, str] = {}
        for entry in issuers:
            normal = normalize_issuer(entry)
            parts = urlsplit(normal)
            if parts.scheme != "https" and not is_loopback(parts.hostname):
                raise ValueError(f"issuer must use https: {entry!r}")
            allowed[normal] = normal
        if not allowed:
            raise ValueError("the issuer allowlist is empty")
        self._allowed = allowed

    def __contains__(self, iss: object) -> bool:
        try:
            return isinstance(iss, str) and normalize_issuer(iss) in self._allowed
        except ValueError:
            return False

    def __iter__(self):
        return iter(self._allowed.values())

    def __repr__(self) -> str:
        return f"IssuerAllowlist({list(self._allowed.values())!r})"

    def check(self, iss: str | None) -> str:
        """The configured FHIR base for ``iss``; :class:`IssuerNotAllowed` otherwise."""
        if not iss:
            raise IssuerNotAllowed("the launch carries no iss")
        try:
            normal = normalize_issuer(iss)
        except ValueError as exc:
            raise IssuerNotAllowed(f"iss is not a usable URL: {exc}") from None
        if normal not in self._allowed:
            raise IssuerNotAllowed(f"iss {normal!r} is not on the allowlist")
        return self._allowed[normal]
