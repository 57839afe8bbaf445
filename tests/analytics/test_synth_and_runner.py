"""The synthetic cohort goes through the engine; the runner's tables, files and routing."""

from __future__ import annotations

import json

import duckdb
import pytest

from fhir_mbt.analytics import compile_view, shipped_views
from fhir_mbt.analytics.duckdb_runner import open_tables, run_views
from fhir_mbt.analytics.ndjson import NdjsonError, ndjson_files, read_resources
from fhir_mbt.analytics.synth import Cohort, synthesize
from fhir_mbt.engine import validate_response


def test_synthetic_responses_are_valid_and_extracted(cohort_dir):
    files = ndjson_files(cohort_dir)
    assert {"Patient", "Practitioner", "QuestionnaireResponse", "Observation"} <= set(files)
    responses = list(read_resources(files["QuestionnaireResponse"], "QuestionnaireResponse"))
    forms = {r["questionnaire"].split("/")[-1].split("|")[0] for r in responses}
    assert {"mbt-session-record", "mbt-weekly-checkin", "rfq-8", "mbt-formulation"} <= forms
    for r in responses[:60]:
        assert [i for i in validate_response(r)["issue"] if i["severity"] == "error"] == []
    observations = list(read_resources(files["Observation"], "Observation"))
    ids = {r["id"] for r in responses}
    assert all(o["derivedFrom"][0]["reference"].split("/")[1] in ids for o in observations)
    assert all(o["subject"]["reference"].startswith("Patient/synth-p") for o in observations)


def test_the_cohort_is_reproducible():
    small = Cohort(patients=1, months=1, seed=11)
    first = [r.get("id") for r in synthesize(small)]
    assert first == [r.get("id") for r in synthesize(small)]


def test_every_view_has_rows_and_typed_columns(cohort_tables):
    con, result, out = cohort_tables
    assert all(result.rows[v["name"]] > 0 for v in shipped_views())
    types = dict(con.execute("SELECT column_name, data_type FROM information_schema.columns "
                             "WHERE table_name = 'mbt_rfq8_scores'").fetchall())
    assert types["score"] == "DOUBLE" and types["patient_id"] == "VARCHAR"
    attendance = {r[0] for r in con.execute("SELECT DISTINCT attendance FROM mbt_sessions").fetchall()}
    assert "attended" in attendance and attendance <= {"attended", "left-early", "cancelled", "did-not-attend"}


def test_parquet_and_csv_hold_the_same_rows(cohort_tables):
    con, result, out = cohort_tables
    for view in shipped_views():
        name = view["name"]
        parquet = duckdb.sql(f"SELECT count(*) FROM read_parquet('{out / (name + '.parquet')}')").fetchall()[0][0]
        csv = duckdb.sql(f"SELECT count(*) FROM read_csv('{out / (name + '.csv')}')").fetchall()[0][0]
        assert parquet == csv == result.rows[name]
    again = open_tables(out)
    assert again.execute("SELECT count(*) FROM mbt_sessions").fetchone()[0] == result.rows["mbt_sessions"]


def test_routing_by_code_gives_the_rows_full_evaluation_gives(cohort_dir):
    """The code router is an optimisation only: every view evaluated on every resource agrees."""
    files = ndjson_files(cohort_dir)
    observations = list(read_resources(files["Observation"], "Observation"))[:3000]
    con, _ = run_views(cohort_dir, shipped_views(), workers=1)
    for view in shipped_views():
        if view["resource"] != "Observation":
            continue
        compiled = compile_view(view)
        ids = {row["observation_id"] for o in observations for row in compiled.rows(o)}
        subset = ", ".join(f"'Observation/{o['id']}'" for o in observations)
        got = {r[0] for r in con.execute(f"SELECT observation_id FROM {compiled.name} "
                                         f"WHERE observation_id IN ({subset})").fetchall()}
        assert got == ids, view["name"]


def test_two_workers_give_the_same_tables(cohort_dir, cohort_tables):
    _, one, _ = cohort_tables
    _, two = run_views(cohort_dir, shipped_views(), workers=2)
    assert two.rows == one.rows


def test_a_bad_ndjson_line_is_named(tmp_path):
    (tmp_path / "Observation.ndjson").write_text('{"resourceType": "Observation", "id": "a"}\nnot json\n')
    with pytest.raises(NdjsonError, match="line 2"):
        list(read_resources([tmp_path / "Observation.ndjson"], "Observation"))


def test_the_example_patient_through_the_views(tmp_path):
    """The shipped example patient, extracted by the engine, gives every clinical view rows."""
    from fhir_mbt.analytics.example import write_example_ndjson

    counts = write_example_ndjson(tmp_path)
    assert counts["QuestionnaireResponse"] == 88
    con, result = run_views(tmp_path, shipped_views(), workers=1)
    assert result.rows["mbt_patients"] == 1 and result.rows["mbt_rfq8_scores"] == 6
    assert result.rows["mbt_sessions"] == 52
    assert json.dumps(con.execute("SELECT DISTINCT patient_id FROM mbt_sessions").fetchall()) == \
        '[["Patient/mbt-example-peter"]]'
