"""OperationOutcome issues as the engine writes and the app reads them.

Every issue has a severity, an issue-type ``code``, ``diagnostics`` (for
developers and logs: it may name linkIds and codes), an ``expression``
locating it and, where an item is concerned, its linkId in the
:data:`LINK_ID_EXTENSION` extension, so a form can put the message beside
the right question. Issues a person can act on also carry ``details.text``:
the same problem in the words of the form, naming the question by its text
and never by its linkId. That is the text a form shows (:func:`issue_text`).
"""

from __future__ import annotations

__all__ = ["LINK_ID_EXTENSION", "issue", "issue_link_id", "issue_text", "outcome", "question_label"]

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


def issue_text(issue: dict) -> str | None:
    """The human text of an issue (``details.text``), if it has one."""
    details = issue.get("details")
    text = details.get("text") if isinstance(details, dict) else None
    return text if isinstance(text, str) and text else None


#: A question longer than this is named by its code's display in messages, when it has one.
LONG_QUESTION = 80


def question_label(text: object, fallback: str = "This answer", codes: object = ()) -> str:
    """A question as a message names it: its text, trimmed, without closing punctuation; a long
    question ("How many times this week did you blow up: …") by its code's display ("Blow-ups
    this week") when it has one."""
    label = text.strip().rstrip(" .:?") if isinstance(text, str) else ""
    if len(label) > LONG_QUESTION and isinstance(codes, (list, tuple)):
        for code in codes:
            display = code.get("display") if isinstance(code, dict) else None
            if isinstance(display, str) and display.strip():
                return display.strip()
    return label or fallback


def issue(severity: str, code: str, where: str, message: str, link_id: str | None = None,
          human: str | None = None) -> dict:
    issue = {"severity": severity, "code": code, "diagnostics": message, "expression": [where]}
    if human:
        issue["details"] = {"text": human}
    if link_id:
        issue["extension"] = [{"url": LINK_ID_EXTENSION, "valueString": link_id}]
    return issue
