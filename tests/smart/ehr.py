"""A pretend EHR for SMART tests: addresses, its configuration and token answers."""

from __future__ import annotations

import json

import jwt
from cryptography.hazmat.primitives.asymmetric import rsa

ISS = "https://ehr.example/fhir"
AUTHORIZE = "https://auth.example/authorize"
TOKEN = "https://auth.example/token"
JWKS = "https://auth.example/jwks"
ISSUER = "https://auth.example"
CLIENT_ID = "mbt-app"
REDIRECT = "https://app.example/callback"
NOW = 1_700_000_000.0
SCOPE = "launch openid fhirUser patient/QuestionnaireResponse.cru patient/Observation.crs"


def well_known(**changes):
    doc = {
        "issuer": ISSUER,
        "jwks_uri": JWKS,
        "authorization_endpoint": AUTHORIZE,
        "token_endpoint": TOKEN,
        "token_endpoint_auth_methods_supported": ["client_secret_basic", "private_key_jwt"],
        "token_endpoint_auth_signing_alg_values_supported": ["RS384", "ES384"],
        "grant_types_supported": ["authorization_code", "refresh_token"],
        "scopes_supported": ["openid", "fhirUser", "launch", "patient/*.cruds"],
        "response_types_supported": ["code"],
        "capabilities": ["launch-ehr", "client-public", "client-confidential-symmetric",
                         "permission-v2", "context-ehr-patient", "sso-openid-connect"],
        "code_challenge_methods_supported": ["S256"],
    }
    doc.update(changes)
    return {k: v for k, v in doc.items() if v is not None}


def public_jwk(key, kid, alg=None):
    algo = jwt.algorithms.RSAAlgorithm if isinstance(key, rsa.RSAPrivateKey) else jwt.algorithms.ECAlgorithm
    jwk = json.loads(algo.to_jwk(key.public_key()))
    jwk.update({"kid": kid, "use": "sig"})
    if alg:
        jwk["alg"] = alg
    return jwk


def token_body(**changes):
    body = {"access_token": "AT-secret-1", "token_type": "Bearer", "expires_in": 3600,
            "scope": SCOPE, "refresh_token": "RT-secret-1", "patient": "p-1", "encounter": "e-1",
            "need_patient_banner": False, "smart_style_url": "https://ehr.example/style.json"}
    body.update(changes)
    return {k: v for k, v in body.items() if v is not None}
