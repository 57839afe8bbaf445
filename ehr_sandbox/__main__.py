"""Run the sandbox: ``python -m ehr_sandbox --upstream http://127.0.0.1:8080/fhir``.

Serves on 127.0.0.1 only, with werkzeug's threaded server. A confidential
client's secret is read from the environment (``EHR_SANDBOX_CLIENT_SECRET``),
never from the command line, where other users could see it.
"""

from __future__ import annotations

import argparse
import logging
import os
import sys

from werkzeug.serving import WSGIRequestHandler, make_server

from ehr_sandbox import create_app

HOST = "127.0.0.1"


class QuietQueryHandler(WSGIRequestHandler):
    """Request lines are logged without their query: it can carry state, launch ids, codes."""

    def log_request(self, code="-", size="-") -> None:
        path = self.path.split("?", 1)[0]
        self.log("info", '"%s %s" %s', self.command, path, code)


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m ehr_sandbox", description=__doc__.splitlines()[0])
    parser.add_argument("--upstream", required=True, help="FHIR base URL of the server behind the sandbox")
    parser.add_argument("--port", type=int, default=9090)
    parser.add_argument("--public-base", help="where apps reach the sandbox (default http://127.0.0.1:PORT)")
    parser.add_argument("--app-launch", default="http://127.0.0.1:5000/launch",
                        help="the app launch URL offered on the launch page")
    parser.add_argument("--portal-launch", default="http://127.0.0.1:5000/portal/launch",
                        help="the app's patient-portal launch URL offered on the portal page")
    parser.add_argument("--cds-services", help="base URL of a CDS Hooks service provider, called when a chart "
                        "is opened (e.g. http://127.0.0.1:5000)")
    parser.add_argument("--client-id", default="fhir-mbt")
    parser.add_argument("--redirect-uri", action="append",
                        help="a registered redirect URI of the client (repeatable)")
    parser.add_argument("--token-lifetime", type=int, default=3600, help="access token lifetime, seconds")
    parser.add_argument("--verbose", action="store_true")
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    logging.basicConfig(level=logging.DEBUG if args.verbose else logging.INFO,
                        format="%(asctime)s %(name)s %(levelname)s %(message)s")
    public_base = (args.public_base or f"http://{HOST}:{args.port}").rstrip("/")
    client: dict = {"redirect_uris": args.redirect_uri or ["http://127.0.0.1:5000/callback"]}
    if os.environ.get("EHR_SANDBOX_CLIENT_SECRET"):
        client["secret"] = os.environ["EHR_SANDBOX_CLIENT_SECRET"]
    app = create_app({
        "SANDBOX_UPSTREAM": args.upstream,
        "SANDBOX_PUBLIC_BASE": public_base,
        "SANDBOX_APP_LAUNCH_URL": args.app_launch,
        "SANDBOX_PORTAL_LAUNCH_URL": args.portal_launch,
        "SANDBOX_CLIENTS": {args.client_id: client},
        "SANDBOX_TOKEN_LIFETIME": args.token_lifetime,
        "SANDBOX_CDS_SERVICES": args.cds_services,
    })
    server = make_server(HOST, args.port, app, threaded=True, request_handler=QuietQueryHandler)
    print(f"EHR sandbox (development only) at {public_base}/  FHIR base {public_base}/fhir"
          f"  -> {args.upstream}", flush=True)
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        server.server_close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
