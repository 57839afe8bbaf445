"""The dashboard's view of one patient, computed from their QuestionnaireResponses.

Pure functions over plain dicts: the blueprint reads the responses (one
search, with the Patient included) and hands them here. Reading the
responses rather than every Observation keeps the read to a few hundred
resources for years of weekly sessions.
"""

from __future__ import annotations

import datetime as _dt
from dataclasses import dataclass, field
from typing import Any, Iterable, Mapping

from fhir_mbt.content import terminology
from fhir_mbt.content import ContentIndex

__all__ = ["PatientView", "build_view", "flatten", "questionnaire_id", "patient_summary"]

FORMULATION = terminology.FORMULATION
SESSION = terminology.SESSION_RECORD
CHECKIN = terminology.WEEKLY_CHECKIN
RFQ8 = terminology.RFQ8
PROFILE = terminology.MENTALIZING_PROFILE
CRISIS_PLAN = terminology.CRISIS_PLAN
REVIEW = terminology.PERIODIC_REVIEW
#: The parts of a crisis plan, by the linkId suffix shared by the formulation and the crisis plan revision.
CRISIS_PARTS = ("warning-signs", "self", "professionals", "others", "not-helpful", "contacts", "review-date")

FINAL = ("completed", "amended")


def questionnaire_id(response: Mapping) -> str:
    canonical = str(response.get("questionnaire", "")).split("|", 1)[0]
    return canonical.rstrip("/").rsplit("/", 1)[-1]


def _value(answer: Mapping) -> Any:
    for key, value in answer.items():
        if key.startswith("value"):
            return value
    return None


def flatten(items: Iterable[Mapping] | None, out: dict[str, list] | None = None) -> dict[str, list]:
    """linkId → every answer value in the (sub)tree, in document order.

    Iterative rather than recursive: it runs over every item of every
    response on each dashboard view, and a year of weekly records is some
    hundred thousand items.
    """
    out = {} if out is None else out
    stack = list(reversed(items or ()))
    pop, push = stack.pop, stack.extend
    while stack:
        item = pop()
        children = item.get("item")
        if children:
            push(reversed(children))
        answers = item.get("answer")
        if not answers:
            continue
        values = out.get(item.get("linkId"))
        if values is None:
            values = out[item.get("linkId")] = []
        nested = []
        for answer in answers:
            for key, value in answer.items():
                if key.startswith("value"):
                    values.append(value)
                    break
            sub = answer.get("item")
            if sub:
                nested.extend(sub)
        if nested:
            push(reversed(nested))
    return out


def groups(items: Iterable[Mapping] | None, link_id: str) -> list[list[Mapping]]:
    """The child items of every instance of the group ``link_id``, anywhere in the tree."""
    found = []
    for item in items or ():
        if item.get("linkId") == link_id:
            found.append(item.get("item", []))
        found.extend(groups(item.get("item"), link_id))
    return found


def _code(value: Any) -> str:
    return str(value.get("code", "")) if isinstance(value, Mapping) else ""


def _first(answers: Mapping[str, list], link_id: str, default=None):
    values = answers.get(link_id)
    return values[0] if values else default


def _display(value: Any) -> str:
    if isinstance(value, Mapping):
        return str(value.get("display") or value.get("code") or value.get("reference") or "")
    if value is True:
        return "yes"
    if value is False:
        return "no"
    return "" if value is None else str(value)


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
class Entry:
    response: Mapping
    answers: dict[str, list]
    date: str

    @property
    def id(self) -> str:
        return self.response.get("id", "")

    @property
    def questionnaire_id(self) -> str:
        return questionnaire_id(self.response)

    @property
    def status(self) -> str:
        return self.response.get("status", "")


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
    drafts: list[Entry] = field(default_factory=list)
    series: dict[str, list[tuple[str, float | None]]] = field(default_factory=dict)
    modes_by_session: list[tuple[str, set[str]]] = field(default_factory=list)
    mode_labels: list[tuple[str, str]] = field(default_factory=list)
    titles: dict[str, str] = field(default_factory=dict)
    #: Records on the server that could not be read and are left out of this view.
    skipped: int = 0
    #: Records cut to the items the app reads of one record; whether older records were left unread.
    cut: int = 0
    cut_at: int = 0
    capped: int = 0


def _entry(response: Mapping, date_link: str | None = None) -> Entry:
    answers = flatten(response.get("item"))
    date = str(_first(answers, date_link, "") if date_link else "") or str(response.get("authored", ""))[:10]
    return Entry(response, answers, date)


#: Risk reported this many days before today still shows, whatever the records after it say.
RISK_WINDOW_DAYS = 14


def _positive(value: Any) -> bool:
    """A risk answer that says yes: the coded answer (yes / no / not assessed) or an older yes/no record."""
    if value is True:
        return True
    return isinstance(value, Mapping) and value.get("code") == "risk-yes"


#: Session risk questions, with how a positive answer reads on the dashboard.
SESSION_RISK_QUESTIONS = (
    ("risk.self-harm", "self-harm"),
    ("risk.suicidal-thoughts", "suicidal thoughts"),
    ("risk.suicide-attempt", "a suicide attempt"),
    ("risk.harm-to-others", "harm or threats to others"),
    ("risk.emergency-attendance", "emergency or hospital attendance"),
)
CHECKIN_RISK_QUESTIONS = (
    ("checkin.risk.self-harm-thoughts", "thoughts of self-harm"),
    ("checkin.risk.suicide-thoughts", "thoughts of suicide"),
    ("checkin.risk.plan", "a plan to end their life"),
    ("checkin.risk.acted", "self-harm"),
)


def _risk_findings(view: PatientView) -> list[tuple[str, str, str]]:
    """(date, reason, level) for every record that answered the risk questions positively.

    Only records that answered the risk questions count as "the latest": a
    missed session or a check-in with the risk part unanswered says nothing
    about risk, so it must not hide what an earlier record reported.
    """
    found = []
    for e in view.sessions:
        answered = any(k in e.answers for k in SESSION_RISK)
        if not answered:
            continue
        if _first(e.answers, "session.missed.risk-concern") is True:
            found.append((e.date, f"risk concern after the missed session of {e.date}",
                          _display(_first(e.answers, "session.missed.risk-level"))))
        level = _display(_first(e.answers, "risk.level"))
        for link_id, what in SESSION_RISK_QUESTIONS:
            if _positive(_first(e.answers, link_id)):
                found.append((e.date, f"{what} reported in the session of {e.date}", level))
        found.append((e.date, "", ""))
    for e in view.checkins:
        if not any(k in e.answers for k in CHECKIN_RISK):
            continue
        for link_id, what in CHECKIN_RISK_QUESTIONS:
            if _first(e.answers, link_id) is True:
                found.append((e.date, f"{what} reported in the check-in of {e.date}", ""))
        if _first(e.answers, "checkin.risk.safe-now") is False:
            found.append((e.date, f"does not feel safe (check-in of {e.date})", ""))
        found.append((e.date, "", ""))
    return found


CHECKIN_RISK = (*(link for link, _ in CHECKIN_RISK_QUESTIONS), "checkin.risk.safe-now")
SESSION_RISK = (*(link for link, _ in SESSION_RISK_QUESTIONS), "session.missed.risk-concern")


def _risk(view: PatientView, today: _dt.date) -> dict | None:
    """What to alert on: every positive risk answer from the last :data:`RISK_WINDOW_DAYS` days.

    The window counts back from today, not from the newest record, so no
    record can push a recent positive answer out of it: not a later clear
    one, not an amended older one, not one whose date was mistyped into the
    future (2062-11-30). Positive answers dated after today show too. When
    nothing in the window asked about risk, the window reaches back to the
    last record on or before today that did, so silence does not clear an
    unanswered alert; the window only ever widens.
    """
    findings = _risk_findings(view)
    if not findings:
        return None
    start = today
    asked = [date for date, _, _ in findings if date[:10] <= today.isoformat()]
    if asked:
        try:
            start = min(start, _dt.date.fromisoformat(max(asked)[:10]))
        except ValueError:
            pass
    cutoff = (start - _dt.timedelta(days=RISK_WINDOW_DAYS)).isoformat()
    recent = sorted((f for f in findings if f[0] >= cutoff and f[1]), key=lambda f: f[0], reverse=True)
    if not recent:
        return None
    levels = [level for _, _, level in recent if level]
    return {"reasons": [reason for _, reason, _ in recent], "level": levels[0] if levels else ""}


def _number(value: Any) -> float | None:
    if isinstance(value, bool) or value is None:
        return None
    if isinstance(value, (int, float)):
        return float(value)
    if isinstance(value, Mapping) and isinstance(value.get("value"), (int, float)):
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


def build_view(responses: Iterable[Mapping], patient: Mapping | None, index: ContentIndex, *,
               today: _dt.date | None = None) -> PatientView:
    """The dashboard's view; ``today`` (the UTC date by default) anchors the risk window and plan reviews."""
    today = today or _dt.datetime.now(_dt.timezone.utc).date()
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
    _crisis_plan(view, formulations + plans, today.isoformat())
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
    view.risk = _risk(view, today)
    view.series = {
        "rfq_c": [(e.date, _number(_first(e.answers, "rfq8.certainty"))) for e in view.rfq8],
        "rfq_u": [(e.date, _number(_first(e.answers, "rfq8.uncertainty"))) for e in view.rfq8],
        "arousal": [(e.date, _number(_first(e.answers, "arousal.peak"))) for e in view.sessions],
        "mentalizing": [(e.date, _number(_first(e.answers, "mentalizing.level-score"))) for e in view.sessions],
        "blow_ups": [(e.date, _number(_first(e.answers, "checkin.blow-ups"))) for e in view.checkins],
        "pauses": [(e.date, _number(_first(e.answers, "checkin.pauses"))) for e in view.checkins],
    }
    labels: dict[str, str] = {}
    for e in view.sessions:
        codes = set()
        for coding in e.answers.get("mentalizing.modes", []):
            if isinstance(coding, Mapping) and coding.get("code"):
                codes.add(coding["code"])
                labels.setdefault(coding["code"], coding.get("display") or coding["code"])
        view.modes_by_session.append((e.date, codes))
    view.mode_labels = sorted(labels.items(), key=lambda kv: kv[1])
    return view
