"""Client authentication at the token endpoint: public, client_secret_basic, private_key_jwt."""

import base64

import jwt
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa

from fhir_mbt.smart import CLIENT_ASSERTION_TYPE, ClientSecretBasic, PrivateKeyJwt, PublicClient

from .ehr import CLIENT_ID, NOW, TOKEN


@pytest.fixture(scope="module")
def rsa_key():
    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


@pytest.fixture(scope="module")
def ec_key():
    return ec.generate_private_key(ec.SECP384R1())


def applied(auth):
    data, headers = {}, {}
    auth.apply(data, headers, TOKEN)
    return data, headers


def test_public_client_names_itself_in_the_body():
    assert applied(PublicClient(CLIENT_ID)) == ({"client_id": CLIENT_ID}, {})


def test_client_secret_basic_uses_the_header_with_form_encoding():
    data, headers = applied(ClientSecretBasic("app:1", "p@ss word/+"))
    assert data == {}
    scheme, value = headers["Authorization"].split(" ")
    assert scheme == "Basic"
    assert base64.b64decode(value).decode() == "app%3A1:p%40ss%20word%2F%2B"


def test_secrets_are_not_in_repr(rsa_key):
    assert "s3cret" not in repr(ClientSecretBasic(CLIENT_ID, "s3cret"))
    auth = PrivateKeyJwt(CLIENT_ID, rsa_key, kid="k1")
    assert "RSAPrivateKey" not in repr(auth) and "PRIVATE" not in repr(auth)


@pytest.mark.parametrize("alg", ["RS384", "ES384"])
def test_private_key_jwt_assertion(alg, rsa_key, ec_key):
    key = rsa_key if alg == "RS384" else ec_key
    auth = PrivateKeyJwt(CLIENT_ID, key, kid="app-key-1", alg=alg, clock=lambda: NOW)
    data, headers = applied(auth)
    assert headers == {}
    assert data["client_assertion_type"] == CLIENT_ASSERTION_TYPE
    token = data["client_assertion"]
    header = jwt.get_unverified_header(token)
    assert header["alg"] == alg and header["kid"] == "app-key-1" and header["typ"] == "JWT"
    claims = jwt.decode(token, key.public_key(), algorithms=[alg], audience=TOKEN,
                        options={"verify_exp": False})
    assert claims["iss"] == claims["sub"] == CLIENT_ID
    assert claims["aud"] == TOKEN
    assert 0 < claims["exp"] - NOW <= 300
    second = jwt.decode(auth.assertion(TOKEN), key.public_key(), algorithms=[alg], audience=TOKEN,
                        options={"verify_exp": False})
    assert claims["jti"] != second["jti"] and len(claims["jti"]) >= 22


def test_private_key_from_pem(rsa_key):
    pem = rsa_key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                serialization.NoEncryption())
    auth = PrivateKeyJwt(CLIENT_ID, pem.decode(), kid="k1", clock=lambda: NOW)
    token = auth.assertion(TOKEN)
    assert jwt.decode(token, rsa_key.public_key(), algorithms=["RS384"], audience=TOKEN,
                      options={"verify_exp": False})["sub"] == CLIENT_ID


def test_key_must_fit_the_algorithm(rsa_key, ec_key):
    with pytest.raises(ValueError):
        PrivateKeyJwt(CLIENT_ID, ec_key, kid="k", alg="RS384")
    with pytest.raises(ValueError):
        PrivateKeyJwt(CLIENT_ID, rsa_key, kid="k", alg="ES384")
    with pytest.raises(ValueError):
        PrivateKeyJwt(CLIENT_ID, ec.generate_private_key(ec.SECP256R1()), kid="k", alg="ES384")
    with pytest.raises(ValueError):
        PrivateKeyJwt(CLIENT_ID, rsa_key, kid="k", alg="RS256")


@pytest.mark.parametrize("lifetime", [0, 301, 3600])
def test_assertion_lifetime_is_at_most_five_minutes(rsa_key, lifetime):
    with pytest.raises(ValueError):
        PrivateKeyJwt(CLIENT_ID, rsa_key, kid="k", lifetime=lifetime)
