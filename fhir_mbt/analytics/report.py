"""The outcomes report: one HTML page, each figure with its table beside it.

:func:`build_report` asks :mod:`~fhir_mbt.analytics.metrics` its questions,
draws each answer with :mod:`~fhir_mbt.analytics.charts` and writes a
self-contained page (no scripts, no external files) that prints on A4.
Patients appear by their key only; ``names=True`` adds their names.
"""

from __future__ import annotations

import datetime as dt
import re
import time
from html import escape
from pathlib import Path
from typing import Any

from fhir_mbt.analytics import charts, metrics
from fhir_mbt.analytics.metrics import Table

__all__ = ["build_report", "render_report"]

_CSS = """
body{font:14px/1.45 system-ui,sans-serif;margin:24px auto;max-width:1180px;color:#222;padding:0 16px}
h1{font-size:24px;margin-bottom:4px}h2{font-size:18px;margin:28px 0 6px;border-bottom:1px solid #ccc}
.figure{display:flex;gap:20px;align-items:flex-start;flex-wrap:wrap;break-inside:avoid}
.figure svg{flex:1 1 560px;max-width:640px}.figure .table{flex:1 1 380px;max-height:420px;overflow:auto}
table{border-collapse:collapse;font-size:12px;width:100%}th,td{padding:3px 6px;border-bottom:1px solid #e3e3e3;
text-align:right}th:first-child,td:first-child{text-align:left}thead th{background:#f3f5f7;position:sticky;top:0}
.note{color:#555;font-size:12.5px;margin:4px 0 10px}.summary{display:flex;gap:28px;flex-wrap:wrap;margin:12px 0}
.summary div{font-size:12px;color:#555}.summary b{display:block;font-size:22px;color:#1f5f8b}
@media print{body{margin:0;max-width:none}.figure .table{max-height:none;overflow:visible}
h2{break-after:avoid}@page{size:A4;margin:14mm}}
"""


_KEY = re.compile(r"^(Patient|Practitioner)/")


def _cell(value: Any) -> str:
    """A table cell; resource keys (``Patient/x``) are shown as their id."""
    if isinstance(value, str):
        value = _KEY.sub("", value)
    if value is None:
        return "–"
    if isinstance(value, float):
        return f"{value:.2f}".rstrip("0").rstrip(".") if value != int(value) else f"{int(value)}"
    return escape(str(value))


def _table(table: Table, limit: int | None = None) -> str:
    rows = table.rows if limit is None else table.rows[:limit]
    head = "".join(f"<th>{escape(c.replace('_', ' '))}</th>" for c in table.columns)
    body = "".join("<tr>" + "".join(f"<td>{_cell(v)}</td>" for v in row) + "</tr>" for row in rows)
    more = "" if limit is None or len(table.rows) <= limit else \
        f'<p class="note">First {limit} of {len(table.rows)} rows; all are in the CSV tables.</p>'
    return f'<div class="table"><table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>{more}</div>'


def _section(title: str, svg: str, table: Table, note: str = "", limit: int | None = None) -> str:
    text = " ".join(t for t in (table.note, note) if t)
    return (f"<section><h2>{escape(title)}</h2><p class=\"note\">{escape(text)}</p>"
            f'<div class="figure">{svg}{_table(table, limit)}</div></section>')


def _names(con) -> dict[str, str]:
    return {pid: " ".join(p for p in (given, family) if p) for pid, given, family in
            con.execute("SELECT patient_id, given, family FROM mbt_patients").fetchall()}


def render_report(con, *, dropout_weeks: int = 4, names: bool = False,
                  reliability: dict[str, float] | None = None, title: str = "MBT programme outcomes") -> str:
    """The report's HTML from a connection holding the view tables."""
    metrics.check_tables(con)
    info = metrics.summary(con, dropout_weeks)
    parts = []

    t = metrics.caseload(con)
    months = [r[0] for r in t.rows]
    parts.append(_section("Caseload", charts.bar_chart(
        "Patients in treatment per month", months, {"in treatment": [r[1] for r in t.rows]}, "patients"), t))

    t = metrics.attendance(con)
    parts.append(_section("Sessions: attended, did not attend, cancelled", charts.bar_chart(
        "Sessions per month by attendance", [r[0] for r in t.rows],
        {"attended": [r[2] for r in t.rows], "did not attend": [r[3] for r in t.rows],
         "cancelled": [r[4] for r in t.rows]}, "sessions"), t))
    t = metrics.attendance_per_patient_month(con)
    parts.append(_section("Attendance per patient and month", charts.bar_chart(
        "Patient-months by share of sessions attended", [r[0] for r in t.rows],
        {"patient-months": [r[1] for r in t.rows]}, "patient-months"), t))

    t = metrics.dropout(con, dropout_weeks)
    rate = 100.0 * t.extra["dropped"] / t.extra["patients"] if t.extra["patients"] else 0.0
    parts.append(_section(f"Drop-out (no attended session for {dropout_weeks} weeks)", charts.bar_chart(
        "Drop-outs by month of last attendance", [r[0] for r in t.rows] or ["–"],
        {"dropped out": [r[1] for r in t.rows] or [0]}, "patients"), t,
        f"{t.extra['dropped']} of {t.extra['patients']} patients ({rate:.1f}%)."))

    t = metrics.rfq_change(con, reliability)
    groups = {}
    for scale, label in (("rfq8-certainty", "certainty (RFQ_c)"), ("rfq8-uncertainty", "uncertainty (RFQ_u)")):
        groups[label] = [(r[2], r[3]) for r in t.rows if r[1] == scale and r[3] is not None]
    sd = ", ".join(f"{k}: SD {v:.2f}, r {t.extra['reliability'][k]:.2f}" for k, v in t.extra["sd"].items())
    counts = {}
    for r in t.rows:
        counts[(r[1], r[6])] = counts.get((r[1], r[6]), 0) + 1
    tally = "; ".join(f"{scale.split('-')[1]} {verdict}: {n}" for (scale, verdict), n in sorted(counts.items()))
    shown = t if names is False else Table(t.columns + ["name"], [r + (_names(con).get(r[0], ""),) for r in t.rows],
                                           t.note)
    parts.append(_section("RFQ-8: intake and latest, reliable change", charts.scatter(
        "RFQ-8 scores at intake (x) and latest (y)", groups, "intake score", "latest score", 3.0), shown,
        f"Figures used: {sd}. Reliability: {t.extra['source']}. {tally}.", limit=200))

    t = metrics.risk_follow_up(con)
    parts.append(_section("Risk events and follow-up", charts.bar_chart(
        "Risk events per month, followed up within 7 days or later", [r[0] for r in t.rows] or ["–"],
        {"within 7 days": [r[4] for r in t.rows] or [0],
         "later": [r[2] - r[4] for r in t.rows] or [0],
         "no follow-up documented": [r[1] - r[2] for r in t.rows] or [0]}, "events"), t))

    t = metrics.adherence(con)
    clinicians = sorted({r[0] for r in t.rows})
    cols = sorted({r[1] for r in t.rows})
    parts.append(_section("Adherence self-ratings by clinician and month", charts.heatmap(
        "Mean adherence self-rating by clinician (rows) and month", [_KEY.sub("", c) for c in clinicians], cols,
        {(_KEY.sub("", r[0]), r[1]): r[2] for r in t.rows}, 1, 7), t, limit=300))

    t = metrics.formulation(con)
    days = [r[1] for r in t.rows if r[1] is not None]
    waiting = sum(1 for r in t.rows if r[1] is None)
    revised = sum(1 for r in t.rows if r[3])
    median = sorted(days)[len(days) // 2] if days else None
    shown = t if names is False else Table(t.columns + ["name"], [r + (_names(con).get(r[0], ""),) for r in t.rows],
                                           t.note)
    parts.append(_section("Time to an agreed formulation", charts.histogram(
        "Days from first response to agreed formulation", days, 7, "days (weekly bins)"), shown,
        f"Median {median if median is not None else '–'} days; {waiting} without an agreed formulation yet; "
        f"{revised} revised.", limit=200))

    cards = "".join(f"<div><b>{escape(str(v))}</b>{escape(k)}</div>" for k, v in (
        ("patients", info["patients"]), ("clinicians", info["clinicians"]), ("responses", info["responses"]),
        ("sessions", info["sessions"]), ("from", info["from"]), ("to", info["to"])))
    privacy = "Patients are shown by key, with names." if names else "Patients are shown by key only, without names."
    made = dt.datetime.now(dt.timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
    return (f"<!DOCTYPE html><html lang=\"en\"><head><meta charset=\"utf-8\"><title>{escape(title)}</title>"
            f"<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\"><style>{_CSS}</style></head>"
            f"<body><h1>{escape(title)}</h1><p class=\"note\">From SQL-on-FHIR views over a FHIR Bulk Data "
            f"export; made {made}. {privacy}</p><div class=\"summary\">{cards}</div>{''.join(parts)}</body></html>")


def build_report(con, out: str | Path, **options) -> tuple[Path, float]:
    """Write the report to ``out``; the path and the seconds it took."""
    started = time.perf_counter()
    html = render_report(con, **options)
    path = Path(out)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(html, encoding="utf-8")
    return path, time.perf_counter() - started
