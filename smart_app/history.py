"""A record's history: every version, who saved it and when, why, and what changed.

- ``/forms/r/<rid>/history``: the versions of one record from the server's
  ``_history`` (the newest :data:`~smart_app.record_history.MAX_VERSIONS`),
  each with its author, time, status, the reason given for it (from the
  Provenance written with it) and its changes from the version before, in
  the Questionnaire's words. One round trip where the server takes batches
  (the history and the Provenance together), two where it does not.
- ``/forms/r/<rid>/v/<vid>``: one earlier version, read-only, shown by the
  record page itself (``forms.show``) and marked as superseded.
- ``/forms/formulation/history``: every version of the formulation. A
  revision is a new record (``forms.revise_formulation`` starts a new form
  from the current one) and an amendment a new version of the same record,
  so this lists the versions of every formulation record, oldest record to
  newest, and a revision's first version is compared with the last version
  of the formulation before it.

Every version shown is the launched patient's (the newest version of a
record decides, as the record page does; an older version that is not is
withheld); ids are checked before any URL is built.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from flask import Blueprint, abort, g, redirect, render_template, session, url_for

from fhir_mbt.content import shipped, terminology
from fhir_mbt.errors import ContentNotFound
from smart_app import ehr, record_history, write_plans
from smart_app.dashboard_data import flatten, questionnaire_id
from smart_app.forms import FORMS, check_record, show
from smart_app.local_time import local_date, local_datetime
from smart_app.patient_context import banner
from smart_app.patient_data import MalformedRecord, read_patient_record
from smart_app.record_changes import Change, changes
from smart_app.record_history import RecordHistory, Version, attach_reasons, history_of, valid_id
from smart_app.views import launched

__all__ = ["bp"]

bp = Blueprint("history", __name__, url_prefix="/forms")

#: The newest this many formulation records (the first and each revision) are listed.
MAX_FORMULATIONS = 20
STATUS = {"in-progress": "Draft", "completed": "Completed", "amended": "Amended",
          "entered-in-error": "Entered in error", "stopped": "Stopped"}


@dataclass
class Row:
    """One version as the page shows it."""

    version: Version
    total: int | None
    who: str
    status: str
    current: bool
    read_url: str
    changes: list[Change] = field(default_factory=list)
    compared_with: str = ""
    first: bool = False
    #: For the first version of a formulation revision: the reason the revision itself gives.
    revision_reason: str = ""
    #: The version in force: the current version of the record (of the newest formulation record).
    in_force: bool = False


@dataclass
class Section:
    """One record's versions, newest first (one section per formulation record)."""

    title: str
    rid: str
    rows: list[Row]
    cut: bool
    total: int | None


def _ids(*values: str) -> None:
    if not all(valid_id(v) for v in values):
        abort(404, description="There is no such record.")


def _batch() -> bool:
    """Whether to read in one batch: the server says it takes batches (or transactions, which a
    server takes at the same endpoint: HAPI lists only those), or it could not be asked."""
    writes = write_plans.learn(g.fhir, g.tokens.issuer)
    return writes is None or writes.batch or writes.transaction


def _may_read_reasons() -> bool:
    return ehr.can("Provenance", "read") and ehr.can("Provenance", "search")


def _reads(rids: list[str], version: str | None = None) -> record_history.Reads:
    return record_history.read(g.fhir, rids, g.tokens.patient, provenance=version is None and _may_read_reasons(),
                               batch=_batch(), version=version)


def _history(rid: str, bundle: dict) -> RecordHistory:
    try:
        history = history_of(rid, bundle, g.tokens.patient, FORMS, questionnaire_id)
    except MalformedRecord:
        abort(404, description="There is no such record for this patient.")
    if history.current.response is None:
        abort(404, description="This record was removed from the FHIR server.")
    return history


def _questionnaire(response: dict | None) -> dict | None:
    qid = questionnaire_id(response or {})
    if qid not in FORMS:
        return None
    try:
        return shipped().get(terminology.questionnaire_url(qid))
    except ContentNotFound:
        return None


def _who(version: Version) -> str:
    """The record's author as written (its display, else who its reference is), else the
    Provenance's agent (one that names a resource: the engine writes a placeholder display
    when there was no author)."""
    author = (version.response or {}).get("author")
    agents = [a for a in version.provenance_who if isinstance(a.get("reference"), str) and a["reference"]]
    who = author if isinstance(author, dict) and (author.get("display") or author.get("reference")) else (
        agents[0] if agents else None)
    if who is None:
        return "not recorded"
    if isinstance(who.get("display"), str) and who["display"].strip():
        return who["display"].strip()
    reference = who.get("reference")
    if not isinstance(reference, str) or not reference:
        return "not recorded"
    if reference == f"Patient/{g.tokens.patient}":
        return "the patient"
    user = session.get("user") or {}
    if reference == user.get("reference") and user.get("name"):
        return user["name"]
    return reference


def _rows(history: RecordHistory, before: Version | None = None, before_label: str = "") -> list[Row]:
    """The versions of one record, newest first; ``before`` is what its first version is compared with."""
    rows = []
    previous, previous_label = before, before_label
    for version in history.versions:
        current = version is history.current
        if version.response is None:
            rows.append(Row(version, history.total, "", "Removed" if version.deleted else "Not shown", current, ""))
            continue
        url = (url_for("forms.view", rid=history.rid) if current
               else url_for("history.version", rid=history.rid, vid=version.vid))
        row = Row(version, history.total, _who(version), STATUS.get(version.status, version.status or "unknown"),
                  current, url, first=previous is None, in_force=current)
        if previous is not None:
            row.changes = changes(previous.response, version.response,
                                  [_questionnaire(version.response), _questionnaire(previous.response)],
                                  shipped(), when=local_datetime)
            row.compared_with = previous_label or (f"version {previous.number}" if previous.number else "the version before")
        rows.append(row)
        previous, previous_label = version, ""
    rows.reverse()
    return rows


def _note(reads: record_history.Reads) -> str:
    if reads.provenances is not None:
        return ""
    if reads.provenance_error is not None:
        return ("The reasons for changes could not be read from the FHIR server (it refused the request), so "
                "they are not shown.")
    return "The EHR does not let this app read the reasons for changes (Provenance), so they are not shown."


def _page(title: str, sections: list[Section], reads, **extra):
    return render_template("history.html", title=title, sections=sections, reasons_note=_note(reads),
                           reasons_read=reads.provenances is not None, max_versions=record_history.MAX_VERSIONS,
                           ctx=g.tokens.context, patient=banner(), always_banner=True, **extra)


@bp.get("/r/<rid>/history")
@launched
def record(rid):
    _ids(rid)
    reads = _reads([rid])
    history = _history(rid, reads.histories[rid])
    attach_reasons([history], reads.provenances or [])
    questionnaire = _questionnaire(history.current.response) or {}
    title = questionnaire.get("title") or "Record"
    section = Section(title, rid, _rows(history), history.cut, history.total)
    return _page(f"History: {title}", [section], reads, record_rid=rid, record_title=title,
                 authored=(history.current.response or {}).get("authored"))


@bp.get("/r/<rid>/v/<vid>")
@launched
def version(rid, vid):
    _ids(rid, vid)
    reads = _reads([rid], version=vid)
    response = check_record(reads.version, rid)
    if str((response.get("meta") or {}).get("versionId")) != vid:
        raise MalformedRecord(f"QuestionnaireResponse/{rid}/_history/{vid} came back as another version")
    history = _history(rid, reads.histories[rid])
    if history.current.vid == vid:
        return redirect(url_for("forms.view", rid=rid))
    place = history.find(vid)
    later = None
    if place is not None:
        at = history.versions.index(place)
        later = next((v for v in history.versions[at + 1:]), None)
    earlier = {"rid": rid, "vid": vid, "number": place.number if place else None, "total": history.total,
               "saved": (response.get("meta") or {}).get("lastUpdated"),
               "superseded": later.updated if later else None, "listed": place is not None}
    return show(response, earlier=earlier)


@bp.get("/formulation/history")
@launched
def formulation():
    _, responses = read_patient_record(g.fhir, g.tokens.patient)
    found = [r for r in responses if questionnaire_id(r) == terminology.FORMULATION and valid_id(r.get("id"))]
    found = sorted(found, key=lambda r: r.get("authored", ""), reverse=True)[:MAX_FORMULATIONS]
    older_left = sum(1 for r in responses if questionnaire_id(r) == terminology.FORMULATION) - len(found)
    if not found:
        return render_template("history.html", title="Formulation history", sections=[], reasons_note="",
                               reasons_read=True, max_versions=record_history.MAX_VERSIONS, formulation=True,
                               ctx=g.tokens.context, patient=banner(), always_banner=True)
    found.reverse()
    reads = _reads([r["id"] for r in found])
    histories = []
    for response in found:
        try:
            history = history_of(response["id"], reads.histories[response["id"]], g.tokens.patient, FORMS,
                                 questionnaire_id)
        except MalformedRecord:
            continue
        if history.current.response is not None:
            histories.append(history)
    attach_reasons(histories, reads.provenances or [])
    sections, before, label = [], None, ""
    for n, history in enumerate(histories, 1):
        authored = local_date((history.current.response or {}).get("authored"))
        title = f"Formulation of {authored}" + (" (a revision)" if n > 1 else "")
        rows = _rows(history, before, label)
        first = rows[-1] if rows and rows[-1].version.response is not None else None
        if n > 1 and first is not None:
            said = flatten(first.version.response.get("item")).get("revision.reason") or []
            first.revision_reason = " ".join(str(s) for s in said if isinstance(s, str)).strip()
        sections.append(Section(title, history.rid, rows, history.cut, history.total))
        last = next((v for v in reversed(history.versions) if v.response is not None), None)
        if last is not None:
            before, label = last, f"the formulation of {authored}" + (f", version {last.number}" if last.number else "")
    sections.reverse()
    for section in sections[1:]:  # revised since: their last versions are not the formulation in force
        for row in section.rows:
            row.in_force = False
    return _page("Formulation history", sections, reads, formulation=True, older_left=max(older_left, 0))
