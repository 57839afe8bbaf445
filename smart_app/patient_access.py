"""Who is using the app, a patient or a clinician, and what each may open.

The view is decided from the launch's ``fhirUser`` (from the verified
id_token, kept server-side with the tokens), never from a URL or a form:
a ``Patient`` user gets the patient pages, and only them. A patient whose
``fhirUser`` is not the patient in context (someone else's record, a carer
signed in as a patient) is refused at the callback. A ``RelatedPerson`` or
``Person`` user is refused too: this app has no view for them yet.

The guard runs before every request: in a patient session every endpoint
that is not one of the patient's (or launching, signing out, static files)
answers 403 with a page that says why. Clinicians get 403 on the patient
pages in the same way. Scopes are asked for narrowly too, but the app does
not rely on them: an EHR may grant more than asked.
"""

from __future__ import annotations

import re
from functools import wraps

from flask import Flask, g, redirect, render_template, request, url_for

from fhir_mbt.smart import FHIR_USER, LAUNCH, LAUNCH_PATIENT, ONLINE_ACCESS, OPENID, TokenSet, resource_scope, scope_string
from smart_app import ehr

__all__ = ["PORTAL_SCOPES", "PATIENT_STANDALONE_SCOPES", "user_of", "is_patient", "refusal",
           "patient_only", "init_app"]

#: What a patient's launch asks for: read their record, write their own answers and the care-team alert.
PATIENT_DATA_SCOPES = [
    resource_scope("patient", "Patient", "r"),
    resource_scope("patient", "QuestionnaireResponse", "crus"),
    resource_scope("patient", "Observation", "c"),
    resource_scope("patient", "Provenance", "cu"),
    resource_scope("patient", "Flag", "c"),
    resource_scope("patient", "Task", "c"),
]
PORTAL_SCOPES = scope_string([LAUNCH, OPENID, FHIR_USER, ONLINE_ACCESS, *PATIENT_DATA_SCOPES])
PATIENT_STANDALONE_SCOPES = scope_string([LAUNCH_PATIENT, OPENID, FHIR_USER, ONLINE_ACCESS, *PATIENT_DATA_SCOPES])

_USER = re.compile(r"(?:^|/)(Patient|Practitioner|PractitionerRole|RelatedPerson|Person)/([A-Za-z0-9\-.]{1,64})$")
#: Endpoints a patient session may reach, besides its own blueprints.
_OPEN_TO_ALL = {"launch.launch", "launch.callback", "launch.logout", "static", "favicon"}
_PATIENT_BLUEPRINTS = ("patient.", "patient_forms.", "portal.")
_CLINICIAN_HOME = {"launch.standalone", "dashboard.index"}


def user_of(tokens: TokenSet | None) -> tuple[str, str] | None:
    """(resource type, id) of the signed-in user, from ``fhirUser``; None when it is absent or unreadable."""
    user = tokens.fhir_user if tokens is not None else None
    if not isinstance(user, str):
        return None
    match = _USER.search(user.split("/_history/")[0].rstrip("/"))
    return (match.group(1), match.group(2)) if match else None


def is_patient(tokens: TokenSet | None) -> bool:
    user = user_of(tokens)
    return user is not None and user[0] == "Patient"


def refusal(tokens: TokenSet) -> str | None:
    """Why this launch may not open the app at all, or None."""
    user = user_of(tokens)
    if tokens.fhir_user and user is None:
        return "The EHR named a user this app does not understand, so it opened nothing."
    if user is None:
        return None
    kind, ident = user
    if kind == "Patient" and ident != tokens.patient:
        return ("You are signed in as one patient but the launch is for another patient's record. "
                "You can only open your own.")
    if kind in ("RelatedPerson", "Person"):
        return "This app is for patients and their clinicians. Sign in to the portal as the patient."
    return None


def _forbidden(title: str, message: str, patient_view: bool):
    template = "patient/error.html" if patient_view else "error.html"
    return render_template(template, title=title, message=message, ctx=None), 403


def patient_only(view):
    """Run ``view`` only in a patient's own session; it finds ``g.tokens``, ``g.fhir`` and ``g.patient_id``."""

    @wraps(view)
    def wrapper(*args, **kwargs):
        tokens = ehr.tokens()
        if tokens is None or not tokens.patient:
            return render_template("patient/error.html", title="Please sign in again",
                                   message="You are not signed in (or your sign-in ended). Open MBT again from "
                                           "your patient portal.", ctx=None), 401
        if not is_patient(tokens):
            return _forbidden("These pages are for patients",
                              "You are signed in as a clinician. Open the patient's dashboard instead.", False)
        g.tokens, g.fhir, g.patient_id = tokens, ehr.fhir(), tokens.patient
        return view(*args, **kwargs)

    return wrapper


def _guard():
    endpoint = request.endpoint
    if endpoint is None or endpoint in _OPEN_TO_ALL:
        return None
    tokens = ehr.tokens()
    if not is_patient(tokens):
        return None
    if endpoint.startswith(_PATIENT_BLUEPRINTS):
        return None
    if endpoint in _CLINICIAN_HOME and request.method == "GET":
        return redirect(url_for("patient.home"))
    return _forbidden("This page is for your care team",
                      "This part of MBT is only for the clinicians who look after you, so it cannot be "
                      "opened from your sign-in. Nothing was shown or changed.", True)


def init_app(app: Flask) -> None:
    app.before_request(_guard)
