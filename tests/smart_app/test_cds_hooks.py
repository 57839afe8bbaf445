"""The app's CDS Hooks service: discovery, the patient-view hook with and without prefetch, JWT, feedback."""

from __future__ import annotations

import logging
import time
import uuid

import pytest
import requests
import responses

from cds_records import checkin, session, steady, task
from cds_signer import ISSUER, JWKS_URL, Signer
from fake_ehr import ISS
from smart_app import create_app

BASE = "https://mbt.example.org"
SERVICE = f"{BASE}/cds-services/mbt-patient-view"
PATIENT = "pat-1"
TOKEN = "fhir-access-token-for-the-cds-service"


@pytest.fixture
def signer():
    return Signer()


@pytest.fixture
def cds_app(tmp_path):
    return create_app({
        "TESTING": True,
        "MBT_SESSION_DB": str(tmp_path / "sessions.sqlite3"),
        "MBT_ALLOWED_ISSUERS": [ISS],
        "MBT_CDS_CLIENTS": {ISSUER: JWKS_URL},
        "MBT_CDS_BASE_URL": BASE,
        "MBT_CDS_TIME_BUDGET": 1.0,
    })


@pytest.fixture
def cds(cds_app, rsps, signer):
    rsps.get(JWKS_URL, json=signer.jwks())
    return cds_app.test_client()


def call(client, signer, body, *, audience=SERVICE, token=None, path="/cds-services/mbt-patient-view"):
    headers = {"Authorization": f"Bearer {token or signer.token(audience)}"}
    return client.post(path, json=body, headers=headers)


def hook(prefetch=None, **extra):
    body = {"hook": "patient-view", "hookInstance": str(uuid.uuid4()),
            "context": {"userId": "Practitioner/doc", "patientId": PATIENT}, **extra}
    if prefetch is not None:
        body["prefetch"] = prefetch
    return body


def searchset(resources):
    return {"resourceType": "Bundle", "type": "searchset",
            "entry": [{"resource": r, "search": {"mode": "match"}} for r in resources]}


def with_token(ehr):
    ehr.access_tokens[TOKEN] = {"expires": time.time() + 300, "scope": "patient/*.rs", "patient": PATIENT}
    return {"fhirServer": ISS, "fhirAuthorization": {"access_token": TOKEN, "token_type": "Bearer",
                                                     "expires_in": 300, "scope": "patient/*.rs",
                                                     "subject": "mbt-cds", "patient": PATIENT}}


def test_discovery_lists_the_patient_view_service(cds):
    answer = cds.get("/cds-services")
    assert answer.status_code == 200
    [service] = answer.json["services"]
    assert service["hook"] == "patient-view" and service["id"] == "mbt-patient-view"
    assert service["title"] and service["description"]
    [template] = service["prefetch"].values()
    assert template.startswith("QuestionnaireResponse?subject=Patient/{{context.patientId}}")
    assert "_revinclude=Task:focus" in template


def test_prefetch_with_risk_not_followed_up_gives_a_critical_card(cds, signer, ehr):
    risky = checkin(1, suicide_thoughts=True)
    answer = call(cds, signer, hook({"mbtRecords": searchset([*steady(3), risky, task(risky)])}))
    assert answer.status_code == 200
    [card] = answer.json["cards"]
    assert card["indicator"] == "critical"
    assert card["links"][0] == {**card["links"][0], "type": "smart", "url": f"{BASE}/launch"}
    assert not ehr.fhir_requests, "with prefetch the service reads nothing itself"


def test_prefetch_with_nothing_to_say_gives_no_cards(cds, signer):
    answer = call(cds, signer, hook({"mbtRecords": searchset(steady())}))
    assert answer.status_code == 200 and answer.json == {"cards": []}


def test_without_prefetch_the_record_is_read_from_the_fhir_server(cds, signer, ehr):
    for resource in [*steady(9), session(2, risk={"risk.self-harm": "risk-yes"})]:
        ehr.put(resource)
    answer = call(cds, signer, hook(**with_token(ehr)))
    assert answer.status_code == 200
    assert [c["indicator"] for c in answer.json["cards"]] == ["critical"]
    [request] = ehr.fhir_requests
    assert request.headers["Authorization"] == f"Bearer {TOKEN}"
    assert "_revinclude=Task%3Afocus" in request.url or "_revinclude=Task:focus" in request.url


def test_a_prefetch_key_with_null_or_an_operation_outcome_is_read_again(cds, signer, ehr):
    ehr.put(session(2, risk={"risk.self-harm": "risk-yes"}))
    for value in (None, {"resourceType": "OperationOutcome", "issue": []}):
        answer = call(cds, signer, hook({"mbtRecords": value}, **with_token(ehr)))
        assert [c["indicator"] for c in answer.json["cards"]][:1] == ["critical"]


def test_without_prefetch_or_a_token_the_answer_is_412(cds, signer):
    assert call(cds, signer, hook()).status_code == 412
    assert call(cds, signer, hook(fhirServer=ISS)).status_code == 412


@pytest.mark.parametrize("failure", [requests.ConnectTimeout("slow"), requests.ReadTimeout("slow"),
                                     requests.ConnectionError("down")])
def test_fhir_server_timeouts_give_a_card_saying_so_never_a_500(cds, signer, ehr, rsps, failure, caplog):
    rsps.add(responses.GET, f"{ISS}/QuestionnaireResponse", body=failure)
    rsps._registry.registered.insert(0, rsps._registry.registered.pop())  # ahead of the fake EHR's answers
    caplog.set_level(logging.INFO)
    answer = call(cds, signer, hook(**with_token(ehr)))
    assert answer.status_code == 200
    [card] = answer.json["cards"]
    assert card["indicator"] == "warning" and "could not read" in card["summary"]
    assert TOKEN not in caplog.text


def test_a_server_slower_than_the_budget_is_given_up_on_in_time(cds, signer, ehr, rsps):
    import http.server
    import threading

    class Slow(http.server.BaseHTTPRequestHandler):
        def do_GET(self):
            time.sleep(3)

        def log_message(self, *args):
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Slow)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    rsps.add_passthru("http://127.0.0.1")
    body = hook(**with_token(ehr))
    body["fhirServer"] = f"http://127.0.0.1:{server.server_port}/fhir"
    try:
        started = time.monotonic()
        answer = call(cds, signer, body)
        elapsed = time.monotonic() - started
    finally:
        server.shutdown()
        server.server_close()
    assert answer.status_code == 200 and "could not read" in answer.json["cards"][0]["summary"]
    assert elapsed < 2.5, f"the 1 s budget took {elapsed:.1f} s"


def test_a_server_error_gives_the_same_card(cds, signer, ehr):
    ehr.fail_next.append((503, "busy"))
    answer = call(cds, signer, hook(**with_token(ehr)))
    assert answer.status_code == 200 and "could not read" in answer.json["cards"][0]["summary"]


def test_a_malformed_prefetch_gives_a_card_not_a_500(cds, signer):
    for prefetch in ({"mbtRecords": {"resourceType": "Patient"}},
                     {"mbtRecords": searchset([{"resourceType": "QuestionnaireResponse", "status": "completed",
                                                "subject": {"reference": "Patient/pat-1"},
                                                "questionnaire": "x/mbt-session-record", "item": "nonsense"}])}):
        answer = call(cds, signer, hook(prefetch))
        assert answer.status_code == 200
        assert "could not" in answer.json["cards"][0]["summary"]


def test_fhir_authorization_is_never_logged(cds, signer, ehr, caplog):
    caplog.set_level(logging.DEBUG)
    ehr.fail_next.append((500, "boom"))
    call(cds, signer, hook(**with_token(ehr)))
    call(cds, signer, hook(fhirServer="not a url", fhirAuthorization={"access_token": TOKEN}))
    assert TOKEN not in caplog.text


@pytest.mark.parametrize("body", [None, {}, {"hook": "order-sign"}, {"hook": "patient-view", "context": {}},
                                  {"hook": "patient-view", "context": {"patientId": "../Patient/x"}}])
def test_malformed_requests_are_400(cds, signer, body):
    assert call(cds, signer, body).status_code == 400


def test_untrusted_callers_get_401(cds, signer):
    body = hook({"mbtRecords": searchset(steady())})
    assert cds.post("/cds-services/mbt-patient-view", json=body).status_code == 401
    assert call(cds, signer, body, audience=f"{BASE}/cds-services/other").status_code == 401
    assert call(cds, signer, body, token=signer.token(SERVICE, issuer="https://other.test")).status_code == 401
    expired = signer.token(SERVICE, iat=int(time.time()) - 900, exp=int(time.time()) - 300)
    assert call(cds, signer, body, token=expired).status_code == 401
    again = signer.token(SERVICE)
    assert call(cds, signer, body, token=again).status_code == 200
    replay = call(cds, signer, body, token=again)
    assert replay.status_code == 401 and replay.headers["WWW-Authenticate"].startswith("Bearer")
    assert "cards" not in replay.json


def test_a_jwt_replayed_to_another_worker_is_refused_too(cds, cds_app, signer, tmp_path):
    """Two workers: two app instances on one session database (as gunicorn runs them)."""
    other = create_app({**cds_app.config, "SECRET_KEY": cds_app.config["SECRET_KEY"]}).test_client()
    body = hook({"mbtRecords": searchset(steady())})
    token = signer.token(SERVICE)
    assert call(cds, signer, body, token=token).status_code == 200
    assert call(other, signer, body, token=token).status_code == 401
    assert call(other, signer, body).status_code == 200, "a fresh jti is still welcome there"


def test_no_csrf_token_or_cookie_is_needed(cds, signer):
    answer = call(cds, signer, hook({"mbtRecords": searchset([])}))
    assert answer.status_code == 200 and "Set-Cookie" not in answer.headers


def test_feedback_is_accepted_and_logged(cds, signer, caplog):
    caplog.set_level(logging.INFO)
    feedback = {"feedback": [{"card": "c-1", "outcome": "overridden", "outcomeTimestamp": "2026-11-30T10:00:00Z",
                              "overrideReason": {"reason": {"code": "already-done", "display": "Done"}}}]}
    path = "/cds-services/mbt-patient-view/feedback"
    answer = call(cds, signer, feedback, audience=f"{SERVICE}/feedback", path=path)
    assert answer.status_code == 200
    assert "c-1 overridden" in caplog.text and "already-done" in caplog.text
    assert cds.post(path, json=feedback).status_code == 401
    assert call(cds, signer, {"nope": 1}, audience=f"{SERVICE}/feedback", path=path).status_code == 400


def test_cds_clients_are_read_from_the_environment():
    from smart_app.config import cds_clients, from_environment

    assert cds_clients("https://ehr.a=https://ehr.a/jwks, https://ehr.b=https://ehr.b/keys?x=1") == {
        "https://ehr.a": "https://ehr.a/jwks", "https://ehr.b": "https://ehr.b/keys?x=1"}
    assert from_environment({})["MBT_CDS_CLIENTS"] == {}
    with pytest.raises(ValueError):
        cds_clients("https://ehr.a")
    config = from_environment({"MBT_CDS_SESSION_GAP_WEEKS": "4", "MBT_CDS_RFQ8_WEEKS": "8",
                               "MBT_CDS_TIME_BUDGET": "0.5"})
    assert (config["MBT_CDS_SESSION_GAP_WEEKS"], config["MBT_CDS_RFQ8_WEEKS"], config["MBT_CDS_TIME_BUDGET"]) == (4, 8, 0.5)


def test_prefetch_larger_than_a_form_post_is_accepted_but_bounded(cds_app, rsps, signer):
    rsps.get(JWKS_URL, json=signer.jwks())
    cds_app.config["MBT_CDS_MAX_BODY"] = 4096
    client = cds_app.test_client()
    big = hook({"mbtRecords": searchset(steady() * 3)})
    assert call(client, signer, big).status_code == 413
    cds_app.config["MBT_CDS_MAX_BODY"] = 64 * 1024 * 1024
    assert call(client, signer, big).status_code == 200
