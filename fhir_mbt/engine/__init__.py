"""The response engine: answers in, a transaction out.

    QuestionnaireResponse ─► validate ─► scoring ─► extraction ─► bundle ─► transaction Bundle
                               │  structure (the walk)   │  observation_values
                               │  answers (one answer)   │  identity (stable ids)
                               └──── view: enabled? answers by linkId ◄── scoring asks too
    compiled: a Questionnaire prepared once (items, bounds, weights, FHIRPath via
    fhirpath → fhirpath_compiler → fhirpath_runtime, falling back to fhirpathpy)
    clock: what "today" is for computed bounds such as maxValue = today() (UTC+14)

:func:`process_response` is the one entry point that runs the whole path
(``process``); the steps are exported for callers that need one of them.
Errors: :mod:`fhir_mbt.engine.errors`; issues come back as OperationOutcomes
(:mod:`fhir_mbt.engine.outcome`).
"""

from fhir_mbt.engine.bundle import transaction_bundle
from fhir_mbt.engine.errors import ExtractionError, ResponseError, ResponseInvalid
from fhir_mbt.engine.extraction import ExtractionResult, extract
from fhir_mbt.engine.fhirpath import ExpressionError
from fhir_mbt.engine.identity import OBSERVATION_IDENTIFIER_SYSTEM, RESPONSE_IDENTIFIER_SYSTEM
from fhir_mbt.engine.process import Processed, process_response
from fhir_mbt.engine.scoring import apply_scores, score
from fhir_mbt.engine.validate import check_response, validate_response

__all__ = [
    "OBSERVATION_IDENTIFIER_SYSTEM",
    "RESPONSE_IDENTIFIER_SYSTEM",
    "ExpressionError",
    "ExtractionError",
    "ExtractionResult",
    "Processed",
    "ResponseError",
    "ResponseInvalid",
    "apply_scores",
    "check_response",
    "extract",
    "process_response",
    "score",
    "transaction_bundle",
    "validate_response",
]
