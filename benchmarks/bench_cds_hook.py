"""The patient-view hook's server time with prefetch, for a patient with five years of data.

    .venv/bin/python benchmarks/bench_cds_hook.py [--years 5] [--runs 50]

Five years of weekly session records and weekly check-ins, an RFQ-8 every
quarter (from the example patient's responses, cloned), a risky check-in
in the last week with its open care-team Task, all sent as the prefetched
searchset Bundle, the way an EHR sends it. Measured through the real Flask
route with a fresh signed JWT per call: reading the JSON body, checking the
JWT (the JWKS is cached, as in service), the card rules and the answer.
The EHR's network time is not in it.
"""

from __future__ import annotations

import argparse
import copy
import datetime as dt
import importlib.util
import json
import statistics
import sys
import tempfile
import time
import uuid
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

ISSUER = "https://ehr.bench"
JWKS_URL = "https://ehr.bench/jwks"
BASE = "https://mbt.bench"
SERVICE = f"{BASE}/cds-services/mbt-patient-view"


def _dashboard_history():
    spec = importlib.util.spec_from_file_location("bench_dashboard", ROOT / "benchmarks" / "bench_dashboard.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module.history


def record(years: int, today: dt.date) -> tuple[str, list[dict]]:
    """The patient id and their resources: five years ending last week, a risky check-in, its open Task."""
    weeks = 52 * years
    patient, responses = _dashboard_history()(weeks, weeks // 13, weeks)
    shift = today - dt.timedelta(days=7) - (dt.date(2021, 1, 4) + dt.timedelta(days=7 * (weeks - 1)))
    for r in responses:
        day = dt.date.fromisoformat(r["authored"][:10]) + shift
        r["authored"] = f"{day.isoformat()}T10:00:00Z"
        for item in r.get("item", []):
            if item["linkId"] == "session.date":
                item["answer"] = [{"valueDate": day.isoformat()}]
    for r in responses:
        r["subject"] = {"reference": f"Patient/{patient['id']}"}
    from fhir_mbt.engine.care_team import care_team_entries, reported_risk

    checkins = [r for r in responses if "weekly-checkin" in r["questionnaire"]]
    risky = max(checkins, key=lambda r: r["authored"])
    risky = json.loads(json.dumps(risky).replace('"valueBoolean": false', '"valueBoolean": true', 2))
    risky["author"] = {"reference": f"Patient/{patient['id']}"}
    responses = [r for r in responses if r["id"] != risky["id"]] + [risky]
    for entry in care_team_entries(risky, reported_risk(risky)):
        resource = copy.deepcopy(entry["resource"])
        resource["id"] = entry["fullUrl"].rsplit(":", 1)[-1][:32]
        if resource["resourceType"] == "Task":
            resource["focus"] = {"reference": f"QuestionnaireResponse/{risky['id']}"}
            responses.append(resource)
    return patient["id"], responses


class _Jwks:
    """The EHR's JWKS endpoint, answered in memory (fetched once, then cached by the service)."""

    def __init__(self, jwks):
        self.jwks = jwks

    def get(self, url, **kwargs):
        jwks = self.jwks

        class Answer:
            status_code = 200

            def raise_for_status(self):
                pass

            def json(self):
                return jwks

        return Answer()


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--years", type=int, default=5)
    parser.add_argument("--runs", type=int, default=50)
    args = parser.parse_args(argv)

    import jwt
    from cryptography.hazmat.primitives.asymmetric import rsa
    from jwt.algorithms import RSAAlgorithm

    from smart_app import create_app

    today = dt.datetime.now(dt.timezone.utc).date()
    patient_id, resources = record(args.years, today)
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    jwk = {**RSAAlgorithm.to_jwk(key.public_key(), as_dict=True), "kid": "bench", "alg": "RS384"}
    body = json.dumps({
        "hook": "patient-view", "hookInstance": str(uuid.uuid4()),
        "context": {"userId": "Practitioner/bench", "patientId": patient_id},
        "prefetch": {"mbtRecords": {"resourceType": "Bundle", "type": "searchset",
                                    "entry": [{"resource": r} for r in resources]}},
    })

    def token() -> str:
        now = int(time.time())
        return jwt.encode({"iss": ISSUER, "aud": SERVICE, "iat": now, "exp": now + 60, "jti": str(uuid.uuid4())},
                          key, algorithm="RS384", headers={"kid": "bench", "typ": "JWT"})

    with tempfile.TemporaryDirectory() as tmp:
        app = create_app({"TESTING": True, "MBT_SESSION_DB": f"{tmp}/s.sqlite3", "MBT_CDS_BASE_URL": BASE,
                          "MBT_CDS_CLIENTS": {ISSUER: JWKS_URL},
                          "MBT_CDS_VERIFIER_OPTIONS": {"session": _Jwks({"keys": [jwk]})}})
        client = app.test_client()
        tokens = [token() for _ in range(args.runs + 1)]

        def call(tok):
            return client.post("/cds-services/mbt-patient-view", data=body, content_type="application/json",
                               headers={"Authorization": f"Bearer {tok}"})

        first = call(tokens[0])
        assert first.status_code == 200, first.data[:500]
        times = []
        for tok in tokens[1:]:
            t0 = time.perf_counter()
            answer = call(tok)
            times.append((time.perf_counter() - t0) * 1000)
            assert answer.status_code == 200
    times.sort()
    decode = []
    for _ in range(args.runs):
        t0 = time.perf_counter()
        json.loads(body)
        decode.append((time.perf_counter() - t0) * 1000)
    from fhir_mbt.cds.cards import Links, patient_cards

    rules = []
    tasks = [r for r in resources if r["resourceType"] == "Task"]
    parsed = [r for r in resources if r["resourceType"] == "QuestionnaireResponse"]
    for _ in range(args.runs):
        t0 = time.perf_counter()
        patient_cards(parsed, tasks, patient_id, links=Links("https://x/launch"))
        rules.append((time.perf_counter() - t0) * 1000)
    kinds = {}
    for r in resources:
        kind = r["resourceType"] if r["resourceType"] != "QuestionnaireResponse" else \
            r["questionnaire"].split("|")[0].rsplit("/", 1)[-1]
        kinds[kind] = kinds.get(kind, 0) + 1
    print(f"prefetched resources: {len(resources)} ({', '.join(f'{n} {k}' for k, n in sorted(kinds.items()))})")
    print(f"request body: {len(body) / 1024 / 1024:.1f} MiB; cards: "
          f"{', '.join(c['indicator'] for c in first.json['cards']) or 'none'}")
    print(f"patient-view server time over {args.runs} runs: median {statistics.median(times):.1f} ms, "
          f"p90 {times[int(len(times) * 0.9) - 1]:.1f} ms, min {times[0]:.1f} ms")
    print(f"for comparison, decoding the JSON body alone: median {statistics.median(decode):.1f} ms; "
          f"the card rules alone: median {statistics.median(rules):.1f} ms")
    return 0


if __name__ == "__main__":
    sys.exit(main())
