"""The dashboard's charts, each with the same data as a table (for screen readers and print).

    PatientView ─► points (local time, value, date as shown) ─► charts (one y scale each) + tables

Every chart of the page shares one time axis (the span of all records
drawn), so they line up. Session charts show the sessions that took place;
a session cancelled or missed has no in-session values and is no point.
"""

from __future__ import annotations

import datetime as _dt
import math
from dataclasses import dataclass
from typing import Collection, Sequence

from markupsafe import Markup

from fhir_mbt.cds.record import Entry, display, first
from smart_app import charts
from smart_app.charts import Point, Series, TimeAxis, fmt
from smart_app.dashboard_data import PatientView, number
from smart_app.records import day_label, moment

__all__ = ["Figure", "figures", "ATTENDED"]

#: Attendance codes of a session that took place (the CDS service's rule too).
ATTENDED = ("attended", "left-early")


@dataclass(frozen=True)
class Figure:
    """A chart and the table of its data."""

    title: str
    svg: Markup
    #: (legend key class, words) of each series; none for a single series.
    legend: tuple[tuple[str, str], ...]
    columns: tuple[str, ...]
    rows: tuple[tuple[str, ...], ...]


def _placed(entries: Sequence[Entry], kind: str, zone: _dt.tzinfo) -> list[tuple[_dt.datetime, Entry]]:
    """The entries that have a readable date, in time order."""
    found = [(at, e) for e in entries if (at := moment(e, kind, zone)) is not None]
    found.sort(key=lambda pair: (pair[0], str(pair[1].response.get("authored", ""))))
    return found


def _took_place(e: Entry) -> bool:
    attendance = first(e.answers, "session.attendance")
    return attendance is None or (isinstance(attendance, dict) and attendance.get("code") in ATTENDED)


def _cell(value: float | None) -> str:
    return "–" if value is None else fmt(value)


def _count_scale(values: Collection[float | None]) -> tuple[float, list[float]]:
    """A y maximum and ticks for counts: whole numbers, a round step, room for the largest."""
    top = max([v for v in values if v is not None] + [1.0])
    step = next(s for s in (1, 2, 5, 10, 20, 50, 100, 10 ** 9) if top / s <= 6)
    y_max = step * math.ceil(top / step)
    return y_max, [step * i for i in range(int(y_max / step) + 1)]


def figures(view: PatientView, zone: _dt.tzinfo, patient_entered: Collection[str] = ()) -> dict[str, Figure | None]:
    """The RFQ-8, in-session mentalizing, peak arousal, prementalizing modes and check-in figures (None: no data)."""
    sessions = [(at, e) for at, e in _placed(view.sessions, "session", zone) if _took_place(e)]
    rfq = _placed(view.rfq8, "rfq8", zone)
    checkins = _placed(view.checkins, "checkin", zone)
    axis = TimeAxis.spanning([at for at, _ in sessions + rfq + checkins])

    def points(placed, link_id, marked=()):
        return [Point(at, number(first(e.answers, link_id)), day_label(at.date()), e.id in marked) for at, e in placed]

    out: dict[str, Figure | None] = {"rfq": None, "mentalizing": None, "arousal": None, "modes": None,
                                     "checkins": None}
    if rfq:
        c, u = points(rfq, "rfq8.certainty"), points(rfq, "rfq8.uncertainty")
        title = "RFQ-8 scores over time"
        out["rfq"] = Figure(
            title, charts.line_chart([Series("RFQ_c", c), Series("RFQ_u", u)], axis=axis, y_min=0, y_max=3,
                                     ticks=[0, 1, 2, 3], title=title),
            (("k0", "Certainty (RFQ_c)"), ("k1", "Uncertainty (RFQ_u)")),
            ("Date", "Certainty (RFQ_c)", "Uncertainty (RFQ_u)"),
            tuple((p.label, _cell(p.value), _cell(q.value)) for p, q in zip(c, u)))
    if sessions:
        level = points(sessions, "mentalizing.level-score")
        arousal = points(sessions, "arousal.peak")
        kinds = [display(first(e.answers, "session.format")) for _, e in sessions]
        title = "In-session mentalizing (1–5), session by session"
        out["mentalizing"] = Figure(
            title, charts.line_chart([Series("Mentalizing", level)], axis=axis, y_min=1, y_max=5,
                                     ticks=[1, 2, 3, 4, 5], title=title),
            (), ("Date", "Session", "In-session mentalizing (1–5)"),
            tuple((p.label, kind, _cell(p.value)) for p, kind in zip(level, kinds)))
        title = "Peak arousal (0–10), session by session"
        out["arousal"] = Figure(
            title, charts.line_chart([Series("Peak arousal", arousal)], axis=axis, y_min=0, y_max=10,
                                     ticks=[0, 2, 4, 6, 8, 10], title=title),
            (), ("Date", "Session", "Peak arousal (0–10)"),
            tuple((p.label, kind, _cell(p.value)) for p, kind in zip(arousal, kinds)))
        out["modes"] = _modes(sessions, axis)
    if checkins:
        blow_ups = points(checkins, "checkin.blow-ups", patient_entered)
        pauses = points(checkins, "checkin.pauses", patient_entered)
        y_max, ticks = _count_scale([p.value for p in blow_ups + pauses])
        title = "Weekly blow-ups and pauses"
        by = ["patient" if e.id in patient_entered else "clinician" for _, e in checkins]
        out["checkins"] = Figure(
            title, charts.line_chart([Series("blow-ups", blow_ups), Series("paused", pauses)], axis=axis, y_min=0,
                                     y_max=y_max, ticks=ticks, title=title),
            (("k0", "Blow-ups"), ("k1", "Paused before reacting"), ("km", "entered by the patient")),
            ("Date", "Blow-ups", "Paused before reacting", "Entered by"),
            tuple((p.label, _cell(p.value), _cell(q.value), who) for p, q, who in zip(blow_ups, pauses, by)))
    return out


def _modes(sessions: list[tuple[_dt.datetime, Entry]], axis: TimeAxis) -> Figure | None:
    labels: dict[str, str] = {}
    seen: list[set[str]] = []
    for _, e in sessions:
        codes = set()
        for coding in e.answers.get("mentalizing.modes", []):
            if isinstance(coding, dict) and coding.get("code"):
                codes.add(coding["code"])
                labels.setdefault(coding["code"], coding.get("display") or coding["code"])
        seen.append(codes)
    if not labels:
        return None
    ordered = sorted(labels.items(), key=lambda kv: kv[1])
    columns = [Point(at, None, day_label(at.date())) for at, _ in sessions]
    rows = [(label, {i for i, codes in enumerate(seen) if code in codes}) for code, label in ordered]
    title = "Prementalizing modes seen, session by session"
    table = tuple((p.label, ", ".join(labels[c] for c, _ in ordered if c in codes) or "none")
                  for p, codes in zip(columns, seen))
    return Figure(title, charts.presence_grid(columns, rows, axis=axis, title=title), (),
                  ("Date", "Modes seen"), table)
