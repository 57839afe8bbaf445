"""Discovery: the well-known document, the CapabilityStatement fallback, and refusals."""

import pytest
import requests

from fhir_mbt.smart import (
    OAUTH_URIS,
    ClientSecretBasic,
    DiscoveryError,
    PkceNotSupported,
    PrivateKeyJwt,
    SmartTransportError,
)

from .ehr import AUTHORIZE, CLIENT_ID, ISS, JWKS, TOKEN, well_known

WELL_KNOWN = f"{ISS}/.well-known/smart-configuration"
METADATA = f"{ISS}/metadata"


def capability_statement(uris=None):
    uris = uris if uris is not None else {"authorize": AUTHORIZE, "token": TOKEN}
    return {
        "resourceType": "CapabilityStatement",
        "rest": [{"mode": "server", "security": {"extension": [{
            "url": OAUTH_URIS,
            "extension": [{"url": k, "valueUri": v} for k, v in uris.items()],
        }]}}],
    }


def test_well_known_document_is_read(make_client, rsps):
    rsps.get(WELL_KNOWN, json=well_known())
    config = make_client().discover(ISS + "/")
    assert config.source == "smart-configuration"
    assert config.fhir_base == ISS
    assert (config.authorization_endpoint, config.token_endpoint, config.jwks_uri) == (AUTHORIZE, TOKEN, JWKS)
    assert config.supports_s256 and "permission-v2" in config.capabilities
    assert rsps.calls[0].request.headers["Accept"] == "application/json"


def test_configuration_is_cached_then_expires(make_client, clock, rsps):
    rsps.get(WELL_KNOWN, json=well_known())
    smart = make_client(discovery_ttl=60)
    smart.discover(ISS)
    smart.discover(ISS)
    assert len(rsps.calls) == 1
    clock.now += 61
    smart.discover(ISS)
    assert len(rsps.calls) == 2


@pytest.mark.parametrize("changes, error", [
    ({"code_challenge_methods_supported": None}, PkceNotSupported),
    ({"code_challenge_methods_supported": ["plain"]}, PkceNotSupported),
    ({"code_challenge_methods_supported": []}, PkceNotSupported),
    ({"code_challenge_methods_supported": "S256"}, DiscoveryError),
    ({"token_endpoint": None}, DiscoveryError),
    ({"token_endpoint": 42}, DiscoveryError),
    ({"token_endpoint": "/token"}, DiscoveryError),
    ({"token_endpoint": "http://auth.example/token"}, DiscoveryError),
    ({"authorization_endpoint": None}, DiscoveryError),
    ({"authorization_endpoint": "javascript:alert(1)"}, DiscoveryError),
    ({"capabilities": "launch-ehr"}, DiscoveryError),
    ({"capabilities": [1, 2]}, DiscoveryError),
    ({"grant_types_supported": ["client_credentials"]}, DiscoveryError),
    ({"jwks_uri": ["x"]}, DiscoveryError),
])
def test_malformed_well_known_documents_are_refused(make_client, rsps, changes, error):
    rsps.get(WELL_KNOWN, json=well_known(**changes))
    with pytest.raises(error) as info:
        make_client().discover(ISS)
    assert info.value.response is not None and info.value.response.status_code == 200
    assert len(rsps.calls) == 1


@pytest.mark.parametrize("body", ["{broken", "[1, 2]", '"text"', ""])
def test_well_known_body_that_is_not_an_object_is_refused_without_fallback(make_client, rsps, body):
    rsps.get(WELL_KNOWN, body=body, content_type="application/json")
    with pytest.raises(DiscoveryError):
        make_client().discover(ISS)
    assert len(rsps.calls) == 1


def test_loopback_http_endpoints_are_accepted(make_client, rsps):
    base = "http://localhost:8080/fhir"
    rsps.get(f"{base}/.well-known/smart-configuration",
             json=well_known(token_endpoint="http://localhost:8080/token",
                             authorization_endpoint="http://127.0.0.1:8080/authorize"))
    assert make_client(issuers=[base]).discover(base).token_endpoint == "http://localhost:8080/token"


def test_server_error_does_not_fall_back(make_client, rsps):
    rsps.get(WELL_KNOWN, status=503)
    with pytest.raises(DiscoveryError) as info:
        make_client().discover(ISS)
    assert info.value.response.status_code == 503
    assert len(rsps.calls) == 1


def test_timeout_is_a_transport_error(make_client, rsps):
    rsps.get(WELL_KNOWN, body=requests.exceptions.ConnectTimeout("slow"))
    with pytest.raises(SmartTransportError) as info:
        make_client().discover(ISS)
    assert isinstance(info.value.__cause__, requests.exceptions.ConnectTimeout)


def test_fallback_is_refused_by_default_as_s256_is_unknown(make_client, rsps):
    rsps.get(WELL_KNOWN, status=404)
    rsps.get(METADATA, json=capability_statement())
    with pytest.raises(PkceNotSupported):
        make_client().discover(ISS)
    assert [c.request.url for c in rsps.calls] == [WELL_KNOWN, METADATA]
    assert rsps.calls[1].request.headers["Accept"] == "application/fhir+json"


def test_fallback_when_the_deployment_vouches_for_s256(make_client, rsps):
    rsps.get(WELL_KNOWN, status=404)
    rsps.get(METADATA, json=capability_statement(
        {"authorize": AUTHORIZE, "token": TOKEN, "revoke": "https://auth.example/revoke"}))
    config = make_client(assume_s256_on_fallback=True).discover(ISS)
    assert config.source == "capability-statement"
    assert (config.authorization_endpoint, config.token_endpoint) == (AUTHORIZE, TOKEN)
    assert config.revocation_endpoint == "https://auth.example/revoke"
    assert config.issuer is None and config.jwks_uri is None


@pytest.mark.parametrize("body", [
    capability_statement({}),
    capability_statement({"authorize": AUTHORIZE}),
    capability_statement({"authorize": AUTHORIZE, "token": "not a url"}),
    {"resourceType": "Patient"},
    {"resourceType": "CapabilityStatement", "rest": "nope"},
    {"resourceType": "CapabilityStatement", "rest": [{"security": {"extension": {"url": OAUTH_URIS}}}]},
])
def test_malformed_capability_statements_are_refused(make_client, rsps, body):
    rsps.get(WELL_KNOWN, status=404)
    rsps.get(METADATA, json=body)
    with pytest.raises(DiscoveryError):
        make_client(assume_s256_on_fallback=True).discover(ISS)


def test_metadata_failure_is_a_discovery_error(make_client, rsps):
    rsps.get(WELL_KNOWN, status=404)
    rsps.get(METADATA, status=500)
    with pytest.raises(DiscoveryError) as info:
        make_client(assume_s256_on_fallback=True).discover(ISS)
    assert info.value.response.status_code == 500


def test_client_auth_method_the_server_does_not_accept_is_refused(make_client, rsps):
    rsps.get(WELL_KNOWN, json=well_known(token_endpoint_auth_methods_supported=["private_key_jwt"]))
    with pytest.raises(DiscoveryError, match="client_secret_basic"):
        make_client(client_auth=ClientSecretBasic(CLIENT_ID, "s3cret")).discover(ISS)


def test_assertion_algorithm_the_server_does_not_accept_is_refused(make_client, rsps, ec_server_key):
    rsps.get(WELL_KNOWN, json=well_known(token_endpoint_auth_signing_alg_values_supported=["RS384"]))
    auth = PrivateKeyJwt(CLIENT_ID, ec_server_key, kid="k", alg="ES384")
    with pytest.raises(DiscoveryError, match="ES384"):
        make_client(client_auth=auth).discover(ISS)
