"""Bulk Data export against a mocked server: the async flow, its failures, resuming, Backend Services."""

from __future__ import annotations

import json
from urllib.parse import parse_qs, urlsplit

import jwt
import pytest
import responses
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

from fhir_mbt.analytics import ExportExpired, ExportFailed, ExportNotSupported, ExportTimedOut
from fhir_mbt.analytics.backend_auth import BackendServicesAuth
from fhir_mbt.analytics.export import STATE_FILE, BulkExporter, ExportRequest
from fhir_mbt.cli import main
from fhir_mbt.smart import PrivateKeyJwt

BASE = "https://fhir.example.org/r4"
STATUS = "https://fhir.example.org/r4/$export-poll-status?_jobId=j1"
FILE1 = "https://fhir.example.org/r4/binary/1"
FILE2 = "https://fhir.example.org/r4/binary/2"
PATIENT = json.dumps({"resourceType": "Patient", "id": "p1"})
OBS = "\n".join(json.dumps({"resourceType": "Observation", "id": f"o{i}"}) for i in range(3)) + "\n"
MANIFEST = {"transactionTime": "2026-11-30T10:00:00Z", "request": f"{BASE}/$export", "requiresAccessToken": True,
            "output": [{"type": "Patient", "url": FILE1}, {"type": "Observation", "url": FILE2}], "error": []}


def _kick_off(status=202, **kw):
    headers = {"Content-Location": STATUS} if status == 202 else {}
    responses.add(responses.GET, f"{BASE}/$export", status=status, headers=headers, **kw)


def _files():
    responses.add(responses.GET, FILE1, body=PATIENT + "\n", content_type="application/fhir+ndjson")
    responses.add(responses.GET, FILE2, body=OBS, content_type="application/fhir+ndjson")


def _exporter(tmp_path, waits=None, **kw):
    waits = waits if waits is not None else []
    lines = []
    return BulkExporter(BASE, tmp_path, sleep=waits.append, progress=lines.append, **kw), waits, lines


@responses.activate
def test_kick_off_poll_with_retry_after_and_download(tmp_path):
    _kick_off()
    responses.add(responses.GET, STATUS, status=202, headers={"Retry-After": "3", "X-Progress": "40%"})
    responses.add(responses.GET, STATUS, status=202, headers={"Retry-After": "5"})
    responses.add(responses.GET, STATUS, json=MANIFEST)
    _files()
    exporter, waits, lines = _exporter(tmp_path)
    result = exporter.run(ExportRequest(types=("Patient", "Observation"), since="2026-01-01T00:00:00Z"))
    assert waits == [3.0, 5.0]
    assert result.counts == {"Patient": 1, "Observation": 3}
    assert sorted(p.name for p in result.files) == ["Observation.002.ndjson", "Patient.001.ndjson"]
    kick = responses.calls[0].request
    assert kick.headers["Prefer"] == "respond-async" and kick.headers["Accept"] == "application/fhir+json"
    query = parse_qs(urlsplit(kick.url).query)
    assert query["_type"] == ["Patient,Observation"] and query["_since"] == ["2026-01-01T00:00:00Z"]
    assert any("40%" in line for line in lines)
    assert json.loads((tmp_path / STATE_FILE).read_text())["complete"] is True


@responses.activate
def test_patient_and_group_level_paths(tmp_path):
    responses.add(responses.GET, f"{BASE}/Patient/$export", status=202, headers={"Content-Location": STATUS})
    responses.add(responses.GET, f"{BASE}/Group/g1/$export", status=202, headers={"Content-Location": STATUS})
    exporter, _, _ = _exporter(tmp_path)
    assert exporter.kick_off(ExportRequest(level="patient")) == STATUS
    assert exporter.kick_off(ExportRequest(level="group", group_id="g1")) == STATUS
    with pytest.raises(ValueError):
        ExportRequest(level="group")


@responses.activate
def test_failed_job_carries_the_operation_outcome(tmp_path):
    _kick_off()
    outcome = {"resourceType": "OperationOutcome",
               "issue": [{"severity": "error", "code": "exception", "diagnostics": "disk full on the server"}]}
    responses.add(responses.GET, STATUS, status=500, json=outcome)
    exporter, _, _ = _exporter(tmp_path)
    with pytest.raises(ExportFailed, match="disk full") as info:
        exporter.run(ExportRequest())
    assert info.value.outcome == outcome and info.value.status == 500


@responses.activate
@pytest.mark.parametrize("status", [404, 410])
def test_expired_job(tmp_path, status):
    _kick_off()
    responses.add(responses.GET, STATUS, status=status)
    exporter, _, _ = _exporter(tmp_path)
    with pytest.raises(ExportExpired):
        exporter.run(ExportRequest())


@responses.activate
def test_expired_file(tmp_path):
    _kick_off()
    responses.add(responses.GET, STATUS, json=MANIFEST)
    responses.add(responses.GET, FILE1, status=410)
    exporter, _, _ = _exporter(tmp_path)
    with pytest.raises(ExportExpired, match="file is gone"):
        exporter.run(ExportRequest())


@responses.activate
@pytest.mark.parametrize("status", [404, 405, 501])
def test_server_without_export_is_a_clear_error(tmp_path, status):
    _kick_off(status=status, json={"resourceType": "OperationOutcome",
                                   "issue": [{"severity": "error", "code": "not-supported",
                                              "diagnostics": "Unknown operation $export"}]})
    exporter, _, _ = _exporter(tmp_path)
    with pytest.raises(ExportNotSupported, match="does not offer \\$export"):
        exporter.run(ExportRequest())


@responses.activate
def test_hapi_style_400_for_an_unknown_operation_is_not_supported(tmp_path):
    _kick_off(status=400, json={"resourceType": "OperationOutcome", "issue": [
        {"severity": "error", "code": "processing", "diagnostics": "Invalid request: The FHIR endpoint on this "
         "server does not know how to handle GET operation[$export] with parameters [[_type]]"}]})
    exporter, _, _ = _exporter(tmp_path)
    with pytest.raises(ExportNotSupported):
        exporter.run(ExportRequest())


@responses.activate
def test_too_long_a_wait_times_out(tmp_path):
    _kick_off()
    responses.add(responses.GET, STATUS, status=202, headers={"Retry-After": "50"})
    exporter, _, _ = _exporter(tmp_path, max_wait=60)
    with pytest.raises(ExportTimedOut):
        exporter.run(ExportRequest())


@responses.activate
def test_an_interrupted_export_resumes_the_same_job(tmp_path):
    _kick_off()
    responses.add(responses.GET, STATUS, json=MANIFEST)
    responses.add(responses.GET, FILE1, body=PATIENT + "\n")
    responses.add(responses.GET, FILE2, body=ConnectionError("network dropped"))
    exporter, _, _ = _exporter(tmp_path)
    with pytest.raises(Exception):
        exporter.run(ExportRequest())
    state = json.loads((tmp_path / STATE_FILE).read_text())
    assert state["manifest"] and list(state["done"]) == [FILE1]
    responses.reset()
    responses.add(responses.GET, FILE2, body=OBS)  # no kick-off, no poll, no second Patient download
    again, _, lines = _exporter(tmp_path)
    result = again.run(ExportRequest())
    assert result.resumed and result.counts == {"Patient": 1, "Observation": 3}
    assert [c.request.url for c in responses.calls] == [FILE2]
    assert any("resuming" in line for line in lines)


def _key_pem():
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    pem = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                            serialization.NoEncryption())
    return key, pem


@responses.activate
def test_backend_services_token_signs_every_request(tmp_path):
    key, pem = _key_pem()
    token_url = "https://auth.example.org/token"
    responses.add(responses.POST, token_url, json={"access_token": "tok-1", "expires_in": 300,
                                                   "token_type": "bearer"})
    _kick_off()
    responses.add(responses.GET, STATUS, json=MANIFEST)
    _files()
    auth = BackendServicesAuth(PrivateKeyJwt("mbt-analytics", pem, kid="k1"), token_url, scope="system/*.rs")
    exporter, _, _ = _exporter(tmp_path, auth=auth)
    exporter.run(ExportRequest())
    form = parse_qs(responses.calls[0].request.body)
    assert form["grant_type"] == ["client_credentials"] and form["scope"] == ["system/*.rs"]
    claims = jwt.decode(form["client_assertion"][0], key.public_key(), algorithms=["RS384"], audience=token_url)
    assert claims["iss"] == claims["sub"] == "mbt-analytics"
    assert all(c.request.headers.get("Authorization") == "Bearer tok-1" for c in responses.calls[1:])
    assert len([c for c in responses.calls if c.request.url == token_url]) == 1


@responses.activate
def test_cli_export_prints_counts(tmp_path, capsys):
    _kick_off()
    responses.add(responses.GET, STATUS, json=MANIFEST)
    _files()
    assert main(["export", "--server", BASE, "--out", str(tmp_path), "--type", ""]) == 0
    out = capsys.readouterr()
    assert "Observation\t3" in out.out and "export done" in out.err


@responses.activate
def test_cli_reports_a_server_without_export(tmp_path, capsys):
    _kick_off(status=404)
    assert main(["export", "--server", BASE, "--out", str(tmp_path)]) == 1
    assert "does not offer $export" in capsys.readouterr().err


@responses.activate
def test_cli_export_with_backend_services_discovers_the_token_endpoint(tmp_path, capsys):
    _, pem = _key_pem()
    key_file = tmp_path / "client.pem"
    key_file.write_bytes(pem)
    responses.add(responses.GET, f"{BASE}/.well-known/smart-configuration",
                  json={"token_endpoint": "https://auth.example.org/token"})
    responses.add(responses.POST, "https://auth.example.org/token", json={"access_token": "tok-2", "expires_in": 60})
    _kick_off()
    responses.add(responses.GET, STATUS, json=MANIFEST)
    _files()
    assert main(["export", "--server", BASE, "--out", str(tmp_path / "out"), "--client-id", "analytics",
                 "--private-key", str(key_file), "--kid", "k1"]) == 0
    kick = next(c.request for c in responses.calls if "$export" in c.request.url)
    assert kick.headers["Authorization"] == "Bearer tok-2"


@responses.activate
def test_a_refused_token_is_a_clear_error(tmp_path, capsys):
    _, pem = _key_pem()
    key_file = tmp_path / "client.pem"
    key_file.write_bytes(pem)
    responses.add(responses.POST, "https://auth.example.org/token", status=401,
                  json={"error": "invalid_client", "error_description": "unknown key"})
    assert main(["export", "--server", BASE, "--out", str(tmp_path / "out"), "--client-id", "analytics",
                 "--private-key", str(key_file), "--kid", "k1", "--token-url", "https://auth.example.org/token"]) == 1
    assert "unknown key" in capsys.readouterr().err
