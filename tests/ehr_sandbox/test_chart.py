"""Opening a chart in the sandbox calls the CDS Hooks services and shows their cards above the Launch button."""

from __future__ import annotations

import json

import pytest
import responses

from ehr_sandbox import create_app
from ehr_sandbox.store import Store
from fhir_mbt.cds.client_auth import ClientNotTrusted, ClientVerifier

UPSTREAM = "http://hapi.test/fhir"  # as the sandbox tests' conftest sets it up
PUBLIC = "http://localhost"
PETER = {"resourceType": "Patient", "id": "peter", "name": [{"given": ["Peter"], "family": "Example"}]}
CDS = "http://cds.test"
SERVICE = f"{CDS}/cds-services/mbt-patient-view"
TEMPLATE = "QuestionnaireResponse?subject=Patient/{{context.patientId}}&_count=10"
RESPONSE = {"resourceType": "QuestionnaireResponse", "id": "qr1", "status": "completed",
            "subject": {"reference": "Patient/peter"}}
CARDS = [
    {"uuid": "w-1", "summary": "RFQ-8 review due", "indicator": "warning", "source": {"label": "MBT"},
     "links": [{"label": "javascript link", "url": "javascript:alert(1)", "type": "absolute"}]},
    {"uuid": "c-1", "summary": "Risk <b>reported</b>", "indicator": "critical",
     "detail": "- **2026-11-29**: thoughts \\<script\\>", "source": {"label": "MBT", "url": "http://fhir-mbt.org/fhir"},
     "links": [{"label": "Open MBT: record the follow-up", "url": "http://127.0.0.1:5000/launch", "type": "smart"}]},
]


def bundle(*resources):
    return {"resourceType": "Bundle", "type": "searchset",
            "entry": [{"fullUrl": f"{UPSTREAM}/{r['resourceType']}/{r['id']}", "resource": r} for r in resources]}


@pytest.fixture
def app(clock, signing_key):
    return create_app({"SANDBOX_SIGNING_KEY": signing_key, "TESTING": True, "SANDBOX_UPSTREAM": UPSTREAM,
                       "SANDBOX_PUBLIC_BASE": PUBLIC, "SANDBOX_CLIENTS": {"mbt-app": {"redirect_uris": ["http://a/cb"]}},
                       "SANDBOX_STORE": Store(clock=clock), "SANDBOX_CDS_SERVICES": CDS})


@pytest.fixture
def cds(upstream, client):
    seen: list = []
    upstream.get(f"{UPSTREAM}/Patient/peter", json=PETER)
    upstream.get(f"{UPSTREAM}/QuestionnaireResponse", json=bundle(RESPONSE))
    upstream.get(f"{PUBLIC}/jwks", json=client.get("/jwks").json)
    upstream.get(f"{CDS}/cds-services", json={"services": [
        {"hook": "patient-view", "id": "mbt-patient-view", "description": "d", "prefetch": {"records": TEMPLATE}},
        {"hook": "order-sign", "id": "other", "description": "not for charts"}]})

    def answer(request):
        seen.append(request)
        return 200, {}, json.dumps({"cards": CARDS})

    upstream.add_callback(responses.POST, SERVICE, callback=answer)
    return seen


def test_chart_shows_the_cards_most_urgent_first_above_the_launch_button(client, cds):
    page = client.get("/chart?patient=peter&practitioner=doc1")
    assert page.status_code == 200
    html = page.get_data(as_text=True)
    assert "Peter Example" in html
    critical, warning = html.index('data-indicator="critical"'), html.index('data-indicator="warning"')
    launch = html.index(">Launch</button>")
    assert critical < warning < launch
    assert "Risk &lt;b&gt;reported&lt;/b&gt;" in html and "&lt;script&gt;" in html and "<script>" not in html
    assert "<strong>2026-11-29</strong>" in html
    assert "javascript:" not in html
    assert 'value="http://127.0.0.1:5000/launch"' in html and "Open MBT: record the follow-up" in html


def test_the_hook_request_is_signed_prefetched_and_carries_a_read_token(client, cds, upstream):
    client.get("/chart?patient=peter&practitioner=doc1")
    [request] = cds
    body = json.loads(request.body)
    assert body["hook"] == "patient-view"
    assert body["context"] == {"patientId": "peter", "userId": "Practitioner/doc1"}
    assert body["fhirServer"] == f"{PUBLIC}/fhir"
    [entry] = body["prefetch"]["records"]["entry"]
    assert entry["fullUrl"].startswith(f"{PUBLIC}/fhir/"), "upstream address rewritten"
    prefetch_call = [c for c in upstream.calls if c.request.url.startswith(f"{UPSTREAM}/QuestionnaireResponse")]
    assert "subject=Patient%2Fpeter" in prefetch_call[0].request.url
    claims = ClientVerifier({PUBLIC: f"{PUBLIC}/jwks"}).verify(request.headers["Authorization"], SERVICE)
    assert claims["iss"] == PUBLIC and claims["exp"] - claims["iat"] <= 300
    with pytest.raises(ClientNotTrusted):
        ClientVerifier({PUBLIC: f"{PUBLIC}/jwks"}).verify(request.headers["Authorization"], f"{CDS}/cds-services/x")
    token = body["fhirAuthorization"]["access_token"]
    assert body["fhirAuthorization"]["patient"] == "peter" and body["fhirAuthorization"]["expires_in"] <= 300
    read = client.get("/fhir/QuestionnaireResponse?subject=Patient/peter", headers={"Authorization": f"Bearer {token}"})
    assert read.status_code == 200
    other = client.get("/fhir/QuestionnaireResponse?subject=Patient/anna", headers={"Authorization": f"Bearer {token}"})
    assert other.status_code == 403
    write = client.post("/fhir/Task", json={"resourceType": "Task", "for": {"reference": "Patient/peter"}},
                        headers={"Authorization": f"Bearer {token}", "Content-Type": "application/fhir+json"})
    assert write.status_code == 403, "the service's token reads only"


def test_a_failing_service_is_named_and_the_chart_still_opens(client, upstream):
    upstream.get(f"{UPSTREAM}/Patient/peter", json=PETER)
    upstream.get(f"{CDS}/cds-services", json={"services": [{"hook": "patient-view", "id": "svc", "description": "d"}]})
    upstream.post(f"{CDS}/cds-services/svc", status=500)
    page = client.get("/chart?patient=peter")
    assert page.status_code == 200
    html = page.get_data(as_text=True)
    assert "did not answer" in html and ">Launch</button>" in html


def test_no_cards_says_so(client, upstream):
    upstream.get(f"{UPSTREAM}/Patient/peter", json=PETER)
    upstream.get(f"{CDS}/cds-services", json={"services": [{"hook": "patient-view", "id": "svc", "description": "d"}]})
    upstream.post(f"{CDS}/cds-services/svc", json={"cards": []})
    assert "No decision-support cards" in client.get("/chart?patient=peter").get_data(as_text=True)


def test_dismissing_a_card_sends_feedback(client, cds, upstream):
    upstream.post(f"{SERVICE}/feedback", json={})
    answer = client.post("/chart/feedback", data={"service": "mbt-patient-view", "card": "c-1"})
    assert answer.status_code == 200
    [sent] = [c.request for c in upstream.calls if c.request.url == f"{SERVICE}/feedback"]
    assert json.loads(sent.body)["feedback"][0] == {**json.loads(sent.body)["feedback"][0], "card": "c-1",
                                                    "outcome": "overridden"}
    assert sent.headers["Authorization"].startswith("Bearer ")


@pytest.mark.parametrize("query", ["", "patient=../x", "patient=peter&practitioner=a/b"])
def test_bad_chart_requests_are_400(client, upstream, query):
    assert client.get(f"/chart?{query}").status_code == 400


def test_the_launch_page_offers_to_open_the_chart(client, upstream):
    assert "Open chart" in client.get("/").get_data(as_text=True)
