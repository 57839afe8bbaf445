"""Fixtures of the pretend EHR: keys, JWKS, id_tokens, a fixed clock, a SmartClient."""

from __future__ import annotations

import jwt
import pytest
import responses
from cryptography.hazmat.primitives.asymmetric import ec, rsa

from fhir_mbt.smart import SmartClient

from .ehr import CLIENT_ID, ISS, ISSUER, NOW, REDIRECT, SCOPE, public_jwk


@pytest.fixture(scope="session")
def server_key():
    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


@pytest.fixture(scope="session")
def other_key():
    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


@pytest.fixture(scope="session")
def ec_server_key():
    return ec.generate_private_key(ec.SECP384R1())


@pytest.fixture(scope="session")
def jwks(server_key, ec_server_key):
    return {"keys": [public_jwk(server_key, "srv-1"), public_jwk(ec_server_key, "srv-ec", "ES384")]}


@pytest.fixture
def sign(server_key):
    def make(key=None, kid="srv-1", alg="RS256", **claims):
        body = {"iss": ISSUER, "sub": "u-1", "aud": CLIENT_ID, "iat": int(NOW), "exp": int(NOW) + 300,
                "fhirUser": "Practitioner/pr-1"}
        body.update(claims)
        body = {k: v for k, v in body.items() if v is not None}
        return jwt.encode(body, key or server_key, algorithm=alg, headers={"kid": kid})
    return make


@pytest.fixture
def clock():
    class Clock:
        now = NOW

        def __call__(self):
            return self.now
    return Clock()


@pytest.fixture
def rsps():
    with responses.RequestsMock() as mock:
        yield mock


@pytest.fixture
def make_client(clock):
    def make(**kwargs):
        args = dict(client_id=CLIENT_ID, redirect_uri=REDIRECT, scope=SCOPE, issuers=[ISS], clock=clock)
        args.update(kwargs)
        return SmartClient(**args)
    return make
