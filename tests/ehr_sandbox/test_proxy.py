"""The FHIR proxy: tokens required, requests passed through, bases rewritten, scopes enforced."""

from __future__ import annotations

import json

import pytest
import requests
import responses

OBS_PETER = {"resourceType": "Observation", "id": "o1", "status": "final",
             "code": {"text": "x"}, "subject": {"reference": "Patient/peter"}}
OBS_ANNA = {"resourceType": "Observation", "id": "o2", "status": "final",
            "code": {"text": "x"}, "subject": {"reference": "http://hapi.test/fhir/Patient/anna"}}
QR = {"resourceType": "QuestionnaireResponse", "status": "completed",
      "questionnaire": "http://example.org/Questionnaire/q|1", "subject": {"reference": "Patient/peter"}}


@pytest.fixture
def token(sb):
    return sb.tokens()["access_token"]


def auth(token: str, **headers) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}", **headers}


def test_no_token_or_an_unknown_one_is_401(sb):
    for headers in ({}, {"Authorization": "Bearer made-up"}, {"Authorization": "Basic abc"}):
        response = sb.client.get("/fhir/Patient/peter", headers=headers)
        assert response.status_code == 401
        assert response.headers["WWW-Authenticate"].startswith("Bearer")
        assert response.get_json()["resourceType"] == "OperationOutcome"
    assert not [c for c in sb.upstream.calls if "/Patient/peter" in c.request.url]


def test_metadata_is_open_and_names_the_smart_endpoints(sb):
    sb.upstream.get(f"{sb.UPSTREAM}/metadata", json={
        "resourceType": "CapabilityStatement", "implementation": {"url": sb.UPSTREAM},
        "rest": [{"mode": "server"}]})
    body = sb.client.get("/fhir/metadata").get_json()
    assert body["implementation"]["url"] == sb.FHIR
    security = body["rest"][0]["security"]
    assert security["service"][0]["coding"][0]["code"] == "SMART-on-FHIR"
    uris = {e["url"]: e["valueUri"] for e in security["extension"][0]["extension"]}
    assert uris == {"authorize": f"{sb.PUBLIC}/authorize", "token": f"{sb.PUBLIC}/token"}


def test_read_is_passed_through_and_rewritten(sb, token):
    sb.upstream.get(f"{sb.UPSTREAM}/Patient/peter", json={
        **sb.PETER, "link": [{"other": {"reference": f"{sb.UPSTREAM}/Patient/anna"}}]},
        headers={"ETag": 'W/"3"', "Content-Location": f"{sb.UPSTREAM}/Patient/peter/_history/3"})
    response = sb.client.get("/fhir/Patient/peter?_elements=name",
                             headers=auth(token, Accept="application/fhir+json"))
    assert response.status_code == 200
    assert response.get_json()["link"][0]["other"]["reference"] == f"{sb.FHIR}/Patient/anna"
    assert response.headers["ETag"] == 'W/"3"'
    assert response.headers["Content-Location"] == f"{sb.FHIR}/Patient/peter/_history/3"
    sent = sb.upstream.calls[-1].request
    assert sent.url == f"{sb.UPSTREAM}/Patient/peter?_elements=name"
    assert sent.headers["Accept"] == "application/fhir+json"
    assert "Authorization" not in sent.headers


def test_search_paging_links_point_at_the_sandbox(sb, token):
    page = f"{sb.UPSTREAM}?_getpages=abc-123&_getpagesoffset=2&_count=2"
    sb.upstream.get(f"{sb.UPSTREAM}/QuestionnaireResponse", json=sb.bundle(
        {**QR, "id": "r1"}, sb.PETER, link=[{"relation": "next", "url": page}]))
    response = sb.client.get("/fhir/QuestionnaireResponse?subject=Patient/peter&_include=QuestionnaireResponse:subject&_count=2",
                             headers=auth(token))
    body = response.get_json()
    assert response.status_code == 200
    next_url = body["link"][0]["url"]
    assert next_url == f"{sb.FHIR}?_getpages=abc-123&_getpagesoffset=2&_count=2"
    assert [e["fullUrl"] for e in body["entry"]] == [f"{sb.FHIR}/QuestionnaireResponse/r1",
                                                     f"{sb.FHIR}/Patient/peter"]
    assert sb.upstream.calls[-1].request.url.endswith(
        "/QuestionnaireResponse?subject=Patient%2Fpeter&_include=QuestionnaireResponse%3Asubject&_count=2")
    sb.upstream.get(f"{sb.UPSTREAM}", json=sb.bundle({**QR, "id": "r2"}))
    follow = sb.client.get(next_url.replace(sb.PUBLIC, ""), headers=auth(token))
    assert follow.status_code == 200
    assert "_getpages=abc-123" in sb.upstream.calls[-1].request.url
    foreign = sb.client.get("/fhir?_getpages=someone-elses", headers=auth(token))
    assert foreign.status_code == 403


def test_create_passes_body_and_headers_and_rewrites_location(sb, token):
    sb.upstream.post(f"{sb.UPSTREAM}/QuestionnaireResponse", status=201, json={**QR, "id": "r9"},
                     headers={"Location": f"{sb.UPSTREAM}/QuestionnaireResponse/r9/_history/1",
                              "ETag": 'W/"1"'})
    body = {**QR, "contained": [], "questionnaire": f"{sb.FHIR}/Questionnaire/q"}
    response = sb.client.post("/fhir/QuestionnaireResponse?_pretty=false", data=json.dumps(body), headers=auth(
        token, **{"Content-Type": "application/fhir+json", "If-None-Exist": "identifier=urn:x|1",
                  "Prefer": "return=representation"}))
    assert response.status_code == 201
    assert response.headers["Location"] == f"{sb.FHIR}/QuestionnaireResponse/r9/_history/1"
    sent = sb.upstream.calls[-1].request
    assert sent.method == "POST"
    assert sent.url == f"{sb.UPSTREAM}/QuestionnaireResponse?_pretty=false"
    assert sent.headers["If-None-Exist"] == "identifier=urn:x|1"
    assert sent.headers["Prefer"] == "return=representation"
    assert sent.headers["Content-Type"] == "application/fhir+json"
    assert json.loads(sent.body) == {**body, "questionnaire": f"{sb.UPSTREAM}/Questionnaire/q"}


def test_update_with_if_match_is_checked_against_the_stored_resource(sb, token):
    sb.upstream.get(f"{sb.UPSTREAM}/QuestionnaireResponse/r1", json={**QR, "id": "r1"})
    sb.upstream.put(f"{sb.UPSTREAM}/QuestionnaireResponse/r1", status=200, json={**QR, "id": "r1"})
    response = sb.client.put("/fhir/QuestionnaireResponse/r1", data=json.dumps({**QR, "id": "r1"}),
                             headers=auth(token, **{"Content-Type": "application/fhir+json",
                                                    "If-Match": 'W/"2"'}))
    assert response.status_code == 200
    assert sb.upstream.calls[-1].request.headers["If-Match"] == 'W/"2"'
    sb.upstream.get(f"{sb.UPSTREAM}/QuestionnaireResponse/r2",
                    json={**QR, "id": "r2", "subject": {"reference": "Patient/anna"}})
    moved = sb.client.put("/fhir/QuestionnaireResponse/r2", data=json.dumps({**QR, "id": "r2"}),
                          headers=auth(token, **{"Content-Type": "application/fhir+json"}))
    assert moved.status_code == 403
    assert sb.upstream.calls[-1].request.method == "GET"


def test_write_without_a_write_scope_is_403(sb):
    token = sb.tokens(scope="launch patient/Observation.rs patient/QuestionnaireResponse.r")["access_token"]
    calls = len(sb.upstream.calls)
    for method, path, body in (("POST", "/fhir/Observation", OBS_PETER),
                               ("PUT", "/fhir/Observation/o1", OBS_PETER),
                               ("DELETE", "/fhir/Observation/o1", None),
                               ("POST", "/fhir/QuestionnaireResponse", QR)):
        response = sb.client.open(path, method=method, data=json.dumps(body) if body else None,
                                  headers=auth(token, **{"Content-Type": "application/fhir+json"}))
        assert response.status_code == 403, (method, path)
        assert "insufficient_scope" in response.headers["WWW-Authenticate"]
    assert len(sb.upstream.calls) == calls


def test_v1_write_scope_allows_create(sb):
    token = sb.tokens(scope="launch patient/Observation.write")["access_token"]
    sb.upstream.post(f"{sb.UPSTREAM}/Observation", status=201, json={**OBS_PETER})
    response = sb.client.post("/fhir/Observation", data=json.dumps(OBS_PETER),
                              headers=auth(token, **{"Content-Type": "application/fhir+json"}))
    assert response.status_code == 201
    assert sb.client.get("/fhir/Observation/o1", headers=auth(token)).status_code == 403


def test_patient_scopes_keep_to_the_patient_in_context(sb):
    token = sb.tokens(scope="launch patient/Observation.crus patient/Patient.rs")["access_token"]
    assert sb.client.get("/fhir/Patient/anna", headers=auth(token)).status_code == 403
    assert sb.client.get("/fhir/Patient?name=a", headers=auth(token)).status_code == 403
    assert sb.client.get("/fhir/Observation", headers=auth(token)).status_code == 403
    assert sb.client.get("/fhir/Observation?patient=anna", headers=auth(token)).status_code == 403
    assert sb.client.get("/fhir/Observation?patient=peter,anna", headers=auth(token)).status_code == 403
    sb.upstream.get(f"{sb.UPSTREAM}/Observation/o2", json=OBS_ANNA)
    read = sb.client.get("/fhir/Observation/o2", headers=auth(token))
    assert read.status_code == 403 and "anna" not in read.get_data(as_text=True)
    sb.upstream.get(f"{sb.UPSTREAM}/Observation", json=sb.bundle(OBS_PETER, OBS_ANNA, sb.ANNA))
    search = sb.client.get("/fhir/Observation?subject=Patient/peter&_include=*", headers=auth(token))
    assert [e["resource"]["id"] for e in search.get_json()["entry"]] == ["o1"]
    written = sb.client.post("/fhir/Observation", data=json.dumps(OBS_ANNA),
                             headers=auth(token, **{"Content-Type": "application/fhir+json"}))
    assert written.status_code == 403
    assert sb.client.post("/fhir/Patient", data=json.dumps({"resourceType": "Patient"}),
                          headers=auth(token, **{"Content-Type": "application/fhir+json"})).status_code == 403


def test_user_scopes_are_not_held_to_a_compartment(sb):
    token = sb.tokens(scope="launch user/Observation.rs")["access_token"]
    sb.upstream.get(f"{sb.UPSTREAM}/Observation", json=sb.bundle(OBS_PETER, OBS_ANNA, sb.ANNA))
    body = sb.client.get("/fhir/Observation?_include=*", headers=auth(token)).get_json()
    # Patient is not a granted type: the included Patient is withheld
    assert [e["resource"]["id"] for e in body["entry"]] == ["o1", "o2"]


def test_transaction_is_checked_entry_by_entry(sb, token):
    bundle = {"resourceType": "Bundle", "type": "transaction", "entry": [
        {"fullUrl": "urn:uuid:1", "resource": QR,
         "request": {"method": "POST", "url": "QuestionnaireResponse", "ifNoneExist": "identifier=a|b"}},
        {"fullUrl": "urn:uuid:2", "resource": {**OBS_PETER, "id": None},
         "request": {"method": "POST", "url": "Observation"}},
        {"fullUrl": "urn:uuid:3", "resource": {"resourceType": "Provenance", "target": [{"reference": "urn:uuid:1"}]},
         "request": {"method": "POST", "url": "Provenance"}},
    ]}
    sb.upstream.post(f"{sb.UPSTREAM}", json={"resourceType": "Bundle", "type": "transaction-response", "entry": [
        {"response": {"status": "201 Created", "location": f"{sb.UPSTREAM}/QuestionnaireResponse/9/_history/1"}}]})
    ok = sb.client.post("/fhir", data=json.dumps(bundle), headers=auth(token, **{"Content-Type": "application/fhir+json"}))
    assert ok.status_code == 200
    assert ok.get_json()["entry"][0]["response"]["location"] == f"{sb.FHIR}/QuestionnaireResponse/9/_history/1"
    assert json.loads(sb.upstream.calls[-1].request.body) == bundle
    calls = len(sb.upstream.calls)
    bad = {**bundle, "entry": bundle["entry"] + [
        {"resource": OBS_ANNA, "request": {"method": "POST", "url": "Observation"}}]}
    refused = sb.client.post("/fhir", data=json.dumps(bad), headers=auth(token, **{"Content-Type": "application/fhir+json"}))
    assert refused.status_code == 403
    no_scope = {**bundle, "entry": [{"resource": {"resourceType": "Condition", "subject": {"reference": "Patient/peter"}},
                                     "request": {"method": "POST", "url": "Condition"}}]}
    assert sb.client.post("/fhir", data=json.dumps(no_scope),
                          headers=auth(token, **{"Content-Type": "application/fhir+json"})).status_code == 403
    assert len(sb.upstream.calls) == calls


def test_batch_reads_withhold_other_patients(sb, token):
    bundle = {"resourceType": "Bundle", "type": "batch", "entry": [
        {"request": {"method": "GET", "url": "Patient/peter"}},
        {"request": {"method": "GET", "url": "QuestionnaireResponse/x"}}]}
    sb.upstream.post(f"{sb.UPSTREAM}", json={"resourceType": "Bundle", "type": "batch-response", "entry": [
        {"resource": sb.PETER, "response": {"status": "200 OK"}},
        {"resource": {**QR, "id": "x", "subject": {"reference": "Patient/anna"}}, "response": {"status": "200 OK"}}]})
    body = sb.client.post("/fhir", data=json.dumps(bundle),
                          headers=auth(token, **{"Content-Type": "application/fhir+json"})).get_json()
    assert body["entry"][0]["resource"]["id"] == "peter"
    assert "resource" not in body["entry"][1]
    assert body["entry"][1]["response"]["status"] == "403 Forbidden"


def test_xml_is_refused_and_odd_paths_are_400(sb, token):
    assert sb.client.get("/fhir/Patient/peter?_format=xml", headers=auth(token)).status_code == 406
    assert sb.client.get("/fhir/patient/peter", headers=auth(token)).status_code == 400
    assert sb.client.get("/fhir/Patient/peter/Observation", headers=auth(token)).status_code == 400
    response = sb.client.post("/fhir/QuestionnaireResponse", data="<x/>",
                              headers=auth(token, **{"Content-Type": "application/fhir+xml"}))
    assert response.status_code == 415


def test_upstream_failures_are_502_or_504(sb, token):
    sb.upstream.get(f"{sb.UPSTREAM}/Patient/peter", body=requests.ConnectionError("refused"))
    response = sb.client.get("/fhir/Patient/peter", headers=auth(token))
    assert response.status_code == 502
    assert response.get_json()["resourceType"] == "OperationOutcome"
    sb.upstream.replace(responses.GET, f"{sb.UPSTREAM}/Patient/peter", body=requests.ReadTimeout("slow"))
    assert sb.client.get("/fhir/Patient/peter", headers=auth(token)).status_code == 504


def test_upstream_errors_pass_through(sb, token):
    sb.upstream.get(f"{sb.UPSTREAM}/Patient/peter", status=410, json={
        "resourceType": "OperationOutcome", "issue": [{"severity": "error", "code": "deleted",
                                                       "diagnostics": f"{sb.UPSTREAM}/Patient/peter is gone"}]})
    response = sb.client.get("/fhir/Patient/peter", headers=auth(token))
    assert response.status_code == 410
    assert sb.FHIR in response.get_json()["issue"][0]["diagnostics"]


def test_search_by_post_checks_the_form_and_forwards_it(sb, token):
    sb.upstream.post(f"{sb.UPSTREAM}/QuestionnaireResponse/_search", json=sb.bundle({**QR, "id": "r1"}))
    response = sb.client.post("/fhir/QuestionnaireResponse/_search", data={"subject": "Patient/peter"},
                              headers=auth(token))
    assert response.status_code == 200
    assert sb.upstream.calls[-1].request.body == b"subject=Patient/peter"
    other = sb.client.post("/fhir/QuestionnaireResponse/_search", data={"subject": "Patient/anna"},
                           headers=auth(token))
    assert other.status_code == 403
