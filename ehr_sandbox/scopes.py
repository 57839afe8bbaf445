"""Scopes as the sandbox grants and enforces them.

Both SMART syntaxes are read: 2.x ``patient/Observation.rs`` and 1.x
``patient/Observation.read|write|*`` (read = read + search, write = create +
update + delete). A requested scope is granted when one the client may have
covers it (same context, same or ``*`` type, no more permissions).

Scopes restricted by a query (``patient/Observation.rs?category=survey``) are
not granted at all: the proxy could not enforce the restriction, and granting
what is not enforced would mislead. ``system/`` scopes are not granted either
(there is no client_credentials grant here).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Iterable

__all__ = ["ResourceScope", "parse", "grant", "Granted", "LETTERS"]

#: interaction -> SMART 2 permission letter
LETTERS = {"create": "c", "read": "r", "update": "u", "delete": "d", "search": "s"}
_ORDER = "cruds"
_V1 = {"read": "rs", "write": "cud", "*": "cruds"}
_PATTERN = re.compile(r"(patient|user|system)/(\*|[A-Z][A-Za-z]{0,63})\.([a-z]+|\*)(\?.*)?")


@dataclass(frozen=True)
class ResourceScope:
    context: str
    resource_type: str
    letters: frozenset[str]
    restricted: bool = False

    def covers(self, other: "ResourceScope") -> bool:
        return (
            self.context == other.context
            and self.resource_type in ("*", other.resource_type)
            and other.letters <= self.letters
        )


def parse(text: str) -> ResourceScope | None:
    """A resource scope, or ``None`` for anything else (``launch``, ``openid``, nonsense)."""
    match = _PATTERN.fullmatch(text)
    if not match:
        return None
    context, rtype, perm, query = match.groups()
    if perm in _V1:
        letters = _V1[perm]
    elif all(c in _ORDER for c in perm) and list(perm) == sorted(set(perm), key=_ORDER.index):
        letters = perm
    else:
        return None
    return ResourceScope(context, rtype, frozenset(letters), restricted=bool(query))


def grant(requested: Iterable[str], allowed: Iterable[str]) -> list[str]:
    """The requested scopes the client may have, as it asked for them, in its order."""
    allowed = list(allowed)
    allowed_plain = {a for a in allowed if parse(a) is None}
    allowed_resource = [s for s in map(parse, allowed) if s is not None]
    granted: list[str] = []
    for text in dict.fromkeys(requested):
        scope = parse(text)
        if scope is None:
            ok = text in allowed_plain
        else:
            ok = (not scope.restricted and scope.context != "system"
                  and any(a.covers(scope) for a in allowed_resource))
        if ok:
            granted.append(text)
    return granted


@dataclass(frozen=True)
class Granted:
    """What an access token's scope lets its holder do."""

    scopes: tuple[str, ...]

    @property
    def resources(self) -> list[ResourceScope]:
        return [s for s in map(parse, self.scopes) if s is not None and not s.restricted]

    def contexts_for(self, resource_type: str, interaction: str) -> set[str]:
        """The contexts (``patient``, ``user``) in which ``interaction`` on the type is granted."""
        letter = LETTERS[interaction]
        return {
            s.context for s in self.resources
            if s.resource_type in ("*", resource_type) and letter in s.letters
        }

    def __contains__(self, scope: object) -> bool:
        return scope in self.scopes

    def __str__(self) -> str:
        return " ".join(self.scopes)
