"""One clear page for every failure: never a bare 500, never a stack trace.

FHIR server failures (timeouts, 5xx, malformed resources) and expired
sessions each get a page that says what happened and what to do next.
"""

from __future__ import annotations

import logging

from flask import Flask, render_template, request
from werkzeug.exceptions import HTTPException

from fhir_mbt.errors import FhirMbtError

__all__ = ["init_app", "page"]

log = logging.getLogger(__name__)


def page(title: str, message: str, status: int, **extra):
    return render_template("error.html", title=title, message=message, ctx=None, **extra), status


def init_app(app: Flask) -> None:
    @app.errorhandler(HTTPException)
    def _http(exc: HTTPException):
        return page(exc.name, exc.description or "", exc.code or 500)

    @app.errorhandler(FhirMbtError)
    def _library(exc: FhirMbtError):
        from smart_app.fhir_errors import describe, describe_read

        reading = request.method in ("GET", "HEAD")
        title, message, status = (describe_read if reading else describe)(exc)
        log.warning("request failed: %s", type(exc).__name__)
        return page(title, message, status)

    @app.errorhandler(Exception)
    def _unexpected(exc: Exception):
        log.exception("unexpected error")
        what = "This page could not be shown. Nothing was changed." if request.method in ("GET", "HEAD") \
            else "Nothing was saved."
        return page("Something went wrong", f"The app hit an unexpected problem. {what}", 500)
