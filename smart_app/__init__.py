"""The SMART-on-FHIR app for MBT: clinicians launch it from the EHR, patients from the portal (Flask)."""

from __future__ import annotations

import logging
import os
from pathlib import Path

from flask import Flask

__all__ = ["create_app"]


def create_app(test_config: dict | None = None) -> Flask:
    """Build the app; configuration comes from the environment (see ``config``)."""
    from smart_app import config, errors, patient_context, security
    from smart_app.store import ServerSideSessionInterface, SqliteStore

    app = Flask(__name__, instance_relative_config=True)
    app.config.from_mapping(config.from_environment())
    if test_config:
        app.config.from_mapping(test_config)
    log = logging.getLogger(__name__)
    if not app.config.get("TESTING"):
        if app.config["SECRET_KEY_IS_EPHEMERAL"]:
            log.warning("MBT_SECRET_KEY is not set: sessions end when the app restarts")
        if not app.config["MBT_REDIRECT_URI"]:
            log.warning("MBT_REDIRECT_URI is not set: the redirect URI is taken from each request's Host header")

    db = app.config["MBT_SESSION_DB"]
    if not db:
        Path(app.instance_path).mkdir(parents=True, exist_ok=True)
        db = os.path.join(app.instance_path, "sessions.sqlite3")
    keys = [app.config["SECRET_KEY"], *app.config.get("MBT_SECRET_KEYS_PREVIOUS", [])]
    app.session_interface = ServerSideSessionInterface(SqliteStore(db, secret_keys=keys))

    security.init_app(app)
    errors.init_app(app)
    patient_context.init_app(app)
    from smart_app.user import signed_in_as

    app.jinja_env.globals["signed_in_as"] = signed_in_as
    from smart_app import local_time

    app.jinja_env.filters["local_datetime"] = local_time.local_datetime
    app.jinja_env.filters["local_date"] = local_time.local_date
    from smart_app import form_layout, form_messages

    app.jinja_env.globals["form_blocks"] = form_layout.blocks
    app.jinja_env.globals["form_sections"] = form_layout.sections
    app.jinja_env.globals["form_error_summary"] = form_messages.error_summary

    from smart_app import (cds_hooks, client_auth, dashboard, drafts, follow_up, forms, history, launch, patient_access,
                           patient_copy, patient_forms, patient_portal)

    patient_access.init_app(app)

    icon = (Path(app.static_folder or "") / "favicon.ico").read_bytes()

    @app.get("/favicon.ico", endpoint="favicon")
    def _favicon():
        """Browsers ask for it on every site, whatever the page links."""
        return app.response_class(icon, mimetype="image/vnd.microsoft.icon",
                                  headers={"Cache-Control": "public, max-age=86400"})

    app.register_blueprint(launch.bp)
    app.register_blueprint(dashboard.bp)
    app.register_blueprint(forms.bp)
    app.register_blueprint(history.bp)
    app.register_blueprint(drafts.bp)
    app.register_blueprint(patient_copy.bp)
    app.register_blueprint(follow_up.bp)
    app.register_blueprint(patient_portal.portal)
    app.register_blueprint(patient_portal.bp)
    app.register_blueprint(patient_forms.bp)
    app.register_blueprint(cds_hooks.bp)
    app.register_blueprint(client_auth.bp)
    return app
