"""Building request URLs from a base, a type, an id; and checking links from the server.

Types and ids are checked against the FHIR syntax so that a value taken from
a form or another resource can never reach another path (``../``) or another
host. A ``next`` link must stay on the server's own origin: the client sends
its bearer token with it.
"""

from __future__ import annotations

import re
from urllib.parse import urlsplit

__all__ = ["check_type", "check_id", "join", "same_origin", "operation_name"]

_TYPE = re.compile(r"[A-Z][A-Za-z]{0,63}")
_ID = re.compile(r"[A-Za-z0-9\-.]{1,64}")
_OPERATION = re.compile(r"[A-Za-z][A-Za-z0-9\-]{0,63}")


def check_type(resource_type: str) -> str:
    if not isinstance(resource_type, str) or not _TYPE.fullmatch(resource_type):
        raise ValueError(f"not a FHIR resource type: {resource_type!r}")
    return resource_type


def check_id(value: str | int, what: str = "id") -> str:
    text = str(value) if isinstance(value, int) and not isinstance(value, bool) else value
    if not isinstance(text, str) or not _ID.fullmatch(text) or text in {".", ".."}:
        raise ValueError(f"not a FHIR {what}: {value!r}")
    return text


def operation_name(name: str) -> str:
    bare = name[1:] if isinstance(name, str) and name.startswith("$") else name
    if not isinstance(bare, str) or not _OPERATION.fullmatch(bare):
        raise ValueError(f"not a FHIR operation name: {name!r}")
    return "$" + bare


def join(base: str, *parts: str) -> str:
    return "/".join([base.rstrip("/"), *parts]) if parts else base.rstrip("/")


def _origin(url: str) -> tuple[str, str, int | None]:
    parts = urlsplit(url)
    scheme = parts.scheme.lower()
    port = parts.port or {"http": 80, "https": 443}.get(scheme)
    return scheme, (parts.hostname or "").lower(), port


def same_origin(url: str, base: str) -> bool:
    """True when ``url`` is on ``base``'s origin; a URL that cannot be parsed (a port out of range) is not."""
    try:
        return _origin(url) == _origin(base)
    except ValueError:
        return False
