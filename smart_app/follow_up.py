"""Risk a patient reported, as the clinician sees it: "needs follow-up", and recording the follow-up.

The dashboard reads the care-team Tasks with the responses (one search,
``_revinclude=Task:focus``), so an open follow-up shows however many
check-ins came after it, until a clinician records it here: the Task is
completed and the Flag made inactive, with who (the clinician's
``fhirUser``) and when, in one transaction with If-Match on both
(:func:`fhir_mbt.engine.care_team.close_follow_up`).
"""

from __future__ import annotations

import logging
import re
from typing import Iterable, Mapping

from flask import Blueprint, flash, g, redirect, request, url_for

from fhir_mbt.client import FhirError, VersionConflict
from fhir_mbt.engine.care_team import close_follow_up, is_care_team_task, is_open
from smart_app import ehr
from smart_app.errors import page
from smart_app.patient_access import user_of
from smart_app.patient_record import entered_by
from smart_app.views import launched

__all__ = ["bp", "follow_ups"]

bp = Blueprint("follow_up", __name__, url_prefix="/follow-up")
log = logging.getLogger(__name__)

_ID = re.compile(r"^[A-Za-z0-9\-.]{1,64}$")
MAX_NOTE = 2000


@bp.app_template_global("entered_by")
def _entered_by(response: Mapping) -> str:
    return entered_by(response)


def _id_of(reference: object, resource_type: str) -> str | None:
    if not isinstance(reference, Mapping):
        return None
    match = re.search(rf"(?:^|/){resource_type}/([A-Za-z0-9\-.]{{1,64}})(?:/_history/.*)?$",
                      str(reference.get("reference", "")))
    return match.group(1) if match else None


def follow_ups(tasks: Iterable[Mapping], patient_id: str) -> tuple[list[dict], list[dict]]:
    """(open follow-ups, oldest first; the five most recently closed) of this patient's care-team Tasks."""
    opened, closed = [], []
    for task in tasks:
        if not is_care_team_task(task) or _id_of(task.get("for"), "Patient") != patient_id:
            continue
        notes = task.get("note") or [{}]
        item = {
            "id": task.get("id", ""),
            "date": str(task.get("authoredOn", ""))[:10],
            "what": task.get("description", "Risk reported by the patient"),
            "urgent": task.get("priority") in ("asap", "stat"),
            "response_id": _id_of(task.get("focus"), "QuestionnaireResponse"),
            "closed_at": str((task.get("executionPeriod") or {}).get("end", ""))[:16].replace("T", " "),
            "closed_by": (task.get("owner") or {}).get("reference", ""),
            "note": notes[-1].get("text", ""),
        }
        (opened if is_open(task) else closed).append(item)
    opened.sort(key=lambda i: i["date"])
    closed.sort(key=lambda i: i["closed_at"], reverse=True)
    return opened, closed[:5]


@bp.post("/<task_id>")
@launched
def record(task_id):
    back = redirect(url_for("dashboard.index"))
    if not _ID.match(task_id):
        return page("No such follow-up", "There is no such follow-up for this patient.", 404)
    user = user_of(g.tokens)
    if user is None or user[0] not in ("Practitioner", "PractitionerRole"):
        return page("Who are you?", "The EHR did not say which clinician is signed in, so the follow-up cannot be "
                    "recorded with your name. Open MBT again from the EHR.", 403)
    if not (ehr.can("Task", "update") and ehr.can("Flag", "update")):
        return page("Recording is not allowed", "The EHR did not give this app permission to update follow-up "
                    "tasks and alerts. Nothing was changed.", 403)
    note = request.form.get("note", "").strip()[:MAX_NOTE]
    try:
        task = g.fhir.read("Task", task_id)
    except (FhirError, ValueError):
        return page("No such follow-up", "There is no such follow-up for this patient.", 404)
    if not is_care_team_task(task) or _id_of(task.get("for"), "Patient") != g.tokens.patient:
        return page("No such follow-up", "There is no such follow-up for this patient.", 404)
    if not is_open(task):
        flash("This follow-up was already recorded.", "info")
        return back
    flag = None
    flag_id = _id_of(task.get("reasonReference"), "Flag")
    if flag_id:
        try:
            flag = g.fhir.read("Flag", flag_id)
        except (FhirError, ValueError):
            flag = None
    bundle = close_follow_up(task, flag, by=f"{user[0]}/{user[1]}", note=note)
    try:
        g.fhir.transaction(bundle)
    except VersionConflict:
        flash("Someone else changed this follow-up at the same time; nothing was overwritten. Look again below.",
              "error")
        return back
    except FhirError as exc:
        log.warning("recording a follow-up failed: %s", type(exc).__name__)
        return page("Not recorded", "The FHIR server could not record the follow-up. Nothing was changed; try "
                    "again in a moment.", 502)
    flash("Follow-up recorded.", "info")
    return back
