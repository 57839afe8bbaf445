"""Configuration from the environment, with the defaults a developer needs.

Every setting is read here and nowhere else. The environment variables:

MBT_SECRET_KEY        signs the session cookie (which holds only an opaque id)
MBT_CLIENT_ID         the app's client id at the EHR's authorization server
MBT_CLIENT_SECRET     optional: makes the app a confidential client (client_secret_basic or _post)
MBT_CLIENT_KEY        optional: a PEM private key (or MBT_CLIENT_KEY_FILE, a path) for private_key_jwt
MBT_CLIENT_KEY_ALG    optional: RS384 or ES384 (default: from the key); MBT_CLIENT_KEY_ID its kid
MBT_CLIENT_AUTH       optional: the one method to use; default: the first the server advertises
MBT_ALLOWED_ISSUERS   comma-separated FHIR base URLs the app may be launched from
MBT_EMERGENCY_LINE    what clinicians are told to call, e.g. "988; 911 for emergencies"
MBT_FRAME_ANCESTORS   space- or comma-separated EHR origins allowed to frame the app
MBT_REDIRECT_URI      optional: the registered redirect URI (default: this app's /callback)
MBT_SESSION_DB        optional: SQLite file for server-side sessions and tokens
MBT_SESSION_LIFETIME  optional: seconds a session lives (default 8 hours)
"""

from __future__ import annotations

import os
import secrets

__all__ = ["from_environment", "split_list"]

DEFAULT_EMERGENCY_LINE = "988 Suicide & Crisis Lifeline; 911 for emergencies"


def split_list(value: str | None) -> list[str]:
    if not value:
        return []
    return [part.strip() for part in value.replace(",", " ").split() if part.strip()]


def from_environment(environ: dict | None = None) -> dict:
    env = os.environ if environ is None else environ
    secret = env.get("MBT_SECRET_KEY")
    return {
        "SECRET_KEY": secret or secrets.token_hex(32),
        "SECRET_KEY_IS_EPHEMERAL": not secret,
        "MBT_CLIENT_ID": env.get("MBT_CLIENT_ID", "fhir-mbt"),
        "MBT_CLIENT_SECRET": env.get("MBT_CLIENT_SECRET") or None,
        "MBT_CLIENT_KEY": env.get("MBT_CLIENT_KEY") or None,
        "MBT_CLIENT_KEY_FILE": env.get("MBT_CLIENT_KEY_FILE") or None,
        "MBT_CLIENT_KEY_ALG": env.get("MBT_CLIENT_KEY_ALG") or None,
        "MBT_CLIENT_KEY_ID": env.get("MBT_CLIENT_KEY_ID") or None,
        "MBT_CLIENT_AUTH": env.get("MBT_CLIENT_AUTH") or None,
        "MBT_ALLOWED_ISSUERS": [i.rstrip("/") for i in split_list(env.get("MBT_ALLOWED_ISSUERS"))],
        "MBT_EMERGENCY_LINE": env.get("MBT_EMERGENCY_LINE", DEFAULT_EMERGENCY_LINE),
        "MBT_FRAME_ANCESTORS": split_list(env.get("MBT_FRAME_ANCESTORS")),
        "MBT_REDIRECT_URI": env.get("MBT_REDIRECT_URI") or None,
        "MBT_SESSION_DB": env.get("MBT_SESSION_DB") or None,
        "MBT_SESSION_LIFETIME": int(env.get("MBT_SESSION_LIFETIME", 8 * 3600)),
        # Its own name: an EHR on the same host (other port) may set a "session" cookie too.
        "SESSION_COOKIE_NAME": "mbt_session",
        # A form post is a few kilobytes; refuse anything far larger before reading it.
        "MAX_CONTENT_LENGTH": 1024 * 1024,
        "MAX_FORM_MEMORY_SIZE": 512 * 1024,
        "MAX_FORM_PARTS": 3000,
    }
