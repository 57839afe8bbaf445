"""The outcomes report in headless Chromium: it renders, every figure is drawn beside its table, it prints."""

from __future__ import annotations

from fhir_mbt.analytics import shipped_views
from fhir_mbt.analytics.duckdb_runner import run_views
from fhir_mbt.analytics.report import build_report
from fhir_mbt.analytics.synth import Cohort, write_cohort



def test_report_renders_in_chromium(page, shot, tmp_path):
    write_cohort(Cohort(patients=24, months=12, seed=5), str(tmp_path / "ndjson"), workers=2)
    con, _ = run_views(tmp_path / "ndjson", shipped_views(), workers=2)
    path, _ = build_report(con, tmp_path / "report.html")
    page.goto(path.as_uri())
    figures = page.locator(".figure")
    assert figures.count() == 8
    for i in range(figures.count()):
        figure = figures.nth(i)
        svg, table = figure.locator("svg").bounding_box(), figure.locator(".table").bounding_box()
        assert svg["width"] > 300 and svg["height"] > 150
        assert table["x"] > svg["x"] + svg["width"] - 1, "the table stands beside its figure"
    assert page.locator("h1").inner_text() == "MBT programme outcomes"
    shot("report")
    page.emulate_media(media="print")
    shot("report-print")
