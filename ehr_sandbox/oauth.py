"""The authorization server: SMART configuration, JWKS, authorize and token.

Authorize follows RFC 6749 section 4.1 as SMART App Launch 2 profiles it:
an unknown client or a redirect URI that is not registered exactly gets an
error page (never a redirect); every other error goes back to the app as
``error`` + ``state``. PKCE with S256 is required, ``aud`` must be this
sandbox's FHIR base and ``state`` must be present. An EHR launch is approved
at once for the context chosen on the launch page; a standalone launch
shows a page to pick the patient (and the signed-in practitioner), with a
deny button.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import logging
import re
from typing import Any
from urllib.parse import parse_qsl, unquote, urlencode, urlsplit, urlunsplit

from flask import Blueprint, abort, jsonify, redirect, render_template, request

from ehr_sandbox import limits
from ehr_sandbox import scopes as scope_rules
from ehr_sandbox.config import SUPPORTED_SCOPES, Client
from ehr_sandbox.directory import people
from ehr_sandbox.services import Sandbox, sandbox
from ehr_sandbox.store import Context, Grant

__all__ = ["bp", "smart_configuration"]

log = logging.getLogger("ehr_sandbox")
bp = Blueprint("oauth", __name__)

CAPABILITIES = [
    "launch-ehr", "launch-standalone", "client-public", "client-confidential-symmetric",
    "context-ehr-patient", "context-ehr-encounter", "context-standalone-patient",
    "permission-v2", "permission-v1", "permission-patient", "permission-user",
    "permission-offline", "permission-online", "sso-openid-connect", "context-banner",
]
_VERIFIER = re.compile(r"[A-Za-z0-9\-._~]{43,128}")
_CHALLENGE = re.compile(r"[A-Za-z0-9\-_]{43}")
_ID = re.compile(r"[A-Za-z0-9\-.]{1,64}")
#: The "signed in as" choice of the standalone picker meaning: the patient themselves (portal sign-in).
PATIENT_SIGN_IN = "@patient"


def smart_configuration(sb: Sandbox) -> dict[str, Any]:
    return {
        "issuer": sb.issuer,
        "jwks_uri": sb.url("/jwks"),
        "authorization_endpoint": sb.url("/authorize"),
        "token_endpoint": sb.url("/token"),
        "grant_types_supported": ["authorization_code", "refresh_token"],
        "token_endpoint_auth_methods_supported": ["client_secret_basic", "none"],
        "scopes_supported": list(SUPPORTED_SCOPES),
        "response_types_supported": ["code"],
        "code_challenge_methods_supported": ["S256"],
        "capabilities": CAPABILITIES,
    }


@bp.get("/fhir/.well-known/smart-configuration")
def well_known():
    return jsonify(smart_configuration(sandbox()))


@bp.get("/jwks")
def jwks():
    return jsonify(sandbox().key.jwks())


# --- authorize -------------------------------------------------------------------
def _with_query(url: str, params: dict[str, str]) -> str:
    parts = urlsplit(url)
    query = parse_qsl(parts.query, keep_blank_values=True) + list(params.items())
    return urlunsplit((parts.scheme, parts.netloc, parts.path, urlencode(query), parts.fragment))


def _back(redirect_uri: str, state: str | None, **params: str):
    if state:
        params["state"] = state
    return redirect(_with_query(redirect_uri, params), code=302)


def _error_page(message: str, status: int = 400):
    return render_template("error.html", message=message), status


def _same_base(a: str | None, b: str) -> bool:
    return bool(a) and a.rstrip("/") == b.rstrip("/")


@bp.route("/authorize", methods=["GET", "POST"])
def authorize():
    sb = sandbox()
    args = request.args if request.method == "GET" else request.form
    client = sb.clients.get(args.get("client_id", ""))
    if client is None:
        return _error_page("Unknown client_id: the app is not registered with this sandbox.")
    redirect_uri = args.get("redirect_uri", "")
    if redirect_uri not in client.redirect_uris:
        return _error_page("redirect_uri is not one registered for this client (exact match required).")
    state = args.get("state")
    if args.get("response_type") != "code":
        return _back(redirect_uri, state, error="unsupported_response_type")
    if not state:
        return _back(redirect_uri, None, error="invalid_request", error_description="state is required")
    if args.get("code_challenge_method") != "S256":
        return _back(redirect_uri, state, error="invalid_request",
                     error_description="PKCE with code_challenge_method=S256 is required")
    challenge = args.get("code_challenge", "")
    if not _CHALLENGE.fullmatch(challenge):
        return _back(redirect_uri, state, error="invalid_request",
                     error_description="code_challenge is not an S256 challenge")
    if not _same_base(args.get("aud"), sb.fhir_base):
        return _back(redirect_uri, state, error="invalid_request",
                     error_description=f"aud must be {sb.fhir_base}")
    granted = limits.grant_scopes(scope_rules.grant(args.get("scope", "").split(), client.scopes))
    request_record = {
        "client_id": client.client_id,
        "redirect_uri": redirect_uri,
        "state": state,
        "code_challenge": challenge,
        "nonce": args.get("nonce") or None,
    }
    launch_id = args.get("launch")
    if launch_id:
        launch = sb.store.launch(launch_id)
        if launch is None:
            return _back(redirect_uri, state, error="invalid_request",
                         error_description="unknown or expired launch")
        scopes = _fit(granted, launch.context)
        log.info("EHR launch authorized for %s (scope: %s)", client.client_id, " ".join(scopes))
        return _issue_code(sb, request_record, scopes, launch.context)
    granted = [s for s in granted if s != "launch"]
    need_patient = "launch/patient" in granted or any(s.startswith("patient/") for s in granted)
    key = sb.store.add_pending({**request_record, "scopes": granted, "need_patient": need_patient})
    patients, practitioners, problem = people(sb.upstream, need_patient)
    return render_template("authorize.html", client=client, request_id=key, scopes=granted,
                           need_patient=need_patient, patients=patients,
                           practitioners=practitioners, problem=problem, patient_sign_in=PATIENT_SIGN_IN)


@bp.post("/authorize/decision")
def decision():
    sb = sandbox()
    pending = sb.store.pop_pending(request.form.get("request_id", ""))
    if pending is None:
        return _error_page("This authorization request is unknown or has expired; start the launch again.")
    if request.form.get("decision") != "approve":
        log.info("standalone launch denied for %s", pending["client_id"])
        return _back(pending["redirect_uri"], pending["state"], error="access_denied",
                     error_description="the user denied access")
    patient = request.form.get("patient") or None
    practitioner = request.form.get("practitioner") or None
    patient_user = practitioner == PATIENT_SIGN_IN
    if patient_user:
        practitioner = None
    for value in (patient, practitioner):
        if value is not None and not _ID.fullmatch(value):
            abort(400, description="not a FHIR id")
    if pending["need_patient"] and patient is None:
        return _back(pending["redirect_uri"], pending["state"], error="access_denied",
                     error_description="no patient was chosen")
    if patient_user and patient is None:
        return _back(pending["redirect_uri"], pending["state"], error="access_denied",
                     error_description="a patient signing in must choose themselves")
    context = Context(patient=patient, practitioner=practitioner, patient_user=patient_user)
    scopes = _fit(pending["scopes"], context)
    log.info("standalone launch authorized for %s (scope: %s)", pending["client_id"], " ".join(scopes))
    return _issue_code(sb, pending, scopes, context)


def _fit(granted: list[str], context: Context) -> list[str]:
    """Drop the context scopes the launch has nothing for."""
    out = []
    for scope in granted:
        if scope == "launch/encounter" and not context.encounter:
            continue
        if (scope == "launch/patient" or scope.startswith("patient/")) and not context.patient:
            continue
        out.append(scope)
    return out


def _issue_code(sb: Sandbox, record: dict[str, Any], scopes: list[str], context: Context):
    code = sb.store.add_code(
        client_id=record["client_id"],
        redirect_uri=record["redirect_uri"],
        code_challenge=record["code_challenge"],
        scopes=tuple(scopes),
        context=context,
        nonce=record.get("nonce"),
    )
    return _back(record["redirect_uri"], record["state"], code=code)


# --- token -----------------------------------------------------------------------
class OAuthError(Exception):
    def __init__(self, error: str, description: str, status: int = 400):
        super().__init__(description)
        self.error = error
        self.description = description
        self.status = status


@bp.errorhandler(OAuthError)
def _oauth_error(exc: OAuthError):
    response = jsonify(error=exc.error, error_description=exc.description)
    response.status_code = exc.status
    if exc.status == 401:
        response.headers["WWW-Authenticate"] = 'Basic realm="ehr-sandbox"'
    return _no_store(response)


def _no_store(response):
    response.headers["Cache-Control"] = "no-store"
    response.headers["Pragma"] = "no-cache"
    return response


def _authenticate(sb: Sandbox) -> Client:
    """The client making the token request (RFC 6749 section 2.3)."""
    header = request.headers.get("Authorization", "")
    form_id = request.form.get("client_id")
    if "client_secret" in request.form:
        raise OAuthError("invalid_client", "client_secret_post is not supported; use HTTP Basic", 401)
    if header:
        scheme, _, value = header.partition(" ")
        try:
            raw_id, sep, raw_secret = base64.b64decode(value.strip(), validate=True).decode("utf-8").partition(":")
        except (ValueError, UnicodeDecodeError):
            sep = ""
        if scheme.lower() != "basic" or not sep:
            raise OAuthError("invalid_client", "the Authorization header is not HTTP Basic", 401)
        client_id, secret = unquote(raw_id), unquote(raw_secret)
        client = sb.clients.get(client_id)
        if client is None or client.secret is None or not hmac.compare_digest(
                client.secret.encode("utf-8"), secret.encode("utf-8")):
            raise OAuthError("invalid_client", "client authentication failed", 401)
        if form_id is not None and form_id != client_id:
            raise OAuthError("invalid_request", "client_id does not match the authenticated client")
        return client
    client = sb.clients.get(form_id or "")
    if client is None:
        raise OAuthError("invalid_client", "unknown client", 401)
    if client.confidential:
        raise OAuthError("invalid_client", "this client must authenticate with client_secret_basic", 401)
    return client


def _required(name: str) -> str:
    value = request.form.get(name)
    if not value:
        raise OAuthError("invalid_request", f"{name} is required")
    return value


def _s256(verifier: str) -> str:
    digest = hashlib.sha256(verifier.encode("ascii")).digest()
    return base64.urlsafe_b64encode(digest).rstrip(b"=").decode("ascii")


@bp.post("/token")
def token():
    sb = sandbox()
    if request.args:
        raise OAuthError("invalid_request", "token request parameters belong in the form body")
    client = _authenticate(sb)
    grant_type = _required("grant_type")
    if grant_type == "authorization_code":
        return _no_store(_from_code(sb, client))
    if grant_type == "refresh_token":
        return _no_store(_from_refresh(sb, client))
    raise OAuthError("unsupported_grant_type", f"grant_type {grant_type} is not supported")


def _from_code(sb: Sandbox, client: Client):
    code = _required("code")
    redirect_uri = _required("redirect_uri")
    verifier = request.form.get("code_verifier", "")
    record = sb.store.take_code(code)
    if record is None:
        raise OAuthError("invalid_grant", "the code is unknown, expired or already used")
    if record.client_id != client.client_id:
        raise OAuthError("invalid_grant", "the code was issued to another client")
    if record.redirect_uri != redirect_uri:
        raise OAuthError("invalid_grant", "redirect_uri does not match the authorization request")
    if not _VERIFIER.fullmatch(verifier) or not hmac.compare_digest(_s256(verifier), record.code_challenge):
        raise OAuthError("invalid_grant", "code_verifier does not match the code_challenge")
    grant = sb.store.add_grant(code, client_id=client.client_id, scopes=record.scopes,
                               context=record.context, nonce=record.nonce)
    log.info("tokens issued to %s (authorization_code)", client.client_id)
    return _tokens(sb, grant, grant.scopes)


def _from_refresh(sb: Sandbox, client: Client):
    grant = sb.store.grant_for_refresh(_required("refresh_token"))
    if grant is None or grant.client_id != client.client_id:
        raise OAuthError("invalid_grant", "the refresh token is unknown, expired or already used")
    scopes = grant.scopes
    asked = request.form.get("scope")
    if asked:
        if not set(asked.split()) <= set(grant.scopes):
            raise OAuthError("invalid_scope", "a refresh can only narrow the granted scopes")
        scopes = tuple(s for s in grant.scopes if s in asked.split())
    log.info("tokens issued to %s (refresh_token)", client.client_id)
    return _tokens(sb, grant, scopes)


def _tokens(sb: Sandbox, grant: Grant, scopes: tuple[str, ...]):
    refreshable = "offline_access" in grant.scopes or "online_access" in grant.scopes
    access, refresh = sb.store.issue(grant, scopes, sb.token_lifetime, refreshable)
    body: dict[str, Any] = {
        "access_token": access,
        "token_type": "Bearer",
        "expires_in": sb.token_lifetime,
        "scope": " ".join(scopes),
    }
    if refresh:
        body["refresh_token"] = refresh
    context = grant.context
    if context.patient:
        body["patient"] = context.patient
        body["need_patient_banner"] = True
    if context.encounter:
        body["encounter"] = context.encounter
    if context.app_context:
        body["appContext"] = context.app_context
    if "openid" in scopes:
        if context.patient_user and context.patient:
            user = f"Patient/{context.patient}"
        else:
            user = f"Practitioner/{context.practitioner}" if context.practitioner else None
        wants_user = "fhirUser" in scopes or "profile" in scopes
        body["id_token"] = sb.key.id_token(
            issuer=sb.issuer,
            client_id=grant.client_id,
            subject=user or "sandbox-user",
            lifetime=sb.token_lifetime,
            fhir_user=f"{sb.fhir_base}/{user}" if user and wants_user else None,
            nonce=grant.nonce,
            now=sb.store.clock(),
        )
    return jsonify(body)
