"""Does a QuestionnaireResponse fit its Questionnaire?

The answer is an OperationOutcome, because that is what a FHIR server would
return and what the app shows: every issue has a severity, an issue-type
``code``, human ``diagnostics``, an ``expression`` locating it
(``QuestionnaireResponse.item[2].item[0].answer[0]``) and, where an item is
concerned, its linkId in the :data:`LINK_ID_EXTENSION` extension, so a form
can put the message beside the right question. An empty issue list means
valid; :func:`check_response` raises :class:`ResponseInvalid` on errors.

Rules, from R4 QuestionnaireResponse/Questionnaire and SDC:

- shape: resourceType, a valid ``status``, ``item``/``answer`` as non-empty lists;
- the ``questionnaire`` canonical resolves, and matches the given
  Questionnaire's url and (if stated) version;
- every linkId exists in the Questionnaire at that place, siblings keep the
  Questionnaire's order, only repeating groups appear more than once, only
  repeating questions have more than one answer;
- groups hold items and no answers, questions hold answers and keep nested
  items under ``answer.item``, display items hold nothing;
- each answer has exactly one value[x], of the type the item declares, well
  formed; coded answers come from the answerOptions or the answerValueSet;
  minValue/maxValue, maxLength/minLength, regex and maxDecimalPlaces hold;
- disabled items (enableWhen/enableBehavior, enableWhenExpression, or a
  disabled ancestor) are absent; enabled required items are answered when
  the status is ``completed`` or ``amended`` (an item is only required
  within a group that is present);
- read-only calculated items hold what their expression computes;
- for ``completed`` and ``amended`` responses, every ``questionnaire-constraint``
  (on the Questionnaire, or on an item for each enabled occurrence of it)
  holds (:mod:`fhir_mbt.engine.constraints`); a breach is reported with the
  constraint's ``human`` text and its ``severity``.
"""

from __future__ import annotations

from typing import Any

from fhir_mbt.content.index import ContentIndex, shipped, split_canonical
from fhir_mbt.engine.answers import format_error
from fhir_mbt.engine.compiled import compile_questionnaire
from fhir_mbt.engine.errors import ResponseInvalid
from fhir_mbt.engine.outcome import LINK_ID_EXTENSION, issue, issue_link_id, outcome
from fhir_mbt.engine.constraints import CONSTRAINT_EXTENSION, check_constraints
from fhir_mbt.engine.structure import NEEDS_REQUIRED, StructureCheck
from fhir_mbt.errors import ContentError

__all__ = [
    "CONSTRAINT_EXTENSION",
    "LINK_ID_EXTENSION",
    "STATUSES",
    "validate_response",
    "validate_and_score",
    "check_response",
    "issue_link_id",
    "outcome",
]

STATUSES = frozenset({"in-progress", "completed", "amended", "entered-in-error", "stopped"})




def _resolve(response: dict, questionnaire: dict | None, index: ContentIndex, issues: list) -> dict | None:
    canonical = response.get("questionnaire")
    if not isinstance(canonical, str) or not canonical:
        if questionnaire is None:
            issues.append(issue("error", "required", "QuestionnaireResponse.questionnaire",
                                 "the response does not name its Questionnaire"))
            return None
        issues.append(issue("error", "required", "QuestionnaireResponse.questionnaire",
                             "the response does not name its Questionnaire"))
        return questionnaire
    url, version = split_canonical(canonical)
    if questionnaire is None:
        questionnaire = index.find(url, version)
        if questionnaire is None:
            known = index.find(url)
            if known is not None:
                message = (f"Questionnaire {url} is known in version {known.get('version')!r}, "
                           f"not {version!r}")
            else:
                message = f"Questionnaire {canonical} is not known"
            issues.append(issue("error", "not-found", "QuestionnaireResponse.questionnaire", message))
            return None
        return questionnaire
    if questionnaire.get("resourceType") != "Questionnaire":
        issues.append(issue("fatal", "invalid", "Questionnaire", "the given definition is not a Questionnaire"))
        return None
    if questionnaire.get("url") != url:
        issues.append(issue("error", "invalid", "QuestionnaireResponse.questionnaire",
                             f"the response is for {url}, not for {questionnaire.get('url')}"))
    elif version and questionnaire.get("version") and questionnaire["version"] != version:
        issues.append(issue("error", "invalid", "QuestionnaireResponse.questionnaire",
                             f"the response is for version {version} of {url}, "
                             f"not version {questionnaire['version']}"))
    return questionnaire


def _shape(response: Any, issues: list) -> bool:
    if not isinstance(response, dict):
        issues.append(issue("fatal", "structure", "QuestionnaireResponse", "not a JSON object"))
        return False
    if response.get("resourceType") != "QuestionnaireResponse":
        issues.append(issue("fatal", "structure", "QuestionnaireResponse",
                             f"resourceType is {response.get('resourceType')!r}, not 'QuestionnaireResponse'"))
        return False
    status = response.get("status")
    if status not in STATUSES:
        issues.append(issue("error", "value" if status else "required", "QuestionnaireResponse.status",
                             f"status {status!r} is not one of {', '.join(sorted(STATUSES))}"))
    authored = response.get("authored")
    if authored is not None and format_error("valueDateTime", authored):
        issues.append(issue("error", "value", "QuestionnaireResponse.authored", "authored must be a dateTime"))
    for key in ("subject", "encounter", "author", "source"):
        if key in response and not isinstance(response[key], dict):
            issues.append(issue("error", "structure", f"QuestionnaireResponse.{key}", f"{key} must be a Reference"))
    return True


def _strict(response: dict, issues: list) -> None:
    from pydantic import ValidationError

    from fhir.resources.R4B.questionnaireresponse import QuestionnaireResponse

    try:
        QuestionnaireResponse.model_validate(response)
    except ValidationError as exc:
        for err in exc.errors():
            path = "QuestionnaireResponse" + "".join(
                f"[{p}]" if isinstance(p, int) else f".{p}" for p in err.get("loc", ()) if p != "__root__"
            )
            issues.append(issue("error", "structure", path, f"R4: {err.get('msg')}"))


def validate_response(
    response: dict,
    questionnaire: dict | None = None,
    index: ContentIndex | None = None,
    *,
    strict: bool = False,
) -> dict:
    """Check ``response`` against its Questionnaire; return an OperationOutcome.

    ``questionnaire`` defaults to the one the response names, looked up in
    ``index`` (the shipped content by default). ``strict`` also runs the R4
    model (fhir.resources) over the resource, which is slower.
    """
    return validate_and_score(response, questionnaire, index, strict=strict)[0]


def validate_and_score(
    response: dict,
    questionnaire: dict | None = None,
    index: ContentIndex | None = None,
    *,
    strict: bool = False,
) -> tuple[dict, dict | None]:
    """:func:`validate_response`, plus the response with its scores (re)computed.

    Checking calculated items means computing them, so a caller that wants
    both gets them from one pass. The scored response is None when the
    response has errors.
    """
    index = index if index is not None else shipped()
    issues: list[dict] = []
    if not _shape(response, issues):
        return outcome(issues), None
    if strict:
        _strict(response, issues)
    questionnaire = _resolve(response, questionnaire, index, issues)
    if questionnaire is None:
        return outcome(issues), None
    try:
        compiled = compile_questionnaire(questionnaire, index)
    except ContentError as exc:
        issues.append(issue("fatal", "processing", "Questionnaire", f"the Questionnaire is unusable: {exc}"))
        return outcome(issues), None
    if compiled.duplicate_link_ids:
        issues.append(issue("fatal", "processing", "Questionnaire", "the Questionnaire repeats linkIds "
                             f"{', '.join(sorted(compiled.duplicate_link_ids))}, so answers cannot be placed"))
        return outcome(issues), None
    validator = StructureCheck(response, compiled)
    try:
        validator.items(response.get("item"), compiled.items, "QuestionnaireResponse", (), None)
        if validator.status in NEEDS_REQUIRED:
            check_constraints(response, compiled, validator.view, validator.locations, validator.error)
    except ContentError as exc:
        validator.error("processing", "QuestionnaireResponse", f"the Questionnaire's logic failed: {exc}")
    if not any(i["severity"] in ("error", "fatal") for i in validator.issues):
        validator.calculations()
    issues.extend(validator.issues)
    failed = any(i["severity"] in ("error", "fatal") for i in issues)
    return outcome(issues), None if failed else validator.scored


def check_response(
    response: dict,
    questionnaire: dict | None = None,
    index: ContentIndex | None = None,
    *,
    strict: bool = False,
) -> dict:
    """Raise :class:`ResponseInvalid` unless ``response`` is valid; return the outcome otherwise.

    Warnings (say, a ValueSet that cannot be expanded here) do not raise but
    are in the returned outcome.
    """
    result = validate_response(response, questionnaire, index, strict=strict)
    if any(i["severity"] in ("error", "fatal") for i in result["issue"]):
        raise ResponseInvalid(result)
    return result
