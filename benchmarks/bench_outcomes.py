"""Outcomes at programme scale: synthetic cohort → NDJSON → SQL-on-FHIR views in DuckDB → HTML report.

    .venv/bin/python benchmarks/bench_outcomes.py                    # 1,000 patients x 12 months
    .venv/bin/python benchmarks/bench_outcomes.py --patients 100 --months 6
    .venv/bin/python benchmarks/bench_outcomes.py --data /tmp/cohort  # reuse (or keep) the NDJSON
    .venv/bin/python benchmarks/bench_outcomes.py --pathling          # also run the views in Pathling

Generating the cohort (every response through the engine) is timed apart:
the target is the path from NDJSON to report, under 60 s on 2 cores. Prints
resources and rows per second per engine, peak memory (this process and its
workers) and the total.
"""

from __future__ import annotations

import argparse
import os
import resource
import shutil
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from fhir_mbt.analytics import shipped_views  # noqa: E402
from fhir_mbt.analytics.duckdb_runner import run_views  # noqa: E402
from fhir_mbt.analytics.ndjson import ndjson_files  # noqa: E402
from fhir_mbt.analytics.report import build_report  # noqa: E402
from fhir_mbt.analytics.synth import Cohort, write_cohort  # noqa: E402


def _cpu_seconds() -> float:
    """CPU time (user + system) of this process and its finished workers."""
    own = resource.getrusage(resource.RUSAGE_SELF)
    children = resource.getrusage(resource.RUSAGE_CHILDREN)
    return own.ru_utime + own.ru_stime + children.ru_utime + children.ru_stime


def _peak_mb() -> tuple[float, float]:
    own = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    children = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024
    return own, children


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--patients", type=int, default=1000)
    parser.add_argument("--months", type=int, default=12)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--data", type=Path, help="NDJSON folder: used if it has files, else written and kept")
    parser.add_argument("--pathling", action="store_true", help="also run the views in Pathling (Spark)")
    args = parser.parse_args(argv)

    tmp = None
    data = args.data
    if data is None:
        tmp = tempfile.mkdtemp(prefix="bench-outcomes-")
        data = Path(tmp) / "ndjson"
    try:
        if not data.exists() or not any(data.glob("*.ndjson")):
            data.mkdir(parents=True, exist_ok=True)
            started = time.perf_counter()
            counts = write_cohort(Cohort(patients=args.patients, months=args.months), str(data), args.workers)
            took = time.perf_counter() - started
            print(f"synth      {args.patients} patients x {args.months} months: "
                  f"{counts.get('QuestionnaireResponse', 0):,} responses, {counts.get('Observation', 0):,} "
                  f"Observations in {took:.1f} s ({counts.get('QuestionnaireResponse', 0) / took:,.0f} responses/s, "
                  "through the engine; not part of the target)")
        size = sum(p.stat().st_size for files in ndjson_files(data).values() for p in files)
        lines = sum(1 for files in ndjson_files(data).values() for p in files for _ in p.open("rb"))
        print(f"ndjson     {lines:,} resources, {size / 1e6:,.0f} MB")

        started, cpu_started = time.perf_counter(), _cpu_seconds()
        con, result = run_views(data, shipped_views(), out_dir=Path(tmp or data.parent) / "tables",
                                workers=args.workers)
        views_s = time.perf_counter() - started
        rows = sum(result.rows.values())
        print(f"duckdb     views: {rows:,} rows in {views_s:.1f} s; {lines / views_s:,.0f} resources/s, "
              f"{rows / views_s:,.0f} rows/s (Parquet and CSV written)")
        report_at = time.perf_counter()
        path, _ = build_report(con, Path(tmp or data.parent) / "report.html")
        report_s = time.perf_counter() - report_at
        total = views_s + report_s
        cpu = _cpu_seconds() - cpu_started
        own, children = _peak_mb()
        load = os.getloadavg()[0]
        print(f"report     {report_s:.1f} s ({path.stat().st_size / 1e3:,.0f} kB)")
        print(f"peak RSS   {own:,.0f} MB this process, {children:,.0f} MB largest worker")
        print(f"total      NDJSON -> report: {total:.1f} s with DuckDB "
              f"({'under' if total < 60 else 'OVER'} the 60 s target); {cpu:.1f} CPU-seconds "
              f"({cpu / args.workers:.1f} s per core over {args.workers} workers); load average {load:.1f} "
              f"on {os.cpu_count()} cores while it ran")

        if args.pathling:
            from fhir_mbt.analytics.pathling_runner import run_views_pathling

            started = time.perf_counter()
            tables = run_views_pathling(data, shipped_views())
            spark_s = time.perf_counter() - started
            spark_rows = sum(len(t) for t in tables.values())
            print(f"pathling   views: {spark_rows:,} rows in {spark_s:.1f} s ({spark_rows / spark_s:,.0f} rows/s); "
                  f"DuckDB/Pathling time ratio {views_s / spark_s:.2f}")
    finally:
        if tmp:
            shutil.rmtree(tmp, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
