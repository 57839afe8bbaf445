"""``fhir-mbt score RESPONSE.json``: print the response's scores as JSON."""

from __future__ import annotations

import argparse
import json

from fhir_mbt.cli._response_input import add_arguments, fail, load
from fhir_mbt.engine.validate import validate_and_score
from fhir_mbt.engine.scoring import score


def register(sub: argparse._SubParsersAction) -> None:
    parser = sub.add_parser(
        "score",
        help="validate a QuestionnaireResponse and print its scores",
        description=(
            "Validate a QuestionnaireResponse against its Questionnaire, then print the value of "
            "every calculated (score) item as a JSON object keyed by linkId; null where the "
            "answers needed are missing. An invalid response exits 1 with the OperationOutcome "
            "on stderr."
        ),
    )
    add_arguments(parser)
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    response, questionnaire, index, code = load(args)
    if code:
        return code
    outcome, scored = validate_and_score(response, questionnaire, index)
    if scored is None:
        return fail(outcome)
    print(json.dumps(score(response, questionnaire, index), indent=2))
    return 0
