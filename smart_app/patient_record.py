"""The patient's own view of their record: pure functions over their QuestionnaireResponses.

What a patient sees is chosen here, not left to the scopes (a patient token
reads every response about the patient, clinicians' ones included):

- the forms they answer themselves (weekly check-in, RFQ-8): what is due,
  their own drafts (never a draft a clinician started), the check-in counts;
- the agreed formulation, in the words written to them (the letter, the
  patient-copy sections, goals), choices in the CodeSystem's patient wording;
- the crisis plan: the newest agreed one, from a formulation or a revision.

Session records, mentalizing profiles, periodic reviews, unagreed
formulations, clinicians' drafts and every score group marked
``questionnaire-hidden`` never reach a patient page.
"""

from __future__ import annotations

import datetime as _dt
import re
from dataclasses import dataclass, field
from typing import Any, Iterable, Mapping

from fhir_mbt.content import ContentIndex, terminology
from smart_app.dashboard_data import flatten, questionnaire_id
from smart_app.formulation_copy import build_copy, patient_wording

__all__ = ["PATIENT_FORMS", "HomeView", "agreed", "build_home", "entered_by", "is_own", "patient_wording",
           "crisis_plan"]

#: The forms a patient fills in themselves.
PATIENT_FORMS = (terminology.WEEKLY_CHECKIN, terminology.RFQ8)
#: The programme asks for an RFQ-8 at the start and then every this many weeks.
RFQ8_EVERY_WEEKS = 12
FINAL = ("completed", "amended")
CRISIS_FIELDS = ("warning-signs", "self", "others", "professionals", "contacts")
_REF = re.compile(r"(?:^|/)(Patient|Practitioner|PractitionerRole|RelatedPerson|Device|Organization)/([^/]+)$")


def _ref(reference: Any) -> tuple[str, str] | None:
    if not isinstance(reference, Mapping) or not isinstance(reference.get("reference"), str):
        return None
    match = _REF.search(reference["reference"].split("/_history/")[0])
    return (match.group(1), match.group(2)) if match else None


def entered_by(response: Mapping) -> str:
    """``patient`` when the patient wrote it (author, else source, is a Patient), ``clinician`` otherwise."""
    who = _ref(response.get("author")) or _ref(response.get("source"))
    if who is None:
        return "clinician"
    return "patient" if who[0] == "Patient" else "clinician"


def is_own(response: Mapping, patient_id: str) -> bool:
    """Written by this patient, about this patient."""
    return (_ref(response.get("author")) == ("Patient", patient_id)
            and _ref(response.get("subject")) == ("Patient", patient_id))


@dataclass
class Due:
    qid: str
    title: str
    why: str
    draft_id: str | None = None


@dataclass
class HomeView:
    due: list[Due] = field(default_factory=list)
    drafts: dict[str, str] = field(default_factory=dict)  # qid -> id of the patient's own newest draft
    checkins: list[tuple[str, float | None, float | None]] = field(default_factory=list)  # date, blow-ups, pauses
    last_checkin: str = ""
    last_rfq8: str = ""
    formulation: dict | None = None
    crisis: dict | None = None


def _date(response: Mapping) -> str:
    return str(response.get("authored", ""))[:10]


def _first(answers: Mapping[str, list], link_id: str, default=None):
    values = answers.get(link_id)
    return values[0] if values else default


def _number(value: Any) -> float | None:
    return float(value) if isinstance(value, (int, float)) and not isinstance(value, bool) else None


def crisis_plan(responses: Iterable[Mapping]) -> dict | None:
    """The newest agreed crisis plan (a formulation's or a revision's); the newest of any, if none is agreed."""
    plans = []
    for r in responses:
        qid = questionnaire_id(r)
        if r.get("status") not in FINAL or qid not in (terminology.FORMULATION, terminology.CRISIS_PLAN):
            continue
        answers = flatten(r.get("item"))
        agreed = _first(answers, "agreement.agreed" if qid == terminology.FORMULATION else "crisis-plan.agreed")
        fields = {key: str(_first(answers, f"crisis.{key}", "") or "") for key in CRISIS_FIELDS}
        if any(fields.values()):
            plans.append((agreed is True, str(r.get("authored", "")), {"date": _date(r), **fields}))
    if not plans:
        return None
    return max(plans, key=lambda p: (p[0], p[1]))[2]


def agreed(response: Mapping) -> bool:
    """A final formulation or crisis plan revision that records the patient's agreement."""
    qid = questionnaire_id(response)
    link = {terminology.FORMULATION: "agreement.agreed", terminology.CRISIS_PLAN: "crisis-plan.agreed"}.get(qid)
    return bool(link) and response.get("status") in FINAL and _first(flatten(response.get("item")), link) is True


def _formulation(responses: list[Mapping], index: ContentIndex) -> dict | None:
    """The agreed formulation as the patient's copy has it (``formulation_copy``): only what was written for them."""
    copy = build_copy(responses, index, agreed_only=True)
    if copy.formulation is None:
        return None
    return {"date": copy.date, "letter": copy.letter, "sections": copy.sections, "goals": copy.goals}


def _week_start(day: _dt.date) -> _dt.date:
    return day - _dt.timedelta(days=day.weekday())


def build_home(responses: Iterable[Mapping], patient_id: str, index: ContentIndex, today: _dt.date,
               titles: Mapping[str, str]) -> HomeView:
    responses = list(responses)
    view = HomeView()
    checkins, rfq8 = [], []
    for r in responses:
        qid = questionnaire_id(r)
        if qid not in PATIENT_FORMS:
            continue
        if r.get("status") == "in-progress":
            if is_own(r, patient_id) and (qid not in view.drafts or str(r.get("authored", "")) > view.drafts[qid][1]):
                view.drafts[qid] = (r.get("id", ""), str(r.get("authored", "")))
            continue
        if r.get("status") in FINAL:
            (checkins if qid == terminology.WEEKLY_CHECKIN else rfq8).append(r)
    view.drafts = {qid: rid for qid, (rid, _) in view.drafts.items()}
    checkins.sort(key=lambda r: str(r.get("authored", "")))
    rfq8.sort(key=lambda r: str(r.get("authored", "")))
    for r in checkins[-12:]:
        answers = flatten(r.get("item"))
        view.checkins.append((_date(r), _number(_first(answers, "checkin.blow-ups")),
                              _number(_first(answers, "checkin.pauses"))))
    view.last_checkin = _date(checkins[-1]) if checkins else ""
    view.last_rfq8 = _date(rfq8[-1]) if rfq8 else ""
    week = _week_start(today).isoformat()
    if not view.last_checkin or view.last_checkin < week:
        view.due.append(Due(terminology.WEEKLY_CHECKIN, titles.get(terminology.WEEKLY_CHECKIN, "Weekly check-in"),
                            "This week's check-in", view.drafts.get(terminology.WEEKLY_CHECKIN)))
    rfq_due = (today - _dt.timedelta(weeks=RFQ8_EVERY_WEEKS)).isoformat()
    if not view.last_rfq8 or view.last_rfq8 <= rfq_due:
        view.due.append(Due(terminology.RFQ8, titles.get(terminology.RFQ8, "RFQ-8"),
                            "The questionnaire about how you make sense of feelings (every 12 weeks)",
                            view.drafts.get(terminology.RFQ8)))
    view.formulation = _formulation(responses, index)
    view.crisis = crisis_plan(responses)
    return view
