"""Knowing what was saved: a record looked up by its business identifier, two
versions of a record compared by their answers, and the records of the same event.

Every record the app writes carries a business identifier (the form's
submission id), so whether a write landed can always be asked afterwards:

- after an *ambiguous* failure (a timeout, a 5xx, a dropped connection or an
  unreadable reply: the server may have written before failing) the app looks the
  record up (``find``) and compares it with what it sent (``same_answers``), and so
  says "Saved" or "Not saved" truthfully;
- a conditional create that finds the record already there (``created`` is false)
  is compared the same way, so a resubmission with changed answers becomes an
  edit of that record instead of silently keeping the first version;
- ``same_event`` finds a completed record of the same occasion (a session of the
  same date and format, a check-in or RFQ-8 the same day) so the app can ask first.

Nothing here knows Flask: the FHIR client and the patient are passed in.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import re
from dataclasses import dataclass
from typing import Any, Iterable, Mapping

from fhir_mbt.client import FhirClient, MalformedResponse, ServerError, TransportError
from fhir_mbt.content import terminology
from smart_app.dashboard_data import flatten, questionnaire_id
from smart_app.patient_data import check_response_shape

__all__ = ["AMBIGUOUS", "Written", "find", "same_answers", "fingerprint", "transaction_written", "same_event",
           "EVENT_FORMS"]

#: Failures after which a write may or may not have happened.
AMBIGUOUS = (TransportError, ServerError, MalformedResponse)
FINAL = ("completed", "amended")
#: The forms whose second record of one occasion is asked about first.
EVENT_FORMS = (terminology.SESSION_RECORD, terminology.WEEKLY_CHECKIN, terminology.RFQ8)
_LOCATION = re.compile(r"QuestionnaireResponse/([A-Za-z0-9\-.]{1,64})(?:/_history/([A-Za-z0-9\-.]{1,64}))?")


@dataclass(frozen=True)
class Written:
    """What a write answered: the record's id and version, and whether it is new."""

    rid: str | None
    version: str | None
    created: bool


def find(fhir: FhirClient, patient: str, identifier: Mapping[str, str]) -> dict | None:
    """The patient's QuestionnaireResponse with this business identifier, or None."""
    params = {"identifier": f"{identifier['system']}|{identifier['value']}", "subject": f"Patient/{patient}"}
    for resource in fhir.search("QuestionnaireResponse", params, limit=5):
        if resource.get("resourceType") != "QuestionnaireResponse":
            continue
        found = resource.get("identifier")
        found = found if isinstance(found, list) else [found]
        if any(isinstance(i, dict) and i.get("system") == identifier["system"] and i.get("value") == identifier["value"]
               for i in found):
            return check_response_shape(resource)
    return None


def _value(value: Any) -> Any:
    if isinstance(value, bool) or value is None or isinstance(value, str):
        return value
    if isinstance(value, (int, float)):
        return float(value)
    if isinstance(value, Mapping):
        return tuple(sorted((k, _value(v)) for k, v in value.items() if k != "extension"))
    if isinstance(value, list):
        return tuple(_value(v) for v in value)
    return repr(value)


def _items(items: Iterable[Mapping] | None) -> tuple:
    out = []
    for item in items or ():
        answers = tuple(
            (tuple(sorted((k, _value(v)) for k, v in answer.items() if k.startswith("value"))), _items(answer.get("item")))
            for answer in item.get("answer", ())
        )
        out.append((item.get("linkId"), answers, _items(item.get("item"))))
    return tuple(out)


def same_answers(stored: Mapping, ours: Mapping) -> bool:
    """Whether two versions of a record say the same thing (question texts and number
    spelling aside): the same answers to the same questions, scores included."""
    return _items(stored.get("item")) == _items(ours.get("item"))


def fingerprint(response: Mapping) -> str:
    """A short digest of a record's status and answers, to recognise one's own earlier write."""
    text = repr((response.get("status"), _items(response.get("item"))))
    return hashlib.sha256(text.encode("utf-8")).hexdigest()[:32]


def _identifier_value(resource: Mapping) -> str | None:
    ident = resource.get("identifier")
    ident = ident[0] if isinstance(ident, list) and ident else ident
    return ident.get("value") if isinstance(ident, Mapping) else None


def transaction_written(answer: Mapping) -> Written:
    """The response's entry of a transaction-response Bundle (the response is the first entry)."""
    entries = answer.get("entry") or []
    reply = (entries[0].get("response") or {}) if entries and isinstance(entries[0], dict) else {}
    match = _LOCATION.search(str(reply.get("location", "")))
    status = str(reply.get("status", "")).strip()[:3]
    version = match.group(2) if match else None
    etag = re.search(r'"([^"]+)"', str(reply.get("etag", "")))
    return Written(match.group(1) if match else None, version or (etag.group(1) if etag else None), status == "201")


def _answer(response: Mapping, link_id: str) -> Any:
    values = flatten(response.get("item")).get(link_id) or [None]
    value = values[0]
    return value.get("code") if isinstance(value, Mapping) else value


def _day(instant: str) -> str:
    return str(instant or "")[:10]


def same_event(fhir: FhirClient, patient: str, ours: Mapping) -> list[dict]:
    """The completed records of the occasion ``ours`` records, other than ``ours`` itself:
    for a session record, a session of the same date and format; for a check-in or an
    RFQ-8, one authored the same day. One search, bounded to records authored since."""
    qid = questionnaire_id(ours)
    if qid not in EVENT_FORMS:
        return []
    if qid == terminology.SESSION_RECORD:
        day = _answer(ours, "session.date")
        if not isinstance(day, str) or not re.fullmatch(r"\d{4}-\d{2}-\d{2}", day):
            return []
        key = (day, _answer(ours, "session.format"))

        def matches(r: Mapping) -> bool:
            return (_answer(r, "session.date"), _answer(r, "session.format")) == key
    else:
        day = _day(ours.get("authored"))

        def matches(r: Mapping) -> bool:
            return _day(r.get("authored")) == day
    since = dt.date.fromisoformat(day) - dt.timedelta(days=1)
    params = {"subject": f"Patient/{patient}", "authored": f"ge{since.isoformat()}", "_count": "200"}
    ident = _identifier_value(ours)
    found = []
    for resource in fhir.search("QuestionnaireResponse", params, limit=200):
        if resource.get("resourceType") != "QuestionnaireResponse":
            continue
        check_response_shape(resource)
        if (questionnaire_id(resource) == qid and resource.get("status") in FINAL
                and resource.get("id") != ours.get("id")
                and _identifier_value(resource) != ident and matches(resource)):
            found.append(resource)
    return found
