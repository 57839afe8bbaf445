"""An EHR's side of CDS Hooks authentication for tests: a key pair, its JWKS, and JWTs signed with it."""

from __future__ import annotations

import time
import uuid

import jwt
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from jwt.algorithms import ECAlgorithm, RSAAlgorithm

ISSUER = "https://ehr.test"
JWKS_URL = "https://ehr.test/jwks"


class Signer:
    def __init__(self, kind: str = "RS384", kid: str = "k1"):
        self.alg, self.kid = kind, kid
        if kind.startswith("ES"):
            self.key = ec.generate_private_key(ec.SECP384R1())
            jwk = ECAlgorithm.to_jwk(self.key.public_key(), as_dict=True)
        else:
            self.key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
            jwk = RSAAlgorithm.to_jwk(self.key.public_key(), as_dict=True)
        self.jwk = {**jwk, "kid": kid, "use": "sig", "alg": kind}

    def jwks(self) -> dict:
        return {"keys": [self.jwk]}

    def token(self, audience: str, *, issuer: str = ISSUER, lifetime: int = 60, jti: str | None = None,
              headers: dict | None = None, **claims) -> str:
        now = int(time.time())
        body = {"iss": issuer, "aud": audience, "iat": now, "exp": now + lifetime,
                "jti": jti or str(uuid.uuid4()), **claims}
        return jwt.encode(body, self.key, algorithm=self.alg,
                          headers={"kid": self.kid, "typ": "JWT", **(headers or {})})
