"""Launch: EHR launch (``/launch?iss=&launch=``), standalone launch, callback."""

from __future__ import annotations

import logging

from flask import Blueprint, abort, current_app, redirect, render_template, request, session, url_for

from fhir_mbt.smart import (
    AuthorizationDenied,
    AuthorizationExpired,
    IssuerNotAllowed,
    SmartError,
    StateMismatch,
)
from smart_app import ehr, patient_access
from smart_app.errors import page

bp = Blueprint("launch", __name__)
log = logging.getLogger(__name__)


@bp.get("/")
def standalone():
    if ehr.tokens() is not None:
        return redirect(url_for("dashboard.index"))
    return render_template("launch.html", issuers=current_app.config["MBT_ALLOWED_ISSUERS"], ctx=None)


@bp.get("/launch")
def launch():
    iss = request.args.get("iss", "").strip()
    launch_id = request.args.get("launch")
    if not iss:
        abort(400, description="The launch did not say which FHIR server to use (no iss).")
    smart = ehr.smart_client()
    try:
        if launch_id:
            url, pending = smart.authorize(iss, launch=launch_id)
        else:
            url, pending = smart.authorize(iss, scope=ehr.STANDALONE_SCOPES)
    except IssuerNotAllowed:
        log.warning("launch refused: issuer not on the allowlist")
        return page(
            "Unknown FHIR server",
            "This app is not set up to work with that FHIR server, so it did not contact it. "
            "Ask your administrator to add it to MBT_ALLOWED_ISSUERS.",
            400,
        )
    ehr.remember_pending(pending)
    return redirect(url)


@bp.get("/callback")
def callback():
    pending = ehr.pop_pending(request.args.get("state"))
    smart = ehr.smart_client()
    try:
        tokens = smart.complete(pending, request.args)
    except SmartError as exc:
        log.warning("launch failed: %s", type(exc).__name__)
        return page(
            "Sign-in did not complete",
            _why(exc) + " Open the app again from the patient's chart.",
            400,
        )
    if not tokens.patient:
        return page("No patient selected", "The EHR did not say which patient to open. Launch the app from a patient's chart.", 400)
    refused = patient_access.refusal(tokens)
    if refused:
        log.warning("launch refused: the user does not fit the launch")
        session.clear()
        return page("This sign-in cannot open MBT", refused, 403)
    ehr.start_launch(tokens)
    if patient_access.is_patient(tokens):
        return redirect(url_for("patient.home"))
    held = session.get("held_form")
    if held and held.get("patient") == tokens.patient and held.get("issuer") == tokens.issuer:
        return redirect(held["url"])
    # The dashboard's address names the patient, so a tab left on it is told, not switched, by a later launch.
    return redirect(url_for("dashboard.index", patient=tokens.patient))


def _why(exc: SmartError) -> str:
    if isinstance(exc, (StateMismatch, AuthorizationExpired)):
        return "This sign-in link was already used, has expired, or belongs to another browser session."
    if isinstance(exc, AuthorizationDenied):
        return "The EHR did not grant the app access."
    return "The EHR did not confirm the sign-in."


@bp.post("/logout")
def logout():
    was_patient = patient_access.is_patient(ehr.tokens())
    session.clear()
    return redirect(url_for("portal.start" if was_patient else "launch.standalone"))
