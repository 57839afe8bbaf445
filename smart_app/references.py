"""References a form's answers make to other records: only to this patient's own.

A revision names the record it revises (``revision.previous``,
``crisis-plan.previous``); the field is filled in by the app, but a post can
name anything. Each reference to a QuestionnaireResponse is read back and must
be this patient's, or the save is refused before anything is written.
"""

from __future__ import annotations

import re
from typing import Iterable, Mapping

from fhir_mbt.client import FhirClient, ResourceNotFound

__all__ = ["foreign_references"]

_LOCAL = re.compile(r"^QuestionnaireResponse/([A-Za-z0-9\-.]{1,64})$")
#: At most this many references are checked in one record (the forms have one or two).
MAX_CHECKED = 5


def _references(items: Iterable[Mapping]) -> list[tuple[str, str]]:
    found, stack = [], list(items or ())
    while stack:
        item = stack.pop()
        for answer in item.get("answer", ()):
            ref = answer.get("valueReference")
            if isinstance(ref, Mapping):
                found.append((item.get("linkId", ""), str(ref.get("reference", ""))))
            stack.extend(answer.get("item", ()))
        stack.extend(item.get("item", ()))
    return found


def foreign_references(items: Iterable[Mapping], fhir: FhirClient, patient: str) -> list[str]:
    """The linkIds whose reference is not to one of ``patient``'s QuestionnaireResponses."""
    refused = []
    for n, (link_id, reference) in enumerate(_references(items)):
        match = _LOCAL.match(reference)
        if match is None or n >= MAX_CHECKED:
            refused.append(link_id)
            continue
        try:
            target = fhir.read("QuestionnaireResponse", match.group(1))
        except ResourceNotFound:
            refused.append(link_id)
            continue
        subject = target.get("subject") if isinstance(target.get("subject"), Mapping) else {}
        if subject.get("reference") != f"Patient/{patient}":
            refused.append(link_id)
    return refused
