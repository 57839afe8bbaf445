"""The dashboard's view of one patient, computed from their QuestionnaireResponses.

Pure functions over plain dicts: the blueprint reads the responses (one
search, with the Patient included) and hands them here. Reading the
responses rather than every Observation keeps the read to a few hundred
resources for years of weekly sessions. Reading a record and the risk
alert are the library's (:mod:`fhir_mbt.cds`), shared with the CDS Hooks
service, so the dashboard and the EHR's chart judge risk alike.
"""

from __future__ import annotations

import datetime as _dt
from dataclasses import dataclass, field
from typing import Any, Iterable, Mapping

from fhir_mbt.cds import risk
from fhir_mbt.cds.record import FINAL, Entry, entry as _entry, first as _first, display as _display
from fhir_mbt.cds.record import flatten, groups, questionnaire_id
from fhir_mbt.content import terminology
from fhir_mbt.content import ContentIndex

__all__ = ["PatientView", "build_view", "flatten", "groups", "questionnaire_id", "patient_summary", "number"]

FORMULATION = terminology.FORMULATION
SESSION = terminology.SESSION_RECORD
CHECKIN = terminology.WEEKLY_CHECKIN
RFQ8 = terminology.RFQ8
PROFILE = terminology.MENTALIZING_PROFILE
CRISIS_PLAN = terminology.CRISIS_PLAN
REVIEW = terminology.PERIODIC_REVIEW
#: The parts of a crisis plan, by the linkId suffix shared by the formulation and the crisis plan revision.
CRISIS_PARTS = ("warning-signs", "self", "professionals", "others", "not-helpful", "contacts", "review-date")

def _code(value: Any) -> str:
    return str(value.get("code", "")) if isinstance(value, Mapping) else ""


def _text(value: Any) -> str:
    return value.strip() if isinstance(value, str) else ""


def _dicts(value: Any) -> list[Mapping]:
    return [v for v in value if isinstance(v, Mapping)] if isinstance(value, list) else []


def patient_summary(patient: Mapping | None) -> dict | None:
    """Name, birth date, gender and identifier, whatever shape the server gave them."""
    if not isinstance(patient, Mapping):
        return None
    name = (_dicts(patient.get("name")) or [{}])[0]
    given = name.get("given")
    given = [_text(g) for g in given] if isinstance(given, list) else [_text(given)]
    text = _text(name.get("text")) or " ".join(p for p in [*given, _text(name.get("family"))] if p)
    ident = _text((_dicts(patient.get("identifier")) or [{}])[0].get("value"))
    return {
        "id": patient.get("id"),
        "name": text or "(no name recorded)",
        "birth_date": _text(patient.get("birthDate")),
        "gender": _text(patient.get("gender")),
        "identifier": ident,
    }


@dataclass
class PatientView:
    patient: dict | None
    formulation: Entry | None = None
    crisis_plan: dict[str, str] = field(default_factory=dict)
    #: Where the plan shown comes from: the newest formulation or crisis plan revision that has one.
    crisis_plan_source: Entry | None = None
    crisis_plan_overdue: bool = False
    reviews: list[Entry] = field(default_factory=list)
    goals: list[dict[str, str]] = field(default_factory=list)
    risk: dict | None = None
    sessions: list[Entry] = field(default_factory=list)
    checkins: list[Entry] = field(default_factory=list)
    rfq8: list[Entry] = field(default_factory=list)
    profiles: list[Entry] = field(default_factory=list)
    #: Every formulation and crisis plan revision, oldest first (``formulation`` is the newest).
    formulations: list[Entry] = field(default_factory=list)
    crisis_plans: list[Entry] = field(default_factory=list)
    drafts: list[Entry] = field(default_factory=list)
    titles: dict[str, str] = field(default_factory=dict)
    #: Records on the server that could not be read and are left out of this view.
    skipped: int = 0
    #: Records cut to the items the app reads of one record; whether older records were left unread.
    cut: int = 0
    cut_at: int = 0
    capped: int = 0


def number(value: Any) -> float | None:
    """An answer as a number (an integer, a decimal or a quantity's value), else None."""
    kind = type(value)
    if kind is int or kind is float:
        return float(value)
    if value is None or kind is bool:
        return None
    if isinstance(value, (int, float)):
        return float(value)
    if isinstance(value, Mapping) and isinstance(value.get("value"), (int, float)) \
            and not isinstance(value.get("value"), bool):
        return float(value["value"])
    return None


def _crisis_plan(view: PatientView, plans: list[Entry], today: str) -> None:
    """The newest crisis plan, from a formulation or a crisis plan revision, whichever is newer."""
    having = [e for e in plans if any(f"crisis.{k}" in e.answers for k in CRISIS_PARTS)]
    if not having:
        return
    newest = max(having, key=lambda e: (e.date, str(e.response.get("authored", ""))))
    view.crisis_plan_source = newest
    view.crisis_plan = {key: _display(_first(newest.answers, f"crisis.{key}", "")) for key in CRISIS_PARTS}
    review = view.crisis_plan.get("review-date", "")
    view.crisis_plan_overdue = bool(review) and review[:10] < today


def build_view(responses: Iterable[Mapping], patient: Mapping | None, index: ContentIndex,
               today: _dt.date | str | None = None) -> PatientView:
    """The dashboard's view; ``today`` (the UTC date by default) anchors the risk window and plan reviews."""
    day = _dt.date.fromisoformat(today[:10]) if isinstance(today, str) else today
    day = day or _dt.datetime.now(_dt.timezone.utc).date()
    today = day.isoformat()
    view = PatientView(patient=patient_summary(patient), skipped=getattr(responses, "skipped", 0),
                       cut=getattr(responses, "cut", 0), cut_at=getattr(responses, "cut_at", 0),
                       capped=getattr(responses, "capped", 0))
    view.titles = {q["id"]: q.get("title", q["id"]) for q in index.resources("Questionnaire")}
    formulations: list[Entry] = []
    plans: list[Entry] = []
    for response in responses:
        qid = questionnaire_id(response)
        status = response.get("status")
        if status == "in-progress":
            view.drafts.append(_entry(response, "session.date" if qid == SESSION else None))
            continue
        if status not in FINAL:
            continue
        if qid == SESSION:
            view.sessions.append(_entry(response, "session.date"))
        elif qid == CHECKIN:
            view.checkins.append(_entry(response))
        elif qid == RFQ8:
            view.rfq8.append(_entry(response))
        elif qid == PROFILE:
            view.profiles.append(_entry(response))
        elif qid == FORMULATION:
            formulations.append(_entry(response))
        elif qid == CRISIS_PLAN:
            plans.append(_entry(response))
        elif qid == REVIEW:
            view.reviews.append(_entry(response, "review.date"))
    for entries in (view.sessions, view.checkins, view.rfq8, view.profiles, formulations, plans, view.reviews):
        entries.sort(key=lambda e: (e.date, str(e.response.get("authored", ""))))
    view.formulations, view.crisis_plans = formulations, plans
    _crisis_plan(view, formulations + plans, today)
    if formulations:
        view.formulation = formulations[-1]
        for goal in groups(view.formulation.response.get("item"), "goal"):
            values = flatten(goal)
            view.goals.append(
                {
                    "domain": _display(_first(values, "goal.domain")),
                    "code": _code(_first(values, "goal.domain")),
                    "text": _display(_first(values, "goal.text")),
                    "indicator": _display(_first(values, "goal.indicator")),
                }
            )
    view.risk = risk.alert(view.sessions, view.checkins, day)
    return view
