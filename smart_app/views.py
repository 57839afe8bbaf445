"""What every patient page needs: the launch, the patient, the FHIR client."""

from __future__ import annotations

from functools import wraps

from flask import g

from smart_app import ehr
from smart_app.errors import page

__all__ = ["launched"]


def launched(view):
    """Run ``view`` only inside a launch; it finds ``g.tokens`` and ``g.fhir`` set."""

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
        return view(*args, **kwargs)

    return wrapper
