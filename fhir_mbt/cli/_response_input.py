"""Reading a QuestionnaireResponse (and its Questionnaire) for ``score`` and ``extract``.

Both commands take the same input and fail the same way: a response that
cannot be read or does not fit its Questionnaire exits 1 with an
OperationOutcome (JSON) on stderr, so scripts can parse the reason.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from fhir_mbt.content import ContentIndex, shipped
from fhir_mbt.errors import ContentError

__all__ = ["add_arguments", "load", "fail"]


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("response", type=Path, metavar="RESPONSE.json", help="a QuestionnaireResponse ('-' for stdin)")
    parser.add_argument(
        "--questionnaire", type=Path, metavar="FILE",
        help="the Questionnaire to use (default: the one the response names, from the shipped content)",
    )


def fail(outcome: dict) -> int:
    print(json.dumps(outcome, indent=2), file=sys.stderr)
    return 1


def _problem(message: str, code: str = "structure") -> dict:
    return {"resourceType": "OperationOutcome",
            "issue": [{"severity": "fatal", "code": code, "diagnostics": message}]}


def _read(path: Path) -> object:
    text = sys.stdin.read() if str(path) == "-" else path.read_text(encoding="utf-8")
    return json.loads(text)


def load(args: argparse.Namespace) -> tuple[dict | None, dict | None, ContentIndex, int]:
    """(response, questionnaire or None, index, exit code); a non-zero code means stop."""
    index = shipped()
    try:
        response = _read(args.response)
    except OSError as exc:
        return None, None, index, fail(_problem(f"{args.response}: cannot be read: {exc}", "not-found"))
    except json.JSONDecodeError as exc:
        return None, None, index, fail(_problem(f"{args.response}: not valid JSON: {exc}"))
    questionnaire = None
    if args.questionnaire is not None:
        try:
            questionnaire = _read(args.questionnaire)
        except (OSError, json.JSONDecodeError) as exc:
            raise ContentError(f"{args.questionnaire}: cannot be read as JSON: {exc}") from exc
    if not isinstance(response, dict):
        return None, None, index, fail(_problem("the response is not a JSON object"))
    return response, questionnaire, index, 0
