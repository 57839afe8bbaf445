"""Names the code relies on, each checked against the shipped JSON by the tests.

The JSON content is the source of truth; these constants exist so that code
says ``terminology.SESSION_RECORD`` instead of repeating a URL, and a test
(tests/content/test_terminology.py) fails the moment the two disagree.
"""

from __future__ import annotations

__all__ = [
    "CANONICAL",
    "CODE_SYSTEM",
    "CRISIS_PLAN",
    "FORMULATION",
    "MENTALIZING_PROFILE",
    "PERIODIC_REVIEW",
    "RFQ8",
    "WEEKLY_CHECKIN",
    "SESSION_RECORD",
    "QUESTIONNAIRES",
    "SCORE_PROFILE",
    "FINDING_PROFILE",
    "SURVEY",
    "questionnaire_url",
]

CANONICAL = "http://fhir-mbt.org/fhir"
CODE_SYSTEM = f"{CANONICAL}/CodeSystem/mbt"

FORMULATION = "mbt-formulation"
MENTALIZING_PROFILE = "mbt-mentalizing-profile"
RFQ8 = "rfq-8"
WEEKLY_CHECKIN = "mbt-weekly-checkin"
SESSION_RECORD = "mbt-session-record"
CRISIS_PLAN = "mbt-crisis-plan"
PERIODIC_REVIEW = "mbt-periodic-review"
#: Every shipped Questionnaire id, in the order a menu shows them.
QUESTIONNAIRES = (SESSION_RECORD, WEEKLY_CHECKIN, RFQ8, MENTALIZING_PROFILE, FORMULATION, CRISIS_PLAN,
                  PERIODIC_REVIEW)

SCORE_PROFILE = f"{CANONICAL}/StructureDefinition/mbt-score-observation"
FINDING_PROFILE = f"{CANONICAL}/StructureDefinition/mbt-finding-observation"

SURVEY = {"system": "http://terminology.hl7.org/CodeSystem/observation-category", "code": "survey"}


def questionnaire_url(questionnaire_id: str) -> str:
    return f"{CANONICAL}/Questionnaire/{questionnaire_id}"
