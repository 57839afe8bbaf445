"""Which patient a page is for: the banner, and links and forms that carry the patient.

Context travels with the request, the way a URL carries a resource id: every link
to a patient page carries ``patient=<id>`` (added by ``url_defaults`` below) and
every form carries the patient and the launch it was opened for. A tab left open
on one patient therefore never acts on another patient launched later in the same
browser: it is told so, plainly.

The banner's Patient is read once per launch and kept in the session
(``patients``: id → summary, a few at most), so a page costs no extra request
and a stale tab can still be told by name whose page it was.
"""

from __future__ import annotations

import logging
from typing import Mapping

from flask import Flask, g, render_template, session

from fhir_mbt.client import FhirError
from smart_app.dashboard_data import patient_summary

__all__ = ["init_app", "remember", "banner", "named", "other_patient_page"]

log = logging.getLogger(__name__)

#: Blueprints whose pages are about the launch's patient.
PATIENT_PAGES = frozenset({"dashboard", "forms", "history", "patient_copy", "drafts"})
MAX_REMEMBERED = 8


def remember(summary: Mapping | None) -> None:
    """Keep a patient's summary (from ``patient_summary``) for banners and stale-tab pages."""
    if not summary or not summary.get("id"):
        return
    known = dict(session.get("patients", {}))
    known.pop(summary["id"], None)
    known[summary["id"]] = dict(summary)
    while len(known) > MAX_REMEMBERED:
        known.pop(next(iter(known)))
    if known != session.get("patients"):
        session["patients"] = known


def named(patient_id: str) -> dict:
    """The summary kept for ``patient_id``, or one that names it by its id."""
    found = session.get("patients", {}).get(patient_id)
    return dict(found) if found else {"id": patient_id, "name": f"Patient/{patient_id}", "birth_date": "",
                                      "gender": "", "identifier": ""}


def banner() -> dict:
    """The current patient's summary; the Patient is read only when this launch has not yet."""
    patient_id = g.tokens.patient
    if patient_id not in session.get("patients", {}):
        try:
            summary = patient_summary(g.fhir.read("Patient", patient_id))
        except (FhirError, ValueError):
            log.warning("could not read the Patient for the banner")
            return named(patient_id)
        remember(summary)
    return named(patient_id)


def other_patient_page(page_patient: str, *, kept: bool = False, answers=None, title: str = ""):
    """The page a stale tab gets: whose page it was, who is open now, nothing done."""
    return render_template(
        "other_patient.html",
        was=named(page_patient),
        now=banner(),
        kept=kept,
        answers=answers,
        form_title=title,
        ctx=g.tokens.context,
        patient=None,
    ), 409


def _add_patient(endpoint: str | None, values: dict) -> None:
    if not endpoint or "patient" in values or endpoint.split(".", 1)[0] not in PATIENT_PAGES:
        return
    tokens = g.get("tokens")
    if tokens is not None and tokens.patient:
        values["patient"] = tokens.patient


def init_app(app: Flask) -> None:
    app.url_defaults(_add_patient)
