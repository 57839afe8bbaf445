"""id_token verification against the server's JWKS."""

import base64
import json

import pytest

from fhir_mbt.smart import IdTokenInvalid, SmartConfiguration

from .ehr import AUTHORIZE, ISS, ISSUER, JWKS, NOW, TOKEN

CONFIG = SmartConfiguration(fhir_base=ISS, authorization_endpoint=AUTHORIZE, token_endpoint=TOKEN,
                            issuer=ISSUER, jwks_uri=JWKS, code_challenge_methods_supported=("S256",))


@pytest.fixture
def smart(make_client):
    return make_client()


def test_valid_rs256_token_exposes_fhir_user(smart, sign, jwks, rsps):
    rsps.get(JWKS, json=jwks)
    claims = smart.verify_id_token(sign(), CONFIG)
    assert claims.fhir_user == "Practitioner/pr-1" and claims.sub == "u-1"


def test_valid_es384_token(smart, sign, jwks, ec_server_key, rsps):
    rsps.get(JWKS, json=jwks)
    assert smart.verify_id_token(sign(key=ec_server_key, kid="srv-ec", alg="ES384"), CONFIG).sub == "u-1"


def test_keys_are_cached(smart, sign, jwks, rsps):
    rsps.get(JWKS, json=jwks)
    smart.verify_id_token(sign(), CONFIG)
    smart.verify_id_token(sign(), CONFIG)
    assert len(rsps.calls) == 1


def test_tampered_payload_is_refused(smart, sign, jwks, rsps):
    rsps.get(JWKS, json=jwks)
    header, payload, signature = sign().split(".")
    claims = json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
    claims["fhirUser"] = "Practitioner/someone-else"
    forged = base64.urlsafe_b64encode(json.dumps(claims).encode()).rstrip(b"=").decode()
    with pytest.raises(IdTokenInvalid, match="InvalidSignature"):
        smart.verify_id_token(f"{header}.{forged}.{signature}", CONFIG)


def test_token_signed_by_another_key_is_refused(smart, sign, jwks, other_key, rsps):
    rsps.get(JWKS, json=jwks)
    with pytest.raises(IdTokenInvalid):
        smart.verify_id_token(sign(key=other_key), CONFIG)


def test_expired_token_is_refused(smart, sign, jwks, rsps):
    rsps.get(JWKS, json=jwks)
    with pytest.raises(IdTokenInvalid, match="expired"):
        smart.verify_id_token(sign(iat=int(NOW) - 3600, exp=int(NOW) - 60), CONFIG)


def test_expiry_within_leeway_is_accepted(smart, sign, jwks, rsps):
    rsps.get(JWKS, json=jwks)
    assert smart.verify_id_token(sign(exp=int(NOW) - 10), CONFIG).sub == "u-1"


def test_token_from_the_future_is_refused(smart, sign, jwks, rsps):
    rsps.get(JWKS, json=jwks)
    with pytest.raises(IdTokenInvalid, match="future"):
        smart.verify_id_token(sign(iat=int(NOW) + 3600, exp=int(NOW) + 7200), CONFIG)


@pytest.mark.parametrize("claims", [
    {"iss": "https://other.example"}, {"aud": "another-app"}, {"exp": None}, {"sub": None},
    {"aud": ["mbt-app", "another-app"]}, {"fhirUser": 12},
])
def test_wrong_or_missing_claims_are_refused(smart, sign, jwks, rsps, claims):
    rsps.get(JWKS, json=jwks)
    with pytest.raises(IdTokenInvalid):
        smart.verify_id_token(sign(**claims), CONFIG)


def test_several_audiences_need_azp(smart, sign, jwks, rsps):
    rsps.get(JWKS, json=jwks)
    token = sign(aud=["mbt-app", "another-app"], azp="mbt-app")
    assert smart.verify_id_token(token, CONFIG).sub == "u-1"


def test_unsigned_and_hmac_tokens_are_refused(smart, sign, rsps):
    def unsigned(alg):
        head = base64.urlsafe_b64encode(json.dumps({"alg": alg, "kid": "srv-1"}).encode()).rstrip(b"=")
        body = base64.urlsafe_b64encode(json.dumps({"iss": ISSUER, "aud": "mbt-app", "sub": "x",
                                                    "exp": NOW + 60, "iat": NOW}).encode()).rstrip(b"=")
        return f"{head.decode()}.{body.decode()}.c2ln"
    for alg in ("none", "HS256"):
        with pytest.raises(IdTokenInvalid, match="not accepted"):
            smart.verify_id_token(unsigned(alg), CONFIG)
    with pytest.raises(IdTokenInvalid):
        smart.verify_id_token("not-a-jwt", CONFIG)
    assert len(rsps.calls) == 0


def test_algorithm_must_fit_the_key_type(smart, sign, jwks, ec_server_key, rsps):
    rsps.get(JWKS, json=jwks)
    with pytest.raises(IdTokenInvalid):
        smart.verify_id_token(sign(key=ec_server_key, kid="srv-1", alg="ES384"), CONFIG)


def test_rotated_key_is_fetched_once_more(smart, sign, jwks, other_key, rsps):
    from .ehr import public_jwk
    rsps.get(JWKS, json=jwks)
    rsps.get(JWKS, json={"keys": [public_jwk(other_key, "srv-2")]})
    smart.verify_id_token(sign(), CONFIG)
    assert smart.verify_id_token(sign(key=other_key, kid="srv-2"), CONFIG).sub == "u-1"
    assert len(rsps.calls) == 2


def test_unknown_kid_is_refused(smart, sign, jwks, rsps):
    rsps.get(JWKS, json=jwks)
    with pytest.raises(IdTokenInvalid, match="no key"):
        smart.verify_id_token(sign(kid="nobody"), CONFIG)


@pytest.mark.parametrize("body, status", [({"keys": "x"}, 200), ("[]", 200), ({}, 500), ({"keys": []}, 200)])
def test_unusable_jwks_is_refused(smart, sign, rsps, body, status):
    if isinstance(body, str):
        rsps.get(JWKS, body=body, status=status)
    else:
        rsps.get(JWKS, json=body, status=status)
    with pytest.raises(IdTokenInvalid):
        smart.verify_id_token(sign(), CONFIG)


def test_server_without_issuer_or_jwks_cannot_verify(smart, sign, rsps):
    bare = SmartConfiguration(fhir_base=ISS, authorization_endpoint=AUTHORIZE, token_endpoint=TOKEN)
    with pytest.raises(IdTokenInvalid):
        smart.verify_id_token(sign(), bare)
    assert len(rsps.calls) == 0
