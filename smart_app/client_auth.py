"""How the app authenticates at the EHR's token endpoint, and its public keys.

From the configuration: a private key (``MBT_CLIENT_KEY`` as PEM, or
``MBT_CLIENT_KEY_FILE``) gives ``private_key_jwt`` (RS384 for an RSA key,
ES384 for a P-384 key); a secret (``MBT_CLIENT_SECRET``) gives
``client_secret_basic`` and ``client_secret_post``; neither, a public client.
``MBT_CLIENT_AUTH`` names one method to use only it; otherwise each
server's advertised methods choose among these. The public half of the key is
served at ``/.well-known/jwks.json``, the URL to register with the EHR.
"""

from __future__ import annotations

import hashlib
from pathlib import Path

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec
from flask import Blueprint, current_app, jsonify

from fhir_mbt.smart import ClientAuth, ClientSecretBasic, ClientSecretPost, PrivateKeyJwt, PublicClient, public_jwks

__all__ = ["bp", "client_auths", "METHODS"]

bp = Blueprint("client_auth", __name__)
METHODS = ("client_secret_basic", "client_secret_post", "private_key_jwt", "none")


def _private_key(cfg) -> PrivateKeyJwt | None:
    pem = cfg.get("MBT_CLIENT_KEY")
    if not pem and cfg.get("MBT_CLIENT_KEY_FILE"):
        pem = Path(cfg["MBT_CLIENT_KEY_FILE"]).read_text()
    if not pem:
        return None
    key = serialization.load_pem_private_key(pem.replace("\\n", "\n").encode("ascii"), password=None)
    alg = cfg.get("MBT_CLIENT_KEY_ALG") or ("ES384" if isinstance(key, ec.EllipticCurvePrivateKey) else "RS384")
    public = key.public_key().public_bytes(serialization.Encoding.DER,
                                           serialization.PublicFormat.SubjectPublicKeyInfo)
    kid = cfg.get("MBT_CLIENT_KEY_ID") or hashlib.sha256(public).hexdigest()[:16]
    return PrivateKeyJwt(cfg["MBT_CLIENT_ID"], key, kid=kid, alg=alg)


def client_auths(cfg) -> list[ClientAuth]:
    """The client authentications the app can use, in order of preference."""
    client_id, secret = cfg["MBT_CLIENT_ID"], cfg.get("MBT_CLIENT_SECRET")
    available: list[ClientAuth] = []
    key = _private_key(cfg)
    if key is not None:
        available.append(key)
    if secret:
        available += [ClientSecretBasic(client_id, secret), ClientSecretPost(client_id, secret)]
    if not available:
        available.append(PublicClient(client_id))
    wanted = cfg.get("MBT_CLIENT_AUTH")
    if wanted:
        if wanted not in METHODS:
            raise ValueError(f"MBT_CLIENT_AUTH must be one of {', '.join(METHODS)}")
        chosen = [a for a in available if a.method == wanted]
        if wanted == "none":
            chosen = [PublicClient(client_id)]
        if not chosen:
            raise ValueError(f"MBT_CLIENT_AUTH={wanted} needs a "
                             f"{'key (MBT_CLIENT_KEY)' if wanted == 'private_key_jwt' else 'secret (MBT_CLIENT_SECRET)'}")
        return chosen
    return available


@bp.get("/.well-known/jwks.json")
def jwks():
    """The app's public signing keys (empty without ``private_key_jwt``)."""
    auths = current_app.extensions.get("mbt.client_auths")
    if auths is None:
        auths = current_app.extensions["mbt.client_auths"] = client_auths(current_app.config)
    answer = jsonify(public_jwks(auths))
    answer.headers["Cache-Control"] = "public, max-age=3600"
    return answer
