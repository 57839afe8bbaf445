"""How this server takes the app's records: the write plan, and what is left out.

The server's CapabilityStatement is read once (at launch, or at the first
save) and kept per server for an hour; with the scopes granted it decides:

- the plan (``fhir_mbt.client``): one transaction where the server takes
  them, else ordered single requests with conditional create, else creates
  preceded by an identifier search. All are idempotent by identifier, so a
  save that stopped half-way is completed by the next one;
- what is written: the response always (the form is only offered when it
  may be written); its Observations only when the scopes and the server
  allow writing Observations; its Provenance likewise. What is left out is
  said plainly on the page, never silently.

Foreign claims are not passed on: a record read back from the server lends
only its id, identifier, dates, encounter and author to the next version
(``form_save._response``), never its ``meta`` (profiles and tags the server
or another app assigned, which this server may not resolve).
"""

from __future__ import annotations

import logging
import time

from flask import current_app

from fhir_mbt.client import FhirClient, FhirError, PartialWrite, ServerWrites, write_bundle
from smart_app import ehr

__all__ = ["learn", "prepare", "send", "left_out_message", "partial_message", "version_written"]

log = logging.getLogger(__name__)
TTL = 3600.0
_KINDS = {"Observation": "clinical measurements (Observations)", "Provenance": "the record of who saved it (Provenance)"}


def _cache() -> dict:
    return current_app.extensions.setdefault("mbt.server_writes", {})


def learn(fhir: FhirClient | None, issuer: str) -> ServerWrites | None:
    """What ``issuer`` can write, from its CapabilityStatement (read once per server, kept an hour)."""
    cached = _cache().get(issuer)
    if cached and time.time() - cached[0] < TTL:
        return cached[1]
    if fhir is None:
        return None
    try:
        writes = ServerWrites.from_capability(fhir.capabilities())
    except (FhirError, ValueError, TypeError, AttributeError) as exc:
        log.warning("could not read the server's CapabilityStatement (%s)", type(exc).__name__)
        return None
    _cache()[issuer] = (time.time(), writes)
    log.info("write plan for %s: %s", issuer, writes.plan({"QuestionnaireResponse", "Observation"}))
    return writes


def _allowed(kind: str, writes: ServerWrites, plan_needs_search: bool) -> bool:
    # Provenance goes in by PUT to a derived id; the others are found by identifier on the search plan.
    interactions = ["create", "update"] + (["search"] if plan_needs_search and kind != "Provenance" else [])
    return writes.can_write(kind) and all(ehr.can(kind, i) for i in interactions)


def prepare(bundle: dict, writes: ServerWrites | None) -> tuple[dict, list[str]]:
    """``bundle`` without what may not be written here, and the kinds left out."""
    writes = writes or ServerWrites()
    entries = bundle.get("entry") or []
    types = {e["resource"]["resourceType"] for e in entries}
    search = writes.plan(types) == "search"
    left_out = [kind for kind in ("Observation", "Provenance") if kind in types and not _allowed(kind, writes, search)]
    if not left_out:
        return bundle, []
    kept = [e for e in entries if e["resource"]["resourceType"] not in left_out]
    dropped = {e.get("fullUrl") for e in entries if e["resource"]["resourceType"] in left_out}
    for entry in kept:
        resource = entry["resource"]
        if resource["resourceType"] == "Provenance":
            resource["target"] = [t for t in resource.get("target", []) if t.get("reference") not in dropped]
    return {**bundle, "entry": kept}, left_out


def send(fhir: FhirClient, bundle: dict, writes: ServerWrites | None) -> dict:
    """Write ``bundle`` by this server's plan (a transaction-response Bundle either way)."""
    writes = writes or ServerWrites()
    plan = writes.plan({e["resource"]["resourceType"] for e in bundle.get("entry") or []})
    return write_bundle(fhir, bundle, plan, writes)


def left_out_message(left_out: list[str]) -> str:
    if not left_out:
        return ""
    what = " and ".join(_KINDS[k] for k in left_out)
    return (f" Only the record itself was stored: its {what} were not, because this EHR does not let the app "
            f"write them.")


def _kind(location: str) -> str:
    """The resource type of a Location (relative or absolute, with or without ``_history``)."""
    path = location.split("/_history/")[0].rstrip("/").split("/")
    return path[-2] if len(path) >= 2 else ""


def partial_message(exc: PartialWrite) -> str:
    kinds = [_kind(location) for location in exc.stored]
    observations = kinds.count("Observation")
    parts = ["the record itself"] if "QuestionnaireResponse" in kinds else []
    if observations:
        parts.append(f"{observations} clinical measurement{'s' if observations != 1 else ''}")
    missing = sorted({_KINDS.get(k, k) for k in exc.missing})
    return (f"Partly saved: the FHIR server stored {' and '.join(parts) or 'part of it'}, but not "
            f"{' and '.join(missing)}. Save again to complete it: nothing is written twice.")



def version_written(exc: PartialWrite, base: dict | None) -> str | None:
    """The version of ``base`` (a record being changed) that a part-way save wrote, if it did."""
    if not base or not base.get("id"):
        return None
    for location in exc.stored:
        path = location.split("/")
        if "_history" in path and path.index("_history") >= 2:
            at = path.index("_history")
            if path[at - 2:at] == ["QuestionnaireResponse", base["id"]] and at + 1 < len(path):
                return path[at + 1] or None
    return None
