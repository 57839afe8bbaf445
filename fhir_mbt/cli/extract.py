"""``fhir-mbt extract RESPONSE.json``: print the transaction Bundle for a response."""

from __future__ import annotations

import argparse
import json
import sys

from fhir_mbt.cli._response_input import add_arguments, fail, load
from fhir_mbt.engine import process_response
from fhir_mbt.engine.errors import ExtractionError, ResponseInvalid
from fhir_mbt.engine.outcome import outcome as make_outcome

#: Exit code when the Bundle was written but some answers could not be extracted.
INCOMPLETE = 2


def register(sub: argparse._SubParsersAction) -> None:
    parser = sub.add_parser(
        "extract",
        help="validate, score and extract Observations; print the transaction Bundle",
        description=(
            "Validate a QuestionnaireResponse, fill in its scores, extract Observations (SDC "
            "observation-based extraction) and print one FHIR transaction Bundle writing the "
            "response, its Observations and a Provenance. An invalid response exits 1 with the "
            "OperationOutcome on stderr; answers that could not be extracted are listed on "
            f"stderr and the exit code is {INCOMPLETE}."
        ),
    )
    add_arguments(parser)
    parser.add_argument("--previous", type=argparse.FileType("r", encoding="utf-8"), metavar="FILE",
                        help="the earlier version of an amended response (retracts removed answers)")
    parser.add_argument("--reason", metavar="TEXT",
                        help="why an amended response was amended: written on its Provenance (reason.text)")
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    response, questionnaire, index, code = load(args)
    if code:
        return code
    previous = None
    if args.previous:
        with args.previous:
            previous = json.load(args.previous)
    if args.reason is not None and response.get("status") != "amended":
        return fail(make_outcome([_fatal("--reason is for an amended response (status `amended`): "
                                         f"this one is `{response.get('status')}`")]))
    try:
        processed = process_response(response, questionnaire, index, previous=previous, reason=args.reason)
    except ResponseInvalid as exc:
        return fail(exc.outcome)
    except ExtractionError as exc:
        return fail(make_outcome([_fatal(str(exc))]))
    print(json.dumps(processed.bundle, indent=2))
    if processed.problems:
        print(json.dumps(make_outcome(processed.problems), indent=2), file=sys.stderr)
        return INCOMPLETE
    return 0


def _fatal(message: str) -> dict:
    return {"severity": "fatal", "code": "invalid", "diagnostics": message}
