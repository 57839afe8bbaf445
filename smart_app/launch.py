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
    TokenError,
)
from smart_app import app_context, ehr, patient_access, user, write_plans
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
    if current_app.config["SESSION_COOKIE_NAME"] not in request.cookies:
        return _cookie_blocked()
    pending = ehr.pop_pending(request.args.get("state"))
    smart = ehr.smart_client()
    try:
        tokens = smart.complete(pending, request.args)
    except SmartError as exc:
        log.warning("launch failed: %s error=%s error_description=%s", type(exc).__name__,
                    exc.error, _described(exc.error_description))
        return page(
            "Sign-in did not complete",
            _why(exc) + " Open the app again from the patient's chart.",
            400,
            admin_check=ADMIN_CHECKS.get(exc.error or "", ""),
        )
    if not tokens.patient:
        return page("No patient selected", "The EHR did not say which patient to open. Launch the app from a patient's chart.", 400)
    refused = patient_access.refusal(tokens)
    if refused:
        log.warning("launch refused: the user does not fit the launch")
        session.clear()
        return page("This sign-in cannot open MBT", refused, 403)
    ehr.start_launch(tokens)
    fhir = ehr.fhir()
    user.resolve(tokens.fhir_user, fhir, tokens.issuer)
    write_plans.learn(fhir, tokens.issuer)
    if patient_access.is_patient(tokens):
        return redirect(url_for("patient.home"))
    held = session.get("held_form")
    if held and held.get("patient") == tokens.patient and held.get("issuer") == tokens.issuer:
        return redirect(held["url"])
    # The dashboard's address names the patient, so a tab left on it is told, not switched, by a later launch.
    records = app_context.card_records(tokens.context.extra.get("appContext"))
    if records:
        # Launched from the risk card: the follow-ups it names are marked, and the page opens on them.
        return redirect(url_for("dashboard.index", patient=tokens.patient, focus=",".join(records))
                        + "#needs-follow-up")
    return redirect(url_for("dashboard.index", patient=tokens.patient))


#: What the administrator should look at, by OAuth ``error`` code.
ADMIN_CHECKS = {
    "invalid_client": "the EHR did not accept the app's client authentication: check MBT_CLIENT_ID, "
                      "the secret or key (MBT_CLIENT_SECRET, MBT_CLIENT_KEY) and MBT_CLIENT_AUTH against "
                      "the app's registration at the EHR.",
    "unauthorized_client": "the EHR does not let this client use this kind of launch: check the app's "
                           "registration (grant types, launch types) at the EHR.",
    "invalid_scope": "the EHR refused the scopes the app asks for: check the scopes the app is "
                     "registered for at the EHR.",
    "invalid_grant": "the EHR refused the authorization code: check that MBT_REDIRECT_URI is the "
                     "registered redirect URI and that the app's clock is right.",
    "invalid_request": "the EHR refused the request: check the registered redirect URI and that the "
                       "EHR supports PKCE (S256).",
}


def _described(text: str | None) -> str | None:
    """An OAuth error_description fit for a log line: short, one line, never the app's secret."""
    if text is None:
        return None
    secret = current_app.config.get("MBT_CLIENT_SECRET")
    if secret:
        text = text.replace(secret, "[secret]")
    return " ".join(text.split())[:300]


def _cookie_blocked():
    """The callback came without the app's cookie: a browser blocking cookies in a cross-site frame."""
    log.warning("launch failed: the session cookie did not come back to the callback")
    issuers = current_app.config["MBT_ALLOWED_ISSUERS"]
    if len(issuers) == 1:
        own_window = url_for("launch.launch", iss=issuers[0], _external=True)
    else:
        own_window = url_for("launch.standalone", _external=True)
    return page(
        "The browser blocked this app's cookie",
        "The sign-in came back without the cookie the app set when it started, so it cannot be "
        "completed here. This happens when the app runs inside the EHR's window and the browser "
        "blocks cookies of other sites. Open the app in its own window and choose the patient there, "
        "or ask your administrator to allow cookies for this app.",
        400,
        own_window_url=own_window,
    )


def _why(exc: SmartError) -> str:
    if isinstance(exc, (StateMismatch, AuthorizationExpired)):
        return "This sign-in link was already used, has expired, or belongs to another browser session."
    if isinstance(exc, AuthorizationDenied):
        if exc.error in ADMIN_CHECKS:
            return "The EHR refused the app's sign-in request; your administrator needs to check its set-up."
        return "The EHR did not grant the app access."
    if isinstance(exc, TokenError) and exc.error in ADMIN_CHECKS:
        return "The EHR refused to complete the sign-in; your administrator needs to check the app's set-up."
    return "The EHR did not confirm the sign-in."


@bp.post("/logout")
def logout():
    was_patient = patient_access.is_patient(ehr.tokens())
    session.clear()
    return redirect(url_for("portal.start" if was_patient else "launch.standalone"))
