"""Configuration from the environment, with the defaults a developer needs.

Every setting is read here and nowhere else. The environment variables:

MBT_SECRET_KEY        signs the session cookie (which holds only an opaque id) and, through a
                      derived key, encrypts the server-side sessions at rest
MBT_SECRET_KEY_PREVIOUS  optional: earlier secret keys (comma-separated), still accepted to
                      decrypt sessions after a rotation
MBT_CLIENT_ID         the app's client id at the EHR's authorization server
MBT_CLIENT_SECRET     optional: makes the app a confidential client (client_secret_basic or _post)
MBT_CLIENT_KEY        optional: a PEM private key (or MBT_CLIENT_KEY_FILE, a path) for private_key_jwt
MBT_CLIENT_KEY_ALG    optional: RS384 or ES384 (default: from the key); MBT_CLIENT_KEY_ID its kid
MBT_CLIENT_AUTH       optional: the one method to use; default: the first the server advertises
MBT_ALLOWED_ISSUERS   comma-separated FHIR base URLs the app may be launched from
MBT_EMERGENCY_LINE    what clinicians are told to call, e.g. "988; 911 for emergencies"
MBT_EMERGENCY_TEL     optional: the number a patient's phone dials (default: the first number in the line)
MBT_FRAME_ANCESTORS   space- or comma-separated EHR origins allowed to frame the app
MBT_REDIRECT_URI      optional: the registered redirect URI (default: this app's /callback)
MBT_SESSION_DB        optional: SQLite file for server-side sessions and tokens
MBT_SESSION_LIFETIME  optional: seconds a session lives (default 8 hours)
MBT_CDS_CLIENTS       EHRs that may call the CDS Hooks service: space- or comma-separated
                      ISSUER=JWKS_URL pairs (the JWT's iss, and where its keys are published)
MBT_CDS_BASE_URL      optional: the app's public base URL, which the JWT's aud must name
                      (default: taken from the request's Host header)
MBT_CDS_TIME_BUDGET   optional: seconds the service may spend reading FHIR without prefetch (default 2)
MBT_CDS_SESSION_GAP_WEEKS  optional: weeks without an attended session before a warning (default 3)
MBT_CDS_RFQ8_WEEKS    optional: weeks between RFQ-8 reviews (default 12)
MBT_CDS_MAX_BODY      optional: largest hook request accepted, bytes (default 64 MiB: prefetch of years)
MBT_PAGE_BUDGET       optional: seconds all FHIR calls of one page may take together (default 10)
MBT_TIMEZONE          the service's time zone (IANA name, default UTC): dates and times are shown,
                      and a new record's date defaults, in it
MBT_SERVICE_NAME      the service's name on printed records (default "MBT service")
MBT_SERVICE_CONTACT   optional: its contact line on printed records (address, telephone)
MBT_COPY_SHOW_MRN     optional: "true" to print the medical record number on the patient's copy
                      (default: name and date of birth only)
"""

from __future__ import annotations

import os
import secrets
import zoneinfo

__all__ = ["from_environment", "split_list", "cds_clients", "flag", "timezone"]

#: Seconds the FHIR calls of one page may take in all; gunicorn.conf.py's timeout is above it.
PAGE_BUDGET = 10.0
DEFAULT_EMERGENCY_LINE = "988 Suicide & Crisis Lifeline; 911 for emergencies"


def split_list(value: str | None) -> list[str]:
    if not value:
        return []
    return [part.strip() for part in value.replace(",", " ").split() if part.strip()]


def cds_clients(value: str | None) -> dict[str, str]:
    """``ISSUER=JWKS_URL`` pairs → {issuer: JWKS URL}; ValueError on a pair without both."""
    clients = {}
    for pair in split_list(value):
        issuer, _, jwks = pair.partition("=")
        if not issuer or not jwks:
            raise ValueError(f"MBT_CDS_CLIENTS: {pair!r} is not ISSUER=JWKS_URL")
        clients[issuer] = jwks
    return clients


def flag(value: str | None, name: str) -> bool:
    """A yes/no setting: true/yes/1 or false/no/0 (absent: no); anything else stops the app at start."""
    text = (value or "").strip().lower()
    if text in ("", "0", "false", "no", "off"):
        return False
    if text in ("1", "true", "yes", "on"):
        return True
    raise ValueError(f"{name}: {value!r} is not true or false")


def timezone(value: str | None) -> str:
    """An IANA time zone name, checked now so a typo stops the app at start, not on a page."""
    name = (value or "UTC").strip()
    try:
        zoneinfo.ZoneInfo(name)
    except (zoneinfo.ZoneInfoNotFoundError, ValueError) as exc:
        raise ValueError(f"MBT_TIMEZONE: {name!r} is not a known time zone (e.g. Europe/London)") from exc
    return name


def from_environment(environ: dict | None = None) -> dict:
    env = os.environ if environ is None else environ
    secret = env.get("MBT_SECRET_KEY")
    return {
        "SECRET_KEY": secret or secrets.token_hex(32),
        "SECRET_KEY_IS_EPHEMERAL": not secret,
        "MBT_SECRET_KEYS_PREVIOUS": split_list(env.get("MBT_SECRET_KEY_PREVIOUS")),
        "MBT_CLIENT_ID": env.get("MBT_CLIENT_ID", "fhir-mbt"),
        "MBT_CLIENT_SECRET": env.get("MBT_CLIENT_SECRET") or None,
        "MBT_CLIENT_KEY": env.get("MBT_CLIENT_KEY") or None,
        "MBT_CLIENT_KEY_FILE": env.get("MBT_CLIENT_KEY_FILE") or None,
        "MBT_CLIENT_KEY_ALG": env.get("MBT_CLIENT_KEY_ALG") or None,
        "MBT_CLIENT_KEY_ID": env.get("MBT_CLIENT_KEY_ID") or None,
        "MBT_CLIENT_AUTH": env.get("MBT_CLIENT_AUTH") or None,
        "MBT_ALLOWED_ISSUERS": [i.rstrip("/") for i in split_list(env.get("MBT_ALLOWED_ISSUERS"))],
        "MBT_EMERGENCY_LINE": env.get("MBT_EMERGENCY_LINE", DEFAULT_EMERGENCY_LINE),
        "MBT_EMERGENCY_TEL": env.get("MBT_EMERGENCY_TEL") or None,
        "MBT_FRAME_ANCESTORS": split_list(env.get("MBT_FRAME_ANCESTORS")),
        "MBT_REDIRECT_URI": env.get("MBT_REDIRECT_URI") or None,
        "MBT_SESSION_DB": env.get("MBT_SESSION_DB") or None,
        "MBT_SESSION_LIFETIME": int(env.get("MBT_SESSION_LIFETIME", 8 * 3600)),
        "MBT_CDS_CLIENTS": cds_clients(env.get("MBT_CDS_CLIENTS")),
        "MBT_CDS_BASE_URL": env.get("MBT_CDS_BASE_URL") or None,
        "MBT_CDS_TIME_BUDGET": float(env.get("MBT_CDS_TIME_BUDGET", 2.0)),
        "MBT_CDS_SESSION_GAP_WEEKS": int(env.get("MBT_CDS_SESSION_GAP_WEEKS", 3)),
        "MBT_CDS_RFQ8_WEEKS": int(env.get("MBT_CDS_RFQ8_WEEKS", 12)),
        "MBT_CDS_MAX_BODY": int(env.get("MBT_CDS_MAX_BODY", 64 * 1024 * 1024)),
        "MBT_PAGE_BUDGET": float(env.get("MBT_PAGE_BUDGET", PAGE_BUDGET)),
        "MBT_TIMEZONE": timezone(env.get("MBT_TIMEZONE")),
        "MBT_SERVICE_NAME": env.get("MBT_SERVICE_NAME") or "MBT service",
        "MBT_SERVICE_CONTACT": env.get("MBT_SERVICE_CONTACT") or None,
        "MBT_COPY_SHOW_MRN": flag(env.get("MBT_COPY_SHOW_MRN"), "MBT_COPY_SHOW_MRN"),
        # Its own name: an EHR on the same host (other port) may set a "session" cookie too.
        "SESSION_COOKIE_NAME": "mbt_session",
        # A form post is a few kilobytes; refuse anything far larger before reading it.
        "MAX_CONTENT_LENGTH": 1024 * 1024,
        "MAX_FORM_MEMORY_SIZE": 512 * 1024,
        "MAX_FORM_PARTS": 3000,
    }
