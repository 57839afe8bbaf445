"""Outcomes against the project's HAPI: upload + synthetic cohort → $export → views → report."""

from __future__ import annotations

from fhir_mbt.analytics import shipped_views
from fhir_mbt.analytics.duckdb_runner import run_views
from fhir_mbt.analytics.export import BulkExporter, ExportRequest
from fhir_mbt.analytics.report import build_report
from fhir_mbt.analytics.synth import Cohort, upload_cohort
from fhir_mbt.client import FhirClient
from fhir_mbt.content import shipped
from fhir_mbt.content.upload import upload_definitions, upload_examples

COHORT = Cohort(patients=3, months=2, seed=21)


def test_export_views_and_report_from_hapi(hapi_base_url, tmp_path):
    client = FhirClient(hapi_base_url, timeout=(10.0, 120.0))
    upload_definitions(client, shipped())
    upload_examples(client, shipped())
    uploaded = upload_cohort(COHORT, hapi_base_url)
    lines: list[str] = []
    exporter = BulkExporter(hapi_base_url, tmp_path / "export", max_poll=1.0, max_wait=300, progress=lines.append)
    result = exporter.run(ExportRequest(types=("Patient", "Practitioner", "QuestionnaireResponse", "Observation")))
    assert result.counts["Observation"] >= uploaded["Observation"]
    assert result.counts["QuestionnaireResponse"] >= uploaded["QuestionnaireResponse"] + 88  # + the example
    assert any("in progress" in line for line in lines) or result.files

    con, views = run_views(tmp_path / "export", shipped_views(), out_dir=tmp_path / "tables", workers=1)
    synth = {r[0] for r in con.execute("SELECT DISTINCT patient_id FROM mbt_sessions "
                                       "WHERE patient_id LIKE 'Patient/synth-%'").fetchall()}
    assert synth == {f"Patient/synth-p{n:05d}" for n in range(COHORT.patients)}
    sessions = con.execute("SELECT count(*) FROM mbt_sessions WHERE patient_id LIKE 'Patient/synth-%'").fetchone()[0]
    assert sessions > 0
    assert (tmp_path / "tables" / "mbt_sessions.parquet").exists()

    path, _ = build_report(con, tmp_path / "report.html")
    html = path.read_text()
    assert "synth-p00000" in html and "Caseload" in html


def test_patient_level_export_with_since(hapi_base_url, tmp_path):
    exporter = BulkExporter(hapi_base_url, tmp_path, max_poll=1.0, max_wait=300)
    result = exporter.run(ExportRequest(level="patient", types=("Patient",), since="2000-01-01T00:00:00Z"))
    assert result.counts.get("Patient", 0) >= 1
    future = BulkExporter(hapi_base_url, tmp_path / "none", max_poll=1.0, max_wait=300)
    assert future.run(ExportRequest(types=("Patient",), since="2099-01-01T00:00:00Z")).counts == {}
