"""A new session record starts where the last one left off.

Its date is today where the service is (:func:`smart_app.local_time.today`,
``MBT_TIMEZONE``), which the clinician can change; a draft or an amendment
is built from its record and keeps the date it has. At the top of the form
stands the focus agreed for this session at the end of the last one (the
session record's "Focus for the next session").

Reading the last session costs one FHIR request: a search for this
patient's newest completed (or amended) session record, ``_count=1``,
``_sort=-authored``, within the page's time budget. It fails soft: whatever
goes wrong (the server, the budget, a malformed record), the form opens
with a short note instead.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any, Mapping

from fhir_mbt.cds.record import flatten
from fhir_mbt.client import FhirClient
from fhir_mbt.content import terminology
from fhir_mbt.errors import FhirMbtError
from smart_app import local_time
from smart_app.patient_data import check_response_shape
from smart_app.questionnaire_form import Field, walk_fields

__all__ = ["LastSession", "last_session", "with_today", "DATE", "FOCUS"]

log = logging.getLogger(__name__)

#: The session record's date, and its "Focus for the next session" (Questionnaire-mbt-session-record.json).
DATE = "session.date"
FOCUS = "next.focus"
UNAVAILABLE = "The focus agreed at the last session could not be read just now; the form works as usual."


@dataclass(frozen=True)
class LastSession:
    """What the form shows: the last session's date and agreed focus, or a note that it could not be read."""

    date: str = ""
    focus: str = ""
    note: str = ""


def with_today(fields: list[Field]) -> list[Field]:
    """A new session record's fields with the date set to today (where the service is), unless given."""
    for f in walk_fields(fields):
        if f.link_id == DATE and not f.values:
            f.values = [local_time.today().isoformat()]
    return fields


def _first(answers: Mapping[str, list], link_id: str) -> Any:
    values = answers.get(link_id) or [None]
    return values[0]


def last_session(fhir: FhirClient, patient: str) -> LastSession | None:
    """The newest completed session record's date and focus; None when there is none yet."""
    params = {
        "subject": f"Patient/{patient}",
        "questionnaire": terminology.questionnaire_url(terminology.SESSION_RECORD),
        "status": "completed,amended",
        "_sort": "-authored",
        "_count": "1",
    }
    try:
        found = next(iter(fhir.search("QuestionnaireResponse", params, limit=1)), None)
    except (FhirMbtError, ValueError) as exc:
        log.warning("could not read the last session record: %s", type(exc).__name__)
        return LastSession(note=UNAVAILABLE)
    if found is None:
        return None
    try:
        check_response_shape(found)
        if (found.get("subject") or {}).get("reference") != f"Patient/{patient}":
            raise ValueError("a record of another patient")
        answers = flatten(found.get("item"))
    except (ValueError, AttributeError, TypeError) as exc:
        log.warning("the last session record could not be read: %s", type(exc).__name__)
        return LastSession(note=UNAVAILABLE)
    day = _first(answers, DATE)
    focus = _first(answers, FOCUS)
    when = local_time.local_date(day if isinstance(day, str) else found.get("authored", ""))
    return LastSession(date=when, focus=focus.strip() if isinstance(focus, str) else "")
