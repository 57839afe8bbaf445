"""The patient's records as one chronological list: every kind, newest first, filtered and paged.

    PatientView ─► rows(view, zone)          one Row per completed or amended record, newest first
                ─► listing(rows, kind, page) the rows of one type (or all) on one page, with the counts

Pure functions over the dashboard's view (:mod:`smart_app.dashboard_data`),
which is read in one search: the list, its filter and its pages cost no
request of their own. A row's risk flag is the risk alert's rule
(:func:`fhir_mbt.cds.risk.flagged`), so a record flagged here is one that
raised, or would have raised, the alert. Drafts are not records and are not
listed here (the dashboard lists them apart, each with its own actions).
"""

from __future__ import annotations

import datetime as _dt
from dataclasses import dataclass, field, replace
from typing import Any, Mapping

from fhir_mbt.cds import risk
from fhir_mbt.cds.record import Entry, display, first
from fhir_mbt.content import terminology
from smart_app.charts import fmt
from smart_app.dashboard_data import PatientView, number
from smart_app.local_time import parse_instant
from smart_app.patient_record import entered_by

__all__ = ["KINDS", "PER_PAGE", "Row", "Listing", "ListRequestError", "rows", "listing", "moment", "day_label"]

#: Filter key → (Questionnaire id, one record, the list of them), in the order the filter offers them.
KINDS: dict[str, tuple[str, str, str]] = {
    "session": (terminology.SESSION_RECORD, "Session", "Sessions"),
    "checkin": (terminology.WEEKLY_CHECKIN, "Check-in", "Check-ins"),
    "rfq8": (terminology.RFQ8, "RFQ-8", "RFQ-8"),
    "profile": (terminology.MENTALIZING_PROFILE, "Mentalizing profile", "Mentalizing profiles"),
    "review": (terminology.PERIODIC_REVIEW, "Periodic review", "Periodic reviews"),
    "crisis-plan": (terminology.CRISIS_PLAN, "Crisis plan revision", "Crisis plan revisions"),
    "formulation": (terminology.FORMULATION, "Formulation", "Formulations"),
}
PER_PAGE = 25
#: Records whose date is a clinical answer (the day of the session or review), not the time it was written.
_DATED = {"session", "review"}
_LONGEST = 80


class ListRequestError(ValueError):
    """A records list asked for with a type or page that does not exist; ``status`` is the HTTP status."""

    def __init__(self, message: str, status: int = 400):
        super().__init__(message)
        self.status = status


@dataclass(frozen=True)
class Row:
    id: str
    kind: str
    type: str
    #: The record's date as the server has it (a clinical date, or the instant it was written): for ``local_date``.
    when: str
    detail: str
    entered_by: str
    #: What the record reported, when it reported risk (the alert's rule); empty otherwise.
    risk: tuple[str, ...]
    status: str
    sort: tuple = field(repr=False, compare=False, default=())
    entry: Entry | None = field(repr=False, compare=False, default=None)


@dataclass(frozen=True)
class Listing:
    """One page of the list: its rows, where it is (``first``–``last`` of ``total``), and what else there is."""

    rows: list[Row]
    kind: str | None
    page: int
    pages: int
    total: int
    first: int
    last: int
    per_page: int
    #: Records of each type, whatever the filter; and of all types.
    counts: dict[str, int]
    everything: int


def day_label(day: _dt.date) -> str:
    """A day as the app writes it: ``2 Mar 2026``."""
    return f"{day.day} {day:%b %Y}"


def moment(e: Entry, kind: str, zone: _dt.tzinfo) -> _dt.datetime | None:
    """Where a record sits in time, as a local wall-clock time (naive).

    A session or review is placed on its own date (at noon: a date names a
    day, not an instant); any other record at the local time it was written.
    None when the record carries no readable date at all.
    """
    if kind in _DATED:
        try:
            return _dt.datetime.combine(_dt.date.fromisoformat(e.date[:10]), _dt.time(12))
        except ValueError:
            pass
    written = parse_instant(e.response.get("authored"))
    if written is not None:
        return written.astimezone(zone).replace(tzinfo=None)
    try:
        return _dt.datetime.combine(_dt.date.fromisoformat(str(e.response.get("authored", ""))[:10]), _dt.time(12))
    except ValueError:
        return None


def _short(text: Any) -> str:
    words = " ".join(str(text or "").split())
    return words if len(words) <= _LONGEST else words[: _LONGEST - 1].rstrip() + "…"


def _value(answers: Mapping[str, list], link_id: str) -> str:
    n = number(first(answers, link_id))
    return fmt(n) if n is not None else "–"


def _detail(kind: str, e: Entry) -> str:
    a = e.answers
    if kind == "session":
        parts = [display(first(a, "session.format")), display(first(a, "session.attendance"))]
        if a.get("interventions.stage"):
            parts.append("deepest stage: " + display(first(a, "interventions.stage")))
        if first(a, "alliance.rupture") is True:
            parts.append("rupture")
    elif kind == "checkin":
        parts = [f"blow-ups {_value(a, 'checkin.blow-ups')}", f"paused {_value(a, 'checkin.pauses')}"]
    elif kind == "rfq8":
        parts = [f"RFQ_c {_value(a, 'rfq8.certainty')}", f"RFQ_u {_value(a, 'rfq8.uncertainty')}"]
    elif kind == "profile":
        parts = [f"capacity {_value(a, 'profile.score.capacity')} of 5",
                 f"modes {_value(a, 'profile.score.modes')}", f"imbalance {_value(a, 'profile.score.imbalance')}"]
    elif kind == "review":
        parts = [display(first(a, "review.status"))]
        parts += [f"{name} {_value(a, link)}" for name, link in (("PHQ-9", "review.phq9"), ("GAD-7", "review.gad7"))
                  if a.get(link)]
    elif kind == "crisis-plan":
        parts = [_short(first(a, "crisis-plan.reason")),
                 "agreed with the patient" if first(a, "crisis-plan.agreed") is True else "not agreed yet"]
    else:
        reason = _short(first(a, "revision.reason"))
        revision = first(a, "revision.is-revision") is True
        parts = [("revision: " + reason if reason else "revision") if revision else "first formulation",
                 "agreed with the patient" if first(a, "agreement.agreed") is True else "not agreed yet"]
    if e.status == "amended":
        parts.append("amended")
    return " · ".join(p for p in parts if p)


def rows(view: PatientView, zone: _dt.tzinfo) -> list[Row]:
    """Every completed or amended record of the view, newest first (by its date, then when it was written).

    A row's ``detail`` is left empty here and written by :func:`listing` for
    the rows of the page shown: years of records are sorted, not described.
    """
    by_kind = {"session": view.sessions, "checkin": view.checkins, "rfq8": view.rfq8, "profile": view.profiles,
               "review": view.reviews, "crisis-plan": view.crisis_plans, "formulation": view.formulations}
    flags = risk.flagged(view.sessions, view.checkins)
    out = []
    for kind, entries in by_kind.items():
        label = KINDS[kind][1]
        for e in entries:
            at = moment(e, kind, zone)
            when = e.date if kind in _DATED else str(e.response.get("authored", "")) or e.date
            out.append(Row(e.id, kind, label, when, "", entered_by(e.response), flags.get(e.id, ()), e.status,
                           (at.date().isoformat() if at else "", str(e.response.get("authored", "")), e.id), e))
    out.sort(key=lambda r: r.sort, reverse=True)
    return out


def _page_number(raw: str | None) -> int:
    if raw is None or raw == "":
        return 1
    if not raw.isdigit() or int(raw) < 1 or len(raw) > 6:
        raise ListRequestError(f"“{raw[:20]}” is not a page number: pages are numbered 1, 2, 3 …")
    return int(raw)


def listing(all_rows: list[Row], kind: str | None, page: str | int | None, per_page: int = PER_PAGE) -> Listing:
    """The ``page``-th page (from 1) of the rows of type ``kind`` (None or "" for every type).

    An unknown type or a page that is not a number is a :class:`ListRequestError`
    (400); a page after the last one is one too (404), except page 1 of an empty list.
    """
    kind = kind or None
    if kind is not None and kind not in KINDS:
        raise ListRequestError(f"There is no record type “{kind[:40]}”. The types are: "
                               + ", ".join(label for _, _, label in KINDS.values()) + ".")
    number_ = page if isinstance(page, int) else _page_number(page)
    counts = {k: 0 for k in KINDS}
    for r in all_rows:
        counts[r.kind] += 1
    chosen = [r for r in all_rows if kind is None or r.kind == kind]
    pages = max(1, -(-len(chosen) // per_page))
    if number_ > pages:
        raise ListRequestError(f"There is no page {number_}: this list has {pages} page{'s' if pages != 1 else ''}.",
                               404)
    start = (number_ - 1) * per_page
    shown = [replace(r, detail=_detail(r.kind, r.entry)) if r.entry is not None and not r.detail else r
             for r in chosen[start:start + per_page]]
    return Listing(shown, kind, number_, pages, len(chosen), start + 1 if shown else 0, start + len(shown), per_page,
                   counts, len(all_rows))
