"""Staying signed in against a faked authorization server: lenient refreshed id_tokens, one refresh per expiry."""

import logging

import pytest

from fhir_mbt.client import BearerAuth, FhirClient
from fhir_mbt.smart import InvalidGrant

from .ehr import ISS, JWKS, NOW, TOKEN, token_body, well_known

WELL_KNOWN = f"{ISS}/.well-known/smart-configuration"


@pytest.fixture
def signed_in(make_client, sign, jwks, rsps):
    """A launch whose first id_token was fully verified (fhirUser Practitioner/pr-1)."""
    smart = make_client()
    rsps.get(WELL_KNOWN, json=well_known())
    _, pending = smart.authorize(ISS, launch="L-1")
    rsps.post(TOKEN, json=token_body(id_token=sign()))
    rsps.get(JWKS, json=jwks)
    tokens = smart.complete(pending, {"state": pending.state, "code": "c"})
    assert tokens.fhir_user == "Practitioner/pr-1"
    return smart, tokens


@pytest.mark.parametrize("claims", [
    {"aud": None},                                     # no audience
    {"aud": None, "fhirUser": None, "iat": None},      # fewer claims
    {"exp": int(NOW) - 4000},                          # expired long ago: the access token is what counts
])
def test_refreshed_id_token_with_fewer_claims_keeps_the_new_access_token(signed_in, sign, rsps, claims, caplog):
    smart, tokens = signed_in
    refreshed = sign(**claims)
    rsps.post(TOKEN, json=token_body(access_token="AT-2", id_token=refreshed))
    with caplog.at_level(logging.INFO, logger="fhir_mbt.smart"):
        fresh = smart.refresh(tokens)
    assert fresh.access_token == "AT-2"
    assert fresh.fhir_user == "Practitioner/pr-1"
    assert fresh.id_token == refreshed
    assert "token refreshed" in caplog.text


def test_refresh_without_id_token_keeps_the_first(signed_in, rsps):
    smart, tokens = signed_in
    rsps.post(TOKEN, json=token_body(access_token="AT-2"))
    fresh = smart.refresh(tokens)
    assert (fresh.access_token, fresh.id_token, fresh.fhir_user) == ("AT-2", tokens.id_token, "Practitioner/pr-1")


@pytest.mark.parametrize("bad", ["forged", "other-issuer", "other-audience", "not-a-jwt", "other-user"])
def test_a_bad_refreshed_id_token_is_dropped_with_a_warning_not_the_access_token(
        signed_in, sign, other_key, rsps, caplog, bad):
    smart, tokens = signed_in
    refreshed = {
        "forged": lambda: sign(key=other_key),
        "other-issuer": lambda: sign(iss="https://evil.example"),
        "other-audience": lambda: sign(aud="someone-else"),
        "not-a-jwt": lambda: "garbage",
        "other-user": lambda: sign(fhirUser="Practitioner/pr-2"),
    }[bad]()
    rsps.post(TOKEN, json=token_body(access_token="AT-2", id_token=refreshed))
    with caplog.at_level(logging.WARNING, logger="fhir_mbt.smart"):
        fresh = smart.refresh(tokens)
    assert fresh.access_token == "AT-2"
    assert fresh.id_token == tokens.id_token and fresh.fhir_user == "Practitioner/pr-1"
    assert "refreshed id_token" in caplog.text
    assert "AT-2" not in caplog.text and refreshed not in caplog.text


def test_refreshed_is_logged_only_after_success(signed_in, rsps, caplog):
    smart, tokens = signed_in
    rsps.post(TOKEN, status=400, json={"error": "invalid_grant", "error_description": "revoked"})
    with caplog.at_level(logging.INFO):
        with pytest.raises(InvalidGrant):
            smart.refresh(tokens)
    assert "refreshed" not in caplog.text


def test_one_refresh_per_expiry_not_per_call(signed_in, clock, rsps):
    smart, tokens = signed_in
    clock.now = tokens.expires_at + 1
    calls = []

    def refresher(old):
        calls.append(old.access_token)
        return smart.refresh(old)

    # A token that lives only 10 s, less than the 30 s leeway: still used, not refreshed on every call.
    rsps.post(TOKEN, json=token_body(access_token="AT-2", expires_in=10))
    rsps.get(f"{ISS}/Patient/p-1", json={"resourceType": "Patient", "id": "p-1"})
    fhir = FhirClient(ISS, auth=BearerAuth(tokens, refresher, clock=clock))
    for _ in range(3):
        fhir.read("Patient", "p-1")
    assert calls == ["AT-secret-1"]
    assert rsps.calls[-1].request.headers["Authorization"] == "Bearer AT-2"


def test_a_failed_refresh_is_not_retried_on_every_call(signed_in, clock, rsps):
    smart, tokens = signed_in
    clock.now = tokens.expires_at + 1
    rsps.post(TOKEN, status=400, json={"error": "invalid_grant"})
    rsps.get(f"{ISS}/Patient/p-1", json={"resourceType": "Patient", "id": "p-1"})
    auth = BearerAuth(tokens, smart.refresh, clock=clock)
    fhir = FhirClient(ISS, auth=auth)
    for _ in range(3):
        fhir.read("Patient", "p-1")
    assert len([c for c in rsps.calls if c.request.url == TOKEN]) == 2  # the launch's code exchange, then one refresh
    assert isinstance(auth.refresh_error, InvalidGrant)
