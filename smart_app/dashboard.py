"""The patient dashboard: risk first, then formulation, trends and records."""

from __future__ import annotations

from flask import Blueprint, g, render_template

from fhir_mbt.content import shipped
from smart_app import charts
from smart_app.dashboard_data import build_view
from smart_app.follow_up import follow_ups
from smart_app.patient_context import remember
from smart_app.patient_data import read_patient_record
from smart_app.patient_record import entered_by
from smart_app.views import launched

bp = Blueprint("dashboard", __name__)


@bp.get("/dashboard")
@launched
def index():
    tasks: list[dict] = []
    patient, responses = read_patient_record(g.fhir, g.tokens.patient, tasks)
    view = build_view(responses, patient, shipped())
    remember(view.patient)
    open_follow_ups, closed_follow_ups = follow_ups(tasks, g.tokens.patient)
    patient_entered = {e.id for entries in (view.sessions, view.checkins, view.rfq8, view.profiles, view.drafts)
                       for e in entries if entered_by(e.response) == "patient"}
    figures = {
        "rfq": charts.line_chart(
            [charts.Series("Certainty (RFQ_c)", view.series["rfq_c"]),
             charts.Series("Uncertainty (RFQ_u)", view.series["rfq_u"])],
            y_min=0, y_max=3, title="RFQ-8 scores over time",
        ) if view.rfq8 else None,
        "sessions": charts.line_chart(
            [charts.Series("In-session mentalizing (1-5)", view.series["mentalizing"]),
             charts.Series("Peak arousal (0-10)", view.series["arousal"])],
            y_min=0, y_max=10, title="Mentalizing and peak arousal by session",
        ) if view.sessions else None,
        "modes": charts.presence_grid(
            [date for date, _ in view.modes_by_session],
            [(label, {d for d, codes in view.modes_by_session if code in codes}) for code, label in view.mode_labels],
            title="Prementalizing modes seen, session by session",
        ) if view.mode_labels else None,
        "checkins": charts.bar_chart(
            [d for d, _ in view.series["blow_ups"]],
            [charts.Series("Blow-ups", view.series["blow_ups"]), charts.Series("Paused before reacting", view.series["pauses"])],
            title="Weekly blow-ups and pauses",
            marked={e.date for e in view.checkins if e.id in patient_entered},
        ) if view.checkins else None,
    }
    return render_template("dashboard.html", view=view, figures=figures, ctx=g.tokens.context, patient=view.patient,
                           follow_ups=open_follow_ups, followed_up=closed_follow_ups, patient_entered=patient_entered)
