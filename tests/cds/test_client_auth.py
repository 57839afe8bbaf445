"""The EHR's JWT on a CDS Hooks call: signed by a key of its JWKS, iss allowed, aud = the URL, fresh jti."""

from __future__ import annotations

import base64
import json
import time

import jwt
import pytest
import responses

from cds_signer import ISSUER, JWKS_URL, Signer
from fhir_mbt.cds.client_auth import ClientNotTrusted, ClientVerifier, check_jwks_url

AUD = "https://mbt.example.org/cds-services/mbt-patient-view"


@pytest.fixture
def signer():
    return Signer()


@pytest.fixture
def jwks(signer):
    with responses.RequestsMock(assert_all_requests_are_fired=False) as rsps:
        rsps.get(JWKS_URL, json=signer.jwks())
        yield rsps


@pytest.fixture
def verifier(jwks):
    return ClientVerifier({ISSUER: JWKS_URL})


def bearer(token: str) -> str:
    return f"Bearer {token}"


def test_a_good_token_is_trusted(verifier, signer):
    claims = verifier.verify(bearer(signer.token(AUD)), AUD)
    assert claims["iss"] == ISSUER


def test_ec_keys_work_too(jwks):
    ec = Signer("ES384", kid="ec1")
    jwks.replace(responses.GET, JWKS_URL, json=ec.jwks())
    assert ClientVerifier({ISSUER: JWKS_URL}).verify(bearer(ec.token(AUD)), AUD)


def test_audience_as_a_list_is_accepted(verifier, signer):
    assert verifier.verify(bearer(signer.token([AUD])), AUD)


@pytest.mark.parametrize("header", [None, "", "Basic abc", "Bearer ", "Bearer not.a.jwt"])
def test_no_or_malformed_bearer_is_refused(verifier, header):
    with pytest.raises(ClientNotTrusted):
        verifier.verify(header, AUD)


def test_wrong_issuer_is_refused(verifier, signer):
    with pytest.raises(ClientNotTrusted, match="allowlist"):
        verifier.verify(bearer(signer.token(AUD, issuer="https://other.test")), AUD)


def test_wrong_audience_is_refused(verifier, signer):
    with pytest.raises(ClientNotTrusted, match="InvalidAudience"):
        verifier.verify(bearer(signer.token("https://mbt.example.org/cds-services/other")), AUD)


def test_expired_token_is_refused(verifier, signer):
    now = int(time.time())
    token = signer.token(AUD, iat=now - 600, exp=now - 120)
    with pytest.raises(ClientNotTrusted, match="Expired"):
        verifier.verify(bearer(token), AUD)


def test_a_long_lived_token_is_refused(verifier, signer):
    with pytest.raises(ClientNotTrusted, match="too long"):
        verifier.verify(bearer(signer.token(AUD, lifetime=3600)), AUD)


def test_replayed_jti_is_refused(verifier, signer):
    token = signer.token(AUD, jti="once")
    verifier.verify(bearer(token), AUD)
    with pytest.raises(ClientNotTrusted, match="jti"):
        verifier.verify(bearer(token), AUD)
    with pytest.raises(ClientNotTrusted, match="jti"):
        verifier.verify(bearer(signer.token(AUD, jti="once")), AUD)


@pytest.mark.parametrize("missing", ["jti", "exp", "iat"])
def test_required_claims(verifier, signer, missing):
    now = int(time.time())
    claims = {"iss": ISSUER, "aud": AUD, "iat": now, "exp": now + 60, "jti": "j-" + missing}
    claims.pop(missing)
    token = jwt.encode(claims, signer.key, algorithm="RS384", headers={"kid": signer.kid})
    with pytest.raises(ClientNotTrusted):
        verifier.verify(bearer(token), AUD)


def _b64(data: dict) -> str:
    return base64.urlsafe_b64encode(json.dumps(data).encode()).rstrip(b"=").decode()


def test_unsigned_alg_none_is_refused(verifier):
    now = int(time.time())
    token = _b64({"alg": "none", "typ": "JWT", "kid": "k1"}) + "." + _b64(
        {"iss": ISSUER, "aud": AUD, "iat": now, "exp": now + 60, "jti": "n"}) + "."
    with pytest.raises(ClientNotTrusted, match="algorithm"):
        verifier.verify(bearer(token), AUD)


def test_symmetric_hs256_is_refused_even_with_the_public_key_as_secret(verifier, signer):
    now = int(time.time())
    token = jwt.encode({"iss": ISSUER, "aud": AUD, "iat": now, "exp": now + 60, "jti": "h"},
                       "a-shared-secret-of-thirty-two-bytes!", algorithm="HS256", headers={"kid": signer.kid})
    with pytest.raises(ClientNotTrusted, match="algorithm"):
        verifier.verify(bearer(token), AUD)


def test_signed_by_another_key_is_refused(verifier, signer):
    impostor = Signer(kid=signer.kid)
    with pytest.raises(ClientNotTrusted, match="InvalidSignature"):
        verifier.verify(bearer(impostor.token(AUD)), AUD)


def test_tampered_claims_are_refused(verifier, signer):
    header, _, signature = signer.token(AUD).split(".")
    now = int(time.time())
    forged = _b64({"iss": ISSUER, "aud": AUD, "iat": now, "exp": now + 60, "jti": "forged"})
    with pytest.raises(ClientNotTrusted):
        verifier.verify(bearer(f"{header}.{forged}.{signature}"), AUD)


def test_unknown_kid_is_refused_and_the_jwks_is_not_fetched_again_at_once(verifier, signer, jwks):
    verifier.verify(bearer(signer.token(AUD)), AUD)
    stranger = Signer(kid="k2")
    with pytest.raises(ClientNotTrusted, match="kid"):
        verifier.verify(bearer(stranger.token(AUD)), AUD)
    assert len([c for c in jwks.calls if c.request.url == JWKS_URL]) == 1


def test_rotated_key_is_found_after_a_refetch(signer, jwks):
    verifier = ClientVerifier({ISSUER: JWKS_URL}, refetch_seconds=60)
    verifier._keys[JWKS_URL] = (time.time() - 120, {"old": {}})  # cached before the EHR rotated its key
    assert verifier.verify(bearer(signer.token(AUD)), AUD)
    assert len(jwks.calls) == 1


def test_jku_other_than_the_registered_jwks_is_refused(verifier, signer):
    token = signer.token(AUD, headers={"jku": "https://attacker.test/jwks"})
    with pytest.raises(ClientNotTrusted, match="jku"):
        verifier.verify(bearer(token), AUD)


def test_unreachable_jwks_is_refused(signer):
    with responses.RequestsMock() as rsps:
        rsps.get(JWKS_URL, status=503)
        with pytest.raises(ClientNotTrusted, match="JWKS"):
            ClientVerifier({ISSUER: JWKS_URL}).verify(bearer(signer.token(AUD)), AUD)


def test_jwks_urls_must_be_https_except_on_loopback():
    assert check_jwks_url("http://127.0.0.1:9090/jwks")
    assert check_jwks_url("http://localhost:9090/jwks")
    with pytest.raises(ValueError):
        check_jwks_url("http://ehr.example.org/jwks")
    with pytest.raises(ValueError):
        ClientVerifier({ISSUER: "http://ehr.example.org/jwks"})
