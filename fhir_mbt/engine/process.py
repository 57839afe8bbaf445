"""The engine's one entry point: :func:`process_response`.

Validate the answers against the Questionnaire, score, extract
Observations, build one transaction Bundle, sharing work between steps
(checking the scores already computes them). This is what the app, the CLI
and a server-side ``$extract`` call.
"""

from __future__ import annotations

import datetime as _dt
from dataclasses import dataclass

from fhir_mbt.content.index import ContentIndex, shipped
from fhir_mbt.engine.bundle import transaction_bundle
from fhir_mbt.engine.errors import ExtractionError, ResponseInvalid
from fhir_mbt.engine.extraction import ExtractionResult, extract
from fhir_mbt.engine.identity import with_identifier
from fhir_mbt.engine.validate import validate_and_score

__all__ = ["Processed", "process_response"]


@dataclass(frozen=True)
class Processed:
    """Everything :func:`process_response` produced.

    ``response`` is the response as written (scores filled in, identifier
    set); ``extraction`` is None for a response that is not completed or
    amended (a draft is written alone); ``problems`` are answers that could
    not be extracted, and the outcome's warnings.
    """

    outcome: dict
    response: dict
    extraction: ExtractionResult | None
    bundle: dict

    @property
    def problems(self) -> list[dict]:
        found = [i for i in self.outcome.get("issue", ()) if i.get("severity") not in ("error", "fatal")]
        return found + (list(self.extraction.problems) if self.extraction else [])


def process_response(
    response: dict,
    questionnaire: dict | None = None,
    index: ContentIndex | None = None,
    *,
    now: _dt.datetime | str | None = None,
    identifier: dict | str | None = None,
    previous: dict | None = None,
    today: _dt.date | None = None,
    reason: str | None = None,
) -> Processed:
    """Validate, score, extract and bundle one response.

    Raises :class:`ResponseInvalid` (carrying the OperationOutcome) when the
    response breaks its Questionnaire; nothing is extracted from it then.
    ``today`` fixes the day date bounds such as "not in the future" are
    checked for (see :func:`~fhir_mbt.engine.validate.validate_response`).
    ``reason`` says why an amended response was amended (its Provenance's
    ``reason``); it is refused for any other status.
    """
    index = index if index is not None else shipped()
    result, scored = validate_and_score(response, questionnaire, index, today=today)
    if scored is None:
        raise ResponseInvalid(result)
    if scored.get("status") in ("completed", "amended"):
        extraction = extract(scored, questionnaire, index, now=now, identifier=identifier, previous=previous)
        bundle = transaction_bundle(extraction.response, extraction, now=now, reason=reason)
        return Processed(result, extraction.response, extraction, bundle)
    if reason:
        raise ExtractionError("a reason is given for an amendment only (status `amended`)")
    stored = with_identifier(scored, identifier)
    return Processed(result, stored, None, transaction_bundle(stored, [], now=now, provenance=False))
