"""The messages a form shows about its answers, in the form's own words.

The engine's OperationOutcome issues carry two texts: ``diagnostics`` for
developers (it names linkIds and codes) and ``details.text`` for the person
filling in (it names the question by its text). A form only ever shows the
second: an issue without one gets a plain fallback built from the question's
text, and ``diagnostics`` goes to the log, never to the page. This module puts
each issue beside its question and builds the list at the top of a form, each
entry a link to its question.
"""

from __future__ import annotations

import logging
from typing import Mapping

from fhir_mbt.engine.outcome import issue_link_id, issue_text
from smart_app.form_layout import field_id
from smart_app.questionnaire_form import Field, walk_fields

__all__ = ["field_errors", "field_id", "error_summary", "problem_text", "unextractable"]

log = logging.getLogger(__name__)

#: Shown for an issue about no question that carries no human text (a fault of the record or the form).
GENERAL_FALLBACK = ("This record could not be checked against its form, so nothing was saved. The details are in "
                    "the app's log for your administrator.")


def problem_text(issue: Mapping, field: Field | None = None) -> str:
    """What to show for one issue: its human text, or a fallback naming the question."""
    text = issue_text(dict(issue))
    if text:
        return text
    log.info("an issue without human text: %s", issue.get("diagnostics", ""))
    if field is not None:
        return f"{field.label}: this answer could not be accepted"
    return GENERAL_FALLBACK


def field_errors(outcome: Mapping, fields: list[Field], posted: Mapping[str, list[str]]
                 ) -> tuple[dict[str, str], list[str]]:
    """The error issues of an OperationOutcome put beside their questions (by linkId).

    Returns (field name → message, messages that belong to no question).
    """
    by_link: dict[str, list[Field]] = {}
    for f in walk_fields(fields):
        by_link.setdefault(f.link_id, []).append(f)
    errors: dict[str, str] = {}
    general: list[str] = []
    for issue in outcome.get("issue", []):
        if issue.get("severity") not in ("error", "fatal"):
            continue
        candidates = by_link.get(issue_link_id(issue) or "", [])
        if candidates:
            target = next((f for f in candidates if f.name in posted), candidates[0])
            message = problem_text(issue, target)
            earlier = errors.get(target.name)
            if earlier is None:
                errors[target.name] = message
            elif message not in earlier:  # two rules broken on one question: say both
                errors[target.name] = f"{earlier}{'' if earlier.endswith(('.', '!', '?')) else '.'} {message}"
        else:
            message = problem_text(issue)
            if message not in general:
                general.append(message)
    return errors, general


def error_summary(fields: list[Field]) -> list[tuple[str, str]]:
    """(message, anchor) for every question with an error, in form order: the list at the top of a form."""
    return [(f.error, field_id(f.name)) for f in walk_fields(fields) if f.error]


def unextractable(problems: list[Mapping], fields: list[Field]) -> str:
    """Why a completed form could not become clinical data, naming the questions concerned."""
    texts = {f.link_id: f.label for f in walk_fields(fields)}
    for problem in problems:
        log.warning("extraction problem: %s", problem.get("diagnostics", ""))
    named = []
    for problem in problems:
        label = texts.get(issue_link_id(dict(problem)) or "")
        if label and label not in named:
            named.append(label)
    about = f" ({'; '.join(named)})" if named else ""
    return (f"Some answers could not be turned into clinical data{about}, so nothing was saved. This is a fault in "
            "the form's definition: tell your administrator.")
