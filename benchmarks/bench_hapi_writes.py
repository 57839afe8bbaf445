"""Write throughput of the project's HAPI on an H2 file database, by H2 write delay.

    .venv/bin/python benchmarks/bench_hapi_writes.py [--config 0 500 "0 sync"] [--writes 300] [--threads 1 4]

For each configuration, a write delay (``HAPI_H2_WRITE_DELAY``: 0 is the durable default,
500 is H2's own default), optionally followed by ``sync`` (``HAPI_H2_SYNC=1``, fsync every
write), H2 URL settings starting with ``;`` (``HAPI_H2_OPTIONS``) and environment
settings ``NAME=value`` (e.g. ``HAPI_H2_HOUSEKEEPING_MS=0``), it starts a fresh server on a new data directory, warms it up, then times
sequential and concurrent writes of three kinds: ``PUT Patient/id`` (client id),
``POST Patient`` and a two-entry transaction like the app's record save. It prints
writes per second and the median / 95th percentile latency, and the size of the H2 file
afterwards (WRITE_DELAY=0 turns off MVStore's background writer, which also does its
housekeeping).
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import requests

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from demo.stack import load_harness  # noqa: E402

HEADERS = {"Content-Type": "application/fhir+json", "Accept": "application/fhir+json"}
SYSTEM = "urn:fhir-mbt:bench"


def _patient(value: str) -> dict:
    return {"resourceType": "Patient", "identifier": [{"system": SYSTEM, "value": value}],
            "name": [{"family": "Bench", "given": [value]}]}


def _transaction(value: str) -> dict:
    qr = f"urn:uuid:{uuid.uuid4()}"
    return {"resourceType": "Bundle", "type": "transaction", "entry": [
        {"fullUrl": qr, "resource": {"resourceType": "QuestionnaireResponse", "status": "completed",
                                     "identifier": {"system": SYSTEM, "value": value},
                                     "item": [{"linkId": "1", "answer": [{"valueString": value}]}]},
         "request": {"method": "POST", "url": "QuestionnaireResponse", "ifNoneExist": f"identifier={SYSTEM}|{value}"}},
        {"resource": {"resourceType": "Observation", "status": "final", "code": {"text": "bench"},
                      "identifier": [{"system": SYSTEM, "value": value}], "derivedFrom": [{"reference": qr}],
                      "valueString": value},
         "request": {"method": "POST", "url": "Observation"}},
    ]}


def _one(session: requests.Session, base: str, kind: str, value: str) -> float:
    started = time.perf_counter()
    if kind == "put":
        resp = session.put(f"{base}/Patient/b-{value}", json={**_patient(value), "id": f"b-{value}"}, timeout=120)
    elif kind == "post":
        resp = session.post(f"{base}/Patient", json=_patient(value), timeout=120)
    else:
        resp = session.post(base, json=_transaction(value), timeout=120)
    elapsed = time.perf_counter() - started
    if resp.status_code not in (200, 201):
        raise RuntimeError(f"{kind}: {resp.status_code} {resp.text[:300]}")
    return elapsed


def _run(base: str, kind: str, writes: int, threads: int) -> tuple[float, list[float]]:
    sessions = [requests.Session() for _ in range(threads)]
    for s in sessions:
        s.headers.update(HEADERS)
    run = uuid.uuid4().hex[:8]

    def worker(t: int) -> list[float]:
        return [_one(sessions[t], base, kind, f"{run}-{t}-{i}") for i in range(writes // threads)]

    started = time.perf_counter()
    with ThreadPoolExecutor(threads) as pool:
        latencies = [x for chunk in pool.map(worker, range(threads)) for x in chunk]
    total = time.perf_counter() - started
    for s in sessions:
        s.close()
    return len(latencies) / total, latencies


def _db_mb(data: Path) -> float:
    return sum(p.stat().st_size for p in data.glob("*.db")) / 2**20


def _sustain(base: str, data: Path, seconds: float, label: str) -> None:
    """Sequential transactions for ``seconds``; the H2 file size every 15 s."""
    session = requests.Session()
    session.headers.update(HEADERS)
    run = uuid.uuid4().hex[:8]
    started = time.monotonic()
    next_report, n = started + 15, 0
    while time.monotonic() - started < seconds:
        _one(session, base, "tx", f"{run}-s-{n}")
        n += 1
        if time.monotonic() >= next_report:
            print(f"{label:<10} sustained: {n} transactions in {time.monotonic() - started:.0f} s, "
                  f"H2 file {_db_mb(data):.1f} MB", flush=True)
            next_report += 15
    session.close()


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--config", nargs="+", default=["0", "500"],
                        help='e.g. 0, 500, "0 sync", "0 ;RETENTION_TIME=0"')
    parser.add_argument("--writes", type=int, default=300, help="writes per kind and thread count")
    parser.add_argument("--threads", type=int, nargs="+", default=[1, 4])
    parser.add_argument("--sustain", type=float, default=0,
                        help="then write transactions for this many seconds, printing the H2 file size")
    args = parser.parse_args(argv)
    harness = load_harness()
    harness.build()
    for config in args.config:
        tokens = config.split()
        delay = " ".join(tokens)
        os.environ["HAPI_H2_WRITE_DELAY"] = tokens[0]
        os.environ["HAPI_H2_SYNC"] = "1" if "sync" in tokens else "0"
        os.environ["HAPI_H2_OPTIONS"] = "".join(t for t in tokens if t.startswith(";"))
        os.environ.pop("HAPI_H2_HOUSEKEEPING_MS", None)
        for token in tokens:
            if "=" in token and not token.startswith(";"):  # e.g. HAPI_H2_HOUSEKEEPING_MS=0
                key, value = token.split("=", 1)
                os.environ[key] = value
        with tempfile.TemporaryDirectory(prefix="hapi-bench-") as tmp:
            server = harness.HapiServer(data_dir=Path(tmp) / "data")
            base = server.start()
            try:
                _run(base, "tx", 60, 1)  # warm-up (JIT, caches)
                _run(base, "put", 30, 1)
                print(f"{delay:<10} database {server.log_tail(400).split('database ', 1)[-1].splitlines()[0]}")
                for threads in args.threads:
                    for kind in ("put", "post", "tx"):
                        rate, lat = _run(base, kind, args.writes, threads)
                        lat.sort()
                        print(f"{delay:<10} {kind:<4} threads={threads}: {rate:6.1f} writes/s, "
                              f"median {statistics.median(lat) * 1000:6.1f} ms, "
                              f"p95 {lat[int(len(lat) * 0.95) - 1] * 1000:6.1f} ms", flush=True)
                if args.sustain:
                    _sustain(base, Path(tmp) / "data", args.sustain, delay)
            finally:
                size_running = sum(p.stat().st_size for p in (Path(tmp) / "data").glob("*.db"))
                started = time.monotonic()
                server.stop()
                stop_s = time.monotonic() - started
                size_closed = sum(p.stat().st_size for p in (Path(tmp) / "data").glob("*.db"))
                print(f"{delay:<10} H2 file {size_running / 2**20:.1f} MB while running, "
                      f"{size_closed / 2**20:.1f} MB after a clean stop ({stop_s:.1f} s)", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
