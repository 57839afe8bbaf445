"""The EHR's launch page: pick a patient and a practitioner, launch the app.

The choice is kept server-side under an opaque launch id; the app gets only
``iss`` (the sandbox's FHIR base) and ``launch``, and learns the context
from the token response.
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
bp = Blueprint("ehr", __name__)

_ID = re.compile(r"[A-Za-z0-9\-.]{1,64}")


@bp.get("/")
def index():
    sb = sandbox()
    patients, practitioners, problem = people(sb.upstream)
    return render_template("launch.html", patients=patients, practitioners=practitioners,
                           problem=problem, app_launch_url=sb.app_launch_url,
                           fhir_base=sb.fhir_base, upstream=sb.upstream.base)


@bp.post("/launch")
def launch():
    sb = sandbox()
    form = request.form
    patient = form.get("patient", "").strip()
    practitioner = form.get("practitioner", "").strip() or None
    encounter = form.get("encounter", "").strip() or None
    app_url = form.get("app_launch_url", "").strip() or sb.app_launch_url
    app_context = form.get("app_context") or None
    errors = []
    if not _ID.fullmatch(patient):
        errors.append("Choose a patient.")
    if app_context is not None and len(app_context) > 4096:
        errors.append("The card's appContext is too long.")
    for label, value in (("practitioner", practitioner), ("encounter", encounter)):
        if value is not None and not _ID.fullmatch(value):
            errors.append(f"The {label} id is not a FHIR id.")
    parts = urlsplit(app_url)
    if parts.scheme not in ("http", "https") or not parts.netloc:
        errors.append("The app launch URL must be an absolute http(s) URL.")
    if errors:
        patients, practitioners, problem = people(sb.upstream)
        return render_template("launch.html", patients=patients, practitioners=practitioners,
                               problem=problem, errors=errors, app_launch_url=app_url,
                               fhir_base=sb.fhir_base, upstream=sb.upstream.base), 400
    launch_id = sb.store.add_launch(Context(patient=patient, encounter=encounter, practitioner=practitioner,
                                                  app_context=app_context))
    log.info("EHR launch created for Patient/%s", patient)
    query = parse_qsl(parts.query, keep_blank_values=True) + [("iss", sb.fhir_base), ("launch", launch_id)]
    return redirect(urlunsplit((parts.scheme, parts.netloc, parts.path, urlencode(query), "")), code=303)
