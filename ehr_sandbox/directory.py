"""Patients and practitioners to choose from, read from the upstream server.

The sandbox reads them itself (no token involved): it plays the EHR, which
knows its own patients and users.
"""

from __future__ import annotations

import logging
from typing import Any

from ehr_sandbox.upstream import Upstream, UpstreamUnavailable

__all__ = ["people", "display_name"]

log = logging.getLogger("ehr_sandbox")
PAGE = "50"


def display_name(resource: dict[str, Any]) -> str:
    names = resource.get("name")
    name = names[0] if isinstance(names, list) and names and isinstance(names[0], dict) else {}
    if isinstance(name.get("text"), str):
        return name["text"]
    given = name.get("given") if isinstance(name.get("given"), list) else []
    parts = [g for g in given if isinstance(g, str)]
    if isinstance(name.get("family"), str):
        parts.append(name["family"])
    return " ".join(parts) or f"(no name) {resource.get('id', '')}"


def _entries(upstream: Upstream, resource_type: str) -> list[dict[str, str]]:
    bundle = upstream.read_json(resource_type, params={"_count": PAGE})
    if bundle is None:
        raise UpstreamUnavailable(f"{resource_type} search failed")
    found = []
    for entry in bundle.get("entry") or []:
        resource = entry.get("resource") if isinstance(entry, dict) else None
        if isinstance(resource, dict) and resource.get("resourceType") == resource_type \
                and isinstance(resource.get("id"), str):
            detail = " ".join(str(resource[k]) for k in ("birthDate", "gender") if resource.get(k))
            found.append({"id": resource["id"], "name": display_name(resource), "detail": detail})
    return found


def people(upstream: Upstream, with_patients: bool = True
           ) -> tuple[list[dict[str, str]], list[dict[str, str]], str | None]:
    """Patients (if wanted) and practitioners, and what went wrong reading them, if anything."""
    try:
        patients = _entries(upstream, "Patient") if with_patients else []
        practitioners = _entries(upstream, "Practitioner")
    except UpstreamUnavailable as exc:
        log.warning("could not list people: %s", exc)
        return [], [], f"The FHIR server at {upstream.base} could not be read ({exc})."
    return patients, practitioners, None
