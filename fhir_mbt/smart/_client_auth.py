"""How the app proves who it is to the token endpoint.

Three ways, one shape: each adds to the form and headers of a token request.
A public client only names itself (``client_id``; PKCE protects the code).
``client_secret_basic`` sends the secret in an HTTP Basic header, its
parts form-urlencoded first as RFC 6749 section 2.3.1 says; since many
servers do not decode them, a refusal is retried once with the raw secret
(:meth:`ClientSecretBasic.fallback`). ``client_secret_post`` sends the
secret in the form. ``private_key_jwt`` signs a short assertion (RS384 or ES384) whose audience
is the token endpoint, so a captured assertion is useless elsewhere and soon.
"""

from __future__ import annotations

import base64
import json
import secrets
import time
from dataclasses import dataclass, field
from typing import Any, Callable, MutableMapping, Protocol, Sequence
from urllib.parse import quote

import jwt
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa

__all__ = [
    "ClientAuth",
    "PublicClient",
    "ClientSecretBasic",
    "ClientSecretPost",
    "PrivateKeyJwt",
    "choose_client_auth",
    "public_jwks",
    "CLIENT_ASSERTION_TYPE",
    "MAX_ASSERTION_LIFETIME",
]

CLIENT_ASSERTION_TYPE = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"
MAX_ASSERTION_LIFETIME = 300


class ClientAuth(Protocol):
    """Adds the client's credentials to a token request."""

    client_id: str
    method: str

    def apply(
        self,
        data: MutableMapping[str, str],
        headers: MutableMapping[str, str],
        token_endpoint: str,
    ) -> None: ...


@dataclass(frozen=True)
class PublicClient:
    """A client without credentials of its own (a browser or native app)."""

    client_id: str
    method: str = field(default="none", init=False)

    def apply(self, data, headers, token_endpoint) -> None:
        data["client_id"] = self.client_id


@dataclass(frozen=True)
class ClientSecretBasic:
    """A confidential client holding a shared secret (RFC 6749 section 2.3.1)."""

    client_id: str
    client_secret: str = field(repr=False)
    encoded: bool = True
    method: str = field(default="client_secret_basic", init=False)

    def apply(self, data, headers, token_endpoint) -> None:
        if self.encoded:
            pair = f"{quote(self.client_id, safe='')}:{quote(self.client_secret, safe='')}"
        else:
            pair = f"{self.client_id}:{self.client_secret}"
        headers["Authorization"] = "Basic " + base64.b64encode(pair.encode("utf-8")).decode("ascii")

    def fallback(self) -> "ClientSecretBasic | None":
        """The same credentials not urlencoded, for servers that do not decode them (if that differs)."""
        if not self.encoded:
            return None
        plain = f"{self.client_id}:{self.client_secret}"
        if plain == f"{quote(self.client_id, safe='')}:{quote(self.client_secret, safe='')}":
            return None
        return ClientSecretBasic(self.client_id, self.client_secret, encoded=False)


@dataclass(frozen=True)
class ClientSecretPost:
    """A confidential client sending its shared secret in the form (RFC 6749 section 2.3.1)."""

    client_id: str
    client_secret: str = field(repr=False)
    method: str = field(default="client_secret_post", init=False)

    def apply(self, data, headers, token_endpoint) -> None:
        data["client_id"] = self.client_id
        data["client_secret"] = self.client_secret


def _load_key(key: Any) -> Any:
    if isinstance(key, (bytes, str)):
        data = key.encode("ascii") if isinstance(key, str) else key
        return serialization.load_pem_private_key(data, password=None)
    return key


@dataclass(frozen=True)
class PrivateKeyJwt:
    """A confidential client holding a private key registered by its JWK (``kid``).

    ``private_key`` is a PEM (bytes or str) or a ``cryptography`` key object;
    RS384 needs an RSA key, ES384 an EC key on P-384.
    """

    client_id: str
    private_key: Any = field(repr=False)
    kid: str
    alg: str = "RS384"
    lifetime: int = MAX_ASSERTION_LIFETIME
    jku: str | None = None
    clock: Callable[[], float] = field(default=time.time, repr=False, compare=False)
    method: str = field(default="private_key_jwt", init=False)

    def __post_init__(self) -> None:
        key = _load_key(self.private_key)
        if self.alg == "RS384":
            if not isinstance(key, rsa.RSAPrivateKey):
                raise ValueError("RS384 needs an RSA private key")
        elif self.alg == "ES384":
            if not isinstance(key, ec.EllipticCurvePrivateKey) or not isinstance(key.curve, ec.SECP384R1):
                raise ValueError("ES384 needs an EC private key on P-384")
        else:
            raise ValueError("alg must be RS384 or ES384")
        if not 0 < self.lifetime <= MAX_ASSERTION_LIFETIME:
            raise ValueError(f"lifetime must be within 1..{MAX_ASSERTION_LIFETIME} seconds")
        object.__setattr__(self, "private_key", key)

    def assertion(self, token_endpoint: str) -> str:
        """A fresh signed client assertion for ``token_endpoint``."""
        now = int(self.clock())
        claims = {
            "iss": self.client_id,
            "sub": self.client_id,
            "aud": token_endpoint,
            "exp": now + self.lifetime,
            "jti": secrets.token_urlsafe(32),
        }
        headers = {"kid": self.kid, "typ": "JWT"}
        if self.jku:
            headers["jku"] = self.jku
        return jwt.encode(claims, self.private_key, algorithm=self.alg, headers=headers)

    def apply(self, data, headers, token_endpoint) -> None:
        data["client_assertion_type"] = CLIENT_ASSERTION_TYPE
        data["client_assertion"] = self.assertion(token_endpoint)

    def public_jwk(self) -> dict[str, Any]:
        """The public half, as a JWK to register with the EHR (or serve at a JWKS URL)."""
        algo = jwt.algorithms.RSAAlgorithm if self.alg == "RS384" else jwt.algorithms.ECAlgorithm
        jwk = json.loads(algo.to_jwk(self.private_key.public_key()))
        jwk.update({"kid": self.kid, "alg": self.alg, "use": "sig"})
        return jwk


def public_jwks(auths: Any) -> dict[str, Any]:
    """The JWKS of the keys among ``auths`` (for the app's public JWKS URL)."""
    return {"keys": [a.public_jwk() for a in auths if isinstance(a, PrivateKeyJwt)]}


def choose_client_auth(candidates: Sequence[ClientAuth], advertised: Sequence[str]) -> ClientAuth:
    """The first of ``candidates`` whose method the server advertises (the first if it says nothing)."""
    if not candidates:
        raise ValueError("no client authentication configured")
    if advertised:
        for auth in candidates:
            if auth.method == "none" or auth.method in advertised:
                return auth
    return candidates[0]
