"""The patient's own copy of the formulation and crisis plan: plain, printable.

What it says is chosen in :mod:`smart_app.formulation_copy` (only what was
written for the patient, codes in the CodeSystem's patient wording); this
module reads the record and renders it, for clinicians to print and, through
``patient_portal``, for the patient to read. Printed, it carries the service's
name and contact, and the patient's name and date of birth; the medical
record number only when the service asks for it (``MBT_COPY_SHOW_MRN``).
"""

from __future__ import annotations

from typing import Iterable, Mapping

from flask import Blueprint, current_app, g, render_template

from fhir_mbt.content import shipped
from smart_app.dashboard_data import patient_summary
from smart_app.formulation_copy import build_copy
from smart_app.patient_context import remember
from smart_app.patient_data import read_patient_record
from smart_app.views import launched

__all__ = ["bp", "render_copy"]

bp = Blueprint("patient_copy", __name__)


def render_copy(responses: Iterable[Mapping], patient: Mapping | None, *, agreed_only: bool,
                base_template: str = "base.html", ctx=None, banner: Mapping | None = None) -> str:
    """The copy's page; ``agreed_only`` for the patient's own pages (nothing not agreed with them)."""
    copy = build_copy(responses, shipped(), agreed_only=agreed_only)
    return render_template("patient_copy.html", copy=copy, person=patient_summary(patient),
                           show_identifier=current_app.config.get("MBT_COPY_SHOW_MRN", False),
                           base_template=base_template, ctx=ctx, patient=banner)


@bp.get("/copy/formulation")
@launched
def formulation():
    patient, responses = read_patient_record(g.fhir, g.tokens.patient)
    summary = patient_summary(patient)
    remember(summary)
    return render_copy(responses, patient, agreed_only=False, ctx=g.tokens.context, banner=summary)
