"""Load: N clinicians on the app served by gunicorn (the shipped gunicorn.conf.py), HAPI behind the sandbox.

    .venv/bin/python benchmarks/bench_load.py [--clinicians 20] [--rounds 3] [--workers 4]

Everything runs on loopback: HAPI FHIR (a fresh in-memory server started here, the
definitions and the example patient loaded), the EHR sandbox (werkzeug, in a thread of
this process) and the app (gunicorn, ``gunicorn -c gunicorn.conf.py``, its own
processes). Each clinician, in its own thread, does ``--rounds`` times: launch the app
from the sandbox for a patient of its own (a fresh one each round, so no check-in is a
second one of the day; each has the example patient's records as its history), load the dashboard, open a weekly check-in and complete it.
The run is bounded (``--deadline`` seconds in all; every request has a timeout).

It prints requests per second, p50/p95/p99 latency per operation and the errors,
then checks on HAPI that every completed check-in is there exactly once.
"""

from __future__ import annotations

import argparse
import os
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections import defaultdict
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "tests"))

from app_helpers import Browser, hidden_fields, post_data_from_response  # noqa: E402
from demo.stack import CLIENT_ID, HOST, _Served, load_harness  # noqa: E402

CLINICIAN = "mbt-example-clinician"
TIMEOUT = 60


def _free_port() -> int:
    with socket.socket() as s:
        s.bind((HOST, 0))
        return s.getsockname()[1]


def _percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    if not ordered:
        return float("nan")
    k = max(0, min(len(ordered) - 1, int(round(q / 100 * len(ordered) + 0.5)) - 1))
    return ordered[k]


class Recorder:
    def __init__(self):
        self.lock = threading.Lock()
        self.times: dict[str, list[float]] = defaultdict(list)
        self.errors: dict[str, list[str]] = defaultdict(list)
        self.saved: list[tuple[str, str]] = []  # (patient, submission id)

    def timed(self, op: str, call, ok=lambda r: r.status_code < 400):
        started = time.perf_counter()
        try:
            answer = call()
        except Exception as exc:  # noqa: BLE001 - a benchmark counts every failure
            with self.lock:
                self.errors[op].append(type(exc).__name__)
            return None
        elapsed = time.perf_counter() - started
        with self.lock:
            self.times[op].append(elapsed)
            if not ok(answer):
                self.errors[op].append(str(answer.status_code))
        return answer


def _checkin_form() -> dict:
    from fhir_mbt.content import shipped, terminology

    questionnaire = shipped().get(terminology.questionnaire_url(terminology.WEEKLY_CHECKIN))
    bundle = shipped().resources("Bundle", examples=True)[0]
    example = next(e["resource"] for e in bundle["entry"]
                   if e["resource"]["resourceType"] == "QuestionnaireResponse"
                   and e["resource"]["questionnaire"].split("|")[0].endswith("/" + terminology.WEEKLY_CHECKIN))
    return post_data_from_response(questionnaire, example)


def _history(patient: str) -> dict:
    """The example patient's QuestionnaireResponses, as a transaction that gives them to ``patient``."""
    import copy

    from fhir_mbt.content import shipped

    bundle = shipped().resources("Bundle", examples=True)[0]
    entries = []
    for entry in bundle["entry"]:
        resource = entry["resource"]
        if resource["resourceType"] != "QuestionnaireResponse":
            continue
        clone = copy.deepcopy(resource)
        clone.pop("id", None)
        clone.pop("identifier", None)
        clone["subject"] = {"reference": f"Patient/{patient}"}
        clone.pop("author", None)
        for key in ("encounter", "source", "basedOn", "partOf"):
            clone.pop(key, None)
        entries.append({"fullUrl": entry["fullUrl"], "resource": clone, "request": {"method": "POST", "url": "QuestionnaireResponse"}})
    return {"resourceType": "Bundle", "type": "transaction", "entry": entries}


def clinician(rec: Recorder, sandbox: str, app: str, patients: list[str], form: dict) -> None:
    for patient in patients:
        browser = Browser()
        browser.TIMEOUT = TIMEOUT
        answer = rec.timed("launch", lambda: browser.post(
            f"{sandbox}/launch", data={"patient": patient, "practitioner": CLINICIAN,
                                       "app_launch_url": f"{app}/launch"}),
            ok=lambda r: r.status_code == 200 and r.url.split("?", 1)[0] == f"{app}/dashboard")
        if answer is None or answer.status_code != 200:
            continue
        rec.timed("dashboard", lambda: browser.get(f"{app}/dashboard"))
        page = rec.timed("open check-in", lambda: browser.get(f"{app}/forms/mbt-weekly-checkin/new"))
        if page is None or page.status_code != 200:
            continue
        hidden = hidden_fields(page.text)
        action = page.url.split("?", 1)[0]
        saved = rec.timed("submit check-in", lambda: browser.post(
            action, data={**form, **hidden, "action": "complete"}, allow_redirects=False),
            ok=lambda r: r.status_code in (302, 303))
        if saved is not None and saved.status_code in (302, 303):
            with rec.lock:
                rec.saved.append((patient, hidden["submission_id"]))


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--clinicians", type=int, default=20)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--workers", type=int, default=4, help="gunicorn workers (WEB_CONCURRENCY)")
    parser.add_argument("--deadline", type=float, default=900.0, help="seconds for the whole load, at most")
    args = parser.parse_args()

    from ehr_sandbox import create_app as sandbox_app
    from fhir_mbt.client import FhirClient
    from fhir_mbt.content import shipped
    from fhir_mbt.content.upload import upload_definitions, upload_examples
    from fhir_mbt.engine import RESPONSE_IDENTIFIER_SYSTEM

    harness = load_harness()
    tmp = tempfile.TemporaryDirectory(prefix="mbt-bench-load-")
    hapi = harness.HapiServer(log_path=Path(tmp.name) / "hapi.log")
    gunicorn = None
    sandbox = None
    try:
        print("starting HAPI ...", flush=True)
        fhir_base = hapi.start()
        fhir = FhirClient(fhir_base, timeout=(10.0, 300.0))
        upload_definitions(fhir, shipped())
        upload_examples(fhir, shipped())
        patients = [f"bench-{c}-{r}" for c in range(args.clinicians) for r in range(args.rounds)]

        def make(pid):
            fhir.update({"resourceType": "Patient", "id": pid, "name": [{"family": "Bench", "given": [pid]}],
                         "birthDate": "1990-01-01"})
            fhir.transaction(_history(pid))

        print(f"loading {len(patients)} patients, each with the example patient's records ...", flush=True)
        with ThreadPoolExecutor(4) as pool:
            list(pool.map(make, patients))

        app_port = _free_port()
        app = f"http://{HOST}:{app_port}"
        sandbox = _Served("sandbox")
        sandbox.serve(sandbox_app({
            "SANDBOX_UPSTREAM": fhir_base,
            "SANDBOX_PUBLIC_BASE": sandbox.base,
            "SANDBOX_APP_LAUNCH_URL": f"{app}/launch",
            "SANDBOX_CLIENTS": {CLIENT_ID: {"redirect_uris": [f"{app}/callback"]}},
        }))
        env = {**os.environ, "MBT_BIND": f"{HOST}:{app_port}", "WEB_CONCURRENCY": str(args.workers),
               "MBT_CLIENT_ID": CLIENT_ID, "MBT_ALLOWED_ISSUERS": f"{sandbox.base}/fhir",
               "MBT_REDIRECT_URI": f"{app}/callback", "MBT_FRAME_ANCESTORS": sandbox.base,
               "MBT_SECRET_KEY": os.urandom(32).hex(), "MBT_SESSION_DB": str(Path(tmp.name) / "sessions.sqlite3"),
               "MBT_ACCESS_LOG": str(Path(tmp.name) / "access.log")}
        gunicorn = subprocess.Popen(
            [str(Path(sys.executable).with_name("gunicorn")), "-c", str(ROOT / "gunicorn.conf.py"),
             "smart_app:create_app()"], cwd=ROOT, env=env,
            stdout=subprocess.DEVNULL, stderr=open(Path(tmp.name) / "gunicorn.log", "w"))
        import requests

        started = time.monotonic()
        while True:
            try:
                requests.get(f"{app}/static/app.css", timeout=10)
                break
            except requests.RequestException:
                if time.monotonic() - started > 60 or gunicorn.poll() is not None:
                    raise SystemExit("gunicorn did not start: see " + str(Path(tmp.name) / "gunicorn.log"))
                time.sleep(0.3)

        form = _checkin_form()
        rec = Recorder()
        print(f"{args.clinicians} clinicians x {args.rounds} rounds, {args.workers} gunicorn workers ...", flush=True)
        began = time.perf_counter()
        with ThreadPoolExecutor(args.clinicians) as pool:
            futures = [pool.submit(clinician, rec, sandbox.base, app,
                                   patients[c * args.rounds:(c + 1) * args.rounds], form)
                       for c in range(args.clinicians)]
            for future in futures:
                future.result(timeout=max(1.0, args.deadline - (time.perf_counter() - began)))
        wall = time.perf_counter() - began

        total = sum(len(v) for v in rec.times.values())
        errors = sum(len(v) for v in rec.errors.values())
        print(f"\n{total} requests in {wall:.1f} s: {total / wall:.1f} req/s (launch = the whole SMART "
              f"round trip through the sandbox), {errors} errors; machine: {os.cpu_count()} cores, shared\n")
        print(f"{'operation':<18}{'n':>6}{'p50 ms':>10}{'p95 ms':>10}{'p99 ms':>10}{'errors':>8}")
        for op in ("launch", "dashboard", "open check-in", "submit check-in"):
            values = [t * 1000 for t in rec.times.get(op, [])]
            if not values:
                continue
            print(f"{op:<18}{len(values):>6}{statistics.median(values):>10.0f}{_percentile(values, 95):>10.0f}"
                  f"{_percentile(values, 99):>10.0f}{len(rec.errors.get(op, [])):>8}")
        for op, kinds in rec.errors.items():
            print(f"  errors in {op}: " + ", ".join(f"{k} x{kinds.count(k)}" for k in sorted(set(kinds))))

        missing = duplicated = 0
        for patient, submission in rec.saved:
            found = list(fhir.search("QuestionnaireResponse", {
                "identifier": f"{RESPONSE_IDENTIFIER_SYSTEM}|{submission}", "subject": f"Patient/{patient}"}))
            missing += not found
            duplicated += len(found) > 1
        print(f"\nsaves verified on HAPI: {len(rec.saved)} completed, {missing} missing, {duplicated} duplicated")
        return 0 if not missing and not duplicated else 1
    finally:
        if gunicorn is not None:
            gunicorn.send_signal(signal.SIGTERM)
            try:
                gunicorn.wait(30)
            except subprocess.TimeoutExpired:
                gunicorn.kill()
        if sandbox is not None:
            sandbox.stop()
        hapi.stop()
        tmp.cleanup()


if __name__ == "__main__":
    sys.exit(main())
