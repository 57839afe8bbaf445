"""The programme's questions, asked of the view tables in SQL (DuckDB).

Each function takes a DuckDB connection holding the tables the shipped views
make (``mbt_sessions``, ``mbt_rfq8_scores``, ...) and returns a :class:`Table`
(column names and rows) that the report draws and prints. Definitions:

- caseload: a patient is in treatment in a month from the month of their
  first response to the month of their last attended session;
- attendance: session records per month, by attendance (``left-early``
  counts as attended), and per patient-month;
- drop-out: no attended session for ``dropout_weeks`` weeks before the end
  of the data (the last session date recorded);
- RFQ-8 change: each scale's first (intake) and latest score; the reliable
  change index (Jacobson & Truax 1991) is
  ``RCI = (latest - intake) / S_diff``, ``S_diff = sqrt(2) * SD * sqrt(1 - r)``,
  with SD the standard deviation of the intake scores of this cohort and r
  the scale's test-retest reliability (:data:`RFQ_RELIABILITY`); ``|RCI| > 1.96``
  is a reliable change;
- risk: an event is a response with a risk finding (a ``risk-yes`` answer,
  a risk level high or imminent, a yes to thoughts of suicide, a plan,
  self-harm or wanting contact, a missed session with a risk concern, or
  not feeling safe); its follow-up is the first documented risk action or
  risk screening in a session record (answered yes or no, not "not
  assessed") for that patient on or after the event's day;
- adherence: the mean self-rating (``adherence-mean``) by clinician and month;
- formulation: days from the patient's first response to the first agreed
  formulation; later formulations are revisions.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

import duckdb

from fhir_mbt.analytics.errors import ReportError

__all__ = ["Table", "RFQ_RELIABILITY", "RFQ_SOURCE", "caseload", "attendance", "attendance_per_patient_month",
           "dropout", "rfq_change", "risk_follow_up", "adherence", "formulation", "summary", "REQUIRED_TABLES"]

#: Test-retest reliability used for the reliable change index, per RFQ-8 scale.
RFQ_RELIABILITY = {"rfq8-certainty": 0.82, "rfq8-uncertainty": 0.77}
RFQ_SOURCE = ("test-retest reliability reported for the RFQ-8 scales in Fonagy P, Luyten P, Moulton-Perkins A, "
              "et al. (2016) Development and Validation of a Self-Report Measure of Mentalizing: The "
              "Reflective Functioning Questionnaire. PLoS ONE 11(7): e0158678")

REQUIRED_TABLES = ("mbt_patients", "mbt_responses", "mbt_sessions", "mbt_risk_findings", "mbt_rfq8_scores",
                   "mbt_adherence", "mbt_formulations")


@dataclass
class Table:
    """Rows for a figure: ``columns`` names, ``rows`` tuples, ``note`` says how to read it."""

    columns: list[str]
    rows: list[tuple]
    note: str = ""
    extra: dict[str, Any] = field(default_factory=dict)


def _day(column: str) -> str:
    return f"TRY_CAST(left({column}, 10) AS DATE)"


def _q(con: duckdb.DuckDBPyConnection, sql: str, note: str = "") -> Table:
    rel = con.execute(sql)
    return Table([d[0] for d in rel.description], rel.fetchall(), note)


def check_tables(con: duckdb.DuckDBPyConnection) -> None:
    have = {r[0] for r in con.execute("SELECT table_name FROM information_schema.tables").fetchall()}
    missing = [t for t in REQUIRED_TABLES if t not in have]
    if missing:
        raise ReportError(f"the report needs the view tables {', '.join(missing)}; run the shipped views first")


def caseload(con) -> Table:
    return _q(con, f"""
        WITH span AS (
          SELECT r.patient_id, date_trunc('month', min({_day('r.authored')})) AS first_month,
                 date_trunc('month', coalesce(max(CASE WHEN s.attendance IN ('attended', 'left-early')
                      THEN {_day('s.effective')} END), min({_day('r.authored')}))) AS last_month
          FROM mbt_responses r LEFT JOIN mbt_sessions s USING (patient_id)
          GROUP BY r.patient_id),
        months AS (SELECT DISTINCT date_trunc('month', {_day('effective')}) AS month FROM mbt_sessions)
        SELECT strftime(m.month, '%Y-%m') AS month,
               count(*) FILTER (WHERE s.first_month <= m.month AND s.last_month >= m.month) AS in_treatment,
               count(*) FILTER (WHERE s.first_month = m.month) AS started
        FROM months m CROSS JOIN span s
        GROUP BY m.month ORDER BY m.month""",
              "Patients in treatment each month (first response to last attended session) and new starts.")


def attendance(con) -> Table:
    return _q(con, f"""
        SELECT strftime(date_trunc('month', {_day('effective')}), '%Y-%m') AS month,
               count(*) AS offered,
               count(*) FILTER (WHERE attendance IN ('attended', 'left-early')) AS attended,
               count(*) FILTER (WHERE attendance = 'did-not-attend') AS did_not_attend,
               count(*) FILTER (WHERE attendance = 'cancelled') AS cancelled,
               round(100.0 * count(*) FILTER (WHERE attendance = 'did-not-attend') / count(*), 1) AS dna_percent
        FROM mbt_sessions GROUP BY 1 ORDER BY 1""",
              "Sessions recorded per month: offered, attended (left early included), did not attend, cancelled.")


def attendance_per_patient_month(con) -> Table:
    return _q(con, f"""
        WITH pm AS (
          SELECT patient_id, date_trunc('month', {_day('effective')}) AS month, count(*) AS offered,
                 count(*) FILTER (WHERE attendance IN ('attended', 'left-early')) AS attended,
                 count(*) FILTER (WHERE attendance = 'did-not-attend') AS dna
          FROM mbt_sessions GROUP BY 1, 2)
        SELECT CASE WHEN offered = 0 THEN 'none' WHEN attended * 1.0 / offered >= 0.9 THEN '90-100%'
                    WHEN attended * 1.0 / offered >= 0.75 THEN '75-89%'
                    WHEN attended * 1.0 / offered >= 0.5 THEN '50-74%' ELSE 'under 50%' END AS attended_share,
               count(*) AS patient_months, round(avg(offered), 2) AS mean_offered,
               round(avg(attended), 2) AS mean_attended, round(avg(dna), 2) AS mean_dna
        FROM pm GROUP BY 1 ORDER BY min(attended * 1.0 / offered) DESC""",
              "Patient-months by the share of offered sessions attended, with the means per patient-month.")


def dropout(con, weeks: int = 4) -> Table:
    if weeks < 1:
        raise ReportError("the drop-out gap must be at least one week")
    table = _q(con, f"""
        WITH last AS (
          SELECT patient_id, max({_day('effective')}) FILTER (WHERE attendance IN ('attended', 'left-early'))
                 AS last_attended FROM mbt_sessions GROUP BY 1),
        edge AS (SELECT max({_day('effective')}) AS end_day FROM mbt_sessions)
        SELECT strftime(date_trunc('month', last_attended), '%Y-%m') AS month_of_last_attendance,
               count(*) AS dropped_out
        FROM last, edge
        WHERE last_attended IS NOT NULL AND last_attended < end_day - INTERVAL {int(weeks * 7)} DAY
        GROUP BY 1 ORDER BY 1""",
                f"Patients with no attended session in the last {weeks} weeks of the data, by the month they "
                "last attended.")
    total = con.execute("SELECT count(DISTINCT patient_id) FROM mbt_sessions").fetchone()[0]
    table.extra = {"patients": total, "dropped": sum(r[1] for r in table.rows), "weeks": weeks}
    return table


def rfq_change(con, reliability: dict[str, float] | None = None) -> Table:
    reliability = {**RFQ_RELIABILITY, **(reliability or {})}
    rows = con.execute(f"""
        WITH ranked AS (
          SELECT patient_id, scale, score, {_day('effective')} AS day,
                 row_number() OVER (PARTITION BY patient_id, scale ORDER BY effective) AS first_rank,
                 row_number() OVER (PARTITION BY patient_id, scale ORDER BY effective DESC) AS last_rank,
                 count(*) OVER (PARTITION BY patient_id, scale) AS n
          FROM mbt_rfq8_scores WHERE score IS NOT NULL)
        SELECT a.patient_id, a.scale, a.score AS intake, b.score AS latest, a.day, b.day, a.n
        FROM ranked a JOIN ranked b ON a.patient_id = b.patient_id AND a.scale = b.scale
        WHERE a.first_rank = 1 AND b.last_rank = 1 ORDER BY a.patient_id, a.scale""").fetchall()
    sds = {}
    for scale in reliability:
        intakes = [r[2] for r in rows if r[1] == scale]
        if len(intakes) > 1:
            mean = sum(intakes) / len(intakes)
            sds[scale] = math.sqrt(sum((x - mean) ** 2 for x in intakes) / (len(intakes) - 1))
    out = []
    for pid, scale, intake, latest, day0, day1, n in rows:
        if n < 2:
            out.append((pid, scale, intake, None, None, None, "intake only"))
            continue
        sd, r = sds.get(scale), reliability.get(scale)
        s_diff = math.sqrt(2) * sd * math.sqrt(1 - r) if sd and r is not None and r < 1 else None
        rci = round((latest - intake) / s_diff, 2) if s_diff else None
        verdict = "no reliable change" if rci is None or abs(rci) <= 1.96 else \
            "reliable increase" if rci > 0 else "reliable decrease"
        out.append((pid, scale, intake, latest, round(latest - intake, 2), rci, verdict))
    table = Table(["patient_id", "scale", "intake", "latest", "change", "rci", "verdict"], out,
                  "RCI = (latest - intake) / S_diff, S_diff = sqrt(2) x SD(intake) x sqrt(1 - r); "
                  "|RCI| > 1.96 is reliable. Lower uncertainty (RFQ_u) means less hypomentalizing.")
    table.extra = {"sd": sds, "reliability": reliability, "source": RFQ_SOURCE}
    return table


_RISK_EVENT = """(value_code IN ('risk-yes', 'risk-high', 'risk-imminent'))
  OR (code IN ('suicidal-thoughts-reported', 'suicide-plan-reported', 'self-harm-act-reported',
               'self-harm-thoughts-reported', 'clinician-contact-wanted', 'missed-session-risk-concern')
      AND value_boolean)
  OR (code = 'feels-safe-now' AND NOT value_boolean)"""


def risk_follow_up(con) -> Table:
    table = _q(con, f"""
        WITH events AS (
          SELECT patient_id, response_id, min({_day('effective')}) AS day
          FROM mbt_risk_findings WHERE {_RISK_EVENT} GROUP BY 1, 2),
        actions AS (
          SELECT patient_id, {_day('effective')} AS day FROM mbt_risk_findings
          WHERE (code IN ('risk-action-taken', 'missed-session-risk-action')
                 AND coalesce(value_code, '') <> 'no-further-action')
             OR (code LIKE '%-since-last-session' AND value_code IN ('risk-yes', 'risk-no'))),
        followed AS (
          SELECT e.patient_id, e.day, min(a.day) AS action_day
          FROM events e LEFT JOIN actions a ON a.patient_id = e.patient_id AND a.day >= e.day
          GROUP BY e.patient_id, e.response_id, e.day)
        SELECT strftime(date_trunc('month', day), '%Y-%m') AS month, count(*) AS events,
               count(action_day) AS followed_up,
               median(date_diff('day', day, action_day)) AS median_days,
               count(*) FILTER (WHERE date_diff('day', day, action_day) <= 7) AS within_7_days
        FROM followed GROUP BY 1 ORDER BY 1""",
                "Risk events per month (one per response with a risk finding) and days to the first "
                "documented risk action or risk screening on or after the event.")
    return table


def adherence(con) -> Table:
    return _q(con, f"""
        SELECT clinician_id, strftime(date_trunc('month', {_day('effective')}), '%Y-%m') AS month,
               round(avg(rating), 2) AS mean_rating, count(*) AS sessions
        FROM mbt_adherence WHERE domain = 'adherence-mean' AND clinician_id IS NOT NULL
        GROUP BY 1, 2 ORDER BY 1, 2""",
              "Mean adherence self-rating (1-7, 4 = good enough) by clinician and month.")


def formulation(con) -> Table:
    table = _q(con, f"""
        WITH first_contact AS (
          SELECT patient_id, min({_day('authored')}) AS day FROM mbt_responses GROUP BY 1),
        agreed AS (
          SELECT patient_id, min({_day('effective')}) FILTER (WHERE agreed) AS day,
                 count(*) FILTER (WHERE agreed) AS agreed_versions, count(*) AS versions
          FROM mbt_formulations GROUP BY 1)
        SELECT f.patient_id, date_diff('day', f.day, a.day) AS days_to_agreed,
               coalesce(a.versions, 0) AS versions, greatest(coalesce(a.agreed_versions, 0) - 1, 0) AS revisions
        FROM first_contact f LEFT JOIN agreed a USING (patient_id) ORDER BY 1""",
                "Days from the first response to the first agreed formulation; revisions are later agreed "
                "versions.")
    return table


def summary(con, dropout_weeks: int = 4) -> dict[str, Any]:
    row = con.execute("""SELECT (SELECT count(DISTINCT patient_id) FROM mbt_responses),
        (SELECT count(*) FROM mbt_responses), (SELECT count(*) FROM mbt_sessions),
        (SELECT count(DISTINCT clinician_id) FROM mbt_sessions),
        (SELECT min(left(effective, 10)) FROM mbt_sessions), (SELECT max(left(effective, 10)) FROM mbt_sessions)
        """).fetchone()
    return {"patients": row[0], "responses": row[1], "sessions": row[2], "clinicians": row[3],
            "from": row[4], "to": row[5], "dropout_weeks": dropout_weeks}
