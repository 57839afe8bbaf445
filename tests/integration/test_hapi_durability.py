"""The project's HAPI keeps every write it acknowledged through a crash, and can be frozen.

These tests run a HAPI server of their own (fixture ``own_hapi``: its own H2 data
directory and port), because they kill and freeze it; the session's shared server is not
touched. Each kill is ``kill -9`` right after an acknowledgement, then a restart on the
same data directory.
"""

from __future__ import annotations

import os
import threading
import time
import uuid

import pytest
import requests

FHIR_JSON = "application/fhir+json"
HEADERS = {"Content-Type": FHIR_JSON, "Accept": FHIR_JSON}
SYSTEM = "urn:fhir-mbt:test:durability"
TIMEOUT = 60

#: Writes per crash: 10 writes and 6 kills by default (each restart costs ~15-40 s on 2 cores):
#: each of the four kinds of write alone, then two bursts of three. Every burst ends with
#: ``kill -9`` immediately after its last acknowledgement, so all of its writes were
#: acknowledged well within H2's default write delay (0.5 s) of the crash.
#: ``HAPI_DURABILITY_BURSTS=1,1,1,1,1,1,1,1,1,1`` kills after every single write.
BURSTS = [int(n) for n in os.environ.get("HAPI_DURABILITY_BURSTS", "1,1,1,1,3,3").split(",")]


def _patient(value: str, **extra) -> dict:
    return {
        "resourceType": "Patient",
        "identifier": [{"system": SYSTEM, "value": value}],
        "name": [{"family": "Durable", "given": [value]}],
        **extra,
    }


def _transaction(value: str) -> dict:
    """As the app writes a record: a conditional create of a response and an Observation."""
    qr_url = f"urn:uuid:{uuid.uuid4()}"
    return {
        "resourceType": "Bundle",
        "type": "transaction",
        "entry": [
            {
                "fullUrl": qr_url,
                "resource": {
                    "resourceType": "QuestionnaireResponse",
                    "identifier": {"system": SYSTEM, "value": value},
                    "status": "completed",
                    "item": [{"linkId": "1", "answer": [{"valueString": value}]}],
                },
                "request": {"method": "POST", "url": "QuestionnaireResponse", "ifNoneExist": f"identifier={SYSTEM}|{value}"},
            },
            {
                "resource": {
                    "resourceType": "Observation",
                    "identifier": [{"system": SYSTEM, "value": value}],
                    "status": "final",
                    "code": {"text": "durability"},
                    "derivedFrom": [{"reference": qr_url}],
                    "valueString": value,
                },
                "request": {"method": "POST", "url": "Observation"},
            },
        ],
    }


class Acked:
    """Every acknowledged write: (type, id) -> (versionId, identifier value)."""

    def __init__(self):
        self.resources: dict[tuple[str, str], tuple[str, str]] = {}

    def add(self, rtype: str, rid: str, version: str, value: str) -> None:
        self.resources[(rtype, rid)] = (version, value)


def _id_and_version(location: str) -> tuple[str, str]:
    # .../Patient/123/_history/1
    parts = location.rstrip("/").split("/")
    return parts[-3], parts[-1]


def _write(http: requests.Session, base: str, kind: int, value: str, acked: Acked) -> None:
    """One acknowledged write of one of four kinds; records what the server said it stored."""
    if kind == 0:  # create with a client-assigned id
        rid = f"dur-{value}"
        resp = http.put(f"{base}/Patient/{rid}", json={**_patient(value), "id": rid}, timeout=TIMEOUT)
        assert resp.status_code == 201, resp.text
        acked.add("Patient", rid, resp.json()["meta"]["versionId"], value)
    elif kind == 1:  # create with a server-assigned id (uses the id sequence)
        resp = http.post(f"{base}/Patient", json=_patient(value), timeout=TIMEOUT)
        assert resp.status_code == 201, resp.text
        acked.add("Patient", resp.json()["id"], resp.json()["meta"]["versionId"], value)
    elif kind == 2:  # a transaction, as the app saves a record
        resp = http.post(base, json=_transaction(value), timeout=TIMEOUT)
        assert resp.status_code == 200, resp.text
        for entry, rtype in zip(resp.json()["entry"], ("QuestionnaireResponse", "Observation")):
            assert entry["response"]["status"].startswith("201"), entry
            rid, version = _id_and_version(entry["response"]["location"])
            acked.add(rtype, rid, version, value)
    else:  # an update of a resource acknowledged earlier (a new version)
        (rtype, rid), (version, old_value) = next(
            (key, val) for key, val in acked.resources.items() if key[0] == "Patient"
        )
        body = {**_patient(old_value, gender="other"), "id": rid}
        body["name"][0]["given"].append(value)
        resp = http.put(f"{base}/{rtype}/{rid}", json=body, headers={"If-Match": f'W/"{version}"'}, timeout=TIMEOUT)
        assert resp.status_code == 200, resp.text
        acked.add(rtype, rid, resp.json()["meta"]["versionId"], old_value)


def _missing(http: requests.Session, base: str, acked: Acked) -> list[str]:
    """Acknowledged resources or versions not on the server (read by id, and found by search)."""
    missing = []
    for (rtype, rid), (version, value) in acked.resources.items():
        resp = http.get(f"{base}/{rtype}/{rid}", timeout=TIMEOUT)
        if resp.status_code != 200:
            missing.append(f"{rtype}/{rid}: {resp.status_code}")
            continue
        if resp.json()["meta"]["versionId"] != version:
            missing.append(f"{rtype}/{rid}: version {resp.json()['meta']['versionId']}, acknowledged {version}")
        found = http.get(f"{base}/{rtype}", params={"identifier": f"{SYSTEM}|{value}"}, timeout=TIMEOUT)
        ids = [e["resource"]["id"] for e in found.json().get("entry", [])] if found.status_code == 200 else []
        if rid not in ids:
            missing.append(f"{rtype}/{rid}: not found by identifier {value} ({found.status_code}, {ids})")
    return missing


@pytest.fixture(scope="module")
def http():
    with requests.Session() as session:
        session.headers.update(HEADERS)
        yield session


def test_acknowledged_writes_survive_kill_9(own_hapi, http):
    base = own_hapi.base_url
    acked = Acked()
    run = uuid.uuid4().hex[:8]
    writes = 0
    for burst, count in enumerate(BURSTS):
        for i in range(count):
            # Every kind in turn; an update needs an earlier Patient, so the first write creates one.
            kind = (writes % 4) if writes else 0
            _write(http, base, kind, f"{run}-{burst}-{i}", acked)
            writes += 1
        own_hapi.kill()  # kill -9 straight after the last acknowledgement
        assert own_hapi.restart() == base
        missing = _missing(http, base, acked)
        assert not missing, (
            f"after kill -9 number {burst + 1}, {len(missing)} of {len(acked.resources)} "
            f"acknowledged resources or versions are lost: {missing}"
        )
    # After the crashes the server still hands out fresh ids (no reused sequence values).
    resp = http.post(f"{base}/Patient", json=_patient(f"{run}-after"), timeout=TIMEOUT)
    assert resp.status_code == 201, resp.text
    assert ("Patient", resp.json()["id"]) not in acked.resources
    acked.add("Patient", resp.json()["id"], resp.json()["meta"]["versionId"], f"{run}-after")
    # A clean stop (SIGTERM: Jetty, then Spring, then the database) keeps everything as well.
    assert own_hapi.restart(kill=False) == base
    assert not _missing(http, base, acked)


def test_freeze_and_thaw(own_hapi, http):
    base = own_hapi.base_url
    value = uuid.uuid4().hex[:12]
    result: dict[str, object] = {}

    def write_while_frozen():
        try:
            result["resp"] = http.post(f"{base}/Patient", json=_patient(value), timeout=TIMEOUT)
        except requests.RequestException as exc:  # pragma: no cover - reported below
            result["error"] = exc

    with own_hapi.frozen():
        assert own_hapi.is_frozen and own_hapi.is_running()
        # Connections are accepted (the kernel queues them) but nothing answers.
        started = time.monotonic()
        with pytest.raises(requests.Timeout):
            requests.get(f"{base}/metadata", timeout=1.5)
        assert time.monotonic() - started < 10
        writer = threading.Thread(target=write_while_frozen, daemon=True)
        writer.start()
        writer.join(1.5)
        assert writer.is_alive(), "a frozen server answered"
    assert not own_hapi.is_frozen
    # Thawed: the queued write goes through and the server answers again.
    writer.join(TIMEOUT)
    assert not writer.is_alive()
    assert "error" not in result, result.get("error")
    assert result["resp"].status_code == 201, result["resp"].text
    assert http.get(f"{base}/metadata", timeout=TIMEOUT).status_code == 200
    found = http.get(f"{base}/Patient", params={"identifier": f"{SYSTEM}|{value}"}, timeout=TIMEOUT).json()
    assert len(found.get("entry", [])) == 1
