"""A record's versions, and why each was made: read in one round trip where the server allows.

The server keeps every version of a QuestionnaireResponse (``_history``); the
app writes a Provenance with each completed save and each amendment, and an
amendment's Provenance carries the clinician's reason (``reason.text``).
This module reads both and pairs them:

- the reads: ``QuestionnaireResponse/<id>/_history`` (newest
  :data:`MAX_VERSIONS`), and the Provenance that target the record, brought
  by ``QuestionnaireResponse?_id=<id>&subject=Patient/<pid>&_revinclude=Provenance:target``
  (the way US Core asks servers to serve Provenance, and one that patient
  scopes allow: it names the patient, where ``Provenance?target=`` cannot),
  optionally one earlier version (``_history/<vid>``). Sent as one batch
  Bundle when the server takes batches, else one request each;
- the pairing: a Provenance whose target names a version
  (``QuestionnaireResponse/<id>/_history/<vid>``, as the app's single-request
  write plans write it) belongs to that version; one whose target does not
  (servers that strip versions from references, HAPI among them) belongs to the
  newest version the server had stored when it stored the Provenance (its
  ``meta.lastUpdated``, the server's own clock on both sides; written in one
  transaction they carry the same instant).

Nothing here knows Flask: the client, the patient and the ids are passed in.
"""

from __future__ import annotations

import datetime as dt
import re
from dataclasses import dataclass, field
from typing import Any, Iterable, Mapping

from fhir_mbt.client import FhirClient, FhirError, InvalidResource, MalformedResponse, RequestRejected
from smart_app.patient_data import MalformedRecord, check_response_shape

__all__ = ["MAX_VERSIONS", "ID", "Version", "RecordHistory", "Reads", "read", "history_of", "valid_id"]

#: The newest this many versions of a record are read; the page says when there are more.
MAX_VERSIONS = 100
#: A reason is shown up to this many characters (the app writes at most 500).
MAX_REASON_SHOWN = 1000
ID = re.compile(r"^[A-Za-z0-9\-.]{1,64}$")
_TARGET = re.compile(r"(?:^|/)QuestionnaireResponse/([A-Za-z0-9\-.]{1,64})(?:/_history/([A-Za-z0-9\-.]{1,64}))?$")


def valid_id(value: Any) -> bool:
    return isinstance(value, str) and bool(ID.fullmatch(value))


@dataclass
class Version:
    """One version of a record, as the server keeps it (``response`` is None for a deletion
    or a version that could not be read)."""

    rid: str
    vid: str
    updated: str
    response: dict | None
    number: int | None = None
    reasons: list[str] = field(default_factory=list)
    provenance_who: list[dict] = field(default_factory=list)
    deleted: bool = False
    unreadable: bool = False

    @property
    def status(self) -> str:
        return (self.response or {}).get("status", "")


@dataclass
class RecordHistory:
    """A record's versions, oldest first; ``cut`` when older ones were left unread."""

    rid: str
    versions: list[Version]
    total: int | None
    cut: bool

    @property
    def current(self) -> Version | None:
        return self.versions[-1] if self.versions else None

    def find(self, vid: str) -> Version | None:
        return next((v for v in self.versions if v.vid == vid), None)


@dataclass
class Reads:
    """What one history page read: each record's history bundle, the Provenance found (None
    when they could not be read, with ``provenance_error``), and the one version asked for."""

    histories: dict[str, dict]
    provenances: list[dict] | None
    provenance_error: FhirError | None = None
    version: dict | None = None
    requests: int = 0


def _history_url(rid: str) -> str:
    return f"QuestionnaireResponse/{rid}/_history?_count={MAX_VERSIONS}"


def _provenance_url(rids: list[str], patient: str) -> str:
    return (f"QuestionnaireResponse?_id={','.join(rids)}&subject=Patient/{patient}"
            f"&_revinclude=Provenance:target&_count={len(rids)}")


def _provenances_of(bundle: Mapping) -> list[dict]:
    return [e["resource"] for e in bundle.get("entry") or []
            if isinstance(e, dict) and isinstance(e.get("resource"), dict)
            and e["resource"].get("resourceType") == "Provenance"]


def read(fhir: FhirClient, rids: list[str], patient: str, *, provenance: bool, batch: bool,
         version: str | None = None) -> Reads:
    """Read the histories of ``rids`` (and their Provenance, and one earlier ``version`` of the
    first) in one batch when ``batch``, else one request each. A server that refuses the batch
    itself is asked again one request at a time."""
    for value in [*rids, patient, *([version] if version else [])]:
        if not valid_id(value):
            raise ValueError(f"not a FHIR id: {value!r}")
    urls = [_history_url(rid) for rid in rids]
    if provenance:
        urls.append(_provenance_url(rids, patient))
    if version:
        urls.append(f"QuestionnaireResponse/{rids[0]}/_history/{version}")
    if batch:
        try:
            answers = fhir.read_many(urls)
        except (InvalidResource, RequestRejected):
            answers = None  # the batch itself was refused: read one by one below
        else:
            return _reads(rids, answers, provenance, version, requests=1)
    answers = []
    for rid in rids:
        answers.append(fhir.history("QuestionnaireResponse", rid, {"_count": str(MAX_VERSIONS)}))
    if provenance:
        try:
            answers.append(next(fhir.pages("QuestionnaireResponse", {
                "_id": ",".join(rids), "subject": f"Patient/{patient}", "_revinclude": "Provenance:target",
                "_count": str(len(rids))})))
        except FhirError as exc:
            answers.append(exc)
    if version:
        answers.append(fhir.vread("QuestionnaireResponse", rids[0], version))
    return _reads(rids, answers, provenance, version, requests=len(urls) + (1 if batch else 0))


def _reads(rids, answers, provenance, version, *, requests) -> Reads:
    histories = {}
    for rid, answer in zip(rids, answers):
        if isinstance(answer, FhirError):
            raise answer
        if answer.get("resourceType") != "Bundle" or answer.get("type") != "history":
            raise MalformedResponse(f"the history of QuestionnaireResponse/{rid} is not a history Bundle")
        histories[rid] = answer
    rest = list(answers[len(rids):])
    reads = Reads(histories, None, requests=requests)
    if provenance:
        found = rest.pop(0)
        if isinstance(found, FhirError):
            reads.provenance_error = found
        else:
            reads.provenances = _provenances_of(found)
    if version:
        found = rest.pop(0)
        if isinstance(found, FhirError):
            raise found
        reads.version = found
    return reads


# --- the versions ------------------------------------------------------------------


def _instant(value: Any) -> dt.datetime | None:
    if not isinstance(value, str) or "T" not in value:
        return None
    try:
        moment = dt.datetime.fromisoformat(value.strip().replace("Z", "+00:00"))
    except ValueError:
        return None
    return moment if moment.tzinfo else None


def _updated(resource: Mapping | None) -> str:
    meta = (resource or {}).get("meta")
    value = meta.get("lastUpdated") if isinstance(meta, dict) else None
    return value if isinstance(value, str) else ""


def history_of(rid: str, bundle: Mapping, patient: str, forms: Iterable[str], questionnaire_id) -> RecordHistory:
    """The versions of ``rid`` in a history Bundle, oldest first, numbered from the first.

    A version that is not this patient's record of one of ``forms`` raises
    :class:`MalformedRecord` for the newest (the record is refused as a whole) and is
    withheld (``unreadable``) for an older one, so another patient's answers never show.
    """
    forms = set(forms)
    versions: list[Version] = []
    for entry in bundle.get("entry") or []:
        if not isinstance(entry, dict):
            continue
        resource = entry.get("resource")
        request = entry.get("request") if isinstance(entry.get("request"), dict) else {}
        if resource is None and request.get("method") == "DELETE":
            match = _TARGET.search(str(request.get("url", "")).split("?")[0])
            vid = (match.group(2) if match else None) or ""
            updated = str((entry.get("response") or {}).get("lastModified") or "")
            versions.append(Version(rid, vid, updated, None, deleted=True))
            continue
        if not isinstance(resource, dict) or resource.get("resourceType") != "QuestionnaireResponse":
            continue
        vid = str((resource.get("meta") or {}).get("versionId") or "") if isinstance(resource.get("meta"), dict) else ""
        version = Version(rid, vid, _updated(resource), resource)
        try:
            check_response_shape(resource)
            ok = (resource.get("id") == rid and valid_id(vid)
                  and (resource.get("subject") or {}).get("reference") == f"Patient/{patient}"
                  and questionnaire_id(resource) in forms)
        except MalformedRecord:
            ok = False
        if not ok:
            version.response, version.unreadable = None, True
        versions.append(version)
    if not versions or versions[0].unreadable:
        # The newest version decides whose record it is: refused like the record itself.
        raise MalformedRecord(f"QuestionnaireResponse/{rid} is not a record of this patient that the app can show")
    versions.reverse()
    total = bundle.get("total") if isinstance(bundle.get("total"), int) else None
    has_next = any(isinstance(link, dict) and link.get("relation") == "next" for link in bundle.get("link") or [])
    cut = has_next or (total is not None and total > len(versions))
    if not cut:
        for n, version in enumerate(versions, 1):
            version.number = n
    elif total is not None:
        for n, version in enumerate(versions, total - len(versions) + 1):
            version.number = n
    return RecordHistory(rid, versions, total if total is not None else (None if cut else len(versions)), cut)


def attach_reasons(histories: Iterable[RecordHistory], provenances: Iterable[Mapping]) -> None:
    """Put each Provenance's reason (and agent) on the version it was written for."""
    by_rid = {h.rid: h for h in histories}
    for prov in provenances:
        reasons = [_short(r["text"]) for r in prov.get("reason") or []
                   if isinstance(r, dict) and isinstance(r.get("text"), str) and r["text"].strip()]
        agents = [a.get("who") for a in prov.get("agent") or [] if isinstance(a, dict) and isinstance(a.get("who"), dict)]
        for target in prov.get("target") or []:
            ref = target.get("reference") if isinstance(target, dict) else None
            match = _TARGET.search(ref.split("?")[0]) if isinstance(ref, str) else None
            history = by_rid.get(match.group(1)) if match else None
            if history is None:
                continue
            version = history.find(match.group(2)) if match.group(2) else _stored_before(history, prov)
            if version is None:
                continue
            version.reasons.extend(r for r in reasons if r not in version.reasons)
            version.provenance_who.extend(agents)


def _short(text: str) -> str:
    """A reason as a line, cut at :data:`MAX_REASON_SHOWN` (another system's may be long)."""
    line = " ".join(text.split())
    return line if len(line) <= MAX_REASON_SHOWN else line[:MAX_REASON_SHOWN - 1].rstrip() + "…"


def _stored_before(history: RecordHistory, prov: Mapping) -> Version | None:
    """The newest version stored no later than the Provenance was (by the server's clock)."""
    when = _instant(_updated(prov)) or _instant(prov.get("recorded"))
    if when is None:
        return None
    found = None
    for version in history.versions:
        moment = _instant(version.updated)
        if moment is not None and moment <= when and not version.deleted:
            found = version
    return found
