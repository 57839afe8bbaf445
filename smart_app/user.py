"""Who is signed in: the ``fhirUser`` of the launch, read once and kept in the session.

The id_token names the user (``Practitioner/123``, possibly as an absolute
URL). It is read once after launch: its name is shown on every page, and it
becomes a record's ``author`` only when it resolved on this FHIR server, so
the app never writes a reference that leads nowhere. When it does not
resolve, the app says so and writes records without an author.
"""

from __future__ import annotations

import logging

from flask import session

from fhir_mbt.client import FhirClient, FhirError

__all__ = ["resolve", "author", "signed_in_as"]

log = logging.getLogger(__name__)

_USER_TYPES = {"Practitioner", "PractitionerRole", "Patient", "RelatedPerson", "Person"}


def _relative(user: str, base: str) -> str | None:
    """``Type/id`` when ``user`` names a resource on ``base`` (or is relative already)."""
    if user.startswith(("http://", "https://")):
        if not user.startswith(base.rstrip("/") + "/"):
            return None
        user = user[len(base.rstrip("/")) + 1:]
    parts = user.strip("/").split("/")
    if len(parts) != 2 or parts[0] not in _USER_TYPES or not parts[1]:
        return None
    return "/".join(parts)


def _name(resource: dict) -> str:
    for name in resource.get("name") or []:
        if not isinstance(name, dict):
            continue
        if isinstance(name.get("text"), str) and name["text"].strip():
            return name["text"].strip()
        given = " ".join(g for g in name.get("given") or [] if isinstance(g, str))
        family = name.get("family") if isinstance(name.get("family"), str) else ""
        if (given + " " + family).strip():
            return (given + " " + family).strip()
    return ""


def resolve(fhir_user: str | None, fhir: FhirClient | None, base: str) -> None:
    """Read the user's resource once and keep what the pages and the records need."""
    session.pop("user", None)
    if not fhir_user or fhir is None:
        return
    reference = _relative(fhir_user, base)
    if reference is None:
        log.info("fhirUser is not a resource on this FHIR server; records are written without an author")
        session["user"] = {"reference": None, "name": ""}
        return
    kind, id_ = reference.split("/")
    try:
        resource = fhir.read(kind, id_)
    except FhirError as exc:
        log.info("fhirUser could not be read (%s); records are written without an author", type(exc).__name__)
        session["user"] = {"reference": None, "name": ""}
        return
    session["user"] = {"reference": reference, "name": _name(resource)}


def author() -> dict | None:
    """The ``author`` reference for a record: only a user whose resource was read, with their name
    as ``display`` so a record names its author without another request."""
    user = session.get("user") or {}
    if not user.get("reference"):
        return None
    return {"reference": user["reference"], **({"display": user["name"]} if user.get("name") else {})}


def signed_in_as() -> dict | None:
    """What the header shows: the user's name, or that the user could not be found."""
    return session.get("user")
