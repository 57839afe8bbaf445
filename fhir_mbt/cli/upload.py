"""``fhir-mbt upload --server URL``: install the definitions (and examples) on a server."""

from __future__ import annotations

import argparse
import sys

from fhir_mbt.client import FhirClient
from fhir_mbt.content import shipped
from fhir_mbt.content.upload import upload_definitions, upload_examples
from fhir_mbt.content.validation import check_index


def register(sub: argparse._SubParsersAction) -> None:
    parser = sub.add_parser(
        "upload",
        help="load the definitions and the example data onto a FHIR server (idempotent)",
        description=(
            "Validate the shipped content, then PUT every definition that the server lacks or holds "
            "in another form, in one transaction; then the example Bundle. Running it twice changes nothing."
        ),
    )
    parser.add_argument("--server", required=True, help="FHIR base URL, e.g. http://127.0.0.1:8080/fhir")
    parser.add_argument("--no-examples", action="store_true", help="upload the definitions only")
    parser.add_argument("--timeout", type=float, default=60.0, help="seconds per request (default %(default)s)")
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    index = shipped()
    check_index(index)
    client = FhirClient(args.server, timeout=(10.0, args.timeout))
    report = upload_definitions(client, index)
    print(f"definitions: {report}", file=sys.stderr)
    if not args.no_examples:
        examples = upload_examples(client, index)
        print(f"examples: {examples}", file=sys.stderr)
    return 0
