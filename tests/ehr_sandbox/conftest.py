"""The sandbox with a mocked upstream FHIR server, and helpers to walk a launch."""

from __future__ import annotations

import base64
import hashlib
import secrets
from urllib.parse import parse_qs, urlsplit

import pytest
import responses
from cryptography.hazmat.primitives.asymmetric import rsa

from ehr_sandbox import create_app
from ehr_sandbox.store import Store

UPSTREAM = "http://hapi.test/fhir"
PUBLIC = "http://localhost"
FHIR = f"{PUBLIC}/fhir"
CLIENT = "mbt-app"
REDIRECT = "http://127.0.0.1:5000/callback"
CONFIDENTIAL = "mbt-confidential"
SECRET = "s3cret:with/odd&chars"
CONF_REDIRECT = "http://127.0.0.1:5001/callback"
APP_LAUNCH = "http://127.0.0.1:5000/launch"
APP_SCOPES = ("launch openid fhirUser online_access patient/Patient.r "
              "patient/QuestionnaireResponse.crus patient/Observation.crus patient/Provenance.c")


class Clock:
    def __init__(self, now: float = 1_700_000_000.0):
        self.now = now

    def __call__(self) -> float:
        return self.now


def bundle(*resources, link=None):
    body = {"resourceType": "Bundle", "type": "searchset", "total": len(resources),
            "entry": [{"fullUrl": f"{UPSTREAM}/{r['resourceType']}/{r['id']}", "resource": r}
                      for r in resources]}
    if link:
        body["link"] = link
    return body


PETER = {"resourceType": "Patient", "id": "peter", "name": [{"given": ["Peter"], "family": "Example"}],
         "birthDate": "1990-01-01"}
ANNA = {"resourceType": "Patient", "id": "anna", "name": [{"text": "Anna <b>Bold</b>"}]}
DOC = {"resourceType": "Practitioner", "id": "doc1", "name": [{"given": ["Dana"], "family": "Doctor"}]}


@pytest.fixture
def clock():
    return Clock()


@pytest.fixture(scope="session")
def signing_key():
    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


@pytest.fixture
def app(clock, signing_key):
    return create_app({
        "SANDBOX_SIGNING_KEY": signing_key,
        "TESTING": True,
        "SANDBOX_UPSTREAM": UPSTREAM,
        "SANDBOX_PUBLIC_BASE": PUBLIC,
        "SANDBOX_APP_LAUNCH_URL": APP_LAUNCH,
        "SANDBOX_CLIENTS": {
            CLIENT: {"redirect_uris": [REDIRECT]},
            CONFIDENTIAL: {"redirect_uris": [CONF_REDIRECT], "secret": SECRET,
                           "scopes": "launch launch/patient openid fhirUser offline_access patient/*.rs"},
        },
        "SANDBOX_TOKEN_LIFETIME": 300,
        "SANDBOX_STORE": Store(clock=clock),
    })


@pytest.fixture
def client(app):
    return app.test_client()


@pytest.fixture
def sb(client, upstream):
    """The sandbox, driven through its test client, upstream mocked."""
    return Driver(client, upstream)


@pytest.fixture
def upstream():
    with responses.RequestsMock(assert_all_requests_are_fired=False) as mock:
        mock.get(f"{UPSTREAM}/Patient", json=bundle(PETER, ANNA))
        mock.get(f"{UPSTREAM}/Practitioner", json=bundle(DOC))
        yield mock


def pkce() -> tuple[str, str]:
    verifier = secrets.token_urlsafe(48)
    challenge = base64.urlsafe_b64encode(hashlib.sha256(verifier.encode()).digest()).rstrip(b"=").decode()
    return verifier, challenge


def query_of(url: str) -> dict[str, str]:
    return {k: v[0] for k, v in parse_qs(urlsplit(url).query).items()}


class Driver:
    """Walks the sandbox through launches; the constants tests compare against."""

    UPSTREAM, PUBLIC, FHIR, CLIENT, REDIRECT = UPSTREAM, PUBLIC, FHIR, CLIENT, REDIRECT
    CONFIDENTIAL, SECRET, CONF_REDIRECT, APP_LAUNCH = CONFIDENTIAL, SECRET, CONF_REDIRECT, APP_LAUNCH
    APP_SCOPES, PETER, ANNA, DOC = APP_SCOPES, PETER, ANNA, DOC
    pkce = staticmethod(pkce)
    query_of = staticmethod(query_of)
    bundle = staticmethod(bundle)

    def __init__(self, client, upstream):
        self.client = client
        self.upstream = upstream

    def ehr_launch(self, patient="peter", practitioner="doc1", encounter="", **extra) -> str:
        """The launch id the launch page hands the app."""
        response = self.client.post("/launch", data={
            "patient": patient, "practitioner": practitioner, "encounter": encounter,
            "app_launch_url": APP_LAUNCH, **extra})
        assert response.status_code == 303
        location = response.headers["Location"]
        assert location.startswith(APP_LAUNCH + "?")
        params = query_of(location)
        assert params["iss"] == FHIR
        return params["launch"]

    def authorize_params(self, challenge: str, **changes) -> dict[str, str]:
        params = {
            "response_type": "code",
            "client_id": CLIENT,
            "redirect_uri": REDIRECT,
            "scope": APP_SCOPES,
            "state": "state-" + secrets.token_urlsafe(8),
            "aud": FHIR,
            "code_challenge": challenge,
            "code_challenge_method": "S256",
        }
        params.update(changes)
        return {k: v for k, v in params.items() if v is not None}

    def code_for(self, launch: str | None = None, **changes) -> tuple[str, str]:
        """(code, verifier) from an EHR launch, approved at once."""
        verifier, challenge = pkce()
        params = self.authorize_params(challenge, launch=launch or self.ehr_launch(), **changes)
        response = self.client.get("/authorize", query_string=params)
        assert response.status_code == 302, response.get_data(as_text=True)
        answer = query_of(response.headers["Location"])
        assert answer["state"] == params["state"], answer
        return answer["code"], verifier

    def exchange(self, code: str, verifier: str, redirect_uri: str = REDIRECT, client_id: str = CLIENT):
        return self.client.post("/token", data={
            "grant_type": "authorization_code", "code": code, "redirect_uri": redirect_uri,
            "code_verifier": verifier, "client_id": client_id})

    def tokens(self, **changes) -> dict:
        code, verifier = self.code_for(**changes)
        response = self.exchange(code, verifier)
        assert response.status_code == 200, response.get_data(as_text=True)
        return response.get_json()

    def refresh(self, refresh_token: str, client_id: str = CLIENT):
        return self.client.post("/token", data={
            "grant_type": "refresh_token", "refresh_token": refresh_token, "client_id": client_id})
