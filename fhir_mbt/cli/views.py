"""``fhir-mbt views DIR --out TABLES``: run the shipped ViewDefinitions over NDJSON."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from fhir_mbt.analytics import shipped_views
from fhir_mbt.analytics.duckdb_runner import run_views


def register(sub: argparse._SubParsersAction) -> None:
    parser = sub.add_parser(
        "views",
        help="run the SQL-on-FHIR views over an NDJSON folder into Parquet and CSV (DuckDB)",
        description=(
            "Run the shipped SQL-on-FHIR v2 ViewDefinitions (or the given ones) over the NDJSON files in "
            "DIR with DuckDB, and write one <view>.parquet and <view>.csv per view into --out."
        ),
    )
    parser.add_argument("source", type=Path, help="folder of NDJSON files (<Type>*.ndjson)")
    parser.add_argument("--out", type=Path, required=True, help="folder for the tables")
    parser.add_argument("--view", type=Path, action="append", default=[],
                        help="a ViewDefinition JSON file to run instead of the shipped ones (repeatable)")
    parser.add_argument("--format", choices=["parquet", "csv", "both"], default="both")
    parser.add_argument("--database", type=Path, help="keep the DuckDB database in this file")
    parser.add_argument("--workers", type=int, default=2)
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    views = [json.loads(p.read_text(encoding="utf-8")) for p in args.view] or shipped_views()
    formats = ("parquet", "csv") if args.format == "both" else (args.format,)
    _, result = run_views(args.source, views, database=str(args.database or ":memory:"), out_dir=args.out,
                          formats=formats, workers=args.workers)
    for name, rows in sorted(result.rows.items()):
        print(f"{name}\t{rows}")
    print(f"{sum(result.rows.values())} rows from {result.resources} resources in {result.seconds:.2f} s "
          f"({result.rows_per_second:,.0f} rows/s)", file=sys.stderr)
    return 0
