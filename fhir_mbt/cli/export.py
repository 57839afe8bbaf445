"""``fhir-mbt export --server URL --out DIR``: a Bulk Data export to NDJSON files."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from fhir_mbt.analytics.backend_auth import BackendServicesAuth, NoAuth, discover_token_endpoint
from fhir_mbt.analytics.export import BulkExporter, ExportRequest
from fhir_mbt.smart import PrivateKeyJwt


def register(sub: argparse._SubParsersAction) -> None:
    parser = sub.add_parser(
        "export",
        help="FHIR Bulk Data $export from a server into NDJSON files (resumable)",
        description=(
            "Kick off a Bulk Data export (Prefer: respond-async), poll it as the server's Retry-After says, "
            "and download the NDJSON files into --out. Run again with the same options after an "
            "interruption to resume the same job. Without --client-id no authorization is sent (a local "
            "server); with it, SMART Backend Services (client_credentials with private_key_jwt)."
        ),
    )
    parser.add_argument("--server", required=True, help="FHIR base URL")
    parser.add_argument("--out", required=True, type=Path, help="folder for the NDJSON files")
    level = parser.add_mutually_exclusive_group()
    level.add_argument("--patients", action="store_true", help="patient-level export (Patient/$export)")
    level.add_argument("--group", metavar="ID", help="group-level export (Group/ID/$export)")
    parser.add_argument("--type", dest="types", default="Patient,Practitioner,QuestionnaireResponse,Observation",
                        help="comma-separated resource types (_type; default %(default)s; '' for all)")
    parser.add_argument("--since", help="only resources changed since this instant (_since)")
    parser.add_argument("--restart", action="store_true", help="start a new job even if one can be resumed")
    parser.add_argument("--max-wait", type=float, default=3600.0, help="seconds to wait for the job")
    parser.add_argument("--max-poll", type=float, default=60.0,
                        help="poll at least this often, whatever Retry-After says (default %(default)s s; "
                             "a local HAPI asks for 120 s)")
    auth = parser.add_argument_group("SMART Backend Services")
    auth.add_argument("--client-id", help="the registered client id")
    auth.add_argument("--private-key", type=Path, help="PEM file of the client's private key")
    auth.add_argument("--kid", help="the key id registered with the server")
    auth.add_argument("--alg", default="RS384", choices=["RS384", "ES384"])
    auth.add_argument("--token-url", help="token endpoint (default: from .well-known/smart-configuration)")
    auth.add_argument("--scope", default="system/Patient.rs system/Practitioner.rs "
                      "system/QuestionnaireResponse.rs system/Observation.rs")
    parser.set_defaults(func=run)


def _auth(args: argparse.Namespace):
    if not args.client_id:
        return NoAuth()
    if not args.private_key or not args.kid:
        raise SystemExit("fhir-mbt export: --client-id needs --private-key and --kid")
    client = PrivateKeyJwt(args.client_id, args.private_key.read_bytes(), kid=args.kid, alg=args.alg)
    endpoint = args.token_url or discover_token_endpoint(args.server)
    return BackendServicesAuth(client, endpoint, scope=args.scope)


def run(args: argparse.Namespace) -> int:
    level = "patient" if args.patients else "group" if args.group else "system"
    types = tuple(t.strip() for t in (args.types or "").split(",") if t.strip())
    request = ExportRequest(level=level, types=types, since=args.since, group_id=args.group)
    exporter = BulkExporter(args.server, args.out, _auth(args), max_wait=args.max_wait, max_poll=args.max_poll,
                            progress=lambda line: print(line, file=sys.stderr, flush=True))
    result = exporter.run(request, restart=args.restart)
    for rtype, count in sorted(result.counts.items()):
        print(f"{rtype}\t{count}")
    return 0
