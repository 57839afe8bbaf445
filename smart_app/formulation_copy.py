"""What the patient's copy of the formulation says: only what was written for the patient.

The formulation holds two kinds of text. The clinician's notes (presenting
difficulties, presentation, attachment, the examples of each mode, how the
difficulties may show with the clinician) are written about the patient, in the
third person, for colleagues; they never reach the copy. What does:

- the letter (``agreement.letter``) and the parts written to the patient in the
  ``patient-copy`` group, each under its own heading;
- coded answers (presentation, self-esteem conditions and responses to threat,
  MBT-N patterns, the prementalizing modes recorded as present, the patterns
  expected with the clinician), in the CodeSystem's patient wording (designation
  use ``patient-wording``), never as a bare code or clinical label;
- the goals (written in the patient's words), the patient's own comments, the
  diagnosis only when the formulation records that it was talked through;
- the newest crisis plan, from a formulation or a revision of the plan alone.

Pure functions over plain dicts; ``patient_copy`` renders the result.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Iterable, Mapping

from fhir_mbt.cds.record import FINAL, flatten, groups, questionnaire_id
from fhir_mbt.content import ContentIndex, terminology

__all__ = ["Copy", "Section", "SECTIONS", "CRISIS_PARTS", "build_copy", "patient_wording"]

PATIENT_WORDING = "patient-wording"


@dataclass(frozen=True)
class SectionRule:
    heading: str
    #: The patient-worded free text shown under the heading.
    text: str | None
    #: (lead-in, linkId of a coded answer) shown in patient wording.
    coded: tuple[tuple[str, str], ...] = ()


#: The copy's sections, in order. Modes are added from the formulation's "is it part of the picture?" answers.
SECTIONS = (
    SectionRule("What brings you to treatment", "patient-copy.difficulties"),
    SectionRule("How things tend to show", "patient-copy.presentation", (("", "presentation.type"),)),
    SectionRule("Relationships", "patient-copy.relationships"),
    SectionRule("What happens to your self-esteem", "patient-copy.self-esteem",
                (("Feeling good about yourself can hang on:", "self-esteem.conditions"),
                 ("When that is threatened, you may find yourself:", "self-esteem.threat-response"))),
    SectionRule("Patterns we have noticed together", None, (("", "self-esteem.patterns"),)),
    SectionRule("When thinking about feelings gets hard", "patient-copy.hard-moments", (("", "modes"),)),
    SectionRule("How this may show up between us", "patient-copy.between-us", (("", "clinician.patterns"),)),
)
#: (linkId of "is this mode part of the picture?", the mode's code).
MODES = (("mode.psychic-equivalence.present", "psychic-equivalence"),
         ("mode.pretend-mode.present", "pretend-mode"),
         ("mode.teleological-mode.present", "teleological-mode"))
DIAGNOSES = ("diagnosis.icd10cm", "diagnosis.icd11-severity", "diagnosis.icd11-traits")
#: The crisis plan's parts (linkId suffixes shared by the formulation and the crisis plan revision), as the copy names them.
CRISIS_PARTS = (("warning-signs", "Warning signs"), ("self", "What I can do"),
                ("professionals", "What professionals should do"), ("others", "What others should know"),
                ("not-helpful", "What has not helped before"), ("contacts", "Who to contact"))


@dataclass
class Section:
    heading: str
    paragraphs: list[str] = field(default_factory=list)
    #: (lead-in, [patient-worded items]).
    lists: list[tuple[str, list[str]]] = field(default_factory=list)


@dataclass
class Copy:
    """The patient's copy: empty (``formulation`` None) when there is no formulation to give."""

    formulation: Mapping | None = None
    agreed: bool = False
    date: str = ""
    letter: str = ""
    diagnoses: list[str] = field(default_factory=list)
    sections: list[Section] = field(default_factory=list)
    goals: list[dict[str, str]] = field(default_factory=list)
    comments: str = ""
    crisis: list[tuple[str, str]] = field(default_factory=list)
    crisis_review: str = ""


_WORDING: dict[int, tuple[ContentIndex, dict]] = {}


def patient_wording(index: ContentIndex, coding: Any) -> str:
    """The CodeSystem's patient wording of a coded answer; its display when it has none (never a bare code)."""
    if not isinstance(coding, Mapping):
        return str(coding or "")
    hit = _WORDING.get(id(index))
    if hit is None or hit[0] is not index:
        table: dict[tuple[Any, Any], str] = {}
        for cs in index.resources("CodeSystem"):
            stack = list(cs.get("concept", ()))
            while stack:
                concept = stack.pop()
                stack.extend(concept.get("concept", ()))
                for d in concept.get("designation", ()):
                    if (d.get("use") or {}).get("code") == PATIENT_WORDING and d.get("value"):
                        table[(cs.get("url"), concept.get("code"))] = d["value"]
        hit = _WORDING[id(index)] = (index, table)
    worded = hit[1].get((coding.get("system"), coding.get("code")))
    if worded:
        return worded
    known = index.concept(coding.get("system"), coding.get("code")) if coding.get("system") else None
    return str(coding.get("display") or (known or {}).get("display") or "")


def _text(values: list) -> str:
    return next((v.strip() for v in values if isinstance(v, str) and v.strip()), "")


def _final(responses: Iterable[Mapping], qids: tuple[str, ...]) -> list[Mapping]:
    return [r for r in responses if r.get("status") in FINAL and questionnaire_id(r) in qids]


def _agreed(response: Mapping) -> bool:
    link = "agreement.agreed" if questionnaire_id(response) == terminology.FORMULATION else "crisis-plan.agreed"
    return flatten(response.get("item")).get(link, [None])[0] is True


def _newest(responses: list[Mapping]) -> Mapping | None:
    return max(responses, key=lambda r: str(r.get("authored", "")), default=None)


def _crisis(copy: Copy, responses: list[Mapping]) -> None:
    having = [r for r in responses
              if any(_text(flatten(r.get("item")).get(f"crisis.{key}", [])) for key, _ in CRISIS_PARTS)]
    newest = _newest(having)
    if newest is None:
        return
    answers = flatten(newest.get("item"))
    copy.crisis = [(label, _text(answers.get(f"crisis.{key}", []))) for key, label in CRISIS_PARTS]
    copy.crisis_review = str((answers.get("crisis.review-date") or [""])[0] or "")


def _section(rule: SectionRule, answers: Mapping[str, list], index: ContentIndex) -> Section | None:
    section = Section(rule.heading)
    if rule.text and _text(answers.get(rule.text, [])):
        section.paragraphs.append(_text(answers[rule.text]))
    for lead, link in rule.coded:
        if link == "modes":
            codings = [{"system": terminology.CODE_SYSTEM, "code": code} for present, code in MODES
                       if (answers.get(present) or [None])[0] is True]
        else:
            codings = answers.get(link, [])
        worded = [w for w in (patient_wording(index, c) for c in codings) if w]
        if worded:
            section.lists.append((lead, worded))
    return section if section.paragraphs or section.lists else None


def build_copy(responses: Iterable[Mapping], index: ContentIndex, *, agreed_only: bool = False) -> Copy:
    """The copy from a patient's responses: the newest final formulation (only agreed ones when
    ``agreed_only``, as the patient's own pages show) and the newest crisis plan."""
    responses = list(responses)
    formulations = _final(responses, (terminology.FORMULATION,))
    plans = _final(responses, (terminology.FORMULATION, terminology.CRISIS_PLAN))
    if agreed_only:
        formulations = [r for r in formulations if _agreed(r)]
        plans = [r for r in plans if _agreed(r)]
    copy = Copy()
    _crisis(copy, plans)
    latest = _newest(formulations)
    if latest is None:
        return copy
    answers = flatten(latest.get("item"))
    copy.formulation = latest
    copy.agreed = _agreed(latest)
    copy.date = str((answers.get("agreement.date") or [""])[0] or str(latest.get("authored", ""))[:10])
    copy.letter = _text(answers.get("agreement.letter", []))
    if (answers.get("diagnosis.shared") or [None])[0] is True:
        copy.diagnoses = [w for link in DIAGNOSES for w in (patient_wording(index, c) for c in answers.get(link, []))
                          if w]
    copy.sections = [s for s in (_section(rule, answers, index) for rule in SECTIONS) if s]
    for goal in groups(latest.get("item"), "goal"):
        values = flatten(goal)
        text = _text(values.get("goal.text", []))
        if text:
            copy.goals.append({"domain": patient_wording(index, (values.get("goal.domain") or [None])[0]),
                               "text": text, "indicator": _text(values.get("goal.indicator", []))})
    copy.comments = _text(answers.get("agreement.patient-comments", []))
    return copy
