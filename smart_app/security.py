"""CSRF protection and the security headers every response carries.

CSRF: each session holds a random token; every POST must send it back in the
``csrf_token`` field (or the ``X-CSRF-Token`` header), compared in constant
time. Headers: a Content-Security-Policy with no inline script or style and
``frame-ancestors`` limited to the configured EHR origins, no referrer (so an
authorization code in a URL never leaks), no caching of patient pages.
"""

from __future__ import annotations

import hmac
import secrets

from flask import Flask, abort, request, session

__all__ = ["init_app", "csrf_token"]

SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})
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
    if not expected or not hmac.compare_digest(expected, sent):
        abort(400, description="The form has expired or did not come from this app. Reload the page and try again.")


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
        return response
