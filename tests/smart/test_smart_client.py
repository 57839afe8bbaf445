"""SmartClient end to end with a mocked EHR: launch, token, errors, refresh, and FHIR calls."""

import base64
from urllib.parse import parse_qs

import pytest
import requests
import responses

from fhir_mbt.client import BearerAuth, FhirClient, Unauthorized
from fhir_mbt.smart import (
    AuthorizationDenied,
    ClientSecretBasic,
    InvalidClient,
    InvalidGrant,
    IssuerNotAllowed,
    MalformedTokenResponse,
    PrivateKeyJwt,
    RefreshUnavailable,
    SmartTransportError,
    StateMismatch,
    TokenError,
)

from .ehr import AUTHORIZE, CLIENT_ID, ISS, JWKS, NOW, REDIRECT, SCOPE, TOKEN, token_body, well_known

WELL_KNOWN = f"{ISS}/.well-known/smart-configuration"


def form(call):
    return {k: v[0] for k, v in parse_qs(call.request.body).items()}


def launch(smart, rsps, launch="L-1"):
    rsps.get(WELL_KNOWN, json=well_known())
    url, pending = smart.authorize(ISS, launch=launch)
    return url, pending


def test_ehr_launch_from_start_to_finish(make_client, sign, jwks, rsps):
    smart = make_client()
    url, pending = launch(smart, rsps)
    assert url.startswith(AUTHORIZE + "?")
    rsps.post(TOKEN, json=token_body(id_token=sign(), fhirContext=[{"reference": "Appointment/a-1"}]))
    rsps.get(JWKS, json=jwks)
    tokens = smart.complete(pending, {"state": pending.state, "code": "CODE-secret-1"})
    assert tokens.patient == "p-1" and tokens.fhir_user == "Practitioner/pr-1"
    assert tokens.context.fhir_context[0].reference == "Appointment/a-1"
    assert tokens.scope.can("Observation", "create")
    sent = form(rsps.calls[1])
    assert sent == {"grant_type": "authorization_code", "code": "CODE-secret-1", "redirect_uri": REDIRECT,
                    "code_verifier": pending.code_verifier, "client_id": CLIENT_ID}
    assert rsps.calls[1].request.headers["Content-Type"] == "application/x-www-form-urlencoded"
    assert "Authorization" not in rsps.calls[1].request.headers


def test_unlisted_issuer_is_refused_before_any_request(make_client):
    with responses.RequestsMock(assert_all_requests_are_fired=False) as rsps:
        smart = make_client()
        with pytest.raises(IssuerNotAllowed):
            smart.authorize("https://evil.example/fhir", launch="L-1")
        with pytest.raises(IssuerNotAllowed):
            smart.discover("https://ehr.example/fhir-other")
        assert len(rsps.calls) == 0


def test_refresh_against_an_unlisted_issuer_is_refused(make_client, rsps):
    from fhir_mbt.smart._tokens import parse_token_response
    tokens = parse_token_response(token_body(), issuer="https://evil.example/fhir", requested_scope=SCOPE,
                                  now=NOW)
    with pytest.raises(IssuerNotAllowed):
        make_client().refresh(tokens)
    assert len(rsps.calls) == 0


def test_state_mismatch_sends_no_token_request(make_client, rsps):
    smart = make_client()
    _, pending = launch(smart, rsps)
    with pytest.raises(StateMismatch):
        smart.complete(pending, {"state": "forged", "code": "CODE-secret-1"})
    with pytest.raises(StateMismatch):
        smart.complete(None, {"state": pending.state, "code": "CODE-secret-1"})
    assert len(rsps.calls) == 1


def test_denied_authorization(make_client, rsps):
    smart = make_client()
    _, pending = launch(smart, rsps)
    with pytest.raises(AuthorizationDenied) as info:
        smart.complete(pending, {"state": pending.state, "error": "access_denied"})
    assert info.value.error == "access_denied"


@pytest.mark.parametrize("status, body, cls, error", [
    (400, {"error": "invalid_grant", "error_description": "code expired"}, InvalidGrant, "invalid_grant"),
    (401, {"error": "invalid_client", "error_description": "bad secret"}, InvalidClient, "invalid_client"),
    (401, None, InvalidClient, None),
    (400, {"error": "invalid_scope"}, TokenError, "invalid_scope"),
    (500, "<html>oops</html>", TokenError, None),
])
def test_token_endpoint_errors_are_typed(make_client, rsps, status, body, cls, error):
    smart = make_client()
    _, pending = launch(smart, rsps)
    if isinstance(body, dict):
        rsps.post(TOKEN, status=status, json=body)
    else:
        rsps.post(TOKEN, status=status, body=body or "")
    with pytest.raises(cls) as info:
        smart.complete(pending, {"state": pending.state, "code": "CODE-secret-1"})
    assert type(info.value) is cls
    assert info.value.error == error
    assert info.value.response.status_code == status
    if isinstance(body, dict) and "error_description" in body:
        assert info.value.error_description == body["error_description"]
    assert "CODE-secret-1" not in str(info.value)


@pytest.mark.parametrize("body", ["not json", "[]"])
def test_token_success_that_is_not_an_object(make_client, rsps, body):
    smart = make_client()
    _, pending = launch(smart, rsps)
    rsps.post(TOKEN, body=body, content_type="application/json")
    with pytest.raises(MalformedTokenResponse):
        smart.complete(pending, {"state": pending.state, "code": "c"})


def test_token_endpoint_timeout(make_client, rsps):
    smart = make_client()
    _, pending = launch(smart, rsps)
    rsps.post(TOKEN, body=requests.exceptions.ReadTimeout("slow"))
    with pytest.raises(SmartTransportError):
        smart.complete(pending, {"state": pending.state, "code": "c"})
    assert len([c for c in rsps.calls if c.request.url == TOKEN]) == 1


def test_token_endpoint_redirect_is_not_followed(make_client, rsps):
    smart = make_client()
    _, pending = launch(smart, rsps)
    rsps.post(TOKEN, status=307, headers={"Location": "https://evil.example/token"})
    with pytest.raises(TokenError):
        smart.complete(pending, {"state": pending.state, "code": "c"})
    assert all("evil" not in c.request.url for c in rsps.calls)


def test_tampered_id_token_fails_the_launch(make_client, sign, jwks, rsps):
    smart = make_client()
    _, pending = launch(smart, rsps)
    good = sign()
    rsps.post(TOKEN, json=token_body(id_token=good[:-4] + ("AAAA" if not good.endswith("AAAA") else "BBBB")))
    rsps.get(JWKS, json=jwks)
    from fhir_mbt.smart import IdTokenInvalid
    with pytest.raises(IdTokenInvalid):
        smart.complete(pending, {"state": pending.state, "code": "c"})


def test_client_secret_basic_exchange(make_client, rsps):
    smart = make_client(client_auth=ClientSecretBasic(CLIENT_ID, "SECRET-1"))
    _, pending = launch(smart, rsps)
    rsps.post(TOKEN, json=token_body(scope="launch patient/Observation.rs"))
    smart.complete(pending, {"state": pending.state, "code": "c"})
    call = rsps.calls[1]
    assert "client_id" not in form(call)
    assert base64.b64decode(call.request.headers["Authorization"].split()[1]) == b"mbt-app:SECRET-1"


def test_private_key_jwt_exchange(make_client, clock, ec_server_key, rsps):
    import jwt
    auth = PrivateKeyJwt(CLIENT_ID, ec_server_key, kid="app-1", alg="ES384", clock=clock)
    smart = make_client(client_auth=auth)
    _, pending = launch(smart, rsps)
    rsps.post(TOKEN, json=token_body(scope="launch patient/Observation.rs"))
    smart.complete(pending, {"state": pending.state, "code": "c"})
    sent = form(rsps.calls[1])
    assert sent["client_assertion_type"] == "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"
    claims = jwt.decode(sent["client_assertion"], ec_server_key.public_key(), algorithms=["ES384"],
                        audience=TOKEN, options={"verify_exp": False})
    assert claims["iss"] == claims["sub"] == CLIENT_ID and claims["exp"] <= NOW + 300


def test_client_auth_for_another_client_id_is_refused(make_client):
    with pytest.raises(ValueError):
        make_client(client_auth=ClientSecretBasic("someone-else", "x"))


# -- refresh -----------------------------------------------------------------------------

@pytest.fixture
def launched(make_client, rsps):
    smart = make_client()
    _, pending = launch(smart, rsps)
    rsps.post(TOKEN, json=token_body(scope="launch patient/Observation.crs"))
    return smart, smart.complete(pending, {"state": pending.state, "code": "c"})


def test_refresh_replaces_a_rotated_refresh_token(launched, rsps):
    smart, tokens = launched
    rsps.post(TOKEN, json=token_body(access_token="AT-2", refresh_token="RT-2", patient=None,
                                     encounter=None))
    fresh = smart.refresh(tokens)
    assert form(rsps.calls[-1]) == {"grant_type": "refresh_token", "refresh_token": "RT-secret-1",
                                    "client_id": CLIENT_ID}
    assert (fresh.access_token, fresh.refresh_token) == ("AT-2", "RT-2")
    assert fresh.patient == "p-1"


def test_refresh_keeps_the_refresh_token_when_none_is_returned(launched, clock, rsps):
    smart, tokens = launched
    clock.now += 100
    rsps.post(TOKEN, json=token_body(access_token="AT-2", refresh_token=None, expires_in=60))
    fresh = smart.refresh(tokens)
    assert fresh.refresh_token == "RT-secret-1" and fresh.expires_at == NOW + 160


def test_refresh_without_refresh_token(launched, rsps):
    from dataclasses import replace
    smart, tokens = launched
    with pytest.raises(RefreshUnavailable):
        smart.refresh(replace(tokens, refresh_token=None))


def test_refresh_with_revoked_token_is_invalid_grant(launched, rsps):
    smart, tokens = launched
    rsps.post(TOKEN, status=400, json={"error": "invalid_grant"})
    with pytest.raises(InvalidGrant):
        smart.refresh(tokens)


def test_expiry_then_refresh_then_retry_once(launched, clock, rsps):
    smart, tokens = launched
    stored = []

    def refresher(old):
        new = smart.refresh(old)
        stored.append(new)
        return new

    fhir = FhirClient(ISS, auth=BearerAuth(tokens, refresher, clock=clock))
    rsps.post(f"{ISS}/Observation", status=401)
    rsps.post(TOKEN, json=token_body(access_token="AT-2", refresh_token="RT-2"))
    rsps.post(f"{ISS}/Observation", status=201, json={"resourceType": "Observation", "id": "o1"})
    assert fhir.create({"resourceType": "Observation"}).created
    fhir_calls = [c for c in rsps.calls if c.request.url.startswith(ISS + "/Observation")]
    assert [c.request.headers["Authorization"] for c in fhir_calls] == ["Bearer AT-secret-1", "Bearer AT-2"]
    assert [t.access_token for t in stored] == ["AT-2"]


def test_expired_access_token_is_refreshed_before_the_call(launched, clock, rsps):
    smart, tokens = launched
    clock.now = tokens.expires_at + 1
    fhir = FhirClient(ISS, auth=BearerAuth(tokens, smart.refresh, clock=clock))
    rsps.post(TOKEN, json=token_body(access_token="AT-2"))
    rsps.get(f"{ISS}/Patient/p-1", json={"resourceType": "Patient", "id": "p-1"})
    fhir.read("Patient", "p-1")
    assert rsps.calls[-1].request.headers["Authorization"] == "Bearer AT-2"


def test_refresh_failing_on_401_is_unauthorized_after_one_attempt(launched, clock, rsps):
    smart, tokens = launched
    auth = BearerAuth(tokens, smart.refresh, clock=clock)
    rsps.get(f"{ISS}/Patient/p-1", status=401)
    rsps.post(TOKEN, status=400, json={"error": "invalid_grant"})
    with pytest.raises(Unauthorized):
        FhirClient(ISS, auth=auth).read("Patient", "p-1")
    assert isinstance(auth.refresh_error, InvalidGrant)
    assert len([c for c in rsps.calls if "/Patient/" in c.request.url]) == 1


def test_a_timeout_is_required(make_client):
    with pytest.raises(ValueError):
        make_client(timeout=None)
