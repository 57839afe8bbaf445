"""Load the definitions (and the example data) onto a FHIR server, idempotently.

One batch read learns what the server already holds; only what differs is
written, in one transaction, so running the upload twice changes nothing the
second time (not even a version number) and a failed upload leaves the
server as it was.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from fhir_mbt.client import FhirClient
from fhir_mbt.content.index import ContentIndex
from fhir_mbt.content.view_shape import LOGICAL_TYPES
from fhir_mbt.errors import FhirMbtError

__all__ = ["UploadReport", "UploadError", "upload_definitions", "upload_examples", "same_content",
           "resolved_in_bundle"]

#: Elements a server sets or may add on its own; they do not make a resource different.
SERVER_ELEMENTS = ("meta", "text")


class UploadError(FhirMbtError):
    """The server answered in a way that leaves the upload's outcome unclear."""


@dataclass
class UploadReport:
    written: list[str] = field(default_factory=list)
    unchanged: list[str] = field(default_factory=list)

    def __str__(self) -> str:
        return f"{len(self.written)} written, {len(self.unchanged)} unchanged"


def _strip(resource: dict) -> dict:
    return {k: v for k, v in resource.items() if k not in SERVER_ELEMENTS}


def same_content(ours: dict, theirs: dict | None) -> bool:
    """True when the server's copy equals ours, apart from server-set elements."""
    return theirs is not None and _normalise(_strip(ours)) == _normalise(_strip(theirs))


def _normalise(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: _normalise(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_normalise(v) for v in value]
    if isinstance(value, float) and value.is_integer():
        return int(value)
    return value


def _current(client: FhirClient, keys: list[str]) -> dict[str, dict | None]:
    """What the server holds at each ``Type/id`` (None where nothing), in one batch."""
    if not keys:
        return {}
    bundle = {
        "resourceType": "Bundle",
        "type": "batch",
        "entry": [{"request": {"method": "GET", "url": key}} for key in keys],
    }
    answer = client.batch(bundle)
    entries = answer.get("entry") or []
    if len(entries) != len(keys):
        raise UploadError(f"the server answered {len(entries)} entries to a batch of {len(keys)}")
    out: dict[str, dict | None] = {}
    for key, entry in zip(keys, entries):
        status = str(entry.get("response", {}).get("status", ""))
        resource = entry.get("resource")
        out[key] = resource if status.startswith("200") and isinstance(resource, dict) else None
    return out


def _put_transaction(entries: list[dict]) -> dict:
    return {"resourceType": "Bundle", "type": "transaction", "entry": entries}


def for_server(resource: dict) -> dict:
    """The resource as an R4 server can hold it: a guide without its logical-model (ViewDefinition) entries."""
    if resource.get("resourceType") != "ImplementationGuide":
        return resource
    definition = resource.get("definition") or {}
    kept = [e for e in definition.get("resource", [])
            if str(e.get("reference", {}).get("reference", "")).split("/")[0] not in LOGICAL_TYPES]
    return {**resource, "definition": {**definition, "resource": kept}}


def upload_definitions(client: FhirClient, index: ContentIndex) -> UploadReport:
    """PUT every changed definition (by its id) in one transaction.

    Logical-model resources (SQL-on-FHIR ViewDefinitions) stay behind: an R4
    server has no such type; they are for the analytics runner and the package.
    """
    resources = [for_server(r) for r in index.resources() if r.get("resourceType") not in LOGICAL_TYPES]
    keys = [f"{r['resourceType']}/{r['id']}" for r in resources]
    current = _current(client, keys)
    report = UploadReport()
    entries = []
    for key, resource in zip(keys, resources):
        if same_content(resource, current.get(key)):
            report.unchanged.append(key)
        else:
            report.written.append(key)
            entries.append({"resource": resource, "request": {"method": "PUT", "url": key}})
    if entries:
        client.transaction(_put_transaction(entries))
    return report


def upload_examples(client: FhirClient, index: ContentIndex) -> UploadReport:
    """Send each example transaction Bundle whose content the server lacks.

    An example Bundle is sent whole or not at all, since its entries may
    refer to each other by ``fullUrl``.
    """
    report = UploadReport()
    for bundle in index.resources("Bundle", examples=True):
        if bundle.get("type") != "transaction":
            continue
        entries = bundle.get("entry") or []
        keys = [e.get("request", {}).get("url", "") for e in entries]
        if not all(e.get("request", {}).get("method") == "PUT" for e in entries):
            raise UploadError(f"example Bundle {bundle.get('id')}: only PUT entries can be uploaded idempotently")
        current = _current(client, keys)
        if all(same_content(_resolved(e["resource"], entries), current.get(k)) for e, k in zip(entries, keys)):
            report.unchanged.append(f"Bundle/{bundle.get('id')}")
            continue
        client.transaction(bundle)
        report.written.append(f"Bundle/{bundle.get('id')}")
    return report


def _resolved(resource: dict, entries: list[dict]) -> dict:
    """The resource as the server stores it: ``urn:uuid`` references replaced by Type/id."""
    urns = {e.get("fullUrl"): e.get("request", {}).get("url") for e in entries if str(e.get("fullUrl", "")).startswith("urn:")}
    if not urns:
        return resource

    def fix(value):
        if isinstance(value, dict):
            return {k: fix(v) for k, v in value.items()}
        if isinstance(value, list):
            return [fix(v) for v in value]
        if isinstance(value, str) and value in urns:
            return urns[value]
        return value

    return fix(resource)


#: Public name: a Bundle entry's resource with its ``urn:uuid`` references resolved (as a server stores it).
resolved_in_bundle = _resolved
