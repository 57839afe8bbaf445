"""Small hand-made MBT records for the card rules: only the answers a rule reads."""

from __future__ import annotations

import datetime as dt

from fhir_mbt.content import terminology
from fhir_mbt.engine.care_team import TASK_IDENTIFIER_SYSTEM

PATIENT = "pat-1"
TODAY = dt.date(2026, 11, 30)
SYSTEM = terminology.CODE_SYSTEM
_n = iter(range(1, 10_000))


def day(days_ago: int) -> str:
    return (TODAY - dt.timedelta(days=days_ago)).isoformat()


def coding(code: str) -> dict:
    return {"valueCoding": {"system": SYSTEM, "code": code, "display": code}}


def item(link_id: str, *answers: dict) -> dict:
    return {"linkId": link_id, "answer": list(answers)}


def response(qid: str, date: str, items: list, *, author: str = "Practitioner/doc", status: str = "completed",
             patient: str = PATIENT) -> dict:
    return {"resourceType": "QuestionnaireResponse", "id": f"qr-{next(_n)}", "status": status,
            "questionnaire": f"{terminology.CANONICAL}/Questionnaire/{qid}|0.1.0",
            "subject": {"reference": f"Patient/{patient}"}, "author": {"reference": author},
            "authored": f"{date}T10:00:00Z", "item": items}


def session(days_ago: int, *, attendance: str = "attended", risk: dict | None = None, action: bool = False,
            **kw) -> dict:
    answers = {"risk.self-harm": "risk-no", "risk.suicidal-thoughts": "risk-no", **(risk or {})}
    items = [item("session.date", {"valueDate": day(days_ago)}), item("session.attendance", coding(attendance)),
             {"linkId": "risk", "item": [item(k, coding(v)) for k, v in answers.items()]}]
    if action:
        items.append(item("risk.action", coding("risk-explored")))
    return response(terminology.SESSION_RECORD, day(days_ago), items, **kw)


def checkin(days_ago: int, *, by_patient: bool = True, **answers: bool) -> dict:
    risk = {"checkin.risk.self-harm-thoughts": False, "checkin.risk.suicide-thoughts": False,
            "checkin.risk.acted": False}
    risk.update({f"checkin.risk.{k.replace('_', '-')}": v for k, v in answers.items()})
    items = [{"linkId": "checkin.risk", "item": [item(k, {"valueBoolean": v}) for k, v in risk.items()]}]
    return response(terminology.WEEKLY_CHECKIN, day(days_ago), items,
                    author=f"Patient/{PATIENT}" if by_patient else "Practitioner/doc")


def rfq8(days_ago: int) -> dict:
    return response(terminology.RFQ8, day(days_ago), [item("rfq8.1", coding("x"))])


def review(days_ago: int, status: str) -> dict:
    return response(terminology.PERIODIC_REVIEW, day(days_ago),
                    [item("review.date", {"valueDate": day(days_ago)}), item("review.status", coding(status))])


def task(focus: dict, *, status: str = "requested", priority: str = "asap", patient: str = PATIENT) -> dict:
    return {"resourceType": "Task", "id": f"task-{next(_n)}", "status": status, "intent": "order",
            "priority": priority, "identifier": [{"system": TASK_IDENTIFIER_SYSTEM, "value": f"t{next(_n)}"}],
            "for": {"reference": f"Patient/{patient}"}, "focus": {"reference": f"QuestionnaireResponse/{focus['id']}"},
            "authoredOn": focus["authored"], "description": "In the weekly check-in the patient reported <b>risk</b>."}


def steady(days_ago_last: int = 2) -> list[dict]:
    """A patient in steady treatment: weekly attended sessions, clear check-ins, a recent RFQ-8."""
    out = [session(days_ago_last + 7 * w) for w in range(8)]
    out += [checkin(days_ago_last + 1 + 7 * w) for w in range(8)]
    out.append(rfq8(20))
    return out
