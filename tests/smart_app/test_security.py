"""Headers, inline code and secrets in logs."""

from __future__ import annotations

import logging
import re
from pathlib import Path

from app_helpers import launch

TEMPLATES = Path(__file__).resolve().parents[2] / "smart_app" / "templates"


def test_security_headers_on_every_page(launched):
    for path in ("/dashboard", "/forms/mbt-session-record/new", "/copy/formulation"):
        answer = launched.get(path)
        csp = answer.headers["Content-Security-Policy"]
        assert "frame-ancestors 'self' https://ehr.test" in csp
        assert "script-src 'self'" in csp and "unsafe-inline" not in csp
        assert answer.headers["Referrer-Policy"] == "no-referrer"
        assert answer.headers["X-Content-Type-Options"] == "nosniff"
        assert answer.headers["Cache-Control"] == "no-store"


def test_templates_have_no_inline_script_or_style():
    for path in TEMPLATES.glob("*.html"):
        text = path.read_text(encoding="utf-8")
        assert not re.search(r"<script(?![^>]*\bsrc=)[^>]*>", text), path.name
        assert " style=" not in text and "<style" not in text, path.name
        assert not re.search(r"\son[a-z]+=", text), path.name


def test_no_token_or_code_in_any_log_line(client, ehr, example_data, caplog):
    caplog.set_level(logging.DEBUG)
    answer = launch(client, ehr)
    assert answer.status_code == 302
    client.get("/dashboard")
    secrets = list(ehr.access_tokens) + list(ehr.refresh_tokens)
    assert secrets
    text = "\n".join(r.getMessage() for r in caplog.records) + caplog.text
    for secret in secrets:
        assert secret not in text


def test_logout_ends_the_session(launched):
    from app_helpers import form_csrf

    hidden = form_csrf(launched, "/forms/mbt-session-record/new")
    assert launched.post("/logout", data={"csrf_token": hidden["csrf_token"]}).status_code == 302
    assert launched.get("/dashboard").status_code == 401
