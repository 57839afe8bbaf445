"""The outcomes report: every section drawn with its table; names only when asked; the metrics' rules."""

from __future__ import annotations

import math
import re

import duckdb
import pytest

from fhir_mbt.analytics import ReportError
from fhir_mbt.analytics import metrics
from fhir_mbt.analytics.report import render_report
from fhir_mbt.cli import main

SECTIONS = ["Caseload", "Sessions: attended", "Attendance per patient and month", "Drop-out",
            "RFQ-8: intake and latest", "Risk events and follow-up", "Adherence self-ratings",
            "Time to an agreed formulation"]


def test_every_section_has_a_figure_and_a_table(cohort_tables):
    con, _, _ = cohort_tables
    html = render_report(con)
    for title in SECTIONS:
        assert title in html
    assert html.count("<svg") == len(SECTIONS) == html.count('<div class="table">')
    assert "<script" not in html


def test_no_names_unless_asked(cohort_tables):
    con, _, _ = cohort_tables
    names = [f"{g} {f}" for g, f in con.execute("SELECT given, family FROM mbt_patients").fetchall()]
    plain = render_report(con)
    assert not any(n in plain for n in names) and "without names" in plain
    named = render_report(con, names=True)
    assert any(n in named for n in names)


def test_dropout_weeks_is_configurable(cohort_tables):
    con, _, _ = cohort_tables
    short, long = metrics.dropout(con, 2), metrics.dropout(con, 20)
    assert short.extra["dropped"] >= long.extra["dropped"]
    with pytest.raises(ReportError):
        metrics.dropout(con, 0)
    assert "no attended session for 6 weeks" in render_report(con, dropout_weeks=6)


def test_reliable_change_index_formula():
    con = duckdb.connect()
    con.execute("CREATE TABLE mbt_rfq8_scores (patient_id VARCHAR, scale VARCHAR, score DOUBLE, effective VARCHAR)")
    rows = [("a", 0.5, 2.0), ("b", 1.0, 1.1), ("c", 1.5, 1.4)]
    for pid, first, last in rows:
        con.execute("INSERT INTO mbt_rfq8_scores VALUES (?, 'rfq8-certainty', ?, '2026-01-01'), "
                    "(?, 'rfq8-certainty', ?, '2026-06-01')", [pid, first, pid, last])
    table = metrics.rfq_change(con, {"rfq8-certainty": 0.8})
    sd = 0.5  # SD of 0.5, 1.0, 1.5
    expected = round((2.0 - 0.5) / (math.sqrt(2) * sd * math.sqrt(1 - 0.8)), 2)
    first = table.rows[0]
    assert first[5] == expected and first[6] == "reliable increase"
    assert table.rows[1][6] == "no reliable change"


def test_missing_tables_are_a_clear_error():
    with pytest.raises(ReportError, match="mbt_sessions"):
        render_report(duckdb.connect())


def test_cli_outcomes_from_ndjson_and_from_tables(cohort_dir, tmp_path, capsys):
    report = tmp_path / "report.html"
    assert main(["outcomes", str(cohort_dir), "--out", str(report), "--save-tables", str(tmp_path / "t"),
                 "--dropout-weeks", "3", "--workers", "1"]) == 0
    assert "no attended session for 3 weeks" in report.read_text()
    again = tmp_path / "again.html"
    assert main(["outcomes", str(tmp_path / "t"), "--tables", "--out", str(again)]) == 0
    strip = re.compile(r"made [^.]*\.")
    from_ndjson = strip.sub("", report.read_text()).replace("3 weeks", "N weeks")
    from_tables = strip.sub("", again.read_text()).replace("4 weeks", "N weeks")
    assert "Caseload" in from_tables and from_tables.count("<tr>") == from_ndjson.count("<tr>")


def test_cli_views_writes_parquet_and_csv(cohort_dir, tmp_path, capsys):
    assert main(["views", str(cohort_dir), "--out", str(tmp_path), "--workers", "1"]) == 0
    assert (tmp_path / "mbt_sessions.parquet").exists() and (tmp_path / "mbt_sessions.csv").exists()
    assert "rows/s" in capsys.readouterr().err


def test_cli_synth_writes_ndjson(tmp_path, capsys):
    assert main(["synth", "--patients", "2", "--months", "1", "--out", str(tmp_path), "--workers", "1"]) == 0
    assert "QuestionnaireResponse" in capsys.readouterr().out
    assert any(p.name.startswith("Observation") for p in tmp_path.iterdir())
