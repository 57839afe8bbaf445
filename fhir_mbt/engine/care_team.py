"""Risk a patient reports reaches the care team as FHIR resources, not only as a screen.

    completed check-in ─► reported_risk ─► care_team_entries ─► (added to the response's transaction)
                                              Flag  (safety, active)   the EHR's alert banner
                                              Task  (requested)        the care team's work item
    clinician follows up ─► close_follow_up ─► Task completed + Flag inactive + Provenance (who, when)

Why a ``Flag`` plus a ``Task``: a Flag is what an EHR shows as an alert on
the patient's chart until someone makes it inactive, and a Task is the FHIR
workflow resource with an owner and a lifecycle (requested → completed),
which is what "someone must follow this up" is. A ``Communication`` records
that a message was sent; it has no state to close, so a follow-up could not
be recorded on it. ``DetectedIssue`` is about orders and medication.

Both are written in the same transaction as the response (so there is never
a risky check-in without its alert, nor an alert without its check-in), as
conditional creates on identifiers derived from the response's identifier:
a retried or double submit writes one Flag and one Task. The Task points at
the response (``focus``) and at the Flag (``reasonReference``), so reading
the patient's responses with ``_revinclude=Task:focus`` finds every open
follow-up, however many check-ins came later.
"""

from __future__ import annotations

import datetime as _dt
from dataclasses import dataclass
from typing import Any, Iterable, Mapping

from fhir_mbt.content import terminology
from fhir_mbt.engine.errors import ExtractionError
from fhir_mbt.engine.identity import identifier_key, response_full_url, response_identifier, uuid5
from fhir_mbt.engine.observation_values import now_instant

__all__ = [
    "FLAG_IDENTIFIER_SYSTEM",
    "TASK_IDENTIFIER_SYSTEM",
    "RISK_ITEMS",
    "RiskFinding",
    "reported_risk",
    "care_team_entries",
    "close_follow_up",
    "is_care_team_task",
    "is_open",
    "urgent",
]

FLAG_IDENTIFIER_SYSTEM = f"{terminology.CANONICAL}/identifier/flag"
TASK_IDENTIFIER_SYSTEM = f"{terminology.CANONICAL}/identifier/task"
FLAG_CATEGORY = {"system": "http://terminology.hl7.org/CodeSystem/flag-category", "code": "safety",
                 "display": "Safety"}
OPEN_STATUSES = frozenset({"draft", "requested", "received", "accepted", "ready", "in-progress", "on-hold"})

#: The check-in answers that are a risk: linkId → (the answer that counts, what the care team reads).
#: Most serious first; tested against the shipped weekly check-in.
RISK_ITEMS: dict[str, tuple[bool, str]] = {
    "checkin.risk.safe-now": (False, "does not feel safe right now"),
    "checkin.risk.plan": (True, "has made a plan to end their life"),
    "checkin.risk.acted": (True, "harmed themselves in the past week"),
    "checkin.risk.suicide-thoughts": (True, "had thoughts of ending their life in the past week"),
    "checkin.risk.self-harm-thoughts": (True, "had thoughts of harming themselves in the past week"),
}
CONTACT_WANTED = "checkin.risk.contact-wanted"
_URGENT = ("checkin.risk.safe-now", "checkin.risk.plan")


@dataclass(frozen=True)
class RiskFinding:
    """One risk answer: the item, its code (from the Questionnaire) and plain words for the care team."""

    link_id: str
    code: dict | None
    text: str


def _answers(items: Iterable[Mapping] | None, out: dict[str, list]) -> dict[str, list]:
    for item in items or ():
        if not isinstance(item, Mapping):
            continue
        for answer in item.get("answer") or ():
            if isinstance(answer, Mapping):
                for key, value in answer.items():
                    if key.startswith("value"):
                        out.setdefault(item.get("linkId"), []).append(value)
                _answers(answer.get("item"), out)
        _answers(item.get("item"), out)
    return out


def _item_codes(items: Iterable[Mapping] | None, out: dict[str, dict]) -> dict[str, dict]:
    for item in items or ():
        codes = item.get("code") or []
        if codes and isinstance(codes[0], Mapping):
            out[item.get("linkId")] = {k: codes[0][k] for k in ("system", "code", "display") if k in codes[0]}
        _item_codes(item.get("item"), out)
    return out


def reported_risk(response: Mapping, questionnaire: Mapping | None = None) -> list[RiskFinding]:
    """The risk answers in ``response``, most serious first (empty: no risk reported).

    ``questionnaire`` (the check-in) gives each finding the code of its item.
    Drafts count too: the caller decides what to do with an unfinished answer.
    """
    answers = _answers(response.get("item"), {})
    codes = _item_codes((questionnaire or {}).get("item"), {})
    return [RiskFinding(link_id, codes.get(link_id), text)
            for link_id, (value, text) in RISK_ITEMS.items() if value in answers.get(link_id, ())]


def urgent(findings: Iterable[RiskFinding]) -> bool:
    """Not safe now, or a plan: the care team should act as soon as possible."""
    return any(f.link_id in _URGENT for f in findings)


def _summary(findings: list[RiskFinding], response: Mapping) -> str:
    date = str(response.get("authored", ""))[:10]
    said = "; ".join(f.text for f in findings)
    extra = " They asked to be contacted before the next session." if True in _answers(
        response.get("item"), {}).get(CONTACT_WANTED, ()) else ""
    return f"In the weekly check-in of {date}, the patient reported that they {said}.{extra}"


def care_team_entries(response: Mapping, findings: list[RiskFinding], *,
                      now: _dt.datetime | str | None = None) -> list[dict]:
    """The transaction entries (a Flag, then a Task) telling the care team about ``findings``.

    ``response`` is the one written in the same transaction (it needs its
    identifier, subject and author); the entries reference it by the
    ``urn:uuid`` :func:`~fhir_mbt.engine.identity.response_full_url` gives it.
    """
    if not findings:
        return []
    subject = response.get("subject")
    if not isinstance(subject, Mapping) or not str(subject.get("reference", "")).startswith("Patient/"):
        raise ExtractionError("a care-team alert needs the response's subject to be a Patient")
    when = now_instant(now) or now_instant(_dt.datetime.now(_dt.timezone.utc))
    key = identifier_key(response_identifier(dict(response)))
    flag_uuid, task_uuid = uuid5("flag#" + key), uuid5("task#" + key)
    flag_ident = {"system": FLAG_IDENTIFIER_SYSTEM, "value": flag_uuid}
    task_ident = {"system": TASK_IDENTIFIER_SYSTEM, "value": task_uuid}
    summary = _summary(findings, response)
    first = findings[0]
    code = {"text": "Risk reported by the patient: " + "; ".join(f.text for f in findings)}
    if first.code:
        code["coding"] = [dict(first.code)]
    author = response.get("author")
    flag = {
        "resourceType": "Flag",
        "identifier": [flag_ident],
        "status": "active",
        "category": [{"coding": [dict(FLAG_CATEGORY)]}],
        "code": code,
        "subject": dict(subject),
        "period": {"start": when},
        **({"author": dict(author)} if isinstance(author, Mapping) else {}),
    }
    task = {
        "resourceType": "Task",
        "identifier": [task_ident],
        "status": "requested",
        "intent": "order",
        "priority": "asap" if urgent(findings) else "urgent",
        "code": {"text": "Follow up risk reported by the patient"},
        "description": summary,
        "focus": {"reference": response_full_url(dict(response))},
        "for": dict(subject),
        "authoredOn": when,
        "lastModified": when,
        "reasonReference": {"reference": "urn:uuid:" + flag_uuid},
    }
    return [
        {"fullUrl": "urn:uuid:" + flag_uuid, "resource": flag,
         "request": {"method": "POST", "url": "Flag", "ifNoneExist": f"identifier={FLAG_IDENTIFIER_SYSTEM}|{flag_uuid}"}},
        {"fullUrl": "urn:uuid:" + task_uuid, "resource": task,
         "request": {"method": "POST", "url": "Task", "ifNoneExist": f"identifier={TASK_IDENTIFIER_SYSTEM}|{task_uuid}"}},
    ]


def _identifiers(resource: Mapping) -> list[Mapping]:
    value = resource.get("identifier") or []
    return [i for i in (value if isinstance(value, list) else [value]) if isinstance(i, Mapping)]


def is_care_team_task(task: Any) -> bool:
    """A Task this project wrote for a patient-reported risk."""
    return isinstance(task, Mapping) and task.get("resourceType") == "Task" and any(
        i.get("system") == TASK_IDENTIFIER_SYSTEM for i in _identifiers(task))


def is_open(task: Mapping) -> bool:
    return task.get("status") in OPEN_STATUSES


def close_follow_up(task: Mapping, flag: Mapping | None, *, by: str, note: str,
                    now: _dt.datetime | str | None = None) -> dict:
    """The transaction recording that a clinician followed the risk up.

    The Task is completed (owner, execution period end, a note with who and
    when), the Flag made inactive (period end), both with If-Match on the
    versions read, and a Provenance names who did it and when. ``by`` is a
    reference such as ``Practitioner/123``.
    """
    if not is_care_team_task(task) or not task.get("id"):
        raise ExtractionError("only a stored care-team Task can be closed")
    when = now_instant(now) or now_instant(_dt.datetime.now(_dt.timezone.utc))
    who = {"reference": by}
    closed = {k: v for k, v in task.items() if k != "meta"}
    closed.update(status="completed", owner=who, lastModified=when,
                  executionPeriod={**(task.get("executionPeriod") or {}), "end": when})
    closed["executionPeriod"].setdefault("start", task.get("authoredOn") or when)
    closed["note"] = [*(task.get("note") or []), {"authorReference": who, "time": when,
                                                  "text": note.strip() or "Followed up."}]
    entries = [_put(closed, task)]
    targets = [{"reference": f"Task/{task['id']}"}]
    if flag is not None and flag.get("id"):
        inactive = {k: v for k, v in flag.items() if k != "meta"}
        inactive.update(status="inactive", period={**(flag.get("period") or {}), "end": when})
        entries.append(_put(inactive, flag))
        targets.append({"reference": f"Flag/{flag['id']}"})
    prov_id = "mbt-prov-" + uuid5(f"follow-up#{task['id']}#{when}")
    entries.append({"fullUrl": "urn:uuid:" + prov_id[len("mbt-prov-"):], "request": {
        "method": "PUT", "url": f"Provenance/{prov_id}"}, "resource": {
        "resourceType": "Provenance", "id": prov_id, "target": targets, "recorded": when,
        "activity": {"coding": [{"system": "http://terminology.hl7.org/CodeSystem/v3-DataOperation",
                                 "code": "UPDATE"}]},
        "agent": [{"type": {"coding": [{
            "system": "http://terminology.hl7.org/CodeSystem/provenance-participant-type",
            "code": "performer"}]}, "who": who}],
    }})
    return {"resourceType": "Bundle", "type": "transaction", "entry": entries}


def _put(resource: dict, read: Mapping) -> dict:
    request = {"method": "PUT", "url": f"{resource['resourceType']}/{resource['id']}"}
    version = (read.get("meta") or {}).get("versionId")
    if version:
        request["ifMatch"] = f'W/"{version}"'
    return {"resource": resource, "request": request}
