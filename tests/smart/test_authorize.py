"""The authorize URL, the pending record, and reading the redirect back."""

import base64
import hashlib
from urllib.parse import parse_qs, urlsplit

import pytest

from fhir_mbt.smart import (
    AuthorizationDenied,
    AuthorizationError,
    AuthorizationExpired,
    PendingAuthorization,
    SmartConfiguration,
    StateMismatch,
    authorization_request,
    read_callback,
    states_match,
)

from .ehr import AUTHORIZE, CLIENT_ID, ISS, NOW, REDIRECT, SCOPE, TOKEN

CONFIG = SmartConfiguration(fhir_base=ISS, authorization_endpoint=AUTHORIZE, token_endpoint=TOKEN,
                            code_challenge_methods_supported=("S256",))


def start(launch="opaque-launch-xyz", config=CONFIG):
    return authorization_request(config, client_id=CLIENT_ID, redirect_uri=REDIRECT, scope=SCOPE,
                                 launch=launch, now=NOW)


def test_authorize_url_carries_every_parameter():
    url, pending = start()
    parts = urlsplit(url)
    assert f"{parts.scheme}://{parts.netloc}{parts.path}" == AUTHORIZE
    query = {k: v[0] for k, v in parse_qs(parts.query).items()}
    assert query == {
        "response_type": "code", "client_id": CLIENT_ID, "redirect_uri": REDIRECT, "scope": SCOPE,
        "state": pending.state, "aud": ISS, "launch": "opaque-launch-xyz",
        "code_challenge": query["code_challenge"], "code_challenge_method": "S256",
    }
    digest = hashlib.sha256(pending.code_verifier.encode()).digest()
    assert query["code_challenge"] == base64.urlsafe_b64encode(digest).rstrip(b"=").decode()
    assert (pending.iss, pending.redirect_uri, pending.scope, pending.created_at) == (ISS, REDIRECT, SCOPE, NOW)


def test_standalone_launch_sends_no_launch_parameter():
    url, pending = start(launch=None)
    assert "launch" not in parse_qs(urlsplit(url).query)
    assert pending.launch is None


def test_existing_query_of_the_authorize_endpoint_is_kept():
    config = SmartConfiguration(fhir_base=ISS, authorization_endpoint=AUTHORIZE + "?tenant=t1",
                                token_endpoint=TOKEN)
    url, _ = start(config=config)
    assert parse_qs(urlsplit(url).query)["tenant"] == ["t1"]


def test_state_has_at_least_128_random_bits_and_verifier_fits_rfc7636():
    states = set()
    for _ in range(50):
        _, pending = start()
        raw = base64.urlsafe_b64decode(pending.state + "=" * (-len(pending.state) % 4))
        assert len(raw) * 8 >= 128
        assert 43 <= len(pending.code_verifier) <= 128
        states.add(pending.state)
    assert len(states) == 50


def test_pending_record_hides_its_secrets_and_round_trips():
    _, pending = start()
    text = repr(pending)
    assert pending.state not in text and pending.code_verifier not in text
    assert "opaque-launch-xyz" not in text
    assert PendingAuthorization.from_dict(pending.to_dict()) == pending


def test_callback_returns_the_code():
    _, pending = start()
    assert read_callback(pending, {"state": pending.state, "code": "c-1"}, now=NOW + 5) == "c-1"


@pytest.mark.parametrize("state", [None, "", "wrong", "x" * 43])
def test_state_mismatch(state):
    _, pending = start()
    params = {"code": "c-1"} if state is None else {"state": state, "code": "c-1"}
    with pytest.raises(StateMismatch):
        read_callback(pending, params, now=NOW)


def test_no_pending_record_is_a_state_mismatch():
    with pytest.raises(StateMismatch):
        read_callback(None, {"state": "s", "code": "c"}, now=NOW)


def test_error_in_callback_is_typed_and_carries_the_description():
    _, pending = start()
    with pytest.raises(AuthorizationDenied) as info:
        read_callback(pending, {"state": pending.state, "error": "access_denied",
                                "error_description": "user said no"}, now=NOW)
    assert info.value.error == "access_denied"
    assert info.value.error_description == "user said no"


def test_error_with_a_wrong_state_is_a_state_mismatch():
    _, pending = start()
    with pytest.raises(StateMismatch):
        read_callback(pending, {"state": "forged", "error": "access_denied"}, now=NOW)


def test_old_pending_record_has_expired():
    _, pending = start()
    with pytest.raises(AuthorizationExpired):
        read_callback(pending, {"state": pending.state, "code": "c"}, now=NOW + 601)


def test_callback_without_code_or_error():
    _, pending = start()
    with pytest.raises(AuthorizationError):
        read_callback(pending, {"state": pending.state}, now=NOW)


def test_states_match_is_strict():
    assert states_match("abc", "abc")
    assert not states_match("abc", "abd")
    assert not states_match("abc", None)
    assert not states_match(None, None)
    assert not states_match("", "")
    assert not states_match("abc", ["abc"])
