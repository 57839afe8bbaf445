"""A local EHR sandbox: the EHR's side of SMART App Launch in front of a real FHIR server.

A development tool, not for production: a launch page, an authorization
server (authorize with PKCE S256, token, refresh, JWKS, id_token), a
FHIR reverse proxy that honours the tokens it issued, and a patient chart
that calls CDS Hooks services and shows their cards. Everything is kept in
memory. See README.md.
"""

from __future__ import annotations

from typing import Any, Mapping

from flask import Flask

from ehr_sandbox import cds, ehr, oauth, portal, proxy
from ehr_sandbox.config import DEFAULTS
from ehr_sandbox.services import Sandbox

__all__ = ["create_app"]


def create_app(config: Mapping[str, Any] | None = None) -> Flask:
    """The sandbox app; ``config`` overrides :data:`ehr_sandbox.config.DEFAULTS`."""
    app = Flask(__name__)
    app.config.from_mapping(DEFAULTS)
    if config:
        app.config.from_mapping(config)
    app.extensions["ehr_sandbox"] = Sandbox.from_config(app.config)
    app.register_blueprint(oauth.bp)
    app.register_blueprint(ehr.bp)
    app.register_blueprint(portal.bp)
    app.register_blueprint(proxy.bp)
    app.register_blueprint(cds.bp)

    @app.after_request
    def _headers(response):
        response.headers.setdefault("Referrer-Policy", "no-referrer")
        response.headers.setdefault("X-Content-Type-Options", "nosniff")
        return response

    return app
