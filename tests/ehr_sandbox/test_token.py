"""The token endpoint: PKCE, single-use codes, client authentication, id_token, refresh."""

from __future__ import annotations

import base64

import jwt


def _bearer(sb, token: str):
    sb.upstream.get(f"{sb.UPSTREAM}/Patient/peter", json=sb.PETER)
    return sb.client.get("/fhir/Patient/peter", headers={"Authorization": f"Bearer {token}"})


def test_token_response_is_not_cached(sb):
    code, verifier = sb.code_for()
    response = sb.exchange(code, verifier)
    assert response.headers["Cache-Control"] == "no-store"
    assert response.headers["Pragma"] == "no-cache"
    error = sb.exchange(code, verifier)
    assert error.headers["Cache-Control"] == "no-store"


def test_wrong_verifier_is_invalid_grant_and_spends_the_code(sb):
    code, verifier = sb.code_for()
    other, _ = sb.pkce()
    response = sb.exchange(code, other)
    assert response.status_code == 400
    assert response.get_json()["error"] == "invalid_grant"
    assert sb.exchange(code, verifier).get_json()["error"] == "invalid_grant"


def test_missing_or_malformed_verifier_is_invalid_grant(sb):
    code, _ = sb.code_for()
    assert sb.exchange(code, "").get_json()["error"] == "invalid_grant"


def test_reused_code_is_refused_and_revokes_its_tokens(sb):
    code, verifier = sb.code_for()
    first = sb.exchange(code, verifier).get_json()
    assert _bearer(sb, first["access_token"]).status_code == 200
    again = sb.exchange(code, verifier)
    assert again.status_code == 400 and again.get_json()["error"] == "invalid_grant"
    assert _bearer(sb, first["access_token"]).status_code == 401
    assert sb.refresh(first["refresh_token"]).get_json()["error"] == "invalid_grant"


def test_wrong_redirect_uri_at_the_token_endpoint(sb):
    code, verifier = sb.code_for()
    response = sb.exchange(code, verifier, redirect_uri="http://127.0.0.1:5000/other")
    assert response.get_json()["error"] == "invalid_grant"


def test_code_expires_after_60_seconds(sb, clock):
    code, verifier = sb.code_for()
    clock.now += 61
    assert sb.exchange(code, verifier).get_json()["error"] == "invalid_grant"


def test_code_is_bound_to_its_client(sb):
    code, verifier = sb.code_for()
    response = sb.client.post("/token", data={
        "grant_type": "authorization_code", "code": code, "redirect_uri": sb.REDIRECT,
        "code_verifier": verifier}, auth=(sb.CONFIDENTIAL, sb.SECRET))
    assert response.get_json()["error"] == "invalid_grant"


def test_client_authentication(sb):
    code, verifier = sb.code_for()
    unknown = sb.exchange(code, verifier, client_id="nobody")
    assert unknown.status_code == 401 and unknown.get_json()["error"] == "invalid_client"
    no_client = sb.client.post("/token", data={"grant_type": "authorization_code", "code": code})
    assert no_client.status_code == 401
    # the confidential client must send its secret, and the right one
    data = {"grant_type": "authorization_code", "code": "x", "redirect_uri": sb.CONF_REDIRECT,
            "code_verifier": verifier}
    assert sb.client.post("/token", data={**data, "client_id": sb.CONFIDENTIAL}).status_code == 401
    wrong = sb.client.post("/token", data=data, auth=(sb.CONFIDENTIAL, "guess"))
    assert wrong.status_code == 401 and wrong.headers["WWW-Authenticate"].startswith("Basic")
    posted = sb.client.post("/token", data={**data, "client_id": sb.CONFIDENTIAL, "client_secret": sb.SECRET})
    assert posted.status_code == 401
    garbled = sb.client.post("/token", data=data, headers={"Authorization": "Basic !!!"})
    assert garbled.status_code == 401


def test_confidential_client_with_form_encoded_basic_credentials(sb):
    verifier, challenge = sb.pkce()
    params = sb.authorize_params(challenge, client_id=sb.CONFIDENTIAL, redirect_uri=sb.CONF_REDIRECT,
                                 launch=sb.ehr_launch(), scope="launch patient/*.rs offline_access")
    code = sb.query_of(sb.client.get("/authorize", query_string=params).headers["Location"])["code"]
    pair = "mbt-confidential:s3cret%3Awith%2Fodd%26chars"
    response = sb.client.post("/token", data={
        "grant_type": "authorization_code", "code": code, "redirect_uri": sb.CONF_REDIRECT,
        "code_verifier": verifier}, headers={"Authorization": "Basic " + base64.b64encode(pair.encode()).decode()})
    assert response.status_code == 200, response.get_json()
    body = response.get_json()
    assert body["patient"] == "peter" and "id_token" not in body and body["refresh_token"]


def test_grant_type_errors(sb):
    missing = sb.client.post("/token", data={"client_id": sb.CLIENT})
    assert missing.status_code == 400 and missing.get_json()["error"] == "invalid_request"
    other = sb.client.post("/token", data={"client_id": sb.CLIENT, "grant_type": "password"})
    assert other.get_json()["error"] == "unsupported_grant_type"
    no_code = sb.client.post("/token", data={"client_id": sb.CLIENT, "grant_type": "authorization_code"})
    assert no_code.get_json()["error"] == "invalid_request"


def test_id_token_verifies_against_the_jwks_and_names_the_user(sb):
    body = sb.tokens()
    id_token = body["id_token"]
    header = jwt.get_unverified_header(id_token)
    assert header["alg"] == "RS256"
    keys = jwt.PyJWKSet.from_dict(sb.client.get("/jwks").get_json())
    key = next(k for k in keys.keys if k.key_id == header["kid"])
    config = sb.client.get("/fhir/.well-known/smart-configuration").get_json()
    claims = jwt.decode(id_token, key.key, algorithms=["RS256"], audience=sb.CLIENT,
                        issuer=config["issuer"], options={"verify_exp": False, "verify_iat": False})
    assert claims["fhirUser"] == f"{sb.FHIR}/Practitioner/doc1"
    assert claims["sub"] == "Practitioner/doc1"
    assert claims["exp"] > claims["iat"]


def test_no_id_token_without_openid_and_no_fhir_user_without_its_scope(sb):
    body = sb.tokens(scope="launch patient/Patient.r online_access")
    assert "id_token" not in body
    body = sb.tokens(scope="launch openid patient/Patient.r")
    claims = jwt.decode(body["id_token"], options={"verify_signature": False})
    assert "fhirUser" not in claims


def test_no_refresh_token_without_online_or_offline_access(sb):
    body = sb.tokens(scope="launch openid fhirUser patient/Patient.r")
    assert "refresh_token" not in body


def test_refresh_rotates_the_refresh_token(sb):
    first = sb.tokens()
    response = sb.refresh(first["refresh_token"])
    assert response.status_code == 200 and response.headers["Cache-Control"] == "no-store"
    second = response.get_json()
    assert second["refresh_token"] != first["refresh_token"]
    assert second["access_token"] != first["access_token"]
    assert second["patient"] == "peter" and second["scope"] == first["scope"]
    assert second["id_token"]
    assert _bearer(sb, second["access_token"]).status_code == 200
    third = sb.refresh(second["refresh_token"]).get_json()
    # an old refresh token presented again means it leaked: the grant is revoked
    assert sb.refresh(first["refresh_token"]).get_json()["error"] == "invalid_grant"
    assert sb.refresh(third["refresh_token"]).get_json()["error"] == "invalid_grant"
    assert _bearer(sb, third["access_token"]).status_code == 401


def test_refresh_can_narrow_but_not_widen(sb):
    first = sb.tokens()
    narrow = sb.client.post("/token", data={"grant_type": "refresh_token", "client_id": sb.CLIENT,
                                            "refresh_token": first["refresh_token"],
                                            "scope": "patient/Patient.r online_access"})
    assert narrow.get_json()["scope"] == "online_access patient/Patient.r"
    wide = sb.client.post("/token", data={"grant_type": "refresh_token", "client_id": sb.CLIENT,
                                          "refresh_token": narrow.get_json()["refresh_token"],
                                          "scope": "user/*.cruds"})
    assert wide.get_json()["error"] == "invalid_scope"


def test_refresh_token_is_bound_to_its_client(sb):
    first = sb.tokens()
    response = sb.client.post("/token", data={"grant_type": "refresh_token",
                                              "refresh_token": first["refresh_token"]},
                              auth=(sb.CONFIDENTIAL, sb.SECRET))
    assert response.get_json()["error"] == "invalid_grant"


def test_access_token_expires(sb, clock):
    body = sb.tokens()
    clock.now += 301
    response = _bearer(sb, body["access_token"])
    assert response.status_code == 401
    assert sb.refresh(body["refresh_token"]).status_code == 200
