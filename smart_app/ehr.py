"""The app's side of SMART and FHIR: one place that ties the library's
clients to the user's server-side session.

The session (server-side, see ``store``) holds the pending authorizations by
state, and the token set of the launch; nothing else in the app touches
tokens. ``fhir()`` returns a FHIR client for the launch whose refreshed
tokens are written back to the session.
"""

from __future__ import annotations

import secrets
import time

from flask import current_app, request, session, url_for

from fhir_mbt.client import BearerAuth, FhirClient
from fhir_mbt.smart import (
    FHIR_USER,
    LAUNCH,
    LAUNCH_PATIENT,
    ONLINE_ACCESS,
    OPENID,
    PendingAuthorization,
    SmartClient,
    TokenSet,
    resource_scope,
    scope_string,
)
from smart_app.client_auth import client_auths

__all__ = ["EHR_SCOPES", "STANDALONE_SCOPES", "smart_client", "tokens", "store_tokens", "start_launch", "launch_id",
           "fhir", "can", "clear"]

#: The least the app needs: read the patient, read and write its own records, discard its drafts.
DATA_SCOPES = [
    resource_scope("patient", "Patient", "r"),
    # d: a clinician's own draft can be discarded (a completed record never is, see ``drafts``).
    resource_scope("patient", "QuestionnaireResponse", "cruds"),
    resource_scope("patient", "Observation", "crus"),
    # Written by PUT to a derived id (idempotent); read back for a record's history (why it was amended).
    resource_scope("patient", "Provenance", "crus"),
    resource_scope("patient", "Task", "ru"),  # follow-ups of risk a patient reported: read, close
    resource_scope("patient", "Flag", "ru"),
]
EHR_SCOPES = scope_string([LAUNCH, OPENID, FHIR_USER, ONLINE_ACCESS, *DATA_SCOPES])
STANDALONE_SCOPES = scope_string([LAUNCH_PATIENT, OPENID, FHIR_USER, ONLINE_ACCESS, *DATA_SCOPES])
MAX_PENDING = 5
MAX_CLIENTS = 4


def redirect_uri() -> str:
    return current_app.config["MBT_REDIRECT_URI"] or url_for("launch.callback", _external=True)


def smart_client() -> SmartClient:
    """The app's SMART client (one per redirect URI, shared by all users)."""
    uri = redirect_uri()
    clients = current_app.extensions.setdefault("mbt.smart", {})
    client = clients.get(uri)
    if client is None:
        if len(clients) >= MAX_CLIENTS:
            # Without MBT_REDIRECT_URI the URI follows the Host header; do not let it grow this cache.
            clients.clear()
        cfg = current_app.config
        auth = client_auths(cfg)
        client = clients[uri] = SmartClient(
            client_id=cfg["MBT_CLIENT_ID"],
            redirect_uri=uri,
            scope=EHR_SCOPES,
            issuers=cfg["MBT_ALLOWED_ISSUERS"],
            client_auth=auth,
            **cfg.get("MBT_SMART_OPTIONS", {}),
        )
    return client


def remember_pending(pending: PendingAuthorization) -> None:
    waiting = dict(session.get("pending", {}))
    waiting[pending.state] = pending.to_dict()
    if len(waiting) > MAX_PENDING:
        oldest = sorted(waiting, key=lambda s: waiting[s]["created_at"])[: len(waiting) - MAX_PENDING]
        for state in oldest:
            waiting.pop(state)
    session["pending"] = waiting


def pop_pending(state: str | None) -> PendingAuthorization | None:
    """The pending authorization for ``state``, removed so it is used once."""
    waiting = dict(session.get("pending", {}))
    raw = waiting.pop(state, None) if state else None
    session["pending"] = waiting
    return PendingAuthorization.from_dict(raw) if raw else None


def tokens() -> TokenSet | None:
    raw = session.get("tokens")
    return TokenSet.from_dict(raw) if raw else None


def store_tokens(token_set: TokenSet) -> None:
    session["tokens"] = token_set.to_dict()
    session["launched_at"] = time.time()


#: What a new launch in the same browser keeps of the one before: answers held for a
#: sign-in, the forms issued (so a form opened before still finds its record), the
#: patients named on pages (so a stale tab can be told whose form it was).
CARRIED_OVER = ("held_form", "submissions", "attempts", "patients")


def start_launch(token_set: TokenSet) -> None:
    """A new launch in this browser: a new session id and launch id, the tokens of this launch.

    The CSRF token of the previous launch is kept as ``csrf_previous``: a form
    still open in another tab can then be answered with a clear page (wrong
    patient, or sign in again) that keeps its answers, though never saved with it.
    """
    kept = {key: session[key] for key in CARRIED_OVER if key in session}
    previous_csrf = session.get("csrf")
    session.clear()
    session.regenerate()
    session.update(kept)
    if previous_csrf:
        session["csrf_previous"] = previous_csrf
    session["launch_id"] = secrets.token_urlsafe(12)
    store_tokens(token_set)


def launch_id() -> str:
    """The id of this browser's current launch (forms carry it, to notice a newer one)."""
    return session.get("launch_id", "")


def clear() -> None:
    session.pop("tokens", None)


def fhir() -> FhirClient | None:
    """A FHIR client for the current launch, or None when there is none."""
    current = tokens()
    if current is None:
        return None
    smart = smart_client()

    def refresher(old: TokenSet) -> TokenSet:
        return _refresh_once(smart, old)

    options = {"budget": current_app.config.get("MBT_PAGE_BUDGET"), **current_app.config.get("MBT_FHIR_OPTIONS", {})}
    return FhirClient(current.issuer, auth=BearerAuth(current, refresher if current.refresh_token else None), **options)


def _refresh_once(smart: SmartClient, old: TokenSet) -> TokenSet:
    """Refresh the session's tokens, one request of the session at a time across workers.

    A rotating refresh token is good once: a second request of the same session
    that also got a 401 waits for the lock, then finds the tokens the first one
    stored and uses them instead of sending the spent refresh token again.
    """
    store = current_app.session_interface.store
    sid = getattr(session, "sid", None)
    if sid is None:
        fresh = smart.refresh(old)
        store_tokens(fresh)
        return fresh
    with store.lock(f"refresh:{sid}", wait=current_app.config.get("MBT_PAGE_BUDGET") or 10.0):
        stored = (store.load(sid) or {}).get("tokens")
        if stored and stored.get("access_token") != old.access_token:
            newer = TokenSet.from_dict(stored)
            store_tokens(newer)
            return newer
        fresh = smart.refresh(old)
        store_tokens(fresh)
        data = store.load(sid)
        if data is not None:
            data.update(tokens=session["tokens"], launched_at=session["launched_at"])
            store.save(sid, data, current_app.config["MBT_SESSION_LIFETIME"])
        return fresh


def can(resource_type: str, interaction: str) -> bool:
    current = tokens()
    if current is None:
        return False
    return any(current.scope.can(resource_type, interaction, context=c) for c in ("patient", "user"))


def came_from() -> str:
    return request.full_path
