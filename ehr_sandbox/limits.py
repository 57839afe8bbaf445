"""Playing a lesser EHR: the sandbox can be told to take less than HAPI does.

``SANDBOX_LIMITS`` is a set of:

- ``no-transaction``: the CapabilityStatement lists no ``transaction`` and a
  transaction Bundle is refused (405), as many EHRs do;
- ``no-conditional-create``: ``conditionalCreate`` and ``conditionalUpdate``
  are false for every type, and ``If-None-Exist`` or ``PUT [type]?query`` are
  refused (400);
- ``v1-scopes``: scopes are granted in SMART 1 syntax (``.read``/``.write``),
  whatever syntax the app asked in;
- ``read-only``: resource scopes are granted with their read and search
  permissions only (a write scope becomes a read scope).

These let the app be tested, end to end against HAPI, on every write plan.
"""

from __future__ import annotations

from typing import Any, Iterable

from flask import current_app

from ehr_sandbox.access import Refused
from ehr_sandbox.scopes import parse

__all__ = ["LIMITS", "active", "grant_scopes", "limit_capability", "check_request"]

LIMITS = frozenset({"no-transaction", "no-conditional-create", "v1-scopes", "read-only"})


def active() -> frozenset[str]:
    limits = frozenset(current_app.config.get("SANDBOX_LIMITS") or ())
    unknown = limits - LIMITS
    if unknown:
        raise ValueError(f"unknown SANDBOX_LIMITS: {', '.join(sorted(unknown))}")
    return limits


def grant_scopes(granted: Iterable[str]) -> list[str]:
    """The granted scopes as this EHR grants them (narrowed to reads, in v1 syntax)."""
    limits = active()
    out: list[str] = []
    for text in granted:
        scope = parse(text)
        if scope is None:
            out.append(text)
            continue
        letters = set(scope.letters)
        if "read-only" in limits:
            letters &= {"r", "s"}
        if not letters:
            continue
        head = f"{scope.context}/{scope.resource_type}"
        if "v1-scopes" in limits:
            if letters & {"r", "s"}:
                out.append(f"{head}.read")
            if letters & {"c", "u", "d"}:
                out.append(f"{head}.write")
        else:
            out.append(f"{head}.{''.join(c for c in 'cruds' if c in letters)}")
    return list(dict.fromkeys(out))


def limit_capability(capability: dict[str, Any]) -> None:
    limits = active()
    for rest in capability.get("rest") or []:
        if not isinstance(rest, dict):
            continue
        if "no-transaction" in limits:
            rest["interaction"] = [i for i in rest.get("interaction") or [] if i.get("code") != "transaction"]
        if "no-conditional-create" in limits:
            for resource in rest.get("resource") or []:
                if isinstance(resource, dict):
                    resource["conditionalCreate"] = False
                    resource["conditionalUpdate"] = False


def check_request(method: str, path: str, params: list, headers, body: Any) -> None:
    """Refuse what this EHR does not take."""
    limits = active()
    if "no-transaction" in limits and method == "POST" and not path.strip("/") \
            and isinstance(body, dict) and body.get("type") == "transaction":
        raise Refused("this server does not take transactions", 405)
    if "no-conditional-create" in limits:
        if method == "POST" and headers.get("If-None-Exist"):
            raise Refused("this server does not support conditional create", 400)
        if method == "PUT" and "/" not in path.strip("/") and params:
            raise Refused("this server does not support conditional update", 400)
