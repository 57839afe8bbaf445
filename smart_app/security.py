"""CSRF protection and the security headers every response carries.

CSRF: each session holds a random token; every POST must send it back in the
``csrf_token`` field (or the ``X-CSRF-Token`` header), compared in constant
time. A new launch in the same browser gets a new token; the previous one is
still recognised on the two form-saving views only, which then write nothing
and answer with a page that keeps the answers (a tab left open across a launch). Headers: a Content-Security-Policy with no inline script or style and
``frame-ancestors`` limited to the configured EHR origins, no referrer (so an
authorization code in a URL never leaks), no caching of patient pages, and
``Strict-Transport-Security`` when the request came over HTTPS.
"""

from __future__ import annotations

import hmac
import secrets

from flask import Flask, abort, g, request, session
from werkzeug.exceptions import BadRequest

__all__ = ["init_app", "csrf_token", "stale_form", "StaleFormRefused"]


class StaleFormRefused(BadRequest):
    """A form post to a saving view with a CSRF token that is not this session's (nothing is written)."""

    description = ("This form had expired or came from an earlier sign-in, so it was not saved. Your answers "
                   "are below, not saved: open the form again from the patient's chart and enter them there.")

SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})
#: The only views that accept a form of the previous launch, to refuse it kindly.
STALE_FORM_ENDPOINTS = frozenset({"forms.create", "forms.update"})
#: Blueprints whose POSTs carry no cookie and prove themselves otherwise (the CDS Hooks service: a signed JWT).
CSRF_EXEMPT = frozenset({"cds_hooks"})


def csrf_token() -> str:
    token = session.get("csrf")
    if not token:
        token = session["csrf"] = secrets.token_urlsafe(32)
    return token


def _check_csrf() -> None:
    if request.method in SAFE_METHODS or request.blueprint in CSRF_EXEMPT:
        return
    if request.mimetype not in ("application/x-www-form-urlencoded", ""):
        abort(415, description="Forms are sent as plain form posts; nothing else is accepted.")
    expected = session.get("csrf")
    sent = request.form.get("csrf_token") or request.headers.get("X-CSRF-Token") or ""
    if expected and hmac.compare_digest(expected, sent):
        return
    previous = session.get("csrf_previous")
    if previous and hmac.compare_digest(previous, sent) and request.endpoint in STALE_FORM_ENDPOINTS:
        # A form from this browser's previous launch: its view answers with a page
        # that keeps the answers, and must not write anything (see ``stale_form``).
        g.csrf_stale = True
        return
    if request.endpoint in STALE_FORM_ENDPOINTS:
        raise StaleFormRefused()
    abort(400, description="The form has expired or did not come from this app. Reload the page and try again.")


def stale_form() -> bool:
    """True when this POST carried the CSRF token of the previous launch, not the current one."""
    return bool(g.get("csrf_stale"))


def content_security_policy(frame_ancestors: list[str]) -> str:
    ancestors = " ".join(["'self'", *frame_ancestors])
    return "; ".join(
        [
            "default-src 'self'",
            "script-src 'self'",
            "style-src 'self'",
            "img-src 'self' data:",
            "object-src 'none'",
            "base-uri 'none'",
            f"frame-ancestors {ancestors}",
        ]
    )


def init_app(app: Flask) -> None:
    policy = content_security_policy(app.config["MBT_FRAME_ANCESTORS"])
    app.before_request(_check_csrf)
    app.jinja_env.globals["csrf_token"] = csrf_token

    @app.after_request
    def _headers(response):
        response.headers["Content-Security-Policy"] = policy
        response.headers["X-Content-Type-Options"] = "nosniff"
        response.headers["Referrer-Policy"] = "no-referrer"
        if not request.path.startswith("/static/"):
            response.headers["Cache-Control"] = "no-store"
        if request.is_secure:
            response.headers["Strict-Transport-Security"] = "max-age=31536000; includeSubDomains"
        return response
