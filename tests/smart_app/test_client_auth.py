"""The app's client authentication from its configuration, and its public JWKS URL."""

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa

from smart_app import create_app
from smart_app.client_auth import client_auths


def pem(key) -> str:
    return key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                             serialization.NoEncryption()).decode()


def cfg(**values):
    return {"MBT_CLIENT_ID": "mbt-app", **values}


def test_a_secret_offers_basic_then_post():
    assert [a.method for a in client_auths(cfg(MBT_CLIENT_SECRET="a+b/c= :d"))] == [
        "client_secret_basic", "client_secret_post"]


def test_nothing_configured_is_a_public_client():
    assert [a.method for a in client_auths(cfg())] == ["none"]


@pytest.mark.parametrize("make, alg", [
    (lambda: rsa.generate_private_key(public_exponent=65537, key_size=2048), "RS384"),
    (lambda: ec.generate_private_key(ec.SECP384R1()), "ES384"),
])
def test_a_key_from_the_environment_or_a_file(tmp_path, make, alg):
    key = pem(make())
    from_env = client_auths(cfg(MBT_CLIENT_KEY=key.replace("\n", "\\n"), MBT_CLIENT_SECRET="s"))
    assert [a.method for a in from_env] == ["private_key_jwt", "client_secret_basic", "client_secret_post"]
    assert from_env[0].alg == alg
    path = tmp_path / "key.pem"
    path.write_text(key)
    from_file = client_auths(cfg(MBT_CLIENT_KEY_FILE=str(path), MBT_CLIENT_AUTH="private_key_jwt"))
    assert [a.method for a in from_file] == ["private_key_jwt"] and from_file[0].kid == from_env[0].kid


def test_a_named_method_without_its_credential_is_refused():
    with pytest.raises(ValueError, match="MBT_CLIENT_SECRET"):
        client_auths(cfg(MBT_CLIENT_AUTH="client_secret_post"))
    with pytest.raises(ValueError):
        client_auths(cfg(MBT_CLIENT_AUTH="magic"))


def test_the_public_jwks_is_served_without_the_private_part(tmp_path):
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    app = create_app({"TESTING": True, "MBT_SESSION_DB": str(tmp_path / "s.sqlite3"), "MBT_CLIENT_ID": "mbt-app",
                      "MBT_CLIENT_KEY": pem(key), "MBT_CLIENT_KEY_ID": "app-key-1"})
    body = app.test_client().get("/.well-known/jwks.json").get_json()
    assert [(k["kid"], k["alg"], k["kty"]) for k in body["keys"]] == [("app-key-1", "RS384", "RSA")]
    assert "d" not in body["keys"][0] and "p" not in body["keys"][0]
