"""Questionnaire → HTML form: the field tree a template renders.

Field names encode where an answer belongs: ``a:<linkId>`` at the top level,
``a:<group>[<n>]/<linkId>`` inside the n-th instance of a repeating group (and
so on, nested). Choice answers travel as ``system|code`` tokens. Nothing here
knows about HTTP or FHIR servers: it is pure data in, data out. Reading a
post back into answers is :mod:`smart_app.form_post`; the messages a form
shows are :mod:`smart_app.form_messages`; sections and answer grids are
:mod:`smart_app.form_layout`.

A date input carries the item's minValue/maxValue as ``min``/``max``,
computed ones (``today()``) evaluated for the day :mod:`fhir_mbt.engine.clock`
calls today.
"""

from __future__ import annotations

import datetime as dt
import json
from dataclasses import dataclass, field
from typing import Any, Iterable, Mapping

from fhir_mbt.content import ContentIndex
from fhir_mbt.content import extensions as ext
from fhir_mbt.content import terminology
from fhir_mbt.engine.answers import MAX_TEXT_LENGTH
from fhir_mbt.engine.clock import latest_today
from fhir_mbt.engine.fhirpath import ExpressionError, compile_expression
from fhir_mbt.engine.outcome import question_label
from fhir_mbt.engine.score_program import score_programs

__all__ = [
    "Field",
    "Option",
    "build_form",
    "walk_fields",
    "answer_token",
    "options_of",
    "text_limit",
    "response_answers",
]

#: A display item of this displayCategory gets the site's crisis line shown beside it.
CRISIS_LINE_NOTICE = (terminology.CODE_SYSTEM, "crisis-line-notice")


def answer_token(value: Mapping) -> str:
    """The form token of a choice answer (Coding → ``system|code``)."""
    if isinstance(value.get("valueCoding"), Mapping):
        coding = value["valueCoding"]
        return f"{coding.get('system', '')}|{coding.get('code', '')}"
    for key in ("valueString", "valueInteger", "valueDate", "valueTime"):
        if key in value:
            return f"{key}:{value[key]}"
    return json.dumps(value, sort_keys=True, default=str)


@dataclass
class Option:
    token: str
    label: str
    answer: dict


@dataclass
class Field:
    """One question, display text or group, ready for a template."""

    link_id: str
    name: str
    type: str
    text: str
    control: str
    required: bool = False
    repeats: bool = False
    read_only: bool = False
    calculated: bool = False
    hidden: bool = False
    crisis_line: bool = False
    options: list[Option] = field(default_factory=list)
    values: list[str] = field(default_factory=list)
    other_text: str = ""
    unit: str = ""
    min: Any = None
    max: Any = None
    max_length: int | None = None
    placeholder: str = ""
    enable_when: str = ""
    enable_behavior: str = "all"
    children: list["Field"] = field(default_factory=list)
    instances: list[list["Field"]] = field(default_factory=list)
    error: str = ""
    #: How messages name the question (its text, or its code's display when the text is long).
    label: str = ""
    #: A calculated item's rule as JSON for the in-browser preview ("" when it has none).
    preview: str = ""

    @property
    def value(self) -> str:
        return self.values[0] if self.values else ""

    @property
    def scores_only(self) -> bool:
        """A calculated item, or a group of nothing else: what a clinician's form shows even when hidden
        (``questionnaire-hidden`` keeps scores from the patient, not from the clinician)."""
        if self.type == "group":
            return bool(self.children) and all(c.scores_only for c in self.children)
        return self.calculated


def options_of(item: Mapping, index: ContentIndex) -> list[Option]:
    if item.get("answerValueSet"):
        return [
            Option(
                f"{c['system']}|{c['code']}",
                c.get("display") or c["code"],
                {"valueCoding": {k: c[k] for k in ("system", "code", "display") if c.get(k)}},
            )
            for c in index.expand(item["answerValueSet"].split("|", 1)[0])
        ]
    out = []
    for option in item.get("answerOption", ()):
        value = {k: v for k, v in option.items() if k.startswith("value")}
        if "valueCoding" in value:
            label = value["valueCoding"].get("display") or value["valueCoding"].get("code", "")
        else:
            label = str(next(iter(value.values()), ""))
        out.append(Option(answer_token(value), label, value))
    return out


def _control(item: Mapping) -> str:
    concept = ext.value_of(item, ext.ITEM_CONTROL)
    code = ""
    if isinstance(concept, Mapping):
        codings = concept.get("coding", [])
        code = codings[0].get("code", "") if codings else ""
    kind = item.get("type")
    if kind in ("choice", "open-choice"):
        if code in ("drop-down", "autocomplete"):
            return "select"
        return "checkbox" if item.get("repeats") or code == "check-box" else "radio"
    if kind in ("integer", "decimal") and code == "slider":
        return "slider"
    return {
        "boolean": "boolean",
        "text": "textarea",
        "display": "display",
        "group": "group",
    }.get(kind, "input")


def _enable_when(item: Mapping) -> str:
    rules = []
    for cond in item.get("enableWhen", ()):
        answer = {k: v for k, v in cond.items() if k.startswith("answer")}
        rule = {"q": cond.get("question"), "op": cond.get("operator")}
        for key, value in answer.items():
            rule["type"] = key
            rule["value"] = answer_token({"valueCoding": value}) if key == "answerCoding" else value
        rules.append(rule)
    return json.dumps(rules, separators=(",", ":")) if rules else ""


def response_answers(items: Iterable[Mapping]) -> dict[str, list]:
    """linkId → answers, for the top level of a response item list."""
    out: dict[str, list] = {}
    for item in items or ():
        out.setdefault(item.get("linkId"), []).append(item)
    return out


def _bound(item: Mapping, url: str, today: dt.date) -> Any:
    """A minValue/maxValue for the input: computed (``today()``) when the item says so, else static."""
    calculated = ext.calculated_value(item, url)
    if calculated:
        try:
            found = compile_expression(calculated[1]).evaluate({"resourceType": "QuestionnaireResponse"},
                                                              today=today)
        except ExpressionError:
            found = []
        if len(found) == 1 and isinstance(found[0], (str, int, float)):
            return found[0]
    return ext.value_of(item, url)


def text_limit(item: Mapping) -> int:
    own = item.get("maxLength")
    return own if isinstance(own, int) and not isinstance(own, bool) and 0 < own < MAX_TEXT_LENGTH else MAX_TEXT_LENGTH


def _field(item: Mapping, name: str, index: ContentIndex, existing: list[Mapping], today: dt.date) -> Field:
    kind = item.get("type", "string")
    f = Field(
        link_id=item.get("linkId", ""),
        name=name,
        type=kind,
        text=item.get("text", ""),
        control=_control(item),
        required=bool(item.get("required")),
        repeats=bool(item.get("repeats")),
        read_only=bool(item.get("readOnly")),
        calculated=ext.has(item, ext.CALCULATED_EXPRESSION),
        hidden=ext.value_of(item, ext.HIDDEN) is True,
        crisis_line=any((c.get("system"), c.get("code")) == CRISIS_LINE_NOTICE
                        for c in (ext.value_of(item, ext.DISPLAY_CATEGORY) or {}).get("coding", ())),
        enable_when=_enable_when(item),
        enable_behavior=item.get("enableBehavior", "all"),
        max_length=item.get("maxLength"),
        placeholder=ext.value_of(item, ext.ENTRY_FORMAT) or "",
        label=question_label(item.get("text"), "This answer", item.get("code", ())),
    )
    unit = ext.value_of(item, ext.UNIT)
    if isinstance(unit, Mapping):
        f.unit = unit.get("display") or unit.get("code", "")
    f.min, f.max = _bound(item, ext.MIN_VALUE, today), _bound(item, ext.MAX_VALUE, today)
    if kind in ("choice", "open-choice"):
        f.options = options_of(item, index)
    if kind == "group":
        instances = existing or [{}]
        count = len(instances) if f.repeats else 1
        for n in range(count):
            prefix = f"{name}[{n}]/" if f.repeats else f"{name}/"
            answers = response_answers(instances[n].get("item", ()))
            f.instances.append(
                [_field(child, prefix + child["linkId"], index, answers.get(child["linkId"], []), today)
                 for child in item.get("item", ())]
            )
        f.children = f.instances[0] if f.instances else []
        return f
    known = {o.token for o in f.options}
    for answered in existing[:1]:
        for answer in answered.get("answer", ()):
            f.values.append(_answer_text(kind, answer))
            if kind == "open-choice" and "valueString" in answer:
                f.other_text = answer["valueString"]
                f.values.pop()
            elif f.options and f.values[-1] not in known and "valueCoding" not in answer:
                f.values[-1] = answer_token(answer)
    return f


def _answer_text(kind: str, answer: Mapping) -> str:
    if "valueCoding" in answer:
        return answer_token(answer)
    if "valueBoolean" in answer:
        return "yes" if answer["valueBoolean"] else "no"
    if "valueQuantity" in answer:
        return str(answer["valueQuantity"].get("value", ""))
    if "valueReference" in answer:
        return answer["valueReference"].get("reference", "")
    if "valueDateTime" in answer:
        return str(answer["valueDateTime"])[:16]
    for key, value in answer.items():
        if key.startswith("value"):
            return str(value)
    return ""


_PREVIEWS: dict[tuple, dict[str, str]] = {}


def _previews(questionnaire: Mapping) -> dict[str, str]:
    """linkId → the JSON preview program of each calculated item that has one (computed once per version)."""
    key = (questionnaire.get("url"), questionnaire.get("version"), id(questionnaire))
    found = _PREVIEWS.get(key)
    if found is None:
        if len(_PREVIEWS) > 64:
            _PREVIEWS.clear()
        found = _PREVIEWS[key] = {link_id: json.dumps(program, separators=(",", ":"))
                                  for link_id, program in score_programs(dict(questionnaire)).items()}
    return found


def _add_previews(fields: list[Field], previews: dict[str, str]) -> None:
    for f in walk_fields(fields):
        if f.calculated:
            f.preview = previews.get(f.link_id, "")


def build_form(questionnaire: Mapping, index: ContentIndex, response: Mapping | None = None, *,
               today: dt.date | None = None) -> list[Field]:
    """The field tree for a Questionnaire, filled from ``response`` if given.

    ``today`` is the day computed bounds are evaluated for (default: the
    engine's, see :mod:`fhir_mbt.engine.clock`).
    """
    today = today or latest_today()
    answers = response_answers((response or {}).get("item", ()))
    fields = [
        _field(item, "a:" + item["linkId"], index, answers.get(item["linkId"], []), today)
        for item in questionnaire.get("item", ())
    ]
    _add_previews(fields, _previews(questionnaire))
    return fields

def walk_fields(fields: Iterable[Field]):
    for f in fields:
        yield f
        for instance in f.instances:
            yield from walk_fields(instance)

