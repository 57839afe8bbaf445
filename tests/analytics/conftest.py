"""A small synthetic cohort and its view tables, made once per test session."""

from __future__ import annotations

import pytest

from fhir_mbt.analytics import shipped_views
from fhir_mbt.analytics.duckdb_runner import run_views
from fhir_mbt.analytics.synth import Cohort, write_cohort

SMALL = Cohort(patients=8, months=6, seed=3)


@pytest.fixture(scope="session")
def cohort_dir(tmp_path_factory):
    folder = tmp_path_factory.mktemp("cohort")
    write_cohort(SMALL, str(folder), workers=1)
    return folder


@pytest.fixture(scope="session")
def cohort_tables(cohort_dir, tmp_path_factory):
    out = tmp_path_factory.mktemp("tables")
    con, result = run_views(cohort_dir, shipped_views(), out_dir=out, workers=1)
    return con, result, out
