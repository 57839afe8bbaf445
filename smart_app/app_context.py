"""Where a launch from a CDS card should land: the card's ``appContext``.

The app's own risk card (``fhir_mbt.cds.cards``) puts ``{"records": ["QuestionnaireResponse/ID", ...]}``
in its SMART link's ``appContext``; the EHR hands it back in the token response. A launch from
that card opens the dashboard on its "Needs follow-up" list with those records' follow-ups
marked. Anything else in ``appContext`` (another service's, or none) opens the dashboard as
usual: it is the EHR's string, so it is read, never trusted; only well-formed ids are kept, and
they only mark rows of the launched patient's own list.
"""

from __future__ import annotations

import json
import re
from typing import Any

__all__ = ["card_records"]

_REFERENCE = re.compile(r"^QuestionnaireResponse/([A-Za-z0-9\-.]{1,64})$")
MAX_LENGTH = 4096


def card_records(app_context: Any) -> list[str]:
    """The QuestionnaireResponse ids an ``appContext`` names; [] for anything unreadable."""
    if not isinstance(app_context, str) or not app_context or len(app_context) > MAX_LENGTH:
        return []
    try:
        data = json.loads(app_context)
    except ValueError:
        return []
    records = data.get("records") if isinstance(data, dict) else None
    if not isinstance(records, list):
        return []
    ids = []
    for ref in records:
        found = _REFERENCE.match(ref) if isinstance(ref, str) else None
        if found and found.group(1) not in ids:
            ids.append(found.group(1))
    return ids
