"""A saved record as its reader wants it: a summary, not the input form with controls disabled.

:func:`summarize` turns a QuestionnaireResponse and the Questionnaire it answers
into a :class:`Summary`: only the items that are enabled (the engine's own
enableWhen rules, :class:`~fhir_mbt.engine.view.ResponseView`, so the page and
the server agree on what counts) and answered, in the Questionnaire's wording
and order; groups become headings only when something in them is shown;
coded answers read as the Questionnaire's display text, numbers carry their
units. Calculated scores are listed apart, each with its range and, from the
content, what the value means (the CodeSystem definition of the score's code,
and a band when its ObservationDefinition defines one that holds the value).
Answers to questions this version of the Questionnaire does not have are
listed at the end rather than dropped.

:func:`render` gives the HTML of the summary (the ``_summary.html`` partial),
for any version of a record: the record page and the amendment history both
call it.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any, Mapping

from markupsafe import Markup

from fhir_mbt.content import ContentIndex, shipped
from fhir_mbt.content import extensions as ext
from fhir_mbt.content import terminology
from fhir_mbt.engine.compiled import CompiledQuestionnaire, ItemDef, compile_questionnaire
from fhir_mbt.engine.view import ResponseView, answer_value
from fhir_mbt.errors import ContentNotFound
from smart_app.patient_record import entered_by

__all__ = ["Answer", "Entry", "Score", "Summary", "STATUS_WORDS", "summarize", "render", "person_name",
           "questionnaire_of"]

#: A record's status as a reader says it.
STATUS_WORDS = {
    "completed": "Completed",
    "amended": "Amended (corrected after it was completed)",
    "in-progress": "In progress (a draft, not yet completed)",
    "entered-in-error": "Entered in error",
    "stopped": "Stopped before it was completed",
}
_SCORE_UNIT = "{score}"


@dataclass
class Answer:
    """One answer as shown: ``text``; for a date or time (``kind`` "date" or "datetime") ``value`` is
    the FHIR value, which the template shows in the service's time zone; for another record of the
    patient's (``kind`` "record") ``value`` is its id, which the template links to."""

    text: str
    kind: str = "text"
    value: Any = None
    #: The band the content gives this value (e.g. "High" for a peak arousal of 7), if any.
    band: str = ""


@dataclass
class Entry:
    """An answered question (``answers``) or a group (``group`` true, a heading over ``children``)."""

    link_id: str
    text: str
    answers: list[Answer] = field(default_factory=list)
    children: list["Entry"] = field(default_factory=list)
    group: bool = False


@dataclass
class Score:
    link_id: str
    name: str
    value: str
    #: The values the score can take, e.g. "0 to 3", from its ObservationDefinition.
    range: str = ""
    band: str = ""
    #: What the score measures and what high and low values mean (the CodeSystem's definition).
    meaning: str = ""


@dataclass
class Summary:
    questionnaire_id: str
    title: str
    response_id: str
    version_id: str
    status: str
    status_words: str
    authored: str
    author: str
    entered_by: str
    entries: list[Entry] = field(default_factory=list)
    scores: list[Score] = field(default_factory=list)
    #: Answers to questions the Questionnaire does not have (another version's), shown as they were saved.
    other: list[Entry] = field(default_factory=list)

    @property
    def empty(self) -> bool:
        return not (self.entries or self.scores or self.other)


# --- people ----------------------------------------------------------------------------


def person_name(resource: Any) -> str:
    """A Practitioner's, Patient's or other person's name as written (text, else given and family)."""
    if not isinstance(resource, Mapping):
        return ""
    for name in resource.get("name") or []:
        if not isinstance(name, Mapping):
            continue
        if isinstance(name.get("text"), str) and name["text"].strip():
            return name["text"].strip()
        parts = [p for p in (name.get("prefix") or []) + (name.get("given") or []) if isinstance(p, str)]
        if isinstance(name.get("family"), str):
            parts.append(name["family"])
        if " ".join(parts).strip():
            return " ".join(parts).strip()
    return ""


def _reference_key(reference: Any) -> str:
    """``Type/id`` of a reference (relative or absolute, version dropped); "" for anything else."""
    if not isinstance(reference, Mapping) or not isinstance(reference.get("reference"), str):
        return ""
    parts = reference["reference"].split("/_history/")[0].rstrip("/").split("/")
    return "/".join(parts[-2:]) if len(parts) >= 2 else ""


def _author(response: Mapping, resources: Mapping[str, Mapping], patient_name: str) -> str:
    author = response.get("author")
    if isinstance(author, Mapping) and isinstance(author.get("display"), str) and author["display"].strip():
        return author["display"].strip()
    key = _reference_key(author)
    if not key:
        return ""
    named = person_name(resources.get(key))
    if named:
        return named
    if patient_name and key == _reference_key(response.get("subject")):
        return patient_name
    return key


# --- values ----------------------------------------------------------------------------


def _number(value: Any) -> str:
    if isinstance(value, float):
        if math.isfinite(value) and value == int(value) and abs(value) < 1e15:
            return str(int(value))
        return f"{value:.2f}".rstrip("0").rstrip(".") if math.isfinite(value) else str(value)
    return str(value)


def _with_unit(number: str, unit: Mapping | None, value: Any) -> str:
    if not isinstance(unit, Mapping) or unit.get("code") == _SCORE_UNIT:
        return number
    code, display = unit.get("code"), unit.get("display") or unit.get("unit") or unit.get("code") or ""
    if code == "%":
        return f"{number}%"
    if code == "mo":
        return f"{number} {'month' if value == 1 else 'months'}"
    return f"{number} {display}".strip()


def _coding_text(coding: Mapping, defn: ItemDef | None, index: ContentIndex) -> str:
    key = (coding.get("system"), coding.get("code"))
    for source in ((defn.option_codings if defn else {}), (defn.allowed or {}) if defn else {}):
        found = source.get(key)
        if found and found.get("display"):
            return str(found["display"])
    if coding.get("display"):
        return str(coding["display"])
    known = index.concept(coding["system"], coding["code"]) if coding.get("system") and coding.get("code") else None
    if known and known.get("display"):
        return str(known["display"])
    return str(coding.get("code") or "(a coded answer without a code)")


def _answer(answer: Mapping, defn: ItemDef | None, index: ContentIndex) -> Answer | None:
    key, value = answer_value(dict(answer))
    if key is None:
        return None
    if key == "valueCoding" and isinstance(value, Mapping):
        return Answer(_coding_text(value, defn, index), "coded")
    if key == "valueBoolean":
        return Answer("Yes" if value is True else "No")
    if key in ("valueInteger", "valueDecimal"):
        return Answer(_with_unit(_number(value), defn.unit if defn else None, value), "number")
    if key == "valueQuantity" and isinstance(value, Mapping):
        return Answer(_with_unit(_number(value.get("value")), value, value.get("value")), "number")
    if key == "valueDate":
        return Answer(str(value), "date", value)
    if key == "valueDateTime":
        return Answer(str(value), "datetime", value)
    if key == "valueReference" and isinstance(value, Mapping):
        target = _reference_key(value)
        if target.startswith("QuestionnaireResponse/"):
            # Another record of the patient's (the version a revision replaces): a link to it.
            return Answer(str(value.get("display") or "the earlier record"), "record", target.split("/", 1)[1])
        return Answer(str(value.get("display") or value.get("reference") or "(a reference)"))
    if key == "valueAttachment" and isinstance(value, Mapping):
        return Answer(str(value.get("title") or value.get("url") or "(an attachment)"))
    if key == "valueString":
        return Answer(str(value), "long" if "\n" in str(value) or len(str(value)) > 80 else "text")
    return Answer(str(value))


# --- what the content says a score means -----------------------------------------------------


def _range_text(interval: Mapping) -> str:
    rng = interval.get("range") or {}
    low, high = (rng.get("low") or {}).get("value"), (rng.get("high") or {}).get("value")
    if low is not None and high is not None:
        return f"{_number(low)} to {_number(high)}"
    if low is not None:
        return f"{_number(low)} or more"
    if high is not None:
        return f"up to {_number(high)}"
    return ""


def _within(interval: Mapping, value: float) -> bool:
    rng = interval.get("range") or {}
    low, high = (rng.get("low") or {}).get("value"), (rng.get("high") or {}).get("value")
    return (low is None or value >= low) and (high is None or value <= high) and (low, high) != (None, None)


def _interval_label(interval: Mapping) -> str:
    context = interval.get("context") or {}
    label = context.get("text") or next((c.get("display") for c in context.get("coding") or [] if c.get("display")),
                                        "")
    return str(label or interval.get("condition") or "")


def _reading(defn: ItemDef, value: Any, index: ContentIndex) -> tuple[str, str, str]:
    """(range, band, meaning) of a value of ``defn``, from its ObservationDefinition and code."""
    od_id = ext.observation_definition(defn.item)
    definition = None
    if od_id:
        try:
            definition = index.by_id("ObservationDefinition", od_id)
        except ContentNotFound:  # content without that definition: the value is shown without a reading
            definition = None
    intervals = [i for i in (definition or {}).get("qualifiedInterval", ()) if isinstance(i, Mapping)]
    absolute = next((i for i in intervals if i.get("category") == "absolute"), None)
    number = value if isinstance(value, (int, float)) and not isinstance(value, bool) else None
    band = ""
    if number is not None:
        band = next((_interval_label(i) for i in intervals
                     if i.get("category") != "absolute" and _within(i, number) and _interval_label(i)), "")
    codings = list(((definition or {}).get("code") or {}).get("coding", ())) + list(defn.codes)
    meaning = ""
    for coding in codings:
        concept = index.concept(coding.get("system"), coding.get("code")) if coding.get("system") else None
        if concept and concept.get("definition"):
            meaning = str(concept["definition"])
            break
    return (_range_text(absolute) if absolute else ""), band, meaning


# --- the walk ----------------------------------------------------------------------------


class _Walk:
    def __init__(self, compiled: CompiledQuestionnaire, view: ResponseView, index: ContentIndex):
        self.compiled, self.view, self.index = compiled, view, index
        self.scores: list[Score] = []

    def items(self, defs: tuple[ItemDef, ...], nodes: Any) -> tuple[list[Entry], list[Entry]]:
        """(entries in the Questionnaire's order, entries for nodes it does not define)."""
        nodes = [n for n in nodes if isinstance(n, Mapping)] if isinstance(nodes, list) else []
        by_link: dict[str, list[Mapping]] = {}
        for node in nodes:
            by_link.setdefault(str(node.get("linkId")), []).append(node)
        out: list[Entry] = []
        for defn in defs:
            found = by_link.pop(defn.link_id, [])
            repeated = defn.type == "group" and len(found) > 1
            for n, node in enumerate(found, 1):
                entry = self.item(defn, node, f" {n}" if repeated else "")
                if entry is not None:
                    out.append(entry)
        other = [e for node in (n for ns in by_link.values() for n in ns) for e in [_unknown(node, self.index)] if e]
        return out, other

    def item(self, defn: ItemDef, node: Mapping, suffix: str) -> Entry | None:
        if defn.type == "display" or not self.view.is_enabled(defn, node):
            return None
        text = str(defn.text or defn.link_id) + suffix
        if defn.type == "group":
            children, other = self.items(defn.children, node.get("item"))
            children += other
            return Entry(defn.link_id, text, children=children, group=True) if children else None
        answers, nested = [], []
        for raw in node.get("answer") or []:
            if not isinstance(raw, Mapping):
                continue
            shown = _answer(raw, defn, self.index)
            if shown is not None:
                answers.append((shown, answer_value(dict(raw))[1]))
            if raw.get("item"):
                inner, other = self.items(defn.children, raw.get("item"))
                nested += inner + other
        if defn.calculated is not None:
            for shown, value in answers:
                rng, band, meaning = _reading(defn, value, self.index)
                self.scores.append(Score(defn.link_id, str(defn.text or defn.link_id), shown.text, rng, band, meaning))
            return Entry(defn.link_id, text, children=nested, group=True) if nested else None
        for shown, value in answers:
            if shown.kind == "number" and ext.observation_definition(defn.item):
                shown.band = _reading(defn, value, self.index)[1]
        if not answers and not nested:
            return None
        return Entry(defn.link_id, text, answers=[a for a, _ in answers], children=nested)


def _unknown(node: Mapping, index: ContentIndex) -> Entry | None:
    """An item this version of the Questionnaire does not define, with the text it was saved with."""
    answers = [a for a in (_answer(raw, None, index) for raw in node.get("answer") or [] if isinstance(raw, Mapping))
               if a is not None]
    children = [e for e in (_unknown(c, index) for c in node.get("item") or [] if isinstance(c, Mapping)) if e]
    if not answers and not children:
        return None
    return Entry(str(node.get("linkId")), str(node.get("text") or node.get("linkId")), answers=answers,
                 children=children, group=not answers)


def summarize(questionnaire: Mapping, response: Mapping, *, index: ContentIndex | None = None,
              resources: Mapping[str, Mapping] | None = None, patient_name: str = "") -> Summary:
    """The summary of ``response`` read through ``questionnaire`` (any version the caller holds).

    ``resources`` maps ``Type/id`` to resources read with the response (its
    author, from ``_include``), so the author is named without another
    request; ``patient_name`` names a patient who wrote their own record.
    """
    index = index or shipped()
    compiled = compile_questionnaire(questionnaire, index)  # type: ignore[arg-type]
    view = ResponseView(response, compiled)  # type: ignore[arg-type]
    walk = _Walk(compiled, view, index)
    entries, other = walk.items(compiled.items, response.get("item"))
    status = str(response.get("status") or "")
    qid = str(questionnaire.get("id") or "")
    return Summary(
        questionnaire_id=qid,
        title=str(questionnaire.get("title") or qid),
        response_id=str(response.get("id") or ""),
        version_id=str((response.get("meta") or {}).get("versionId") or ""),
        status=status,
        status_words=STATUS_WORDS.get(status, status or "No status recorded"),
        authored=str(response.get("authored") or ""),
        author=_author(response, resources or {}, patient_name),
        entered_by=entered_by(response),
        entries=entries,
        scores=walk.scores,
        other=other,
    )


def render(summary: Summary) -> Markup:
    """The summary's HTML (``_summary.html``), for a page to place where it likes."""
    from flask import render_template

    return Markup(render_template("_summary.html", summary=summary))


def questionnaire_of(response: Mapping, index: ContentIndex | None = None) -> dict | None:
    """The shipped Questionnaire a response names, in its version when shipped, else the current one."""
    index = index or shipped()
    canonical = response.get("questionnaire")
    if not isinstance(canonical, str) or not canonical.startswith(f"{terminology.CANONICAL}/Questionnaire/"):
        return None
    url, _, version = canonical.partition("|")
    return index.find(url, version or None) or index.find(url)
