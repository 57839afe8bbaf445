"""Each client authentication method against a faked authorization server that checks it.

The server is strict in one of two ways for Basic credentials: it URL-decodes
them (RFC 6749 section 2.3.1) or it compares them as sent (many servers do).
A secret with ``+ / = :`` and spaces must work with both.
"""

import base64
import json
from urllib.parse import parse_qs, unquote

import jwt
import pytest
from cryptography.hazmat.primitives.asymmetric import ec, rsa

from fhir_mbt.smart import (
    ClientSecretBasic,
    ClientSecretPost,
    DiscoveryError,
    InvalidClient,
    PrivateKeyJwt,
    public_jwks,
)

from .ehr import CLIENT_ID, ISS, TOKEN, token_body, well_known

WELL_KNOWN = f"{ISS}/.well-known/smart-configuration"
SECRETS = ["a+b/c=d:e f", "plain-secret", "==:: ++//  x"]


class AuthServer:
    """A token endpoint that accepts only the registered client's credentials."""

    def __init__(self, secret=None, *, decodes_basic=True, public_key=None, methods=None):
        self.secret = secret
        self.decodes_basic = decodes_basic
        self.public_key = public_key
        self.methods = methods or ["client_secret_basic", "client_secret_post", "private_key_jwt"]
        self.seen = []

    def install(self, rsps):
        rsps.get(WELL_KNOWN, json=well_known(token_endpoint_auth_methods_supported=self.methods))
        rsps.add_callback("POST", TOKEN, callback=self.token)

    def token(self, request):
        form = {k: v[0] for k, v in parse_qs(request.body, keep_blank_values=True).items()}
        header = request.headers.get("Authorization", "")
        method = None
        if header.startswith("Basic "):
            raw = base64.b64decode(header[6:]).decode()
            client, _, secret = raw.partition(":")
            if self.decodes_basic:
                client, secret = unquote(client), unquote(secret)
            ok = (client, secret) == (CLIENT_ID, self.secret)
            method = "client_secret_basic"
        elif "client_secret" in form:
            ok = (form.get("client_id"), form["client_secret"]) == (CLIENT_ID, self.secret)
            method = "client_secret_post"
        elif "client_assertion" in form:
            try:
                claims = jwt.decode(form["client_assertion"], self.public_key, algorithms=["RS384", "ES384"],
                                    audience=TOKEN)
                ok = claims["iss"] == claims["sub"] == CLIENT_ID
            except jwt.PyJWTError:
                ok = False
            method = "private_key_jwt"
        else:
            ok = False
        self.seen.append((method, ok))
        if not ok:
            return 401, {"Content-Type": "application/json"}, json.dumps(
                {"error": "invalid_client", "error_description": "client authentication failed"})
        return 200, {"Content-Type": "application/json"}, json.dumps(token_body())


def sign_in(smart):
    url, pending = smart.authorize(ISS, launch="L-1")
    return smart.complete(pending, {"state": pending.state, "code": "CODE-1"})


@pytest.mark.parametrize("decodes", [True, False], ids=["decoding-server", "literal-server"])
@pytest.mark.parametrize("secret", SECRETS)
def test_client_secret_basic_with_reserved_characters(make_client, rsps, secret, decodes):
    server = AuthServer(secret, decodes_basic=decodes)
    server.install(rsps)
    smart = make_client(client_auth=ClientSecretBasic(CLIENT_ID, secret))
    assert sign_in(smart).access_token
    assert server.seen[-1] == ("client_secret_basic", True)
    # A decoding server is satisfied at once; a literal one after one retry without urlencoding.
    assert len(server.seen) == (1 if decodes or secret == "plain-secret" else 2)


@pytest.mark.parametrize("secret", SECRETS)
def test_client_secret_post(make_client, rsps, secret):
    server = AuthServer(secret)
    server.install(rsps)
    smart = make_client(client_auth=ClientSecretPost(CLIENT_ID, secret))
    assert sign_in(smart).access_token and server.seen == [("client_secret_post", True)]


@pytest.mark.parametrize("alg", ["RS384", "ES384"])
def test_private_key_jwt(make_client, rsps, alg):
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048) if alg == "RS384" \
        else ec.generate_private_key(ec.SECP384R1())
    auth = PrivateKeyJwt(CLIENT_ID, key, kid="app-1", alg=alg)
    jwk = public_jwks([auth])["keys"][0]
    assert jwk["kid"] == "app-1" and jwk["alg"] == alg and "d" not in jwk
    server = AuthServer(public_key=jwt.PyJWK(jwk).key)
    server.install(rsps)
    assert sign_in(make_client(client_auth=auth)).access_token
    assert server.seen == [("private_key_jwt", True)]


def test_a_wrong_secret_is_invalid_client_after_at_most_one_retry(make_client, rsps):
    server = AuthServer("right one", decodes_basic=False)
    server.install(rsps)
    smart = make_client(client_auth=ClientSecretBasic(CLIENT_ID, "wrong one"))
    with pytest.raises(InvalidClient) as info:
        sign_in(smart)
    assert info.value.error_description == "client authentication failed"
    assert len(server.seen) == 2
    assert "wrong one" not in str(info.value)


@pytest.mark.parametrize("methods, chosen", [
    (["client_secret_post"], "client_secret_post"),
    (["client_secret_basic", "client_secret_post"], "client_secret_basic"),
    (["private_key_jwt", "client_secret_post"], "client_secret_post"),
])
def test_the_servers_advertised_methods_choose_the_default(make_client, rsps, methods, chosen):
    server = AuthServer("s e+c/r=e:t", methods=methods)
    server.install(rsps)
    auths = [ClientSecretBasic(CLIENT_ID, "s e+c/r=e:t"), ClientSecretPost(CLIENT_ID, "s e+c/r=e:t")]
    assert sign_in(make_client(client_auth=auths)).access_token
    assert server.seen == [(chosen, True)]


def test_no_advertised_method_we_have_is_a_clear_discovery_error(make_client, rsps):
    rsps.get(WELL_KNOWN, json=well_known(token_endpoint_auth_methods_supported=["private_key_jwt"]))
    smart = make_client(client_auth=[ClientSecretPost(CLIENT_ID, "x")])
    with pytest.raises(DiscoveryError):
        smart.authorize(ISS, launch="L-1")
