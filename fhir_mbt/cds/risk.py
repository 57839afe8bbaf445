"""Risk in a patient's recent records: what the dashboard's alert and the CDS critical card show.

    session records + check-ins ─► findings (every record that asked about risk)
                                 ─► recent(findings, today)  positive answers inside the risk window
                                 ─► by_record(...)           one line per record: what it reported, what was done
                                 ─► flagged(...)             which records reported risk (the records list's flag)

One rule for both readers, so the app and the EHR's chart never disagree
about whether a patient reported risk. A record that did not answer the risk
questions (a missed session without the concern answered, a check-in with
the risk part skipped) says nothing about risk and is not a finding.
Session records answer with the risk-answer codes (``risk-yes``); check-ins
and the missed-session concern with booleans.
"""

from __future__ import annotations

import datetime as _dt
from dataclasses import dataclass
from typing import Any, Iterable, Mapping

from fhir_mbt.cds.record import Entry, display, first

__all__ = ["RISK_WINDOW_DAYS", "CHECKIN_RISK", "SESSION_RISK", "Finding", "RecordRisk", "findings", "recent",
           "recent_in", "by_record", "flagged", "alert"]

#: Risk reported this many days before today still shows, whatever the records after it say.
RISK_WINDOW_DAYS = 14

#: Check-in answers that are a risk: linkId → (the answer that counts, the words shown).
CHECKIN_RISK: dict[str, tuple[bool, str]] = {
    "checkin.risk.self-harm-thoughts": (True, "thoughts of self-harm reported in the check-in of {date}"),
    "checkin.risk.suicide-thoughts": (True, "thoughts of suicide reported in the check-in of {date}"),
    "checkin.risk.plan": (True, "a plan to end their life reported in the check-in of {date}"),
    "checkin.risk.acted": (True, "self-harm reported in the check-in of {date}"),
    "checkin.risk.safe-now": (False, "does not feel safe (check-in of {date})"),
}
#: Session-record risk questions (answered yes / no / not assessed): linkId → the words shown.
SESSION_RISK: dict[str, str] = {
    "risk.self-harm": "self-harm reported in the session of {date}",
    "risk.suicidal-thoughts": "suicidal thoughts reported in the session of {date}",
    "risk.suicide-attempt": "a suicide attempt reported in the session of {date}",
    "risk.harm-to-others": "harm or threats to others reported in the session of {date}",
    "risk.emergency-attendance": "emergency or hospital attendance reported in the session of {date}",
}
#: The same answers in a few words, for a line that already says which record and when.
WHAT: dict[str, str] = {
    "checkin.risk.self-harm-thoughts": "thoughts of self-harm",
    "checkin.risk.suicide-thoughts": "thoughts of suicide",
    "checkin.risk.plan": "a plan to end their life",
    "checkin.risk.acted": "self-harm",
    "checkin.risk.safe-now": "does not feel safe",
    "risk.self-harm": "self-harm",
    "risk.suicidal-thoughts": "suicidal thoughts",
    "risk.suicide-attempt": "a suicide attempt",
    "risk.harm-to-others": "harm or threats to others",
    "risk.emergency-attendance": "emergency or hospital attendance",
    "session.missed.risk-concern": "risk concern after a missed session",
}
MISSED_CONCERN = "session.missed.risk-concern"
_ACTIONS = ("risk.action", "risk.action-detail", "session.missed.risk-action", "session.missed.risk-action-detail")
#: Where a record says what was done: (actions ticked, their details, crisis plan reviewed), attended or missed.
_DONE = (("risk.action", "risk.action-detail", "risk.crisis-plan-reviewed"),
         ("session.missed.risk-action", "session.missed.risk-action-detail", "session.missed.crisis-plan-reviewed"))
CONTACT_WANTED = "checkin.risk.contact-wanted"
SAFE_NOW = "checkin.risk.safe-now"
RISK_YES = "risk-yes"


def _yes(value: Any) -> bool:
    if value is True:
        return True
    if type(value) is dict:  # the usual case, without the slower abstract check
        return value.get("code") == RISK_YES
    return isinstance(value, Mapping) and value.get("code") == RISK_YES


@dataclass(frozen=True)
class Finding:
    """One positive risk answer (``reason``), or with ``reason`` empty: a record that asked and found none."""

    date: str
    reason: str
    level: str
    entry: Entry
    kind: str  # "session" or "checkin"
    #: The answer in a few words ("thoughts of suicide"), without the record and date ``reason`` names.
    what: str = ""

    @property
    def response_id(self) -> str:
        return self.entry.id

    @property
    def action_recorded(self) -> bool:
        """The record itself says what was done about it (a session record's risk follow-up)."""
        return any(self.entry.answers.get(link) for link in _ACTIONS)


def findings(sessions: Iterable[Entry], checkins: Iterable[Entry]) -> list[Finding]:
    """Every record that answered the risk questions, and every positive answer in it."""
    found = []
    for e in sessions:
        answers = e.answers
        if not any(k in answers for k in (*SESSION_RISK, MISSED_CONCERN)):
            continue
        if first(answers, MISSED_CONCERN) is True:
            found.append(Finding(e.date, f"risk concern after the missed session of {e.date}",
                                 display(first(answers, "session.missed.risk-level")), e, "session",
                                 WHAT[MISSED_CONCERN]))
        level = display(first(answers, "risk.level"))
        for link_id, words in SESSION_RISK.items():
            if _yes(first(answers, link_id)):
                found.append(Finding(e.date, words.format(date=e.date), level, e, "session", WHAT[link_id]))
        found.append(Finding(e.date, "", "", e, "session"))
    for e in checkins:
        answers = e.answers
        if not any(k in answers for k in CHECKIN_RISK):
            continue
        for link_id, (counts, words) in CHECKIN_RISK.items():
            if first(answers, link_id) is counts:
                found.append(Finding(e.date, words.format(date=e.date), "", e, "checkin", WHAT[link_id]))
        found.append(Finding(e.date, "", "", e, "checkin"))
    return found


def recent(found: list[Finding], today: _dt.date) -> list[Finding]:
    """The positive answers from the last :data:`RISK_WINDOW_DAYS` days, newest first.

    The window counts back from today, not from the newest record, so no
    record can push a recent positive answer out of it: not a later clear
    one, not an amended older one, not one whose date was mistyped into the
    future. Positive answers dated after today show too. When nothing in
    the window asked about risk, the window reaches back to the last record
    on or before today that did, so silence does not clear an unanswered
    alert; the window only ever widens.
    """
    if not found:
        return []
    start = today
    asked = [f.date for f in found if f.date[:10] <= today.isoformat()]
    if asked:
        try:
            start = min(start, _dt.date.fromisoformat(max(asked)[:10]))
        except ValueError:
            pass
    cutoff = (start - _dt.timedelta(days=RISK_WINDOW_DAYS)).isoformat()
    return sorted((f for f in found if f.date >= cutoff and f.reason), key=lambda f: f.date, reverse=True)


def recent_in(sessions: list[Entry], checkins: list[Entry], today: _dt.date) -> list[Finding]:
    """``recent(findings(sessions, checkins), today)``, reading only the records near today when that is enough.

    When a record from the last :data:`RISK_WINDOW_DAYS` days asked about
    risk, the window starts at most one window before it, so records older
    than two windows cannot change the answer and are not read.
    """
    near = (today - _dt.timedelta(days=2 * RISK_WINDOW_DAYS)).isoformat()
    found = findings([e for e in sessions if e.date >= near], [e for e in checkins if e.date >= near])
    asked = [f.date[:10] for f in found if f.date[:10] <= today.isoformat()]
    if asked and max(asked) >= (today - _dt.timedelta(days=RISK_WINDOW_DAYS)).isoformat():
        return recent(found, today)
    return recent(findings(sessions, checkins), today)


@dataclass(frozen=True)
class RecordRisk:
    """One record that reported risk: what it reported, and what it says was done about it.

    ``crisis_plan_reviewed`` and ``contact_wanted`` are None when the record
    does not answer them (a check-in has no crisis plan question, a session
    record no question about contact).
    """

    entry: Entry
    kind: str
    date: str
    what: tuple[str, ...]
    level: str
    actions: tuple[str, ...]
    action_detail: str
    crisis_plan_reviewed: bool | None
    contact_wanted: bool | None

    @property
    def response_id(self) -> str:
        return self.entry.id


def _bool(value: Any) -> bool | None:
    return value if isinstance(value, bool) else None


def _record_risk(group: list[Finding]) -> RecordRisk:
    e = group[0].entry
    answers = e.answers
    actions: list[str] = []
    detail, reviewed = "", None
    for action, action_detail, plan in _DONE:
        actions += [display(v) for v in answers.get(action, ()) if display(v)]
        detail = detail or display(first(answers, action_detail))
        reviewed = reviewed if reviewed is not None else _bool(first(answers, plan))
    levels = [f.level for f in group if f.level]
    return RecordRisk(e, group[0].kind, group[0].date, tuple(dict.fromkeys(f.what or f.reason for f in group)),
                      levels[0] if levels else "", tuple(dict.fromkeys(actions)), detail, reviewed,
                      _bool(first(answers, CONTACT_WANTED)))


def by_record(found: Iterable[Finding]) -> list[RecordRisk]:
    """The positive findings grouped by the record that reported them, in the order given (newest first)."""
    groups: dict[str, list[Finding]] = {}
    for f in found:
        if f.reason:
            groups.setdefault(f.response_id or str(id(f.entry)), []).append(f)
    return [_record_risk(group) for group in groups.values()]


def flagged(sessions: Iterable[Entry], checkins: Iterable[Entry]) -> dict[str, tuple[str, ...]]:
    """Response id → what it reported, for every record that reported risk, however old (the alert's rule)."""
    out: dict[str, list[str]] = {}
    for f in findings(sessions, checkins):
        if f.reason and f.response_id:
            out.setdefault(f.response_id, []).append(f.what or f.reason)
    return {rid: tuple(dict.fromkeys(what)) for rid, what in out.items()}


def alert(sessions: list[Entry], checkins: list[Entry], today: _dt.date) -> dict | None:
    """The dashboard's alert: the reasons, newest first, the newest risk level recorded with them, and
    ``records``: each record that reported them (:class:`RecordRisk`), newest first."""
    shown = recent_in(sessions, checkins, today)
    if not shown:
        return None
    levels = [f.level for f in shown if f.level]
    return {"reasons": [f.reason for f in shown], "level": levels[0] if levels else "", "records": by_record(shown)}
