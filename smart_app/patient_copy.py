"""The patient's own copy of the formulation and crisis plan: plain, printable."""

from __future__ import annotations

from flask import Blueprint, g, render_template

from fhir_mbt.content import terminology
from fhir_mbt.content import shipped
from smart_app.dashboard_data import build_view
from smart_app.patient_data import read_patient_record
from smart_app.views import launched

bp = Blueprint("patient_copy", __name__)

SECTIONS = [
    ("What brings you to treatment", ["presenting.difficulties", "presenting.context"]),
    ("How things tend to show", ["presentation.type", "presentation.description"]),
    ("Relationships", ["attachment.history", "attachment.patterns"]),
    ("What happens to your self-esteem", ["self-esteem.conditions", "self-esteem.alien-self", "self-esteem.threat-response", "self-esteem.threat-example"]),
    ("How this may show up between us", ["clinician.patterns", "clinician.description", "clinician.approach"]),
]


@bp.get("/copy/formulation")
@launched
def formulation():
    patient, responses = read_patient_record(g.fhir, g.tokens.patient)
    view = build_view(responses, patient, shipped())
    return render_template(
        "patient_copy.html", view=view, sections=SECTIONS, ctx=g.tokens.context, patient=view.patient,
        questionnaire=shipped().get(terminology.questionnaire_url(terminology.FORMULATION)),
    )
