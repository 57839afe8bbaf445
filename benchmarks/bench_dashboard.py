"""Dashboard server time for a long history, FHIR excluded.

    .venv/bin/python benchmarks/bench_dashboard.py [--sessions 260] [--rfq 20] [--checkins 260] [--runs 50]

The patient's record is built in memory from the example patient's
responses (cloned into a long history), and ``read_patient_record`` is
replaced by a function that returns it, so the figure is the app's own work:
sorting the responses, computing the view, drawing the charts and rendering
the page, measured through the real Flask route.
"""

from __future__ import annotations

import argparse
import copy
import datetime as dt
import json
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))


def history(sessions: int, rfq: int, checkins: int) -> tuple[dict, list[dict]]:
    from fhir_mbt.content import definitions_dir

    bundle = json.loads((definitions_dir() / "examples" / "Bundle-mbt-example-peter.json").read_text())
    resources = [e["resource"] for e in bundle["entry"]]
    patient = next(r for r in resources if r["resourceType"] == "Patient")
    templates: dict[str, dict] = {}
    for r in resources:
        if r["resourceType"] == "QuestionnaireResponse":
            templates.setdefault(r["questionnaire"].split("|")[0].rsplit("/", 1)[-1], r)
    out = [r for r in resources if r["resourceType"] == "QuestionnaireResponse" and "formulation" in r["questionnaire"]]
    start = dt.date(2021, 1, 4)
    for qid, count in (("mbt-session-record", sessions), ("rfq-8", rfq), ("mbt-weekly-checkin", checkins)):
        for n in range(count):
            day = start + dt.timedelta(days=7 * n if qid != "rfq-8" else 91 * n)
            clone = copy.deepcopy(templates[qid])
            clone["id"] = f"{qid}-{n}"
            clone["authored"] = f"{day.isoformat()}T10:00:00Z"
            for item in clone.get("item", []):
                if item["linkId"] == "session.date":
                    item["answer"] = [{"valueDate": day.isoformat()}]
            out.append(clone)
    return patient, out


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sessions", type=int, default=260)
    parser.add_argument("--rfq", type=int, default=20)
    parser.add_argument("--checkins", type=int, default=260)
    parser.add_argument("--runs", type=int, default=50)
    args = parser.parse_args(argv)

    from smart_app import create_app, dashboard
    from fhir_mbt.smart import GrantedScopes, LaunchContext, TokenSet

    patient, responses = history(args.sessions, args.rfq, args.checkins)
    dashboard.read_patient_record = lambda fhir, pid, tasks=None: (patient, responses)
    tokens = TokenSet(
        access_token="bench", token_type="Bearer", issuer="https://ehr.bench/fhir",
        scope=GrantedScopes.parse("launch patient/*.cruds"),
        context=LaunchContext(patient=patient["id"], need_patient_banner=True),
    )
    with tempfile.TemporaryDirectory() as tmp:
        app = create_app({"TESTING": True, "MBT_SESSION_DB": f"{tmp}/s.sqlite3",
                          "MBT_ALLOWED_ISSUERS": ["https://ehr.bench/fhir"]})
        client = app.test_client()
        with client.session_transaction() as session:
            session["tokens"] = tokens.to_dict()
        first = client.get("/dashboard")
        assert first.status_code == 200, first.status_code
        times = []
        for _ in range(args.runs):
            t0 = time.perf_counter()
            page = client.get("/dashboard")
            times.append((time.perf_counter() - t0) * 1000)
            assert page.status_code == 200
    times.sort()
    print(f"responses in the record: {len(responses)} "
          f"({args.sessions} sessions, {args.rfq} RFQ-8, {args.checkins} check-ins, formulations)")
    print(f"page size: {len(first.data) / 1024:.0f} KiB")
    print(f"dashboard server time over {args.runs} runs: median {statistics.median(times):.1f} ms, "
          f"p90 {times[int(len(times) * 0.9) - 1]:.1f} ms, min {times[0]:.1f} ms")
    return 0


if __name__ == "__main__":
    sys.exit(main())
