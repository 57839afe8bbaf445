"""SMART scopes: building the request, reading the grant.

The app asks in SMART 2 syntax, ``<context>/<Type>.<cruds>[?query]``, for the
least it needs. Servers may grant in 2 syntax or in the older
``<context>/<Type>.read|write|*`` one; both are read into :class:`Scope`
values, so the app can ask ``granted.can("Observation", "create")`` without
caring which syntax the server speaks. In SMART 1, ``read`` covered read and
search, ``write`` covered create, update and delete.

A scope with a query (``patient/Observation.rs?category=survey``) grants only
part of a type; :meth:`GrantedScopes.can` does not count it unless asked to.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Iterable

__all__ = [
    "Scope",
    "GrantedScopes",
    "resource_scope",
    "scope_string",
    "parse_scope",
    "INTERACTIONS",
    "LAUNCH",
    "LAUNCH_PATIENT",
    "LAUNCH_ENCOUNTER",
    "OPENID",
    "FHIR_USER",
    "ONLINE_ACCESS",
    "OFFLINE_ACCESS",
]

LAUNCH = "launch"
LAUNCH_PATIENT = "launch/patient"
LAUNCH_ENCOUNTER = "launch/encounter"
OPENID = "openid"
FHIR_USER = "fhirUser"
ONLINE_ACCESS = "online_access"
OFFLINE_ACCESS = "offline_access"

#: interaction name -> the SMART 2 permission letter that grants it
INTERACTIONS = {"create": "c", "read": "r", "update": "u", "delete": "d", "search": "s"}
_ORDER = "cruds"
_CONTEXTS = ("patient", "user", "system")
_V1 = {"read": "rs", "write": "cud", "*": "cruds"}
_SCOPE = re.compile(
    r"(?P<context>patient|user|system)/(?P<type>\*|[A-Z][A-Za-z]{0,63})"
    r"\.(?P<perm>[a-z]+|\*)(?:\?(?P<query>.+))?"
)


@dataclass(frozen=True)
class Scope:
    """One resource scope: who it is for, which type, which interactions."""

    context: str
    resource_type: str
    permissions: frozenset[str]
    query: str | None = None
    raw: str = field(default="", compare=False)

    def allows(self, resource_type: str, interaction: str, context: str) -> bool:
        letter = INTERACTIONS.get(interaction)
        return (
            letter is not None
            and context == self.context
            and self.resource_type in ("*", resource_type)
            and letter in self.permissions
        )


def parse_scope(text: str) -> Scope | None:
    """A resource scope in 1 or 2 syntax; ``None`` for anything else (``launch``, ``openid``)."""
    match = _SCOPE.fullmatch(text)
    if not match:
        return None
    perm = match["perm"]
    if perm in _V1:
        letters = _V1[perm]
        if match["query"]:
            return None
    else:
        if any(c not in _ORDER for c in perm) or "".join(sorted(perm, key=_ORDER.index)) != perm \
                or len(set(perm)) != len(perm):
            return None
        letters = perm
    return Scope(match["context"], match["type"], frozenset(letters), match["query"], text)


def resource_scope(context: str, resource_type: str, interactions: str, query: str | None = None) -> str:
    """A SMART 2 resource scope, letters put in the canonical c-r-u-d-s order.

    ``resource_scope("patient", "Observation", "sc")`` is ``patient/Observation.cs``.
    """
    if context not in _CONTEXTS:
        raise ValueError(f"scope context must be one of {_CONTEXTS}")
    letters = set(interactions)
    if not letters or not letters <= set(_ORDER):
        raise ValueError(f"permissions must be letters of {_ORDER!r}")
    text = f"{context}/{resource_type}.{''.join(c for c in _ORDER if c in letters)}"
    if query:
        text = f"{text}?{query}"
    if parse_scope(text) is None:
        raise ValueError(f"not a valid scope: {text!r}")
    return text


def scope_string(scopes: Iterable[str]) -> str:
    """Scopes joined by spaces, duplicates dropped, first order kept."""
    seen: dict[str, None] = {}
    for scope in scopes:
        for part in scope.split():
            seen.setdefault(part, None)
    return " ".join(seen)


@dataclass(frozen=True)
class GrantedScopes:
    """What a token's ``scope`` says the app may do."""

    raw: tuple[str, ...] = ()
    resources: tuple[Scope, ...] = ()

    @classmethod
    def parse(cls, scope: str | None) -> "GrantedScopes":
        raw = tuple(dict.fromkeys((scope or "").split()))
        return cls(raw, tuple(s for s in map(parse_scope, raw) if s is not None))

    def __str__(self) -> str:
        return " ".join(self.raw)

    def __contains__(self, scope: object) -> bool:
        return scope in self.raw

    def can(
        self,
        resource_type: str,
        interaction: str,
        context: str = "patient",
        *,
        include_restricted: bool = False,
    ) -> bool:
        """True when a granted scope allows ``interaction`` on ``resource_type``.

        ``interaction`` is one of create, read, update, delete, search.
        """
        if interaction not in INTERACTIONS:
            raise ValueError(f"interaction must be one of {sorted(INTERACTIONS)}")
        if context not in _CONTEXTS:
            raise ValueError(f"context must be one of {_CONTEXTS}")
        return any(
            s.allows(resource_type, interaction, context)
            for s in self.resources
            if include_restricted or s.query is None
        )

    @property
    def has_openid(self) -> bool:
        return OPENID in self.raw

    @property
    def offline(self) -> bool:
        return OFFLINE_ACCESS in self.raw
