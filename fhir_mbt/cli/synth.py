"""``fhir-mbt synth --patients N --months M``: a synthetic cohort, as NDJSON or onto a server."""

from __future__ import annotations

import argparse
import datetime as dt
import sys
import time
from pathlib import Path

from fhir_mbt.analytics.synth import Cohort, upload_cohort, write_cohort


def register(sub: argparse._SubParsersAction) -> None:
    parser = sub.add_parser(
        "synth",
        help="a synthetic MBT cohort through the response engine (NDJSON files or a server)",
        description=(
            "Answer the shipped Questionnaires for N synthetic patients over M months and run every "
            "response through the engine (validate, score, extract), as the app would. Writes NDJSON "
            "(one file per type and worker) with --out, or uploads with --server (one transaction per patient)."
        ),
    )
    parser.add_argument("--patients", type=int, default=20)
    parser.add_argument("--months", type=int, default=12)
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--start", type=dt.date.fromisoformat, default=dt.date(2026, 1, 5),
                        help="first possible intake day (default %(default)s)")
    where = parser.add_mutually_exclusive_group(required=True)
    where.add_argument("--out", type=Path, help="folder for the NDJSON files")
    where.add_argument("--server", help="FHIR base URL to upload to")
    parser.add_argument("--workers", type=int, default=2, help="processes for --out (default %(default)s)")
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    if args.patients < 1 or args.months < 1:
        raise SystemExit("fhir-mbt synth: --patients and --months must be at least 1")
    cohort = Cohort(patients=args.patients, months=args.months, seed=args.seed, start=args.start)
    started = time.perf_counter()
    if args.out:
        args.out.mkdir(parents=True, exist_ok=True)
        counts = write_cohort(cohort, str(args.out), workers=args.workers)
    else:
        counts = upload_cohort(cohort, args.server,
                               progress=lambda line: print(line, file=sys.stderr, flush=True))
    for rtype, count in sorted(counts.items()):
        print(f"{rtype}\t{count}")
    print(f"{sum(counts.values())} resources in {time.perf_counter() - started:.1f} s", file=sys.stderr)
    return 0
