"""Bring up the whole product on loopback: HAPI FHIR → EHR sandbox → app.

Used by the demo (``python -m demo``) and by the end-to-end tests, so both
run exactly the same wiring:

    with Stack() as stack:
        print(stack.launch_page)      # the sandbox's EHR page: pick a patient, launch the app
        print(stack.portal_page)      # the sandbox's patient portal: pick yourself, open the app

HAPI runs as its own process (see ``hapi_server/harness.py``); the sandbox
and the app are served from threads of this process by werkzeug. The
definitions and the example patient are loaded into HAPI with
``fhir-mbt upload`` semantics (idempotent).
"""

from __future__ import annotations

import importlib.util
import logging
import secrets
import sys
import tempfile
import threading
from dataclasses import dataclass, field
from pathlib import Path

from werkzeug.serving import WSGIRequestHandler, make_server

ROOT = Path(__file__).resolve().parent.parent
HOST = "127.0.0.1"
CLIENT_ID = "fhir-mbt"

__all__ = ["Stack", "load_harness"]


def load_harness():
    """``hapi_server/harness.py``, loaded by path (it is a script folder, not a package)."""
    name = "hapi_server_harness"
    if name in sys.modules:
        return sys.modules[name]
    spec = importlib.util.spec_from_file_location(name, ROOT / "hapi_server" / "harness.py")
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    spec.loader.exec_module(module)
    return module


class _Quiet(WSGIRequestHandler):
    """Request lines without their query string: it carries codes, state and launch ids."""

    def log_request(self, code="-", size="-") -> None:
        logging.getLogger("demo.http").info('%s "%s %s" %s', self.server.name, self.command,
                                             self.path.split("?", 1)[0], code)


class _Served:
    """A WSGI app on a free loopback port, in a daemon thread."""

    def __init__(self, name: str):
        self.name = name
        self._app = None
        self.server = make_server(HOST, 0, self._dispatch, threaded=True, request_handler=_Quiet)
        self.server.name = name
        self.base = f"http://{HOST}:{self.server.server_port}"
        self._thread: threading.Thread | None = None

    def _dispatch(self, environ, start_response):
        return self._app(environ, start_response)

    def serve(self, app) -> None:
        self._app = app
        self._thread = threading.Thread(target=self.server.serve_forever, name=self.name, daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@dataclass
class Stack:
    """HAPI (started here unless ``fhir_base`` names a running one), sandbox and app.

    ``load`` uploads the definitions and the example patient.
    ``app_config`` is merged into the app's configuration (tests use it).
    """

    fhir_base: str | None = None
    load: bool = True
    data_dir: str | None = None
    app_config: dict = field(default_factory=dict)
    hapi_log: str | None = None

    def __post_init__(self):
        self._hapi = None
        self._served: list[_Served] = []
        self._tmp = None

    # -- lifecycle -----------------------------------------------------------------
    def start(self) -> "Stack":
        try:
            if self.fhir_base is None:
                harness = load_harness()
                self._hapi = harness.HapiServer(data_dir=self.data_dir, log_path=self.hapi_log)
                self.fhir_base = self._hapi.start()
            if self.load:
                self.upload()
            sandbox_server = _Served("sandbox")
            app_server = _Served("app")
            self._served = [sandbox_server, app_server]
            self.sandbox_base = sandbox_server.base
            self.app_base = app_server.base
            self.iss = f"{self.sandbox_base}/fhir"
            self.launch_page = f"{self.sandbox_base}/"
            self.portal_page = f"{self.sandbox_base}/portal/"
            self.sandbox_app = self._sandbox_app()
            self.app = self._app()
            sandbox_server.serve(self.sandbox_app)
            app_server.serve(self.app)
        except BaseException:
            self.stop()
            raise
        return self

    def stop(self) -> None:
        for served in self._served:
            served.stop()
        self._served = []
        if self._hapi is not None:
            self._hapi.stop()
            self._hapi = None
        if self._tmp is not None:
            self._tmp.cleanup()
            self._tmp = None

    def __enter__(self) -> "Stack":
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()

    # -- parts -------------------------------------------------------------------------
    def upload(self) -> tuple:
        from fhir_mbt.client import FhirClient
        from fhir_mbt.content import shipped
        from fhir_mbt.content.upload import upload_definitions, upload_examples

        client = FhirClient(self.fhir_base, timeout=(10.0, 300.0))
        return upload_definitions(client, shipped()), upload_examples(client, shipped())

    def _sandbox_app(self):
        from ehr_sandbox import create_app

        return create_app({
            "SANDBOX_UPSTREAM": self.fhir_base,
            "SANDBOX_PUBLIC_BASE": self.sandbox_base,
            "SANDBOX_APP_LAUNCH_URL": f"{self.app_base}/launch",
            "SANDBOX_PORTAL_LAUNCH_URL": f"{self.app_base}/portal/launch",
            "SANDBOX_CLIENTS": {CLIENT_ID: {"redirect_uris": [f"{self.app_base}/callback"]}},
            "SANDBOX_CDS_SERVICES": self.app_base,
        })

    def _app(self):
        from smart_app import create_app

        self._tmp = tempfile.TemporaryDirectory(prefix="mbt-demo-")
        config = {
            "SECRET_KEY": secrets.token_hex(32),
            "SECRET_KEY_IS_EPHEMERAL": False,
            "MBT_CLIENT_ID": CLIENT_ID,
            "MBT_ALLOWED_ISSUERS": [self.iss],
            "MBT_REDIRECT_URI": f"{self.app_base}/callback",
            "MBT_FRAME_ANCESTORS": [self.sandbox_base],
            "MBT_SESSION_DB": str(Path(self._tmp.name) / "sessions.sqlite3"),
            "MBT_CDS_CLIENTS": {self.sandbox_base: f"{self.sandbox_base}/jwks"},
            "MBT_CDS_BASE_URL": self.app_base,
            **self.app_config,
        }
        return create_app(config)
