"""The sandbox's signing key: its public JWK set, and id_tokens (and CDS Hooks JWTs) signed with it.

One RSA key, generated at start unless configured, so id_tokens from an
earlier run stop verifying when the sandbox restarts (as they should).
The ``kid`` is the key's RFC 7638 thumbprint.
"""

from __future__ import annotations

import base64
import hashlib
import json
import time
from typing import Any

import jwt
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

__all__ = ["SigningKey", "ALGORITHM"]

ALGORITHM = "RS256"


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


class SigningKey:
    """An RSA private key with its public JWK and ``kid``."""

    def __init__(self, private_key: Any = None):
        if isinstance(private_key, (str, bytes)):
            data = private_key.encode("ascii") if isinstance(private_key, str) else private_key
            private_key = serialization.load_pem_private_key(data, password=None)
        if private_key is None:
            private_key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        if not isinstance(private_key, rsa.RSAPrivateKey):
            raise ValueError("the signing key must be an RSA private key")
        self._key = private_key
        numbers = private_key.public_key().public_numbers()
        n = _b64(numbers.n.to_bytes((numbers.n.bit_length() + 7) // 8, "big"))
        e = _b64(numbers.e.to_bytes((numbers.e.bit_length() + 7) // 8, "big"))
        canonical = json.dumps({"e": e, "kty": "RSA", "n": n}, separators=(",", ":"), sort_keys=True)
        self.kid = _b64(hashlib.sha256(canonical.encode("ascii")).digest())
        self.public_jwk = {"kty": "RSA", "use": "sig", "alg": ALGORITHM, "kid": self.kid, "n": n, "e": e}

    def __repr__(self) -> str:
        return f"SigningKey(kid={self.kid!r})"

    def jwks(self) -> dict[str, Any]:
        return {"keys": [dict(self.public_jwk)]}

    def sign(self, claims: dict[str, Any]) -> str:
        """A JWT of ``claims`` signed with this key (``kid`` and ``typ`` in its header)."""
        return jwt.encode(claims, self._key, algorithm=ALGORITHM, headers={"kid": self.kid, "typ": "JWT"})

    def id_token(self, *, issuer: str, client_id: str, subject: str, lifetime: int,
                 fhir_user: str | None = None, nonce: str | None = None,
                 now: float | None = None) -> str:
        issued = int(time.time() if now is None else now)
        claims: dict[str, Any] = {
            "iss": issuer,
            "sub": subject,
            "aud": client_id,
            "iat": issued,
            "exp": issued + lifetime,
        }
        if fhir_user:
            claims["fhirUser"] = fhir_user
        if nonce:
            claims["nonce"] = nonce
        return jwt.encode(claims, self._key, algorithm=ALGORITHM, headers={"kid": self.kid})
