"""The patient's side of the app: launch from the portal, home, crisis plan, formulation, safety page.

``portal`` starts a launch with patient scopes (the EHR's portal launches
``/portal/launch?iss=&launch=``; ``/portal/`` starts a standalone one).
Whether the pages that follow are the patient's is decided from
``fhirUser`` at the callback (:mod:`smart_app.patient_access`), not from
which launch URL was used. ``patient`` holds the pages, phone first: what is
due, the patient's recent check-ins, their agreed formulation in the words
written to them, their crisis plan, and the page shown at once when a
check-in reports risk.
"""

from __future__ import annotations

import datetime as _dt
import logging
import re

from flask import Blueprint, current_app, g, redirect, render_template, request, session

from fhir_mbt.content import shipped
from fhir_mbt.errors import FhirMbtError
from fhir_mbt.smart import IssuerNotAllowed
from smart_app import ehr, patient_copy
from smart_app.errors import page
from smart_app.patient_access import PATIENT_STANDALONE_SCOPES, PORTAL_SCOPES, patient_only
from smart_app.patient_data import read_patient_record
from smart_app.patient_record import build_home, crisis_plan

__all__ = ["bp", "portal", "emergency_tel", "remember_crisis_plan", "current_crisis_plan"]

bp = Blueprint("patient", __name__, url_prefix="/me")
portal = Blueprint("portal", __name__, url_prefix="/portal")
log = logging.getLogger(__name__)

_PHONE = re.compile(r"\+?\d[\d ]{1,18}\d|\d{2,}")


def emergency_tel() -> str:
    """The number to dial for the emergency line: MBT_EMERGENCY_TEL, else the first number in the line's text."""
    configured = current_app.config.get("MBT_EMERGENCY_TEL")
    if configured:
        return re.sub(r"[^\d+]", "", configured)
    found = _PHONE.search(current_app.config["MBT_EMERGENCY_LINE"])
    return re.sub(r"[^\d+]", "", found.group(0)) if found else ""


bp.add_app_template_global(emergency_tel, "emergency_tel")


@bp.app_template_filter("nice_date")
def nice_date(value: str) -> str:
    """``2026-08-31`` as ``Mon 31 Aug`` (with the year when it is not this year)."""
    try:
        day = _dt.date.fromisoformat(str(value)[:10])
    except ValueError:
        return str(value)
    text = f"{day:%a} {day.day} {day:%b}"
    return text if day.year == _dt.date.today().year else f"{text} {day.year}"


# --- launch -----------------------------------------------------------------------------


@portal.get("/")
def start():
    return render_template("patient/start.html", issuers=current_app.config["MBT_ALLOWED_ISSUERS"], ctx=None)


@portal.get("/launch")
def launch():
    iss = request.args.get("iss", "").strip()
    launch_id = request.args.get("launch")
    if not iss:
        return page("No FHIR server given", "The portal did not say which FHIR server to use (no iss).", 400)
    smart = ehr.smart_client()
    try:
        if launch_id:
            url, pending = smart.authorize(iss, launch=launch_id, scope=PORTAL_SCOPES)
        else:
            url, pending = smart.authorize(iss, scope=PATIENT_STANDALONE_SCOPES)
    except IssuerNotAllowed:
        log.warning("portal launch refused: issuer not on the allowlist")
        return page("Unknown FHIR server", "This app is not set up to work with that FHIR server, so it did not "
                    "contact it.", 400)
    ehr.remember_pending(pending)
    return redirect(url)


# --- pages ------------------------------------------------------------------------------


def remember_crisis_plan(plan: dict | None) -> None:
    """Keep the patient's crisis plan in their session, so the safety page never waits for the server."""
    session["crisis_plan"] = plan


def current_crisis_plan() -> tuple[dict | None, bool]:
    """(the crisis plan, whether it could be read): from the session, else from the server."""
    if "crisis_plan" in session:
        return session["crisis_plan"], True
    try:
        _, responses = read_patient_record(g.fhir, g.patient_id)
    except FhirMbtError as exc:
        log.warning("crisis plan not read: %s", type(exc).__name__)
        return None, False
    plan = crisis_plan(responses)
    remember_crisis_plan(plan)
    return plan, True


def _titles() -> dict[str, str]:
    return {q["id"]: q.get("title", q["id"]) for q in shipped().resources("Questionnaire")}


@bp.get("/")
@patient_only
def home():
    patient, responses = read_patient_record(g.fhir, g.patient_id)
    view = build_home(responses, g.patient_id, shipped(), _dt.date.today(), _titles())
    remember_crisis_plan(view.crisis)
    name = ((patient or {}).get("name") or [{}])[0]
    given = (name.get("given") or [""])[0] or name.get("text", "")
    return render_template("patient/home.html", view=view, given=given, ctx=None)


@bp.get("/crisis-plan")
@patient_only
def crisis():
    _, responses = read_patient_record(g.fhir, g.patient_id)
    plan = crisis_plan(responses)
    remember_crisis_plan(plan)
    return render_template("patient/crisis_plan.html", crisis=plan, ctx=None)


@bp.get("/formulation")
@patient_only
def formulation():
    """The patient copy clinicians print, inside the patient's pages: only what was agreed with them."""
    patient, responses = read_patient_record(g.fhir, g.patient_id)
    return patient_copy.render_copy(responses, patient, agreed_only=True, base_template="patient/base.html")


@bp.get("/safety")
@patient_only
def safety():
    """Shown at once after a check-in that reports risk: the emergency line, then the patient's own plan."""
    state = session.get("safety") or {}
    plan, readable = current_crisis_plan()
    return render_template("patient/safety.html", crisis=plan, readable=readable, sent=state.get("sent", False),
                           alerted=state.get("alerted", False), urgent=state.get("urgent", False), ctx=None)
