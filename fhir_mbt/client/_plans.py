"""Write plans: a transaction Bundle written the way a given server can take it.

Servers differ. The plan is chosen once per server from its
CapabilityStatement (:meth:`ServerWrites.from_capability`):

- ``transaction``: the Bundle in one request, all or nothing;
- ``conditional``: its entries as ordered single requests, each create
  conditional (``If-None-Exist`` on the entry's stable identifier) and each
  conditional update as the server's own ``PUT [type]?identifier=``;
- ``search``: the server takes no conditional interactions, so each
  create is preceded by a search on the identifier, and an update by
  identifier becomes a search then a ``PUT`` by id.

Every entry of the Bundles the project builds is idempotent by identifier
(or by a derived id), so a plan that fails half-way leaves a state that the
next run of the same Bundle completes: nothing is written twice. A failure
after the first entry raises :class:`PartialWrite`, which says which entries
were stored. Written one by one, a Provenance's targets name the version
each target was written as (``QuestionnaireResponse/1/_history/3``), as R4
advises; a transaction leaves that to the server. :func:`write_bundle`
answers with a transaction-response Bundle in every plan, so callers read
one shape.
"""

from __future__ import annotations

import copy
import json
import re
from dataclasses import dataclass, field
from typing import Any, Mapping
from urllib.parse import parse_qsl

from fhir_mbt.client._errors import FhirError, PartialWrite
from fhir_mbt.client._result import WriteResult

__all__ = ["TRANSACTION", "CONDITIONAL", "SEARCH", "ServerWrites", "PartialWrite", "write_bundle"]

_LOCATION = re.compile(r"(?:^|/)[A-Z][A-Za-z]+/([A-Za-z0-9\-.]{1,64})(?:/_history/([A-Za-z0-9\-.]{1,64}))?/?$")

TRANSACTION = "transaction"
CONDITIONAL = "conditional"
SEARCH = "search"


@dataclass(frozen=True)
class ServerWrites:
    """What a server says it can write, read from its CapabilityStatement."""

    transaction: bool = False
    conditional_create: frozenset[str] = frozenset()
    conditional_update: frozenset[str] = frozenset()
    update_create: frozenset[str] = frozenset()
    writable: frozenset[str] = frozenset()
    declared: frozenset[str] = field(default_factory=frozenset)
    #: Whether the server says it takes batch Bundles (several reads in one round trip).
    batch: bool = False

    @classmethod
    def from_capability(cls, capability: Mapping[str, Any]) -> "ServerWrites":
        rests = [r for r in capability.get("rest") or [] if isinstance(r, dict) and r.get("mode", "server") == "server"]
        transaction = batch = False
        cc, cu, uc, writable, declared = set(), set(), set(), set(), set()
        for rest in rests:
            codes = {i.get("code") for i in rest.get("interaction") or [] if isinstance(i, dict)}
            transaction |= "transaction" in codes
            batch |= "batch" in codes
            for res in rest.get("resource") or []:
                if not isinstance(res, dict) or not isinstance(res.get("type"), str):
                    continue
                kind = res["type"]
                declared.add(kind)
                interactions = {i.get("code") for i in res.get("interaction") or [] if isinstance(i, dict)}
                if interactions & {"create", "update"}:
                    writable.add(kind)
                if res.get("conditionalCreate") is True:
                    cc.add(kind)
                if res.get("conditionalUpdate") is True:
                    cu.add(kind)
                if res.get("updateCreate") is True:
                    uc.add(kind)
        return cls(transaction, frozenset(cc), frozenset(cu), frozenset(uc), frozenset(writable), frozenset(declared),
                   batch)

    def plan(self, types: set[str] | frozenset[str]) -> str:
        """The plan for a Bundle writing resources of ``types``."""
        if self.transaction:
            return TRANSACTION
        if all(t in self.conditional_create for t in types):
            return CONDITIONAL
        return SEARCH

    def can_write(self, resource_type: str) -> bool:
        """Whether the server says it takes creates or updates of this type (unknown types: yes)."""
        return resource_type in self.writable or resource_type not in self.declared


def _entry_reply(result: WriteResult, resource_type: str) -> dict[str, Any]:
    rid = result.id
    version = (result.resource or {}).get("meta", {}).get("versionId") if result.resource else None
    location = result.location or (f"{resource_type}/{rid}" + (f"/_history/{version}" if version else "") if rid else "")
    reply: dict[str, Any] = {"status": f"{result.status}", "location": location}
    if result.etag:
        reply["etag"] = result.etag
    return {"response": reply, "resource_id": rid}


def _versioned(location: str, kind: str) -> str | None:
    """``Type/id/_history/vid`` from a write's Location, when it names the version."""
    match = _LOCATION.search(location or "")
    return f"{kind}/{match.group(1)}/_history/{match.group(2)}" if match and match.group(2) else None


def _target_versions(resource: dict, versions: dict[str, str]) -> dict:
    """A Provenance whose targets written earlier in this plan name the version written."""
    if resource.get("resourceType") != "Provenance" or not versions:
        return resource
    targets = [dict(t, reference=versions[t["reference"]]) if isinstance(t, dict) and t.get("reference") in versions
               else t for t in resource.get("target") or []]
    return {**resource, "target": targets}


def _rewrite(resource: dict, urls: dict[str, str]) -> dict:
    if not urls:
        return resource
    text = json.dumps(resource)
    for full_url, ref in urls.items():
        text = text.replace(json.dumps(full_url), json.dumps(ref))
    return json.loads(text)


def _find(fhir, resource: Mapping[str, Any], query: str) -> dict | None:
    """The one resource the identifier ``query`` matches, searched within the resource's patient
    (a server that grants patient scopes may only search within that patient's records)."""
    resource_type = resource["resourceType"]
    params = dict(parse_qsl(query, keep_blank_values=True))
    subject = (resource.get("subject") or {}).get("reference") if isinstance(resource.get("subject"), dict) else None
    if isinstance(subject, str) and subject.startswith("Patient/") and not ({"subject", "patient"} & set(params)):
        params["subject"] = subject
    found = [r for r in fhir.search(resource_type, params, limit=2) if r.get("resourceType") == resource_type]
    return found[0] if found else None


def _version(if_match: str | None) -> str | None:
    if not if_match:
        return None
    return if_match.strip().removeprefix("W/").strip('"')


def _one(fhir, entry: dict, plan: str, writes: ServerWrites) -> WriteResult:
    request, resource = entry["request"], entry["resource"]
    method, url = request["method"], request["url"]
    kind = resource["resourceType"]
    if method == "POST":
        query = request.get("ifNoneExist")
        if query and plan == CONDITIONAL:
            return fhir.create(resource, if_none_exist=query)
        if query:
            existing = _find(fhir, resource, query)
            if existing is not None:
                return WriteResult(200, existing, f"{kind}/{existing.get('id')}")
        return fhir.create(resource)
    if method == "PUT" and "?" in url:
        query = url.split("?", 1)[1]
        if plan == CONDITIONAL and kind in writes.conditional_update:
            return fhir.conditional_update(resource, query, if_match=_version(request.get("ifMatch")))
        existing = _find(fhir, resource, query)
        if existing is None:
            return fhir.create(resource)
        return fhir.update({**resource, "id": existing["id"]}, if_match=_version(request.get("ifMatch")))
    if method == "PUT":
        return fhir.update({**resource, "id": url.rsplit("/", 1)[-1]}, if_match=_version(request.get("ifMatch")))
    raise ValueError(f"write plans do not carry {method} entries")


def write_bundle(fhir, bundle: Mapping[str, Any], plan: str, writes: ServerWrites | None = None) -> dict[str, Any]:
    """Write ``bundle`` by ``plan``; a transaction-response Bundle either way."""
    if plan == TRANSACTION:
        return fhir.transaction(bundle)
    writes = writes or ServerWrites()
    urls: dict[str, str] = {}
    versions: dict[str, str] = {}
    replies: list[dict[str, Any]] = []
    entries = bundle.get("entry") or []
    for n, raw in enumerate(entries):
        entry = copy.deepcopy(raw)
        entry["resource"] = _rewrite(_target_versions(entry["resource"], versions), urls)
        kind = entry["resource"]["resourceType"]
        try:
            result = _one(fhir, entry, plan, writes)
        except FhirError as exc:
            if n == 0:
                raise
            stored = [r["response"]["location"] for r in replies]
            missing = [e["resource"]["resourceType"] for e in entries[n:]]
            raise PartialWrite(f"{len(replies)} of {len(entries)} writes done", stored=stored, missing=missing,
                               cause=exc, answer={"resourceType": "Bundle", "type": "transaction-response",
                                                  "entry": replies}) from exc
        reply = _entry_reply(result, kind)
        if raw.get("fullUrl") and reply["resource_id"]:
            urls[raw["fullUrl"]] = f"{kind}/{reply.pop('resource_id')}"
            versioned = _versioned(reply["response"]["location"], kind)
            if versioned and versioned.startswith(urls[raw["fullUrl"]] + "/"):
                versions[raw["fullUrl"]] = versioned
        else:
            reply.pop("resource_id")
        replies.append(reply)
    return {"resourceType": "Bundle", "type": "transaction-response", "entry": replies}
