"""Questionnaire ⇄ HTML form: the field tree a template renders, and the
QuestionnaireResponse items rebuilt from what the browser posts.

Field names encode where an answer belongs: ``a:<linkId>`` at the top level,
``a:<group>[<n>]/<linkId>`` inside the n-th instance of a repeating group (and
so on, nested). Choice answers travel as ``system|code`` tokens. Nothing here
knows about HTTP or FHIR servers: it is pure data in, data out.

Limits are checked here before anything is sent, with the engine's rules: a
text answer is at most :data:`~fhir_mbt.engine.answers.MAX_TEXT_LENGTH`
characters (or the item's maxLength), and a date input carries the item's
minValue/maxValue as ``min``/``max``, computed ones (``today()``) evaluated
for the day :mod:`fhir_mbt.engine.clock` calls today.
"""

from __future__ import annotations

import datetime as dt
import json
import re
from dataclasses import dataclass, field
from typing import Any, Iterable, Mapping

from fhir_mbt.content import ContentIndex
from fhir_mbt.content import extensions as ext
from fhir_mbt.content import terminology
from fhir_mbt.engine.answers import MAX_TEXT_LENGTH
from fhir_mbt.engine.clock import latest_today
from fhir_mbt.engine.fhirpath import ExpressionError, compile_expression
from fhir_mbt.engine.outcome import issue_link_id

__all__ = [
    "Field",
    "FormError",
    "build_form",
    "parse_form",
    "overlay_post",
    "walk_fields",
    "answer_token",
    "response_answers",
    "field_errors",
]

#: A display item of this displayCategory gets the site's crisis line shown beside it.
CRISIS_LINE_NOTICE = (terminology.CODE_SYSTEM, "crisis-line-notice")

VALUE_KEYS = {
    "boolean": "valueBoolean",
    "decimal": "valueDecimal",
    "integer": "valueInteger",
    "date": "valueDate",
    "dateTime": "valueDateTime",
    "time": "valueTime",
    "string": "valueString",
    "text": "valueString",
    "url": "valueUri",
    "reference": "valueReference",
    "quantity": "valueQuantity",
}
# ASCII digits only: full-width or other Unicode digits are not accepted as numbers or dates.
_DATE = re.compile(r"^\d{4}-\d{2}-\d{2}$", re.ASCII)
_TIME = re.compile(r"^\d{2}:\d{2}(:\d{2})?$", re.ASCII)
_DATETIME_LOCAL = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}(:\d{2})?$", re.ASCII)
_NUMBER = re.compile(r"^[+-]?(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?$", re.ASCII)
#: NUL, other C0 controls but tab and newlines, and the Unicode bidirectional overrides and isolates.
_REFUSED_CHARS = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\x7f\u202a-\u202e\u2066-\u2069]")
_NAME_PART = re.compile(r"^(?P<link>[^\[\]/]+)\[(?P<n>\d{1,3})\]$")


class FormError(ValueError):
    """A posted value cannot be read as the answer type its question wants.

    ``errors`` maps field names to messages, to show beside each question.
    """

    def __init__(self, errors: Mapping[str, str], items: list[dict]):
        self.errors = dict(errors)
        self.items = items
        super().__init__("; ".join(f"{k}: {v}" for k, v in self.errors.items()))


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

    @property
    def value(self) -> str:
        return self.values[0] if self.values else ""


def _options(item: Mapping, index: ContentIndex) -> list[Option]:
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


def _text_limit(item: Mapping) -> int:
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
    )
    unit = ext.value_of(item, ext.UNIT)
    if isinstance(unit, Mapping):
        f.unit = unit.get("display") or unit.get("code", "")
    f.min, f.max = _bound(item, ext.MIN_VALUE, today), _bound(item, ext.MAX_VALUE, today)
    if kind in ("choice", "open-choice"):
        f.options = _options(item, index)
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


def build_form(questionnaire: Mapping, index: ContentIndex, response: Mapping | None = None, *,
               today: dt.date | None = None) -> list[Field]:
    """The field tree for a Questionnaire, filled from ``response`` if given.

    ``today`` is the day computed bounds are evaluated for (default: the
    engine's, see :mod:`fhir_mbt.engine.clock`).
    """
    today = today or latest_today()
    answers = response_answers((response or {}).get("item", ()))
    return [
        _field(item, "a:" + item["linkId"], index, answers.get(item["linkId"], []), today)
        for item in questionnaire.get("item", ())
    ]


# --- reading a post back -------------------------------------------------------


def _convert(item: Mapping, raw: str, options: dict[str, dict]) -> dict:
    """One posted string → one answer dict, or ValueError with a message for people."""
    kind = item.get("type")
    if _REFUSED_CHARS.search(raw):
        raise ValueError("this answer contains control characters (a NUL byte or a text-direction override) that "
                         "cannot be saved: retype it. Nothing was saved.")
    if kind in ("choice", "open-choice"):
        if raw in options:
            return dict(options[raw])
        raise ValueError("choose one of the listed answers")
    if kind == "boolean":
        if raw in ("yes", "true"):
            return {"valueBoolean": True}
        if raw in ("no", "false"):
            return {"valueBoolean": False}
        raise ValueError("answer yes or no")
    if kind == "integer":
        if not re.fullmatch(r"[+-]?\d{1,9}", raw, re.ASCII):
            raise ValueError("enter a whole number")
        return {"valueInteger": int(raw)}
    if kind == "decimal":
        if not _NUMBER.match(raw):
            raise ValueError("enter a number")
        try:
            number = float(raw)
        except ValueError:
            raise ValueError("enter a number") from None
        if number != number or number in (float("inf"), float("-inf")):
            raise ValueError("enter a number")
        return {"valueDecimal": number}
    if kind == "date":
        if not _DATE.match(raw):
            raise ValueError("enter a date as YYYY-MM-DD")
        return {"valueDate": raw}
    if kind == "dateTime":
        if _DATE.match(raw):
            return {"valueDateTime": raw}
        if not _DATETIME_LOCAL.match(raw):
            raise ValueError("enter a date and time")
        return {"valueDateTime": (raw if len(raw) > 16 else raw + ":00") + "Z"}
    if kind == "time":
        if not _TIME.match(raw):
            raise ValueError("enter a time as HH:MM")
        return {"valueTime": raw if len(raw) > 5 else raw + ":00"}
    if kind == "url":
        return {"valueUri": raw}
    if kind == "reference":
        return {"valueReference": {"reference": raw}}
    if kind == "quantity":
        if not _NUMBER.match(raw):
            raise ValueError("enter a number")
        try:
            return {"valueQuantity": {"value": float(raw)}}
        except ValueError:
            raise ValueError("enter a number") from None
    if kind in ("string", "text"):
        _check_length(item, raw)
        return {"valueString": raw}
    raise ValueError(f"answers of type {kind} cannot be entered here")


def _check_length(item: Mapping, raw: str) -> None:
    limit = _text_limit(item)
    if len(raw) > limit:
        label = str(item.get("text") or "This answer").strip().rstrip(" .:?")
        raise ValueError(f"{label} is longer than {limit:,} characters ({len(raw):,} typed): shorten it. "
                         "Nothing was saved; the text is still here.")


def _group_instances(form: Mapping[str, list[str]], name: str) -> list[int]:
    prefix = name + "["
    numbers = set()
    for key in form:
        if key.startswith(prefix):
            rest = key[len(prefix):]
            digits = rest.split("]", 1)[0]
            if digits.isdigit() and len(digits) <= 3:
                numbers.add(int(digits))
    return sorted(numbers)


def _parse_items(
    items: Iterable[Mapping],
    prefix: str,
    form: Mapping[str, list[str]],
    index: ContentIndex,
    errors: dict[str, str],
) -> list[dict]:
    out: list[dict] = []
    for item in items:
        link_id = item.get("linkId", "")
        name = prefix + link_id
        kind = item.get("type")
        if kind == "display":
            continue
        if kind == "group":
            numbers = _group_instances(form, name) if item.get("repeats") else [None]
            for n in numbers:
                child_prefix = f"{name}[{n}]/" if n is not None else f"{name}/"
                children = _parse_items(item.get("item", ()), child_prefix, form, index, errors)
                if children:
                    out.append({"linkId": link_id, **({"text": item["text"]} if item.get("text") else {}), "item": children})
            continue
        raw_values = [v.strip() for v in form.get(name, []) if v.strip()]
        options = {o.token: o.answer for o in _options(item, index)} if kind in ("choice", "open-choice") else {}
        answers = []
        for raw in raw_values:
            try:
                answers.append(_convert(item, raw, options))
            except ValueError as exc:
                errors[name] = str(exc)
        if kind == "open-choice":
            other = " ".join(v.strip() for v in form.get(name + ".other", []) if v.strip())
            if other:
                try:
                    _check_length(item, other)
                    answers.append({"valueString": other})
                except ValueError as exc:
                    errors[name] = str(exc)
        if answers and not item.get("repeats") and len(answers) > 1:
            errors[name] = "only one answer is allowed here"
        if answers:
            entry = {"linkId": link_id}
            if item.get("text"):
                entry["text"] = item["text"]
            entry["answer"] = answers
            out.append(entry)
    return out


def parse_form(questionnaire: Mapping, form: Mapping[str, list[str]], index: ContentIndex) -> list[dict]:
    """The response items from a posted form (``form``: name → list of values).

    Raises :class:`FormError` carrying the per-field messages *and* the items
    that could be read, so the page can be shown again with every answer kept.
    """
    errors: dict[str, str] = {}
    items = _parse_items(questionnaire.get("item", ()), "a:", form, index, errors)
    if errors:
        raise FormError(errors, items)
    return items


def overlay_post(fields: list[Field], form: Mapping[str, list[str]], errors: Mapping[str, str] = {}) -> list[Field]:
    """Put the raw posted values (and any error) back on the fields, so a page
    shown again after a problem keeps exactly what the person typed."""
    for f in fields:
        if f.type == "group":
            f.error = errors.get(f.name, f.error)
            for instance in f.instances:
                overlay_post(instance, form, errors)
            continue
        if f.name in form:
            f.values = [v for v in form[f.name] if v.strip()]
        if f.name + ".other" in form:
            f.other_text = " ".join(form[f.name + ".other"]).strip()
        f.error = errors.get(f.name, f.error)
    return fields


def walk_fields(fields: Iterable[Field]):
    for f in fields:
        yield f
        for instance in f.instances:
            yield from walk_fields(instance)


def field_errors(outcome: Mapping, fields: list[Field], posted: Mapping[str, list[str]]) -> tuple[dict[str, str], list[str]]:
    """The error issues of an OperationOutcome put beside their questions (by linkId).

    Returns (field name → message, messages that belong to no question).
    """
    by_link: dict[str, list[str]] = {}
    groups = set()
    for f in walk_fields(fields):
        by_link.setdefault(f.link_id, []).append(f.name)
        if f.type == "group":
            groups.add(f.link_id)
    errors: dict[str, str] = {}
    general: list[str] = []
    for issue in outcome.get("issue", []):
        if issue.get("severity") not in ("error", "fatal"):
            continue
        message = issue.get("diagnostics", "invalid answer")
        candidates = by_link.get(issue_link_id(issue) or "", [])
        if candidates and issue.get("code") == "required":
            message = "This section needs answers." if issue_link_id(issue) in groups else "This question needs an answer."
        if candidates:
            target = next((n for n in candidates if n in posted), candidates[0])
            errors.setdefault(target, message)
        else:
            general.append(message)
    return errors, general
