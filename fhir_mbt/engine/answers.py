"""Is one answer right for its question? Type, format, options and bounds.

The structure walk (:mod:`fhir_mbt.engine.structure`) finds each answer and
its item definition, then asks here. Two levels: :func:`fast_checks` gives
per item a cheap test that accepts only answers certainly valid, and
:func:`check_answer` is the full check that says what is wrong (the walk
runs it only when the fast test says no, so the issues never change).

Bounds may be computed when answering (SDC ``cqf-calculatedValue`` on
minValue/maxValue, e.g. ``today()``): :func:`calculated_bounds` evaluates
them for the day :mod:`fhir_mbt.engine.clock` calls today, once a day when
they depend on nothing else, else once per response. Text answers are capped at :data:`MAX_TEXT_LENGTH` characters, or
the item's ``maxLength`` when lower. Messages about dates and lengths name
the question by its text, since that is what the person filling in sees.
"""

from __future__ import annotations

import datetime as _dt
import math
import re
from typing import Any, Callable

from fhir_mbt.engine.compiled import ItemDef
from fhir_mbt.engine.outcome import question_label

__all__ = [
    "MAX_TEXT_LENGTH", "Bound", "ErrorSink", "calculated_bounds", "check_answer", "fast_checks", "format_error",
    "text_limit",
]

#: The longest text answer (characters) any item takes, unless its ``maxLength`` is lower.
#: Twenty thousand characters is some ten pages: far beyond any note or formulation
#: section, well below what makes a record unreadable or a request too large.
MAX_TEXT_LENGTH = 20_000

#: ``(value[x] key, value)`` of a minValue or maxValue.
Bound = tuple[str, Any]

#: ``error(code, where, message, link_id, severity="error", human=None)``: how a check reports an issue
#: (``human``: the message in the form's words, see :mod:`fhir_mbt.engine.outcome`).
ErrorSink = Callable[..., None]

_DATE = re.compile(
    r"([0-9]([0-9]([0-9][1-9]|[1-9]0)|[1-9]00)|[1-9]000)(-(0[1-9]|1[0-2])(-(0[1-9]|[1-2][0-9]|3[0-1]))?)?"
)
_DATETIME = re.compile(
    r"([0-9]([0-9]([0-9][1-9]|[1-9]0)|[1-9]00)|[1-9]000)(-(0[1-9]|1[0-2])(-(0[1-9]|[1-2][0-9]|3[0-1])"
    r"(T([01][0-9]|2[0-3]):[0-5][0-9]:([0-5][0-9]|60)(\.[0-9]+)?(Z|(\+|-)((0[0-9]|1[0-3]):[0-5][0-9]|14:00)))?)?)?"
)
_TIME = re.compile(r"([01][0-9]|2[0-3]):[0-5][0-9]:([0-5][0-9]|60)(\.[0-9]+)?")
_URI = re.compile(r"\S+")
_DATE_KEYS = ("valueDate", "valueDateTime")
_INT32 = (-(2**31), 2**31 - 1)


def _full_date(text: str) -> bool:
    if len(text) < 10:
        return True
    try:
        _dt.date.fromisoformat(text[:10])
    except ValueError:
        return False
    return True


def format_error(key: str, value: Any) -> str | None:
    """Why ``value`` is not a well-formed ``key`` (None when it is)."""
    if key == "valueBoolean":
        return None if isinstance(value, bool) else "must be true or false"
    if key == "valueDecimal":
        if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
            return "must be a number"
        return None
    if key == "valueInteger":
        if isinstance(value, bool) or not isinstance(value, int):
            return "must be a whole number"
        return None if _INT32[0] <= value <= _INT32[1] else "is out of the 32-bit integer range"
    if key in ("valueString", "valueUri"):
        if not isinstance(value, str) or not value:
            return "must be non-empty text"
        if key == "valueUri" and not _URI.fullmatch(value):
            return "must be a URI without spaces"
        return None
    if key == "valueDate":
        ok = isinstance(value, str) and _DATE.fullmatch(value) and _full_date(value)
        return None if ok else "must be a date (YYYY, YYYY-MM or YYYY-MM-DD)"
    if key == "valueDateTime":
        ok = isinstance(value, str) and _DATETIME.fullmatch(value) and _full_date(value)
        return None if ok else "must be a dateTime (with a time zone when a time is given)"
    if key == "valueTime":
        return None if isinstance(value, str) and _TIME.fullmatch(value) else "must be a time (hh:mm:ss)"
    if key == "valueCoding":
        if not isinstance(value, dict):
            return "must be a Coding"
        if not isinstance(value.get("code"), str) or not value["code"]:
            return "must be a Coding with a code"
        if "system" in value and not isinstance(value["system"], str):
            return "has a malformed system"
        return None
    if key == "valueQuantity":
        ok = isinstance(value, dict) and isinstance(value.get("value"), (int, float)) and not isinstance(
            value.get("value"), bool)
        return None if ok else "must be a Quantity with a numeric value"
    if key == "valueReference":
        ok = isinstance(value, dict) and any(isinstance(value.get(k), (str, dict)) for k in
                                             ("reference", "identifier", "display"))
        return None if ok else "must be a Reference"
    if key == "valueAttachment":
        return None if isinstance(value, dict) and value else "must be an Attachment"
    return "is not an answer type"


def text_limit(defn: ItemDef) -> int:
    """The most characters a text answer to ``defn`` may have."""
    own = defn.max_length
    if isinstance(own, int) and not isinstance(own, bool) and own < MAX_TEXT_LENGTH:
        return own
    return MAX_TEXT_LENGTH


def _label(defn: ItemDef) -> str:
    """The question as the person answering it reads it (never its linkId)."""
    return question_label(defn.text, "This answer", defn.codes)


#: What an answer of each type is, in words (for "… needs a whole number").
_KIND = {
    "boolean": "yes or no", "decimal": "a number", "integer": "a whole number", "date": "a date",
    "dateTime": "a date and time", "time": "a time", "string": "text", "text": "text", "url": "a web address",
    "choice": "one of the listed answers", "open-choice": "one of the listed answers or your own words",
    "attachment": "a file", "reference": "a reference to a record", "quantity": "a number",
}
#: What is wrong with a malformed value of each answer key, in words.
_MALFORMED = {
    "valueBoolean": "must be yes or no", "valueDecimal": "must be a number", "valueInteger": "must be a whole number",
    "valueString": "must not be empty", "valueUri": "must be a web address without spaces",
    "valueDate": "must be a date", "valueDateTime": "must be a date and time", "valueTime": "must be a time",
    "valueCoding": "must be one of the listed answers", "valueQuantity": "must be a number",
    "valueReference": "must refer to a record", "valueAttachment": "must be a file",
}


def _number(value: Any) -> str:
    return str(int(value)) if isinstance(value, float) and value.is_integer() else str(value)


def calculated_bounds(defn: ItemDef, response: dict, questionnaire: dict | None,
                      today: _dt.date) -> tuple[Bound | None, Bound | None]:
    """(minValue, maxValue) of ``defn`` for this response, computed ones evaluated for ``today``.

    A computed bound that gives no single value falls back to the static one
    beside it (or none). Raises :class:`~fhir_mbt.engine.fhirpath.ExpressionError`
    when the expression cannot be evaluated.
    """
    memo = defn.bounds_memo
    if memo is not None and memo[0] == today:
        return memo[1]
    out: list[Bound | None] = []
    for calculated, static in ((defn.min_calculated, defn.min_value), (defn.max_calculated, defn.max_value)):
        if calculated is None:
            out.append(static)
            continue
        key, expression = calculated
        values = expression.evaluate(response, questionnaire=questionnaire, today=today)
        out.append((key, values[0]) if len(values) == 1 and values[0] is not None else static)
    bounds = (out[0], out[1])
    if defn.bounds_per_day:  # the same for every response today: evaluated once
        defn.bounds_memo = (today, bounds)
    return bounds


def fast_checks(defn: ItemDef) -> dict[str, Any]:
    """Per value[x] key, a test that accepts a value only if :func:`check_answer` finds nothing wrong.

    Nearly every answer is valid, and the full check (formats, option
    membership, bounds, with a location string per answer) costs several
    times more than the test a given item actually needs. A test may say no
    to a valid value (odd shapes, constraints not covered here); the full
    check then decides, so the issues reported never change. Built once per
    item, on first use.
    """
    checks = defn.answer_checks
    if checks is not None:
        return checks
    checks = {}
    if "valueCoding" in defn.value_keys:
        checks["valueCoding"] = _coding_check(defn)
    plain = (defn.max_length is None and defn.min_length is None and defn.regex is None
             and not (defn.option_values and defn.type in ("choice", "open-choice")))
    numbers = _number_bounds(defn)
    if plain and numbers is not None and defn.min_calculated is None and defn.max_calculated is None:
        low, high = numbers
        if "valueInteger" in defn.value_keys:
            low_int = _INT32[0] if low is None else max(_INT32[0], low)
            high_int = _INT32[1] if high is None else min(_INT32[1], high)
            checks["valueInteger"] = lambda v: type(v) is int and low_int <= v <= high_int
        if "valueDecimal" in defn.value_keys and defn.max_decimal_places is None:
            checks["valueDecimal"] = lambda v: (type(v) is float and math.isfinite(v)
                                                and (low is None or v >= low) and (high is None or v <= high))
    unbounded = (defn.min_value is None and defn.max_value is None
                 and defn.min_calculated is None and defn.max_calculated is None)
    if plain and unbounded:
        for key in defn.value_keys & {"valueBoolean", "valueString", "valueDate", "valueDateTime", "valueTime"}:
            checks[key] = _format_check(key)
    defn.answer_checks = checks
    return checks


def _format_check(key: str):
    """The well-formedness test of ``key`` alone (for items with no other constraint on it)."""
    if key == "valueBoolean":
        return lambda v: type(v) is bool
    if key == "valueString":
        return lambda v: type(v) is str and v != "" and len(v) <= MAX_TEXT_LENGTH
    return lambda v: type(v) is str and format_error(key, v) is None


def _number_bounds(defn: ItemDef) -> tuple[Any, Any] | None:
    """(minValue, maxValue) of a number item, each None when absent; None unless both are plain numbers."""
    out = []
    for bound in (defn.min_value, defn.max_value):
        if bound is None:
            out.append(None)
            continue
        key, value = bound
        if key not in ("valueInteger", "valueDecimal") or type(value) not in (int, float):
            return None
        out.append(value)
    return out[0], out[1]


def _coding_check(defn: ItemDef):
    """The test for a Coding answer: well formed and one of the item's options (or its ValueSet)."""
    options, allowed = defn.option_codings, defn.allowed
    if not options and defn.value_set and allowed is None:
        return lambda v: False  # the ValueSet could not be expanded: the full check warns

    def coding(v: Any) -> bool:
        if type(v) is not dict:
            return False
        code, system = v.get("code"), v.get("system")
        if type(code) is not str or not code or ("system" in v and type(system) is not str):
            return False
        if options:
            return (system, code) in options or (None, code) in options
        return allowed is None or (system, code) in allowed

    return coding


def _comparable(key: str, value: Any) -> Any:
    if key == "valueQuantity":
        return value.get("value")
    return value


def check_answer(answer: dict, defn: ItemDef, loc: str, error: ErrorSink,
                 bounds: tuple[Bound | None, Bound | None] | None = None, today: str | None = None) -> None:
    """Report through ``error`` what is wrong with one answer of ``defn`` (its type, format, options, bounds).

    ``bounds`` replaces the item's static (minValue, maxValue) when they are
    computed (see :func:`calculated_bounds`); ``today`` is the date they were
    computed for, so a date bound that is today reads "cannot be in the future".
    """
    link_id = defn.link_id
    keys = [k for k in answer if k.startswith("value")]
    if not keys:
        error("required", loc, f"answer to {link_id!r} has no value", link_id,
              human=f"{_label(defn)} has an empty answer")
        return
    if len(keys) > 1:
        error("structure", loc, f"answer to {link_id!r} has more than one value ({', '.join(keys)})", link_id,
              human=f"{_label(defn)} has an answer with more than one value")
        return
    key = keys[0]
    value = answer[key]
    vloc = f"{loc}.{key}"
    if key not in defn.value_keys:
        expected = " or ".join(sorted(defn.value_keys)) or "no answer"
        error("structure", vloc, f"a {defn.type} item {link_id!r} takes {expected}, not {key}", link_id,
              human=f"{_label(defn)} needs {_KIND.get(defn.type, 'another kind of answer')}")
        return
    problem = format_error(key, value)
    if problem:
        error("value", vloc, f"answer to {link_id!r} {problem}", link_id,
              human=f"{_label(defn)} {_MALFORMED.get(key, 'is not a valid answer')}"
              + (" (it is too large)" if "32-bit" in problem else ""))
        return
    _membership(key, value, defn, vloc, error)
    _bounds(key, value, defn, vloc, error, bounds or (defn.min_value, defn.max_value), today)


def _membership(key: str, value: Any, defn: ItemDef, loc: str, error: ErrorSink) -> None:
    link_id = defn.link_id
    if key == "valueCoding":
        system, code = value.get("system"), value.get("code")
        if defn.option_codings:
            ok = (system, code) in defn.option_codings or (None, code) in defn.option_codings
            if not ok:
                error("code-invalid", loc,
                      f"{system}#{code} is not one of the answer options of {link_id!r}", link_id,
                      human=f"{_label(defn)}: choose one of the listed answers")
        elif defn.value_set:
            if defn.allowed is None:
                error("not-supported", loc, f"cannot check {system}#{code} against "
                      f"{defn.value_set}: {defn.expand_error}", link_id, severity="warning",
                      human=f"{_label(defn)}: the answer could not be checked against its list of answers")
            elif (system, code) not in defn.allowed:
                error("code-invalid", loc,
                      f"{system}#{code} is not in {defn.value_set} (answers to {link_id!r})", link_id,
                      human=f"{_label(defn)}: choose one of the listed answers")
        return
    if defn.option_values and defn.type in ("choice", "open-choice"):
        if defn.type == "open-choice" and key == "valueString":
            return
        if (key, value) not in [(k, v) for k, v in defn.option_values]:
            error("code-invalid", loc, f"{value!r} is not one of the answer options of {link_id!r}", link_id,
                  human=f"{_label(defn)}: choose one of the listed answers")


def _bounds(key: str, value: Any, defn: ItemDef, loc: str, error: ErrorSink,
            bounds: tuple[Bound | None, Bound | None], today: str | None) -> None:
    link_id = defn.link_id
    if isinstance(value, str):
        if key == "valueString":
            limit = text_limit(defn)
            if len(value) > limit:
                message = f"{_label(defn)} is longer than {limit:,} characters ({len(value):,} given): shorten it"
                error("too-long", loc, message, link_id, human=message)
        elif isinstance(defn.max_length, int) and len(value) > defn.max_length:
            error("too-long", loc, f"answer to {link_id!r} is longer than {defn.max_length} characters",
                  link_id, human=f"{_label(defn)} is longer than {defn.max_length:,} characters: shorten it")
        if isinstance(defn.min_length, int) and len(value) < defn.min_length:
            error("value", loc, f"answer to {link_id!r} is shorter than {defn.min_length} characters",
                  link_id, human=f"{_label(defn)} needs at least {defn.min_length:,} characters")
        if defn.regex is not None and key in ("valueString", "valueUri") and not defn.regex.fullmatch(value):
            error("value", loc, f"answer to {link_id!r} does not match {defn.regex.pattern!r}", link_id,
                  human=f"{_label(defn)} is not in the expected format")
    if key == "valueDecimal" and isinstance(defn.max_decimal_places, int):
        text = repr(float(value))
        places = len(text.split(".")[1].rstrip("0")) if "." in text and "e" not in text else 0
        if places > defn.max_decimal_places:
            error("value", loc, f"answer to {link_id!r} has more than "
                  f"{defn.max_decimal_places} decimal places", link_id,
                  human=f"{_label(defn)} can have at most {defn.max_decimal_places} decimal places")
    if key in _DATE_KEYS:
        _date_bounds(value, defn, loc, error, bounds, today)
        return
    here = _comparable(key, value)
    for bound, word, said, fails in ((bounds[0], "less than the minimum", "below", lambda a, b: a < b),
                                     (bounds[1], "more than the maximum", "above", lambda a, b: a > b)):
        if bound is None or here is None:
            continue
        limit = _comparable(bound[0], bound[1])
        try:
            if fails(here, limit):
                error("value", loc, f"answer to {link_id!r} is {word} {limit}", link_id,
                      human=f"{_label(defn)} cannot be {said} {_number(limit)}")
        except TypeError:
            continue


def _date_order(a: str, b: str) -> int:
    """-1, 0 or 1 as date ``a`` is before, at or after ``b``, to the precision both have (0: cannot tell)."""
    n = min(len(a), len(b), 10)
    return (a[:n] > b[:n]) - (a[:n] < b[:n])


def _date_bounds(value: str, defn: ItemDef, loc: str, error: ErrorSink,
                 bounds: tuple[Bound | None, Bound | None], today: str | None) -> None:
    low, high = (b[1] if b is not None and isinstance(b[1], str) and not format_error("valueDateTime", b[1])
                 else None for b in bounds)
    if low is not None and _date_order(value, low) < 0:
        message = f"{_label(defn)} cannot be before {low[:10]}"
        error("value", loc, message, defn.link_id, human=message)
    if high is not None and _date_order(value, high) > 0:
        when = "in the future" if today is not None and high[:10] == today else f"after {high[:10]}"
        message = f"{_label(defn)} cannot be {when}"
        error("value", loc, message, defn.link_id, human=message)
