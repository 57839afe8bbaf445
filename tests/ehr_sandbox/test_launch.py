"""Discovery, the launch page and the authorize endpoint."""

from __future__ import annotations

from urllib.parse import parse_qsl, urlsplit

import requests
import responses

UPSTREAM = "http://hapi.test/fhir"


def test_smart_configuration(sb):
    doc = sb.client.get("/fhir/.well-known/smart-configuration").get_json()
    assert doc["issuer"] == sb.PUBLIC
    assert doc["authorization_endpoint"] == f"{sb.PUBLIC}/authorize"
    assert doc["token_endpoint"] == f"{sb.PUBLIC}/token"
    assert doc["jwks_uri"] == f"{sb.PUBLIC}/jwks"
    assert doc["code_challenge_methods_supported"] == ["S256"]
    assert doc["response_types_supported"] == ["code"]
    assert doc["token_endpoint_auth_methods_supported"] == ["client_secret_basic", "none"]
    assert set(doc["grant_types_supported"]) == {"authorization_code", "refresh_token"}
    for capability in ("launch-ehr", "launch-standalone", "client-public", "client-confidential-symmetric",
                       "context-ehr-patient", "context-standalone-patient", "permission-v2",
                       "permission-v1", "sso-openid-connect", "context-banner"):
        assert capability in doc["capabilities"]
    assert "openid" in doc["scopes_supported"]


def test_jwks_publishes_one_rsa_signing_key(sb):
    keys = sb.client.get("/jwks").get_json()["keys"]
    assert len(keys) == 1
    assert keys[0]["kty"] == "RSA" and keys[0]["use"] == "sig" and keys[0]["kid"]
    assert "d" not in keys[0]


def test_launch_page_lists_patients_and_practitioners_escaped(sb):
    page = sb.client.get("/").get_data(as_text=True)
    assert 'value="peter"' in page and "Peter Example" in page
    assert "Anna &lt;b&gt;Bold&lt;/b&gt;" in page and "<b>Bold" not in page
    assert 'value="doc1"' in page and "Dana Doctor" in page
    assert sb.APP_LAUNCH in page
    assert "development tool" in page.lower()
    calls = [c.request.url for c in sb.upstream.calls]
    assert f"{sb.UPSTREAM}/Patient?_count=50" in calls
    assert f"{sb.UPSTREAM}/Practitioner?_count=50" in calls


def test_launch_page_says_when_the_server_cannot_be_read(client):
    with responses.RequestsMock() as mock:
        mock.get(f"{UPSTREAM}/Patient", body=requests.ConnectionError("refused"))
        page = client.get("/")
    assert page.status_code == 200
    assert "could not be read" in page.get_data(as_text=True)


def test_launch_redirects_to_the_app_with_iss_and_an_opaque_launch(sb):
    launch = sb.ehr_launch()
    assert len(launch) >= 32 and "peter" not in launch


def test_launch_refuses_a_bad_patient_id_or_app_url(sb):
    assert sb.client.post("/launch", data={"patient": "../x"}).status_code == 400
    response = sb.client.post("/launch", data={"patient": "peter", "app_launch_url": "javascript:alert(1)"})
    assert response.status_code == 400


def test_ehr_launch_gives_code_then_tokens_with_context(sb):
    launch = sb.ehr_launch(encounter="enc-1")
    body = sb.tokens(launch=launch, scope=sb.APP_SCOPES + " launch/encounter")
    assert body["token_type"] == "Bearer"
    assert body["patient"] == "peter"
    assert body["encounter"] == "enc-1"
    assert body["need_patient_banner"] is True
    assert "smart_style_url" not in body
    assert body["expires_in"] == 300
    assert body["refresh_token"] and body["access_token"] != body["refresh_token"]
    assert set(body["scope"].split()) == set(sb.APP_SCOPES.split()) | {"launch/encounter"}
    assert "appContext" not in body


def test_a_card_launch_hands_the_cards_app_context_to_the_app_as_given(sb):
    context = '{"records":["QuestionnaireResponse/r1"]}'
    body = sb.tokens(launch=sb.ehr_launch(app_context=context))
    assert body["appContext"] == context
    assert sb.client.post("/launch", data={"patient": "peter", "app_context": "x" * 5000}).status_code == 400


def test_launch_encounter_not_granted_without_an_encounter(sb):
    body = sb.tokens(scope=sb.APP_SCOPES + " launch/encounter")
    assert "encounter" not in body
    assert "launch/encounter" not in body["scope"].split()


def test_standalone_launch_picks_a_patient(sb):
    verifier, challenge = sb.pkce()
    params = sb.authorize_params(challenge, scope="launch/patient openid fhirUser patient/Observation.rs")
    page = sb.client.get("/authorize", query_string=params)
    assert page.status_code == 200
    html = page.get_data(as_text=True)
    assert 'name="patient"' in html and 'value="anna"' in html
    request_id = html.split('name="request_id" value="')[1].split('"')[0]
    answer = sb.client.post("/authorize/decision", data={
        "request_id": request_id, "patient": "anna", "practitioner": "doc1", "decision": "approve"})
    assert answer.status_code == 302
    back = sb.query_of(answer.headers["Location"])
    assert back["state"] == params["state"]
    body = sb.exchange(back["code"], verifier).get_json()
    assert body["patient"] == "anna"
    assert set(body["scope"].split()) == {"launch/patient", "openid", "fhirUser", "patient/Observation.rs"}
    again = sb.client.post("/authorize/decision", data={"request_id": request_id, "decision": "approve",
                                                        "patient": "anna"})
    assert again.status_code == 400


def test_standalone_launch_can_be_denied(sb):
    _, challenge = sb.pkce()
    params = sb.authorize_params(challenge, scope="launch/patient patient/Observation.rs")
    html = sb.client.get("/authorize", query_string=params).get_data(as_text=True)
    request_id = html.split('name="request_id" value="')[1].split('"')[0]
    answer = sb.client.post("/authorize/decision", data={"request_id": request_id, "decision": "deny"})
    back = sb.query_of(answer.headers["Location"])
    assert answer.headers["Location"].startswith(sb.REDIRECT + "?")
    assert back["error"] == "access_denied" and back["state"] == params["state"]
    assert "code" not in back


def test_authorize_via_post_form(sb):
    verifier, challenge = sb.pkce()
    params = sb.authorize_params(challenge, launch=sb.ehr_launch())
    answer = sb.client.post("/authorize", data=params)
    assert answer.status_code == 302
    assert sb.exchange(sb.query_of(answer.headers["Location"])["code"], verifier).status_code == 200


def _authorize(sb, **changes):
    _, challenge = sb.pkce()
    changes.setdefault("launch", sb.ehr_launch())
    params = sb.authorize_params(challenge, **changes)
    return sb.client.get("/authorize", query_string=params), params


def test_unknown_client_or_redirect_uri_get_a_page_not_a_redirect(sb):
    for changes in ({"client_id": "nobody"}, {"redirect_uri": sb.REDIRECT + "/x"},
                    {"redirect_uri": "http://127.0.0.1:5000/Callback"}, {"redirect_uri": None}):
        response, _ = _authorize(sb, **changes)
        assert response.status_code == 400, changes
        assert "Location" not in response.headers


def _error(response) -> dict[str, str]:
    assert response.status_code == 302
    assert response.headers["Location"].startswith("http://127.0.0.1:5000/callback?")
    return dict(parse_qsl(urlsplit(response.headers["Location"]).query))


def test_plain_challenge_method_is_refused(sb):
    response, params = _authorize(sb, code_challenge_method="plain")
    error = _error(response)
    assert error["error"] == "invalid_request" and error["state"] == params["state"]
    assert "code" not in error
    response, _ = _authorize(sb, code_challenge_method=None)
    assert _error(response)["error"] == "invalid_request"
    response, _ = _authorize(sb, code_challenge="too-short")
    assert _error(response)["error"] == "invalid_request"


def test_other_authorize_errors_go_back_to_the_app(sb):
    response, _ = _authorize(sb, aud="http://elsewhere.test/fhir")
    assert _error(response)["error"] == "invalid_request"
    response, _ = _authorize(sb, state=None)
    error = _error(response)
    assert error["error"] == "invalid_request" and "state" not in error
    response, _ = _authorize(sb, response_type="token")
    assert _error(response)["error"] == "unsupported_response_type"
    response, _ = _authorize(sb, launch="not-a-launch")
    assert _error(response)["error"] == "invalid_request"


def test_aud_may_carry_a_trailing_slash(sb):
    response, _ = _authorize(sb, aud=sb.FHIR + "/")
    assert "code" in sb.query_of(response.headers["Location"])


def test_only_scopes_allowed_for_the_client_are_granted(sb):
    verifier, challenge = sb.pkce()
    params = sb.authorize_params(
        challenge, client_id=sb.CONFIDENTIAL, redirect_uri=sb.CONF_REDIRECT, launch=sb.ehr_launch(),
        scope="launch openid patient/Observation.rs patient/Observation.c user/Patient.r "
              "patient/Condition.rs?category=x system/Patient.r")
    back = sb.query_of(sb.client.get("/authorize", query_string=params).headers["Location"])
    response = sb.client.post("/token", data={
        "grant_type": "authorization_code", "code": back["code"], "redirect_uri": sb.CONF_REDIRECT,
        "code_verifier": verifier}, auth=(sb.CONFIDENTIAL, sb.SECRET))
    assert response.status_code == 200, response.get_json()
    assert response.get_json()["scope"] == "launch openid patient/Observation.rs"
