"""The patient portal: a patient signs in (a development stand-in: pick yourself, no password)
and opens the app, which gets a portal EHR launch whose user is the Patient.

The launch is kept server-side under an opaque id, like the clinician's
launch page; the id_token's ``fhirUser`` is then ``Patient/{id}`` and the
patient in context is the same patient.
"""

from __future__ import annotations

import logging
import re
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

from flask import Blueprint, redirect, render_template, request

from ehr_sandbox.directory import people
from ehr_sandbox.services import sandbox
from ehr_sandbox.store import Context

__all__ = ["bp"]

log = logging.getLogger("ehr_sandbox")
bp = Blueprint("portal", __name__, url_prefix="/portal")

_ID = re.compile(r"[A-Za-z0-9\-.]{1,64}")


@bp.get("/")
def index():
    sb = sandbox()
    patients, _, problem = people(sb.upstream)
    return render_template("portal.html", patients=patients, problem=problem,
                           portal_launch_url=sb.portal_launch_url, fhir_base=sb.fhir_base)


@bp.post("/launch")
def launch():
    sb = sandbox()
    patient = request.form.get("patient", "").strip()
    app_url = request.form.get("app_launch_url", "").strip() or sb.portal_launch_url
    errors = []
    if not _ID.fullmatch(patient):
        errors.append("Choose who you are.")
    parts = urlsplit(app_url)
    if parts.scheme not in ("http", "https") or not parts.netloc:
        errors.append("The app launch URL must be an absolute http(s) URL.")
    if errors:
        patients, _, problem = people(sb.upstream)
        return render_template("portal.html", patients=patients, problem=problem, errors=errors,
                               portal_launch_url=app_url, fhir_base=sb.fhir_base), 400
    launch_id = sb.store.add_launch(Context(patient=patient, patient_user=True))
    log.info("portal launch created for Patient/%s", patient)
    query = parse_qsl(parts.query, keep_blank_values=True) + [("iss", sb.fhir_base), ("launch", launch_id)]
    return redirect(urlunsplit((parts.scheme, parts.netloc, parts.path, urlencode(query), "")), code=303)
