"""The patient's own copy of the formulation and crisis plan: plain, printable.

Codes are shown in the patient-facing wording the CodeSystem carries as a
designation (use ``patient-wording``), falling back to the display; the
diagnosis appears only when the formulation records that it was talked
through with the patient; the crisis plan is the newest one, whether it came
with a formulation or was revised on its own.
"""

from __future__ import annotations

from functools import lru_cache

from flask import Blueprint, g, render_template

from fhir_mbt.content import terminology
from fhir_mbt.content import shipped
from smart_app.dashboard_data import build_view
from smart_app.patient_data import read_patient_record
from smart_app.views import launched

bp = Blueprint("patient_copy", __name__)

PATIENT_WORDING = "patient-wording"

SECTIONS = [
    ("What brings you to treatment", ["presenting.difficulties", "presenting.context"]),
    ("How things tend to show", ["presentation.type", "presentation.description"]),
    ("Relationships", ["attachment.history", "attachment.patterns"]),
    ("What happens to your self-esteem", ["self-esteem.conditions", "self-esteem.alien-self", "self-esteem.threat-response", "self-esteem.threat-example"]),
    ("Patterns we have noticed together", ["self-esteem.patterns"]),
    ("How this may show up between us", ["clinician.patterns", "clinician.description", "clinician.approach"]),
]
#: (linkId prefix of a mode in the formulation, its code): shown when the mode is part of the picture.
MODES = [("mode.psychic-equivalence", "psychic-equivalence"), ("mode.pretend-mode", "pretend-mode"),
         ("mode.teleological-mode", "teleological-mode")]
DIAGNOSES = ["diagnosis.icd10cm", "diagnosis.icd11-severity", "diagnosis.icd11-traits"]


@lru_cache(maxsize=4)
def _wording(index_id: int) -> dict[str, str]:
    index = shipped()
    code_system = index.get(terminology.CODE_SYSTEM)
    words: dict[str, str] = {}

    def walk(concepts):
        for concept in concepts:
            for designation in concept.get("designation", ()):
                if (designation.get("use") or {}).get("code") == PATIENT_WORDING and designation.get("value"):
                    words[concept["code"]] = designation["value"]
            walk(concept.get("concept", ()))

    walk(code_system.get("concept", ()))
    return words


def patient_wording() -> dict[str, str]:
    """Code → plain wording for the patient, from the CodeSystem's designations."""
    return _wording(id(shipped()))


@bp.get("/copy/formulation")
@launched
def formulation():
    patient, responses = read_patient_record(g.fhir, g.tokens.patient)
    view = build_view(responses, patient, shipped())
    return render_template(
        "patient_copy.html", view=view, sections=SECTIONS, modes=MODES, diagnoses=DIAGNOSES,
        words=patient_wording(), ctx=g.tokens.context, patient=view.patient,
        questionnaire=shipped().get(terminology.questionnaire_url(terminology.FORMULATION)),
    )
