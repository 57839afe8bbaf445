"""The HAPI FHIR JPA server started for the test session behaves as the app relies on."""

from __future__ import annotations

import time
import uuid

import pytest
import requests

FHIR_JSON = "application/fhir+json"
HEADERS = {"Content-Type": FHIR_JSON, "Accept": FHIR_JSON}


@pytest.fixture(scope="module")
def http():
    with requests.Session() as session:
        session.headers.update(HEADERS)
        yield session


@pytest.fixture
def tag() -> str:
    """A value unique to one test, so tests never see each other's resources."""
    return uuid.uuid4().hex[:16]


def _patient(tag: str, **extra) -> dict:
    return {
        "resourceType": "Patient",
        "identifier": [{"system": "urn:fhir-mbt:test", "value": tag}],
        "name": [{"family": "Test", "given": [tag]}],
        **extra,
    }


def _error_issues(outcome: dict) -> list[dict]:
    return [i for i in outcome.get("issue", []) if i.get("severity") in ("error", "fatal")]


def test_metadata_is_r4(hapi_base_url, http):
    resp = http.get(f"{hapi_base_url}/metadata", timeout=30)
    assert resp.status_code == 200
    cap = resp.json()
    assert cap["resourceType"] == "CapabilityStatement"
    assert cap["fhirVersion"] == "4.0.1"
    types = {r["type"] for r in cap["rest"][0]["resource"]}
    assert {"Patient", "Questionnaire", "QuestionnaireResponse", "Observation"} <= types


def test_listens_on_loopback_under_fhir(hapi_base_url):
    assert hapi_base_url.startswith("http://127.0.0.1:")
    assert hapi_base_url.endswith("/fhir")


def test_put_with_client_assigned_non_numeric_id(hapi_base_url, http, tag):
    rid = f"mbt-{tag}"
    resp = http.put(f"{hapi_base_url}/Patient/{rid}", json={**_patient(tag), "id": rid}, timeout=30)
    assert resp.status_code == 201, resp.text
    assert resp.headers["ETag"] == 'W/"1"'
    got = http.get(f"{hapi_base_url}/Patient/{rid}", timeout=30)
    assert got.status_code == 200
    assert got.json()["id"] == rid
    assert got.json()["meta"]["versionId"] == "1"


def test_if_match_with_stale_version_conflicts(hapi_base_url, http, tag):
    rid = f"mbt-{tag}"
    url = f"{hapi_base_url}/Patient/{rid}"
    assert http.put(url, json={**_patient(tag), "id": rid}, timeout=30).status_code == 201
    v2 = http.put(url, json={**_patient(tag), "id": rid, "gender": "female"}, headers={"If-Match": 'W/"1"'}, timeout=30)
    assert v2.status_code == 200, v2.text
    assert v2.headers["ETag"] == 'W/"2"'

    stale = http.put(url, json={**_patient(tag), "id": rid, "gender": "male"}, headers={"If-Match": 'W/"1"'}, timeout=30)
    assert stale.status_code in (409, 412), stale.text
    assert stale.json()["resourceType"] == "OperationOutcome"
    current = http.get(url, timeout=30).json()
    assert current["meta"]["versionId"] == "2"
    assert current["gender"] == "female"


def test_conditional_create_does_not_duplicate(hapi_base_url, http, tag):
    condition = {"If-None-Exist": f"identifier=urn:fhir-mbt:test|{tag}"}
    first = http.post(f"{hapi_base_url}/Patient", json=_patient(tag), headers=condition, timeout=30)
    assert first.status_code == 201, first.text
    second = http.post(f"{hapi_base_url}/Patient", json=_patient(tag), headers=condition, timeout=30)
    assert second.status_code == 200, second.text
    assert second.json()["id"] == first.json()["id"]

    found = http.get(f"{hapi_base_url}/Patient", params={"identifier": f"urn:fhir-mbt:test|{tag}"}, timeout=30).json()
    assert [e["resource"]["id"] for e in found.get("entry", [])] == [first.json()["id"]]


def _all_pages(http, url: str, params: dict) -> tuple[list[str], int]:
    ids, pages = [], 0
    bundle = http.get(url, params=params, timeout=60).json()
    while True:
        pages += 1
        ids += [e["resource"]["id"] for e in bundle.get("entry", []) if e.get("search", {}).get("mode", "match") == "match"]
        nxt = next((link["url"] for link in bundle.get("link", []) if link["relation"] == "next"), None)
        if nxt is None:
            return ids, pages
        assert pages < 50, "paging does not end"
        bundle = http.get(nxt, timeout=60).json()


def test_search_pages_with_next_links_and_is_fresh_after_write(hapi_base_url, http, tag):
    tx = {
        "resourceType": "Bundle",
        "type": "transaction",
        "entry": [
            {"resource": _patient(tag, gender="other"), "request": {"method": "POST", "url": "Patient"}}
            for _ in range(23)
        ],
    }
    resp = http.post(hapi_base_url, json=tx, timeout=120)
    assert resp.status_code == 200, resp.text
    created = {e["response"]["location"].split("/")[1] for e in resp.json()["entry"]}
    assert len(created) == 23

    params = {"identifier": f"urn:fhir-mbt:test|{tag}", "_count": 5, "_sort": "_id"}
    ids, pages = _all_pages(http, f"{hapi_base_url}/Patient", params)
    assert pages == 5
    assert len(ids) == len(set(ids)) == 23
    assert set(ids) == created

    # The very same search right after a write sees the write: no cached result reuse.
    extra = http.post(f"{hapi_base_url}/Patient", json=_patient(tag), timeout=30)
    assert extra.status_code == 201
    ids_after, _ = _all_pages(http, f"{hapi_base_url}/Patient", params)
    assert len(ids_after) == 24
    assert extra.json()["id"] in ids_after

    total = http.get(f"{hapi_base_url}/Patient", params={**params, "_summary": "count"}, timeout=30).json()
    assert total["total"] == 24


@pytest.fixture(scope="module")
def stored_profile(hapi_base_url, http) -> str:
    """An Observation profile PUT into the server: subject required, value must be an integer."""
    sid = f"mbt-test-obs-{uuid.uuid4().hex[:8]}"
    url = f"http://example.org/fhir-mbt-test/StructureDefinition/{sid}"
    profile = {
        "resourceType": "StructureDefinition",
        "id": sid,
        "url": url,
        "version": "1.0.0",
        "name": "MbtTestObservation",
        "status": "active",
        "fhirVersion": "4.0.1",
        "kind": "resource",
        "abstract": False,
        "type": "Observation",
        "baseDefinition": "http://hl7.org/fhir/StructureDefinition/Observation",
        "derivation": "constraint",
        "differential": {
            "element": [
                {"id": "Observation", "path": "Observation"},
                {"id": "Observation.subject", "path": "Observation.subject", "min": 1},
                {
                    "id": "Observation.value[x]",
                    "path": "Observation.value[x]",
                    "min": 1,
                    "type": [{"code": "integer"}],
                },
            ]
        },
    }
    resp = http.put(f"{hapi_base_url}/StructureDefinition/{sid}", json=profile, timeout=60)
    assert resp.status_code == 201, resp.text
    return url


def _observation(**fields) -> dict:
    return {"resourceType": "Observation", "status": "final", "code": {"text": "mentalizing"}, **fields}


def test_validate_against_stored_profile_reports_violations(hapi_base_url, http, stored_profile):
    bad = _observation(valueString="not a number")  # no subject, wrong value type
    resp = http.post(f"{hapi_base_url}/Observation/$validate", params={"profile": stored_profile}, json=bad, timeout=120)
    assert resp.status_code in (200, 412), resp.text
    errors = _error_issues(resp.json())
    text = " | ".join(i.get("diagnostics", "") for i in errors)
    assert any("Observation.subject" in i.get("diagnostics", "") for i in errors), text
    assert any("integer" in i.get("diagnostics", "") for i in errors), text
    assert stored_profile in text  # the errors come from the stored profile


def test_validate_against_stored_profile_accepts_conforming(hapi_base_url, http, stored_profile, tag):
    patient = http.post(f"{hapi_base_url}/Patient", json=_patient(tag), timeout=30).json()
    good = _observation(subject={"reference": f"Patient/{patient['id']}"}, valueInteger=3)
    resp = http.post(f"{hapi_base_url}/Observation/$validate", params={"profile": stored_profile}, json=good, timeout=120)
    assert resp.status_code == 200, resp.text
    assert _error_issues(resp.json()) == []


def test_validate_uses_meta_profile(hapi_base_url, http, stored_profile):
    bad = _observation(meta={"profile": [stored_profile]}, valueInteger=1)  # no subject
    resp = http.post(f"{hapi_base_url}/Observation/$validate", json=bad, timeout=120)
    errors = _error_issues(resp.json())
    assert any("Observation.subject" in i.get("diagnostics", "") for i in errors), resp.text


def test_validate_unknown_profile_is_an_error(hapi_base_url, http):
    missing = "http://example.org/fhir-mbt-test/StructureDefinition/does-not-exist"
    resp = http.post(f"{hapi_base_url}/Observation/$validate", params={"profile": missing}, json=_observation(valueInteger=1), timeout=120)
    assert _error_issues(resp.json()), resp.text


def test_a_validation_package_that_does_not_match_its_checksum_stops_the_server(tmp_path):
    """The packages $validate relies on are checked at start: one that is not what SHA256SUMS says
    (here the list, put first on the class path, claims another digest) stops the server at once."""
    import subprocess

    from demo.stack import load_harness

    harness = load_harness()
    harness.build()
    run_jar = harness.extract()
    folder = tmp_path / "fhir-packages"
    folder.mkdir()
    real = (harness.HERE / "src" / "main" / "resources" / "fhir-packages" / "SHA256SUMS").read_text()
    (folder / "SHA256SUMS").write_text(real.replace(real.split()[0], "0" * 64, 1))
    started = time.monotonic()
    proc = subprocess.run(
        ["java", *harness.DEFAULT_JAVA_OPTS, "-cp", f"{tmp_path}:{run_jar}", "org.fhirmbt.hapi.HapiServerMain",
         "--port", "0"],
        capture_output=True, text=True, timeout=300, stdin=subprocess.DEVNULL,
    )
    assert proc.returncode == 1, proc.stdout[-3000:]
    assert "does not match fhir-packages/SHA256SUMS" in proc.stdout and "0" * 64 in proc.stdout
    assert "server ready" not in proc.stdout
    assert time.monotonic() - started < 120
