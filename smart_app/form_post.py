"""Posted form → QuestionnaireResponse items, and a post put back on the form.

The other half of :mod:`smart_app.questionnaire_form`: field names say where
an answer belongs (``a:<linkId>``, ``a:<group>[<n>]/<linkId>``), choice answers
travel as ``system|code`` tokens. Every message names the question by its
text, as the person filling in reads it, never by its linkId.

Limits are checked here before anything is sent, with the engine's rules: a
text answer is at most :data:`~fhir_mbt.engine.answers.MAX_TEXT_LENGTH`
characters (or the item's maxLength).
"""

from __future__ import annotations

import re
from typing import Iterable, Mapping

from fhir_mbt.content import ContentIndex
from fhir_mbt.engine.outcome import question_label
from smart_app.questionnaire_form import Field, options_of, text_limit

__all__ = ["FormError", "parse_form", "overlay_post"]

# ASCII digits only: full-width or other Unicode digits are not accepted as numbers or dates.
_DATE = re.compile(r"^\d{4}-\d{2}-\d{2}$", re.ASCII)
_TIME = re.compile(r"^\d{2}:\d{2}(:\d{2})?$", re.ASCII)
_DATETIME_LOCAL = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}(:\d{2})?$", re.ASCII)
_NUMBER = re.compile(r"^[+-]?(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?$", re.ASCII)
_INTEGER = re.compile(r"[+-]?\d{1,9}", re.ASCII)
#: NUL, other C0 controls but tab and newlines, and the Unicode bidirectional overrides and isolates.
_REFUSED_CHARS = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\x7f\u202a-\u202e\u2066-\u2069]")


class FormError(ValueError):
    """A posted value cannot be read as the answer type its question wants.

    ``errors`` maps field names to messages, to show beside each question.
    """

    def __init__(self, errors: Mapping[str, str], items: list[dict]):
        self.errors = dict(errors)
        self.items = items
        super().__init__("; ".join(f"{k}: {v}" for k, v in self.errors.items()))


def _label(item: Mapping) -> str:
    return question_label(item.get("text"), "This answer", item.get("code", ()))


def _number(raw: str, label: str) -> float:
    if not _NUMBER.match(raw):
        raise ValueError(f"{label} must be a number")
    try:
        number = float(raw)
    except ValueError:
        raise ValueError(f"{label} must be a number") from None
    if number != number or number in (float("inf"), float("-inf")):
        raise ValueError(f"{label} must be a number")
    return number


def _convert(item: Mapping, raw: str, options: dict[str, dict]) -> dict:
    """One posted string → one answer dict, or ValueError with a message for people."""
    kind = item.get("type")
    label = _label(item)
    if _REFUSED_CHARS.search(raw):
        raise ValueError(f"{label}: the answer contains control characters (a NUL byte or a text-direction "
                         "override) that cannot be saved: retype it. Nothing was saved.")
    if kind in ("choice", "open-choice"):
        if raw in options:
            return dict(options[raw])
        raise ValueError(f"{label}: choose one of the listed answers")
    if kind == "boolean":
        if raw in ("yes", "true"):
            return {"valueBoolean": True}
        if raw in ("no", "false"):
            return {"valueBoolean": False}
        raise ValueError(f"{label}: answer yes or no")
    if kind == "integer":
        if not _INTEGER.fullmatch(raw):
            raise ValueError(f"{label} must be a whole number")
        return {"valueInteger": int(raw)}
    if kind == "decimal":
        return {"valueDecimal": _number(raw, label)}
    if kind == "date":
        if not _DATE.match(raw):
            raise ValueError(f"{label} must be a date (YYYY-MM-DD)")
        return {"valueDate": raw}
    if kind == "dateTime":
        if _DATE.match(raw):
            return {"valueDateTime": raw}
        if not _DATETIME_LOCAL.match(raw):
            raise ValueError(f"{label} must be a date and time")
        return {"valueDateTime": (raw if len(raw) > 16 else raw + ":00") + "Z"}
    if kind == "time":
        if not _TIME.match(raw):
            raise ValueError(f"{label} must be a time (HH:MM)")
        return {"valueTime": raw if len(raw) > 5 else raw + ":00"}
    if kind == "url":
        return {"valueUri": raw}
    if kind == "reference":
        return {"valueReference": {"reference": raw}}
    if kind == "quantity":
        return {"valueQuantity": {"value": _number(raw, label)}}
    if kind in ("string", "text"):
        _check_length(item, raw)
        return {"valueString": raw}
    raise ValueError(f"{label}: answers of this kind cannot be entered here")


def _check_length(item: Mapping, raw: str) -> None:
    limit = text_limit(item)
    if len(raw) > limit:
        raise ValueError(f"{_label(item)} is longer than {limit:,} characters ({len(raw):,} typed): shorten it. "
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
                    out.append({"linkId": link_id, **({"text": item["text"]} if item.get("text") else {}),
                                "item": children})
            continue
        raw_values = [v.strip() for v in form.get(name, []) if v.strip()]
        options = {o.token: o.answer for o in options_of(item, index)} if kind in ("choice", "open-choice") else {}
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
            errors[name] = f"{_label(item)} takes only one answer"
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
