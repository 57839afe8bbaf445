"""The fault proxy (hapi_server/faults.py) in front of the session's HAPI does what it says.

"After the write" faults forward the request, so HAPI stores it, and then lie to the
client; "before" faults never reach HAPI. Each test checks HAPI directly, not through the
proxy, for what was stored.
"""

from __future__ import annotations

import json
import threading
import time
import uuid

import pytest
import requests

FHIR_JSON = "application/fhir+json"
HEADERS = {"Content-Type": FHIR_JSON, "Accept": FHIR_JSON}
SYSTEM = "urn:fhir-mbt:test:fault-proxy"
TIMEOUT = 60


@pytest.fixture
def tag() -> str:
    return uuid.uuid4().hex[:16]


@pytest.fixture(scope="module")
def http():
    with requests.Session() as session:
        session.headers.update(HEADERS)
        yield session


def _patient(tag: str) -> dict:
    return {"resourceType": "Patient", "identifier": [{"system": SYSTEM, "value": tag}], "name": [{"family": tag}]}


def _transaction(tag: str) -> dict:
    return {
        "resourceType": "Bundle",
        "type": "transaction",
        "entry": [
            {
                "resource": _patient(tag),
                "request": {"method": "POST", "url": "Patient", "ifNoneExist": f"identifier={SYSTEM}|{tag}"},
            }
        ],
    }


def _stored(http, hapi_base_url: str, tag: str) -> int:
    """How many Patients HAPI itself holds with this tag (asked directly, not via the proxy)."""
    resp = http.get(f"{hapi_base_url}/Patient", params={"identifier": f"{SYSTEM}|{tag}"}, timeout=TIMEOUT)
    assert resp.status_code == 200, resp.text
    return len(resp.json().get("entry", []))


def test_passes_requests_through_with_its_own_address(fault_proxy, hapi_base_url, http, tag):
    assert fault_proxy.base_url.startswith("http://127.0.0.1:")
    assert fault_proxy.base_url.endswith("/fhir") and fault_proxy.base_url != hapi_base_url
    meta = http.get(f"{fault_proxy.base_url}/metadata", timeout=TIMEOUT)
    assert meta.status_code == 200 and meta.json()["fhirVersion"] == "4.0.1"
    created = http.post(f"{fault_proxy.base_url}/Patient", json=_patient(tag), timeout=TIMEOUT)
    assert created.status_code == 201, created.text
    # HAPI builds its URLs from the Host header, which the proxy passes on
    assert created.headers["Location"].startswith(f"{fault_proxy.base_url}/Patient/")
    found = http.get(f"{fault_proxy.base_url}/Patient", params={"identifier": f"{SYSTEM}|{tag}"}, timeout=TIMEOUT)
    assert found.json()["entry"][0]["fullUrl"].startswith(fault_proxy.base_url)
    assert [(h.method, h.action, h.upstream_status) for h in fault_proxy.hits] == [
        ("GET", None, 200), ("POST", None, 201), ("GET", None, 200)
    ]


@pytest.mark.parametrize("via", ["create", "transaction"])
def test_fail_after_write_stores_then_answers_500(fault_proxy, hapi_base_url, http, tag, via):
    if via == "create":
        fault_proxy.add_rule("fail_after_write", method="POST", path=r"^/fhir/Patient/?(\?|$)")
        resp = http.post(f"{fault_proxy.base_url}/Patient", json=_patient(tag), timeout=TIMEOUT)
    else:
        fault_proxy.add_rule("fail_after_write", method="POST", path=r"^/fhir/?(\?|$)")
        resp = http.post(fault_proxy.base_url, json=_transaction(tag), timeout=TIMEOUT)
    assert resp.status_code == 500
    assert resp.json()["resourceType"] == "OperationOutcome"
    assert fault_proxy.hits[-1].action == "fail_after_write"
    assert fault_proxy.hits[-1].upstream_status in (200, 201)
    assert _stored(http, hapi_base_url, tag) == 1  # the write happened


def test_rule_applies_as_many_times_as_asked(fault_proxy, hapi_base_url, http, tag):
    rule = fault_proxy.add_rule("fail_after_write", method="POST", path=r"^/fhir/?(\?|$)", times=1)
    first = http.post(fault_proxy.base_url, json=_transaction(tag), timeout=TIMEOUT)
    retry = http.post(fault_proxy.base_url, json=_transaction(tag), timeout=TIMEOUT)
    assert (first.status_code, retry.status_code) == (500, 200)
    # the retry's conditional create found the first write
    assert retry.json()["entry"][0]["response"]["status"].startswith("200")
    assert rule.applied == 1
    assert _stored(http, hapi_base_url, tag) == 1
    # a GET does not match a POST rule
    always = fault_proxy.add_rule("fail_before", method="POST", times=None)
    assert http.get(f"{fault_proxy.base_url}/metadata", timeout=TIMEOUT).status_code == 200
    fault_proxy.remove_rule(always)
    assert http.post(f"{fault_proxy.base_url}/Patient", json=_patient(tag + "x"), timeout=TIMEOUT).status_code == 201


def test_hang_after_write_times_the_client_out(fault_proxy, hapi_base_url, http, tag):
    fault_proxy.add_rule("hang_after_write", method="PUT", path=rf"/Patient/h-{tag}", hang_seconds=20)
    started = time.monotonic()
    with pytest.raises(requests.ReadTimeout):
        http.put(f"{fault_proxy.base_url}/Patient/h-{tag}", json={**_patient(tag), "id": f"h-{tag}"}, timeout=3)
    assert time.monotonic() - started < 15
    assert fault_proxy.hits[-1].action == "hang_after_write"
    # the write completed on HAPI while the client was waiting
    deadline = time.monotonic() + 30
    while fault_proxy.hits[-1].upstream_status is None and time.monotonic() < deadline:
        time.sleep(0.1)
    assert fault_proxy.hits[-1].upstream_status == 201
    assert http.get(f"{hapi_base_url}/Patient/h-{tag}", timeout=TIMEOUT).status_code == 200


def test_garble_after_write_sends_an_unreadable_body(fault_proxy, hapi_base_url, http, tag):
    fault_proxy.add_rule("garble_after_write", method="POST", path=r"^/fhir/?(\?|$)")
    resp = http.post(fault_proxy.base_url, json=_transaction(tag), timeout=TIMEOUT)
    assert resp.status_code == 200  # the upstream status, with a body nobody can parse
    with pytest.raises(ValueError):
        json.loads(resp.content)
    assert _stored(http, hapi_base_url, tag) == 1


@pytest.mark.parametrize("action", ["fail_before", "drop_before"])
def test_before_faults_write_nothing(fault_proxy, hapi_base_url, http, tag, action):
    fault_proxy.add_rule(action, method="POST", path=r"^/fhir/?(\?|$)")
    if action == "fail_before":
        resp = http.post(fault_proxy.base_url, json=_transaction(tag), timeout=TIMEOUT)
        assert resp.status_code == 503
        assert resp.json()["resourceType"] == "OperationOutcome"
    else:
        with pytest.raises(requests.ConnectionError):
            http.post(fault_proxy.base_url, json=_transaction(tag), timeout=TIMEOUT)
    assert fault_proxy.hits[-1].action == action
    assert fault_proxy.hits[-1].upstream_status is None
    assert _stored(http, hapi_base_url, tag) == 0


def test_predicate_matches_on_the_body(fault_proxy, hapi_base_url, http, tag):
    fault_proxy.add_rule(
        "fail_before", method="POST", predicate=lambda req: tag in req.body.decode("utf-8", "replace"), times=None
    )
    other = uuid.uuid4().hex[:16]
    assert http.post(f"{fault_proxy.base_url}/Patient", json=_patient(tag), timeout=TIMEOUT).status_code == 503
    assert http.post(f"{fault_proxy.base_url}/Patient", json=_patient(other), timeout=TIMEOUT).status_code == 201
    assert (_stored(http, hapi_base_url, tag), _stored(http, hapi_base_url, other)) == (0, 1)


def test_stop_ends_hangs_and_is_bounded(hapi_faults, hapi_base_url, tag):
    proxy = hapi_faults.FaultProxy(hapi_base_url, max_hang_seconds=60)
    proxy.start()
    proxy.add_rule("hang_after_write", method="PUT", hang_seconds=60, times=None)
    outcome: dict[str, object] = {}

    def client():
        try:
            requests.put(f"{proxy.base_url}/Patient/s-{tag}", json={**_patient(tag), "id": f"s-{tag}"},
                         headers=HEADERS, timeout=45)
        except requests.RequestException as exc:
            outcome["error"] = exc

    thread = threading.Thread(target=client, daemon=True)
    thread.start()
    deadline = time.monotonic() + 30
    while not (proxy.hits and proxy.hits[-1].upstream_status) and time.monotonic() < deadline:
        time.sleep(0.1)
    started = time.monotonic()
    proxy.stop()
    assert time.monotonic() - started < 5
    thread.join(10)
    assert not thread.is_alive()
    # the hang ended with a closed connection, not an answer
    assert isinstance(outcome.get("error"), requests.ConnectionError)
    assert threading.active_count() < 50
    with pytest.raises(requests.ConnectionError):
        requests.get(f"{proxy.base_url}/metadata", timeout=5)
