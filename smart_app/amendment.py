"""Why a completed record was amended: the reason the clinician gives, checked before anything is written.

The reason is a field of its own (``amend_reason``), outside the
Questionnaire's items, so it never becomes an answer; it is written on the
Provenance of the amendment (``reason.text``, see
:mod:`fhir_mbt.engine.bundle`), where the record's history reads it back. A
draft saved or resumed is not an amendment and has no reason.
"""

from __future__ import annotations

import re
from typing import Mapping

from fhir_mbt.engine.bundle import MAX_REASON

__all__ = ["FIELD", "MAX_REASON", "NOW_AN_AMENDMENT", "read_reason", "not_stored"]

FIELD = "amend_reason"
NOW_AN_AMENDMENT = ("This record was already saved as complete, so these changes amend it: give the reason for "
                    "the amendment below, then save it.")
#: NUL, other C0 controls and the Unicode bidirectional overrides and isolates (as for answers).
_REFUSED = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\x7f\u202a-\u202e\u2066-\u2069]")


def read_reason(form: Mapping) -> tuple[str, str]:
    """(the reason, one line, or "", the error to show beside the field, or "")."""
    raw = form.get(FIELD, "") or ""
    text = " ".join(str(raw).split())
    if not text:
        return "", ("Say why this record is being amended, for example “Session date corrected: it was "
                    "entered as the day of writing”.")
    if _REFUSED.search(text):
        return text, "The reason contains control characters that cannot be saved: retype it."
    if len(text) > MAX_REASON:
        return text, (f"The reason is longer than {MAX_REASON} characters ({len(text):,} typed): keep it to a "
                      "sentence or two; clinical detail belongs in the record's answers.")
    return text, ""


def not_stored(reason: str) -> str:
    """What the page says when the amendment's Provenance, and so its reason, could not be written."""
    return (f" The reason for the amendment (“{reason}”) was not stored with it: note it in the patient's "
            "record in the EHR.")
