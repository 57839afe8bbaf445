"""The library's own SMART and FHIR clients against the sandbox served on a loopback port.

No browser: the authorize redirect is followed by hand. The upstream FHIR
server is mocked; requests to the sandbox itself pass through to it.
"""

from __future__ import annotations

import threading
from urllib.parse import parse_qsl, urlsplit

import pytest
import requests
import responses
from werkzeug.serving import make_server

from ehr_sandbox import create_app
from fhir_mbt.client import BearerAuth, FhirClient
from fhir_mbt.smart import ClientSecretBasic, SmartClient
from smart_app.ehr import EHR_SCOPES

UPSTREAM = "http://hapi.test/fhir"
REDIRECT = "http://127.0.0.1:5000/callback"
PETER = {"resourceType": "Patient", "id": "peter", "name": [{"family": "Example"}]}


@pytest.fixture
def served(signing_key):
    server = make_server("127.0.0.1", 0, None, threaded=True)
    public = f"http://127.0.0.1:{server.server_port}"
    server.app = create_app({
        "SANDBOX_UPSTREAM": UPSTREAM,
        "SANDBOX_PUBLIC_BASE": public,
        "SANDBOX_SIGNING_KEY": signing_key,
        "SANDBOX_CLIENTS": {
            "fhir-mbt": {"redirect_uris": [REDIRECT]},
            "fhir-mbt-confidential": {"redirect_uris": [REDIRECT], "secret": "top:secret"},
        },
    })
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        with responses.RequestsMock(assert_all_requests_are_fired=False) as upstream:
            upstream.add_passthru(public)
            upstream.get(f"{UPSTREAM}/Patient/peter", json=PETER)
            yield public, upstream
    finally:
        server.shutdown()
        thread.join(5)
        server.server_close()


@pytest.mark.parametrize("confidential", [False, True], ids=["public", "confidential"])
def test_smart_client_launches_reads_and_refreshes_through_the_sandbox(served, confidential):
    public, upstream = served
    fhir_base = f"{public}/fhir"
    client_id = "fhir-mbt-confidential" if confidential else "fhir-mbt"
    with requests.Session() as browser, requests.Session() as app_session, \
            requests.Session() as fhir_session:
        launched = browser.post(f"{public}/launch", data={
            "patient": "peter", "practitioner": "doc1", "app_launch_url": "http://127.0.0.1:5000/launch"},
            allow_redirects=False)
        launch = dict(parse_qsl(urlsplit(launched.headers["Location"]).query))
        assert launch["iss"] == fhir_base

        smart = SmartClient(client_id=client_id, redirect_uri=REDIRECT, scope=EHR_SCOPES,
                            issuers=[fhir_base], session=app_session,
                            client_auth=ClientSecretBasic(client_id, "top:secret") if confidential else None)
        url, pending = smart.authorize(launch["iss"], launch=launch["launch"])
        answer = browser.get(url, allow_redirects=False)
        assert answer.status_code == 302
        assert answer.headers["Location"].startswith(REDIRECT + "?")
        tokens = smart.complete(pending, dict(parse_qsl(urlsplit(answer.headers["Location"]).query)))

        assert tokens.patient == "peter"
        assert tokens.fhir_user == f"{fhir_base}/Practitioner/doc1"
        assert tokens.context.need_patient_banner is True
        assert tokens.scope.can("QuestionnaireResponse", "create")
        assert not tokens.expired()

        fhir = FhirClient(tokens.issuer, auth=BearerAuth(tokens, smart.refresh), session=fhir_session)
        assert fhir.read("Patient", "peter")["id"] == "peter"
        assert upstream.calls[-1].request.url == f"{UPSTREAM}/Patient/peter"

        fresh = smart.refresh(tokens)
        assert fresh.refresh_token != tokens.refresh_token
        assert fresh.access_token != tokens.access_token
        assert fresh.patient == "peter" and fresh.fhir_user == tokens.fhir_user
        again = browser.get(f"{fhir_base}/Patient/peter",
                            headers={"Authorization": f"Bearer {fresh.access_token}"})
        assert again.status_code == 200
