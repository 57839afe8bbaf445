"""What a write (create, update, delete) tells the caller.

A conditional create answers 200 with the existing resource or 201 with a new
one, and some servers send no body at all; the caller needs to know which
happened and under which version, not just a dict.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

__all__ = ["WriteResult"]

_ETAG = re.compile(r'^(?:W/)?"?([^"]*)"?$')
_HISTORY = re.compile(r"/([A-Z][A-Za-z]+)/([A-Za-z0-9\-.]{1,64})(?:/_history/([A-Za-z0-9\-.]{1,64}))?/?$")


@dataclass(frozen=True)
class WriteResult:
    """The outcome of a create, update or delete."""

    status: int
    resource: dict[str, Any] | None = None
    location: str | None = None
    etag: str | None = None

    @property
    def created(self) -> bool:
        """True when the server created a new resource (201)."""
        return self.status == 201

    @property
    def id(self) -> str | None:
        if self.resource and isinstance(self.resource.get("id"), str):
            return self.resource["id"]
        match = _HISTORY.search(self.location or "")
        return match.group(2) if match else None

    @property
    def version_id(self) -> str | None:
        if self.etag:
            match = _ETAG.match(self.etag.strip())
            if match and match.group(1):
                return match.group(1)
        meta = (self.resource or {}).get("meta")
        if isinstance(meta, dict) and isinstance(meta.get("versionId"), str):
            return meta["versionId"]
        match = _HISTORY.search(self.location or "")
        return match.group(3) if match else None
