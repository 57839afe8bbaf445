"""Errors of the response engine (validation, scoring, extraction).

A QuestionnaireResponse that cannot be used is a value error about clinical
data, so every error here is both a :class:`~fhir_mbt.errors.FhirMbtError`
and a :class:`ValueError`. Each carries what it is about: the invalid
response's OperationOutcome, or the problems that stopped extraction.

    FhirMbtError
    ├── ContentError(ValueError)              fhir_mbt.errors
    │   └── ExpressionError                   fhir_mbt.engine.fhirpath: a FHIRPath expression is unusable
    │       ├── ExpressionSyntaxError
    │       └── ExpressionEvaluationError
    └── ResponseError(ValueError)             a QuestionnaireResponse is unusable
        ├── ResponseInvalid                   breaks its Questionnaire (carries the OperationOutcome)
        └── ExtractionError                   cannot be turned into Observations at all
"""

from __future__ import annotations

from fhir_mbt.errors import FhirMbtError

__all__ = ["ResponseError", "ResponseInvalid", "ExtractionError"]


class ResponseError(FhirMbtError, ValueError):
    """A QuestionnaireResponse cannot be used."""


class ResponseInvalid(ResponseError):
    """The response breaks its Questionnaire; ``outcome`` says where and how."""

    def __init__(self, outcome: dict):
        self.outcome = outcome
        errors = [i for i in outcome.get("issue", ()) if i.get("severity") in ("error", "fatal")]
        lines = [f"{', '.join(i.get('expression', ['?']))}: {i.get('diagnostics', '')}" for i in errors[:10]]
        more = "" if len(errors) <= 10 else f"\n... and {len(errors) - 10} more"
        super().__init__(f"{len(errors)} error(s) in the QuestionnaireResponse:\n" + "\n".join(lines) + more)

    def __reduce__(self):
        # Rebuilt from the outcome, so the error survives pickling (e.g. from a worker process).
        return type(self), (self.outcome,)


class ExtractionError(ResponseError):
    """Observations cannot be extracted from the response at all.

    ``problems`` lists what stood in the way (each an OperationOutcome issue).
    """

    def __init__(self, message: str, problems: list[dict] | None = None):
        self.problems = list(problems or [])
        super().__init__(message)

    def __reduce__(self):
        return type(self), (self.args[0], self.problems)
