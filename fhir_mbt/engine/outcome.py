"""OperationOutcome issues as the engine writes and the app reads them.

Every issue has a severity, an issue-type ``code``, human ``diagnostics``,
an ``expression`` locating it and, where an item is concerned, its linkId
in the :data:`LINK_ID_EXTENSION` extension, so a form can put the message
beside the right question.
"""

from __future__ import annotations

__all__ = ["LINK_ID_EXTENSION", "issue", "issue_link_id", "outcome"]

LINK_ID_EXTENSION = "http://fhir-mbt.org/fhir/StructureDefinition/issue-linkId"


def outcome(issues: list[dict]) -> dict:
    """An OperationOutcome holding ``issues``."""
    return {"resourceType": "OperationOutcome", "issue": issues}


def issue_link_id(issue: dict) -> str | None:
    """The linkId an issue is about, if any."""
    for ext in issue.get("extension", ()):
        if ext.get("url") == LINK_ID_EXTENSION:
            return ext.get("valueString")
    return None


def issue(severity: str, code: str, where: str, message: str, link_id: str | None = None) -> dict:
    issue = {"severity": severity, "code": code, "diagnostics": message, "expression": [where]}
    if link_id:
        issue["extension"] = [{"url": LINK_ID_EXTENSION, "valueString": link_id}]
    return issue
