"""The cards of the ``patient-view`` hook (CDS Hooks 2.0): what needs attention in an MBT record.

    critical  risk reported within the risk window (the dashboard's rule, :mod:`.risk`)
              and not yet followed up, and every open care-team Task, however old
    warning   no attended session for ``session_gap_weeks``; the RFQ-8 review is due
    (none)    nothing needs attention: no card at all

"Followed up" means: the record's care-team Task (written with a patient's
risky check-in, :mod:`fhir_mbt.engine.care_team`) is closed; or, for a record
with no Task, that a clinician wrote it and, for a session record, recorded
the action taken. A patient's check-in without a Task counts as not followed
up. No suggestion is offered on a risk card: a button must never stand in
for a clinician's follow-up. The RFQ-8 card suggests a Task asking the
patient to answer it, which changes no clinical data.
"""

from __future__ import annotations

import datetime as _dt
import json
import re
import uuid
from dataclasses import dataclass
from typing import Any, Iterable, Mapping

from fhir_mbt.cds import risk
from fhir_mbt.cds.record import FINAL, Entry, entry, first, questionnaire_id, reference_id
from fhir_mbt.content import terminology
from fhir_mbt.engine.care_team import is_care_team_task, is_open

__all__ = ["Settings", "Links", "patient_cards", "unreadable_card"]

ATTENDED = ("attended", "left-early")
ONGOING = "status-ongoing"
SOURCE_LABEL = "MBT (Mentalization-Based Treatment)"


@dataclass(frozen=True)
class Settings:
    """What counts as overdue: weeks without an attended session, weeks between RFQ-8 reviews."""

    session_gap_weeks: int = 3
    rfq8_interval_weeks: int = 12


@dataclass(frozen=True)
class Links:
    """Where cards point: the app's SMART launch URL and the source's page."""

    launch_url: str
    source_url: str = terminology.CANONICAL


def _md(text: Any) -> str:
    """Text from the record, safe inside Markdown: no links, images, HTML or emphasis of its own."""
    return re.sub(r"([\\`*_{}\[\]()<>#+!|~])", r"\\\1", " ".join(str(text or "").split()))


def _card(summary: str, indicator: str, detail: str, links: Links, label: str,
          app_context: str | None = None, suggestions: list[dict] | None = None) -> dict:
    link = {"label": label, "url": links.launch_url, "type": "smart"}
    if app_context:
        link["appContext"] = app_context
    card = {
        "uuid": str(uuid.uuid4()),
        "summary": summary[:139],
        "indicator": indicator,
        "detail": detail,
        "source": {"label": SOURCE_LABEL, "url": links.source_url},
        "links": [link],
    }
    if suggestions:
        card["suggestions"] = suggestions
        card["selectionBehavior"] = "at-most-one"
    return card


def _entered_by_patient(response: Mapping) -> bool:
    for key in ("author", "source"):
        ref = response.get(key)
        if isinstance(ref, Mapping) and ref.get("reference"):
            return reference_id(ref, "Patient") is not None
    return False


def _code(value: Any) -> str | None:
    return value.get("code") if isinstance(value, Mapping) else None


def _weeks(days: int) -> str:
    weeks = days // 7
    return f"{weeks} week{'s' if weeks != 1 else ''}"


class _Record:
    def __init__(self, responses: Iterable[Mapping], tasks: Iterable[Mapping], patient_id: str):
        self.sessions: list[Entry] = []
        self.checkins: list[Entry] = []
        self.rfq8: list[Entry] = []
        self.reviews: list[Entry] = []
        for response in responses:
            if not isinstance(response, Mapping) or response.get("status") not in FINAL:
                continue
            if reference_id(response.get("subject"), "Patient") != patient_id:
                continue
            qid = questionnaire_id(response)
            if qid == terminology.SESSION_RECORD:
                self.sessions.append(entry(response, "session.date"))
            elif qid == terminology.WEEKLY_CHECKIN:
                self.checkins.append(entry(response))
            elif qid == terminology.RFQ8:
                self.rfq8.append(entry(response))
            elif qid == terminology.PERIODIC_REVIEW:
                self.reviews.append(entry(response, "review.date"))
        for entries in (self.sessions, self.checkins, self.rfq8, self.reviews):
            entries.sort(key=lambda e: (e.date, str(e.response.get("authored", ""))))
        self.tasks: dict[str, list[Mapping]] = {}
        self.open_tasks: list[Mapping] = []
        for task in tasks:
            if not is_care_team_task(task) or reference_id(task.get("for"), "Patient") != patient_id:
                continue
            focus = reference_id(task.get("focus"), "QuestionnaireResponse")
            if focus:
                self.tasks.setdefault(focus, []).append(task)
            if is_open(task):
                self.open_tasks.append(task)

    def followed_up(self, finding: risk.Finding) -> bool:
        tasks = self.tasks.get(finding.response_id)
        if tasks:
            return not any(is_open(t) for t in tasks)
        if _entered_by_patient(finding.entry.response):
            return False
        return finding.kind == "checkin" or finding.action_recorded

    def treatment_ongoing(self) -> bool:
        if not self.reviews:
            return True
        return _code(first(self.reviews[-1].answers, "review.status")) in (None, ONGOING)


def _critical(record: _Record, today: _dt.date, links: Links) -> dict | None:
    open_findings = [f for f in risk.recent_in(record.sessions, record.checkins, today)
                     if not record.followed_up(f)]
    lines: list[tuple[str, str]] = []
    records: list[str] = []
    seen_tasks: set[str] = set()
    for f in open_findings:
        task_ids = [t.get("id", "") for t in record.tasks.get(f.response_id, []) if is_open(t)]
        seen_tasks.update(task_ids)
        where = f"record QuestionnaireResponse/{_md(f.response_id)}"
        if task_ids:
            where += "; follow-up Task/" + ", Task/".join(_md(t) for t in task_ids)
        level = f" (risk level: {_md(f.level)})" if f.level else ""
        lines.append((f.date, f"- **{_md(f.date)}**: {_md(f.reason)}{level} ({where})"))
        records.append(f"QuestionnaireResponse/{f.response_id}")
    for task in record.open_tasks:
        if task.get("id", "") in seen_tasks:
            continue
        date = str(task.get("authoredOn", ""))[:10]
        focus = reference_id(task.get("focus"), "QuestionnaireResponse")
        urgent = " (urgent)" if task.get("priority") in ("asap", "stat") else ""
        text = task.get("description") or "Risk reported by the patient"
        lines.append((date, f"- **{_md(date)}**{urgent}: {_md(text)} (follow-up Task/{_md(task.get('id', ''))}"
                      + (f"; record QuestionnaireResponse/{_md(focus)})" if focus else ")")))
        if focus:
            records.append(f"QuestionnaireResponse/{focus}")
    if not lines:
        return None
    lines.sort(key=lambda line: line[0], reverse=True)
    newest = lines[0][0]
    count = len(lines)
    summary = (f"Risk reported {newest}, not yet followed up" if count == 1
               else f"Risk reported {count} times (latest {newest}), not yet followed up")
    detail = ("Not yet followed up:\n\n" + "\n".join(line for _, line in lines)
              + "\n\nOpen MBT to see the record and the crisis plan, and to record the follow-up.")
    context = json.dumps({"records": list(dict.fromkeys(records))}, separators=(",", ":"))
    return _card(summary, "critical", detail, links, "Open MBT: record the follow-up", context)


def _session_gap(record: _Record, today: _dt.date, settings: Settings, links: Links) -> dict | None:
    if not record.sessions:
        return None
    attended = next((e.date for e in reversed(record.sessions) if e.date[:10] <= today.isoformat()
                     and _code(first(e.answers, "session.attendance")) in ATTENDED), None)
    limit = _dt.timedelta(weeks=settings.session_gap_weeks)
    if attended is None:
        return _card("No attended MBT session recorded", "warning",
                     "Session records exist, but none records an attended session.", links, "Open MBT")
    try:
        last = _dt.date.fromisoformat(attended[:10])
    except ValueError:
        return None
    if today - last < limit:
        return None
    gap = _weeks((today - last).days)
    return _card(f"No attended MBT session for {gap} (last {last.isoformat()})", "warning",
                 f"The last session the patient attended was on {last.isoformat()}; more than "
                 f"{settings.session_gap_weeks} weeks without one is the threshold set for this service.",
                 links, "Open MBT: sessions and attendance")


def _rfq8_due(record: _Record, today: _dt.date, settings: Settings, links: Links,
              patient_id: str) -> dict | None:
    if not record.sessions and not record.rfq8:
        return None
    interval = _dt.timedelta(weeks=settings.rfq8_interval_weeks)
    suggestion = {
        "label": "Ask the patient to answer the RFQ-8 in the portal",
        "uuid": str(uuid.uuid4()),
        "actions": [{"type": "create", "description": "A Task for the patient: answer the RFQ-8",
                     "resource": {"resourceType": "Task", "status": "requested", "intent": "order",
                                  "priority": "routine",
                                  "code": {"text": "Answer the RFQ-8 (reflective functioning) questionnaire"},
                                  "for": {"reference": f"Patient/{patient_id}"},
                                  "authoredOn": today.isoformat()}}],
    }
    if not record.rfq8:
        return _card("RFQ-8 review due: not answered yet", "warning",
                     "The patient is in MBT but has no RFQ-8 on record; the baseline is missing.",
                     links, "Open MBT: RFQ-8", suggestions=[suggestion])
    try:
        last = _dt.date.fromisoformat(record.rfq8[-1].date[:10])
    except ValueError:
        return None
    if today - last < interval:
        return None
    return _card(f"RFQ-8 review due (last {last.isoformat()}, {_weeks((today - last).days)} ago)", "warning",
                 f"The RFQ-8 is reviewed every {settings.rfq8_interval_weeks} weeks; the last one was on "
                 f"{last.isoformat()}.", links, "Open MBT: RFQ-8", suggestions=[suggestion])


def patient_cards(responses: Iterable[Mapping], tasks: Iterable[Mapping], patient_id: str, *,
                  links: Links, today: _dt.date | None = None, settings: Settings = Settings()) -> list[dict]:
    """The cards for ``patient_id``, most urgent first; empty when nothing needs attention.

    ``responses`` and ``tasks`` may include other patients' resources or
    drafts (they are ignored). Warnings are given only while treatment is
    ongoing (the latest periodic review's status).
    """
    today = today or _dt.datetime.now(_dt.timezone.utc).date()
    record = _Record(responses, tasks, patient_id)
    cards = [_critical(record, today, links)]
    if record.treatment_ongoing():
        cards += [_session_gap(record, today, settings, links),
                  _rfq8_due(record, today, settings, links, patient_id)]
    return [c for c in cards if c is not None]


def unreadable_card(links: Links, why: str) -> dict:
    """Said instead of the cards when the record could not be read: risk is unknown, not absent."""
    return _card("MBT could not read this patient's record: risk and due measures are unknown", "warning",
                 f"{_md(why)} Open MBT to see the record.", links, "Open MBT")
