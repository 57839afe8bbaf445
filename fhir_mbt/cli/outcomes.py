"""``fhir-mbt outcomes DIR --out report.html``: NDJSON (or view tables) to the outcomes report."""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

from fhir_mbt.analytics import shipped_views
from fhir_mbt.analytics.duckdb_runner import open_tables, run_views
from fhir_mbt.analytics.report import build_report


def register(sub: argparse._SubParsersAction) -> None:
    parser = sub.add_parser(
        "outcomes",
        help="the programme outcomes report (HTML) from NDJSON or from view tables",
        description=(
            "Run the shipped SQL-on-FHIR views over the NDJSON in DIR with DuckDB (or read the Parquet "
            "tables there with --tables) and write an HTML report: caseload, attendance, drop-out, RFQ-8 "
            "change with a reliable change index, risk follow-up, adherence and time to agreed formulation. "
            "Patients appear by key only unless --names is given."
        ),
    )
    parser.add_argument("source", type=Path, help="folder of NDJSON files (or of <view>.parquet with --tables)")
    parser.add_argument("--out", type=Path, default=Path("report.html"))
    parser.add_argument("--tables", action="store_true", help="SOURCE holds view tables (Parquet), not NDJSON")
    parser.add_argument("--save-tables", type=Path, help="also write the view tables (Parquet and CSV) here")
    parser.add_argument("--dropout-weeks", type=int, default=4, help="weeks without attendance that count as "
                        "drop-out (default %(default)s)")
    parser.add_argument("--names", action="store_true", help="show patients' names in the per-patient tables")
    parser.add_argument("--reliability-c", type=float, help="test-retest r for RFQ_c in the reliable change index")
    parser.add_argument("--reliability-u", type=float, help="test-retest r for RFQ_u in the reliable change index")
    parser.add_argument("--workers", type=int, default=2)
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    started = time.perf_counter()
    if args.tables:
        con = open_tables(args.source)
    else:
        con, result = run_views(args.source, shipped_views(), out_dir=args.save_tables, workers=args.workers)
        print(f"views: {sum(result.rows.values())} rows from {result.resources} resources in "
              f"{result.seconds:.1f} s", file=sys.stderr)
    reliability = {k: v for k, v in (("rfq8-certainty", args.reliability_c),
                                     ("rfq8-uncertainty", args.reliability_u)) if v is not None}
    path, seconds = build_report(con, args.out, dropout_weeks=args.dropout_weeks, names=args.names,
                                 reliability=reliability)
    print(f"report: {path} in {seconds:.1f} s; {time.perf_counter() - started:.1f} s in all", file=sys.stderr)
    return 0
