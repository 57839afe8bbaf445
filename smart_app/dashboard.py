"""The patient dashboard (risk first, then formulation, trends and the newest records) and the full records list.

Both pages read the patient's record in one search (:func:`read_patient_record`,
Patient and follow-up Tasks included): the list's filter and pages are
computed from that read, never fetched separately.
"""

from __future__ import annotations

from flask import Blueprint, g, render_template, request, url_for

from fhir_mbt.cds import risk
from fhir_mbt.content import shipped
from smart_app import local_time
from smart_app.dashboard_data import build_view
from smart_app.errors import page
from smart_app.figures import figures
from smart_app.follow_up import follow_ups
from smart_app.form_save import can_write
from smart_app.patient_context import remember
from smart_app.patient_data import read_patient_record
from smart_app.patient_record import entered_by
from smart_app.records import KINDS, ListRequestError, listing, rows
from smart_app.views import launched

bp = Blueprint("dashboard", __name__)

#: The newest records the dashboard lists; the rest are on the records page.
DASHBOARD_ROWS = 10


def _read():
    """The patient's view, their follow-ups, and who entered what: the one read both pages make."""
    tasks: list[dict] = []
    patient, responses = read_patient_record(g.fhir, g.tokens.patient, tasks)
    view = build_view(responses, patient, shipped())
    remember(view.patient)
    open_follow_ups, closed_follow_ups = follow_ups(tasks, g.tokens.patient)
    patient_entered = {e.id for entries in (view.sessions, view.checkins, view.rfq8, view.profiles, view.reviews,
                                            view.crisis_plans, view.formulations, view.drafts)
                       for e in entries if entered_by(e.response) == "patient"}
    drafts = sorted(view.drafts, key=lambda e: str(e.response.get("authored", "")), reverse=True)
    return view, open_follow_ups, closed_follow_ups, patient_entered, drafts


def _common(view, open_follow_ups, closed_follow_ups, patient_entered, drafts) -> dict:
    return dict(view=view, ctx=g.tokens.context, patient=view.patient, follow_ups=open_follow_ups,
                followed_up=closed_follow_ups, patient_entered=patient_entered, drafts=drafts,
                can_write=can_write(), kinds=KINDS, risk_window_days=risk.RISK_WINDOW_DAYS)


@bp.get("/dashboard")
@launched
def index():
    read = _read()
    view, patient_entered = read[0], read[3]
    listed = listing(rows(view, local_time.zone()), None, 1, DASHBOARD_ROWS)
    return render_template("dashboard.html", figures=figures(view, local_time.zone(), patient_entered),
                           listed=listed, **_common(*read))


@bp.get("/records")
@launched
def records():
    kind, number = request.args.get("type") or None, request.args.get("page")
    if kind is not None and kind not in KINDS:
        return _bad_request(ListRequestError(f"There is no record type “{kind[:40]}”."))
    read = _read()
    try:
        listed = listing(rows(read[0], local_time.zone()), kind, number)
    except ListRequestError as exc:
        return _bad_request(exc)
    return render_template("records.html", listed=listed, **_common(*read))


def _bad_request(exc: ListRequestError):
    return page("This list cannot be shown", str(exc), exc.status, back_url=url_for("dashboard.records"),
                back_label="Show all records")
