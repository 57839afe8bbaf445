"""What every patient page needs: the launch, the patient, the FHIR client."""

from __future__ import annotations

from functools import wraps

from flask import g, request

from smart_app import ehr
from smart_app.errors import page
from smart_app.patient_context import other_patient_page

__all__ = ["launched"]


def launched(view):
    """Run ``view`` only inside a launch; it finds ``g.tokens`` and ``g.fhir`` set.

    A page asked for another patient than the launch's (``?patient=``, which every
    link of the app carries) is refused with a page that names both: a tab left
    open on one patient never silently shows or acts on another.
    """

    @wraps(view)
    def wrapper(*args, **kwargs):
        tokens = ehr.tokens()
        if tokens is None or not tokens.patient:
            return page(
                "Open the app from the patient's chart",
                "There is no active launch in this browser session (it may have ended). "
                "Open MBT again from the EHR.",
                401,
            )
        g.tokens = tokens
        g.fhir = ehr.fhir()
        wanted = request.args.get("patient")
        if request.method == "GET" and wanted and wanted != tokens.patient:
            return other_patient_page(wanted)
        return view(*args, **kwargs)

    return wrapper
