"""Does a QuestionnaireResponse fit its Questionnaire?

The answer is an OperationOutcome, because that is what a FHIR server would
return and what the app shows: every issue has a severity, an issue-type
``code``, human ``diagnostics``, an ``expression`` locating it
(``QuestionnaireResponse.item[2].item[0].answer[0]``) and, where an item is
concerned, its linkId in the :data:`LINK_ID_EXTENSION` extension, so a form
can put the message beside the right question. An empty issue list means
valid; :func:`check_response` raises :class:`ResponseInvalid` on errors.

Rules, from R4 QuestionnaireResponse/Questionnaire and SDC:

- shape: resourceType, a valid ``status``, ``item``/``answer`` as non-empty lists;
- the ``questionnaire`` canonical resolves, and matches the given
  Questionnaire's url and (if stated) version;
- every linkId exists in the Questionnaire at that place, siblings keep the
  Questionnaire's order, only repeating groups appear more than once, only
  repeating questions have more than one answer;
- groups hold items and no answers, questions hold answers and keep nested
  items under ``answer.item``, display items hold nothing;
- each answer has exactly one value[x], of the type the item declares, well
  formed; coded answers come from the answerOptions or the answerValueSet;
  minValue/maxValue, maxLength/minLength, regex and maxDecimalPlaces hold;
- disabled items (enableWhen/enableBehavior, enableWhenExpression, or a
  disabled ancestor) are absent; enabled required items are answered when
  the status is ``completed`` or ``amended`` (an item is only required
  within a group that is present);
- read-only calculated items hold what their expression computes;
- for ``completed`` and ``amended`` responses, every ``questionnaire-constraint``
  (on the Questionnaire, or on an item for each enabled occurrence of it)
  holds: its FHIRPath ``expression``, evaluated with the response as
  ``%resource`` and the item (or the response) as context, must not be
  false; a breach is reported with the constraint's ``human`` text and its
  ``severity``.
"""

from __future__ import annotations

import datetime as _dt
import math
import re
from typing import Any

from fhir_mbt.compiled_questionnaire import CompiledQuestionnaire, ItemDef, compile_questionnaire
from fhir_mbt.content import ContentIndex, shipped, split_canonical
from fhir_mbt.errors import ContentError
from fhir_mbt.fhirpath import CompiledExpression, compile_expression
from fhir_mbt.response_errors import ResponseInvalid
from fhir_mbt.response_view import ResponseView, answer_value
from fhir_mbt.scoring import calculate

__all__ = [
    "CONSTRAINT_EXTENSION",
    "LINK_ID_EXTENSION",
    "STATUSES",
    "validate_response",
    "validate_and_score",
    "check_response",
    "issue_link_id",
    "outcome",
]

LINK_ID_EXTENSION = "http://fhir-mbt.org/fhir/StructureDefinition/issue-linkId"
CONSTRAINT_EXTENSION = "http://hl7.org/fhir/StructureDefinition/questionnaire-constraint"
STATUSES = frozenset({"in-progress", "completed", "amended", "entered-in-error", "stopped"})
_NEEDS_REQUIRED = frozenset({"completed", "amended"})

_DATE = re.compile(
    r"([0-9]([0-9]([0-9][1-9]|[1-9]0)|[1-9]00)|[1-9]000)(-(0[1-9]|1[0-2])(-(0[1-9]|[1-2][0-9]|3[0-1]))?)?"
)
_DATETIME = re.compile(
    r"([0-9]([0-9]([0-9][1-9]|[1-9]0)|[1-9]00)|[1-9]000)(-(0[1-9]|1[0-2])(-(0[1-9]|[1-2][0-9]|3[0-1])"
    r"(T([01][0-9]|2[0-3]):[0-5][0-9]:([0-5][0-9]|60)(\.[0-9]+)?(Z|(\+|-)((0[0-9]|1[0-3]):[0-5][0-9]|14:00)))?)?)?"
)
_TIME = re.compile(r"([01][0-9]|2[0-3]):[0-5][0-9]:([0-5][0-9]|60)(\.[0-9]+)?")
_URI = re.compile(r"\S+")
_INT32 = (-(2**31), 2**31 - 1)


def outcome(issues: list[dict]) -> dict:
    """An OperationOutcome holding ``issues``."""
    return {"resourceType": "OperationOutcome", "issue": issues}


def issue_link_id(issue: dict) -> str | None:
    """The linkId an issue is about, if any."""
    for ext in issue.get("extension", ()):
        if ext.get("url") == LINK_ID_EXTENSION:
            return ext.get("valueString")
    return None


def _issue(severity: str, code: str, where: str, message: str, link_id: str | None = None) -> dict:
    issue = {"severity": severity, "code": code, "diagnostics": message, "expression": [where]}
    if link_id:
        issue["extension"] = [{"url": LINK_ID_EXTENSION, "valueString": link_id}]
    return issue


def _full_date(text: str) -> bool:
    if len(text) < 10:
        return True
    try:
        _dt.date.fromisoformat(text[:10])
    except ValueError:
        return False
    return True


def _format_error(key: str, value: Any) -> str | None:
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


def _answer_checks(defn: ItemDef) -> dict[str, Any]:
    """Per value[x] key, a test that accepts a value only if :meth:`_Validator.answer` finds nothing wrong.

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
    if plain and numbers is not None:
        low, high = numbers
        if "valueInteger" in defn.value_keys:
            low_int = _INT32[0] if low is None else max(_INT32[0], low)
            high_int = _INT32[1] if high is None else min(_INT32[1], high)
            checks["valueInteger"] = lambda v: type(v) is int and low_int <= v <= high_int
        if "valueDecimal" in defn.value_keys and defn.max_decimal_places is None:
            checks["valueDecimal"] = lambda v: (type(v) is float and math.isfinite(v)
                                                and (low is None or v >= low) and (high is None or v <= high))
    if plain and defn.min_value is None and defn.max_value is None:
        for key in defn.value_keys & {"valueBoolean", "valueString", "valueDate", "valueDateTime", "valueTime"}:
            checks[key] = _format_check(key)
    defn.answer_checks = checks
    return checks


def _format_check(key: str):
    """The well-formedness test of ``key`` alone (for items with no other constraint on it)."""
    if key == "valueBoolean":
        return lambda v: type(v) is bool
    if key == "valueString":
        return lambda v: type(v) is str and v != ""
    return lambda v: type(v) is str and _format_error(key, v) is None


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


def _unanswered(defn: ItemDef) -> str:
    """The message for a required item left out, naming the question by its text where it has one."""
    what = "group" if defn.type == "group" else "item"
    if isinstance(defn.text, str) and defn.text.strip():
        return f"required {what} {defn.link_id!r} ({defn.text.strip()!r}) is not answered"
    return f"required {what} {defn.link_id!r} is not answered"


class _Constraint:
    """One ``questionnaire-constraint``: key, severity, human text and the compiled expression."""

    __slots__ = ("key", "severity", "human", "expression")

    def __init__(self, key: str, severity: str, human: str, expression: CompiledExpression):
        self.key, self.severity, self.human, self.expression = key, severity, human, expression


def _read_constraints(element: dict, where: str) -> list[_Constraint]:
    out = []
    for ext in element.get("extension", ()):
        if not isinstance(ext, dict) or ext.get("url") != CONSTRAINT_EXTENSION:
            continue
        parts = {e.get("url"): next((v for k, v in e.items() if k.startswith("value")), None)
                 for e in ext.get("extension", ()) if isinstance(e, dict)}
        expression, human = parts.get("expression"), parts.get("human")
        if not isinstance(expression, str) or not isinstance(human, str):
            raise ContentError(f"{where}: a questionnaire-constraint needs an expression and a human text")
        severity = parts.get("severity") if parts.get("severity") in ("error", "warning") else "error"
        out.append(_Constraint(str(parts.get("key") or ""), severity, human, compile_expression(expression)))
    return out


#: id(compiled questionnaire) -> (it, [(item definition or None for the Questionnaire, constraints)]).
_CONSTRAINTS: dict[int, tuple[CompiledQuestionnaire, list]] = {}


def _constraints_of(compiled: CompiledQuestionnaire) -> list[tuple[ItemDef | None, list[_Constraint]]]:
    hit = _CONSTRAINTS.get(id(compiled))
    if hit is not None and hit[0] is compiled:
        return hit[1]
    found = []
    root = _read_constraints(compiled.questionnaire, "Questionnaire")
    if root:
        found.append((None, root))
    for defn in compiled.walk():
        own = _read_constraints(defn.item, f"item {defn.link_id!r}")
        if own:
            found.append((defn, own))
    if len(_CONSTRAINTS) > 64:
        _CONSTRAINTS.clear()
    _CONSTRAINTS[id(compiled)] = (compiled, found)
    return found


def _comparable(key: str, value: Any) -> Any:
    if key == "valueQuantity":
        return value.get("value")
    return value


class _Validator:
    def __init__(self, response: dict, compiled: CompiledQuestionnaire):
        self.response = response
        self.compiled = compiled
        self.view = ResponseView(response, compiled)
        self.issues: list[dict] = []
        #: id(item) -> (location of its list, its index there), for issues found after the walk.
        self.locations: dict[int, tuple[str, int | None]] = {}
        self.status = response.get("status")
        self.scored: dict | None = None

    def error(self, code: str, where: str, message: str, link_id: str | None = None, severity="error"):
        self.issues.append(_issue(severity, code, where, message, link_id))

    # ----------------------------------------------------------------- items
    def items(self, items: Any, defs: tuple[ItemDef, ...], where: str, scope: tuple, parent: ItemDef | None):
        """Check a list of sibling items against their definitions ``defs``.

        Locations (``where.item[i]``) are only spelled out for an issue or for
        the items further down: most items of a valid response need none.
        """
        present: set[str] = set()
        if items is None:
            items = []
        elif not isinstance(items, list) or not items:
            self.error("structure", f"{where}.item", "item must be a non-empty list")
            items = []
        if parent is None:
            positions, by_link = self.compiled.root_position, self.compiled.root_by_link
        else:
            positions, by_link = parent.child_position, parent.child_by_link
        last = -1
        repeated: set[str] = set()
        locations, enabled_here = self.locations, self.view.enabled_here
        for i, node in enumerate(items):
            if not isinstance(node, dict):
                self.error("structure", f"{where}.item[{i}]", "an item must be an object")
                continue
            link_id = node.get("linkId")
            if not isinstance(link_id, str) or not link_id:
                self.error("required", f"{where}.item[{i}]", "item has no linkId")
                continue
            locations[id(node)] = (where, i)
            defn = by_link.get(link_id)
            if defn is None:
                loc = f"{where}.item[{i}]"
                elsewhere = self.compiled.by_link.get(link_id)
                if elsewhere is not None:
                    owner = elsewhere.parent.link_id if elsewhere.parent else "the top level"
                    self.error("structure", loc, f"item {link_id!r} belongs under {owner!r}, not here", link_id)
                else:
                    self.error("structure", loc, f"linkId {link_id!r} is not in the Questionnaire", link_id)
                continue
            position = positions[link_id]
            if position < last:
                self.error("structure", f"{where}.item[{i}]",
                           f"item {link_id!r} is out of the Questionnaire's order", link_id)
            else:
                last = position
            if link_id in present and link_id not in repeated:
                repeated.add(link_id)
                if defn.type != "group":
                    self.error("structure", f"{where}.item[{i}]", f"question {link_id!r} appears more than once; "
                               "a question keeps all its answers in one item", link_id)
                elif not defn.repeats:
                    self.error("structure", f"{where}.item[{i}]", f"group {link_id!r} does not repeat", link_id)
            present.add(link_id)
            if not enabled_here(defn, scope, node):
                self.error("business-rule", f"{where}.item[{i}]",
                           f"item {link_id!r} is disabled by its enable conditions and must be absent", link_id)
                continue
            self.item(node, defn, where, i, scope)
        self.required(defs, present, where, scope, parent)

    def required(self, defs, present: set[str], where: str, scope: tuple, parent: ItemDef | None):
        if self.status not in _NEEDS_REQUIRED:
            return
        for d in defs:
            if d.required and d.link_id not in present and d.type != "display":
                if self.view.is_enabled(d, None, scope):
                    self.error("required", where, _unanswered(d), d.link_id)

    def item(self, node: dict, defn: ItemDef, where: str, i: int, scope: tuple):
        """Check item ``i`` of the list at ``where``; ``scope`` is that of the list."""
        link_id = defn.link_id
        answers = node.get("answer")
        if defn.type == "display":
            if answers is not None or node.get("item") is not None:
                self.error("structure", f"{where}.item[{i}]",
                           f"display item {link_id!r} cannot hold answers or items", link_id)
            return
        if defn.type == "group":
            loc = f"{where}.item[{i}]"
            if answers is not None:
                self.error("structure", f"{loc}.answer", f"group {link_id!r} cannot hold answers", link_id)
            self.items(node.get("item"), defn.children, loc, scope + (id(node),), defn)
            if defn.required and self.status in _NEEDS_REQUIRED and not node.get("item"):
                self.error("required", loc, f"required group {link_id!r} is empty", link_id)
            return
        if node.get("item") is not None:
            self.error("structure", f"{where}.item[{i}].item",
                       f"items nested in question {link_id!r} belong under its answers (answer.item)", link_id)
        if answers is None:
            if defn.required and self.status in _NEEDS_REQUIRED:
                self.error("required", f"{where}.item[{i}]", _unanswered(defn), link_id)
            return
        if not isinstance(answers, list) or not answers:
            self.error("structure", f"{where}.item[{i}].answer", "answer must be a non-empty list", link_id)
            return
        if len(answers) > 1 and not defn.repeats:
            self.error("structure", f"{where}.item[{i}].answer[1]",
                       f"item {link_id!r} does not repeat but has {len(answers)} answers", link_id)
        checks = defn.answer_checks
        if checks is None:
            checks = _answer_checks(defn)
        for j, answer in enumerate(answers):
            if type(answer) is dict and len(answer) == 1:
                (key, value), = answer.items()
                check = checks.get(key)
                if check is not None and check(value):
                    if defn.children:
                        self.items(None, defn.children, f"{where}.item[{i}].answer[{j}]", scope + (id(node),), defn)
                    continue
            aloc = f"{where}.item[{i}].answer[{j}]"
            if not isinstance(answer, dict):
                self.error("structure", aloc, "an answer must be an object", link_id)
                continue
            self.answer(answer, defn, aloc)
            if defn.children or answer.get("item") is not None:
                self.items(answer.get("item"), defn.children, aloc, scope + (id(node),), defn)

    def answer(self, answer: dict, defn: ItemDef, loc: str):
        link_id = defn.link_id
        keys = [k for k in answer if k.startswith("value")]
        if not keys:
            self.error("required", loc, f"answer to {link_id!r} has no value", link_id)
            return
        if len(keys) > 1:
            self.error("structure", loc, f"answer to {link_id!r} has more than one value ({', '.join(keys)})", link_id)
            return
        key = keys[0]
        value = answer[key]
        vloc = f"{loc}.{key}"
        if key not in defn.value_keys:
            expected = " or ".join(sorted(defn.value_keys)) or "no answer"
            self.error("structure", vloc, f"a {defn.type} item {link_id!r} takes {expected}, not {key}", link_id)
            return
        problem = _format_error(key, value)
        if problem:
            self.error("value", vloc, f"answer to {link_id!r} {problem}", link_id)
            return
        self.membership(key, value, defn, vloc)
        self.bounds(key, value, defn, vloc)

    def membership(self, key: str, value: Any, defn: ItemDef, loc: str):
        link_id = defn.link_id
        if key == "valueCoding":
            system, code = value.get("system"), value.get("code")
            if defn.option_codings:
                ok = (system, code) in defn.option_codings or (None, code) in defn.option_codings
                if not ok:
                    self.error("code-invalid", loc,
                               f"{system}#{code} is not one of the answer options of {link_id!r}", link_id)
            elif defn.value_set:
                if defn.allowed is None:
                    self.error("not-supported", loc, f"cannot check {system}#{code} against "
                               f"{defn.value_set}: {defn.expand_error}", link_id, severity="warning")
                elif (system, code) not in defn.allowed:
                    self.error("code-invalid", loc,
                               f"{system}#{code} is not in {defn.value_set} (answers to {link_id!r})", link_id)
            return
        if defn.option_values and defn.type in ("choice", "open-choice"):
            if defn.type == "open-choice" and key == "valueString":
                return
            if (key, value) not in [(k, v) for k, v in defn.option_values]:
                self.error("code-invalid", loc, f"{value!r} is not one of the answer options of {link_id!r}", link_id)

    def bounds(self, key: str, value: Any, defn: ItemDef, loc: str):
        link_id = defn.link_id
        if isinstance(value, str):
            if isinstance(defn.max_length, int) and len(value) > defn.max_length:
                self.error("too-long", loc, f"answer to {link_id!r} is longer than {defn.max_length} characters",
                           link_id)
            if isinstance(defn.min_length, int) and len(value) < defn.min_length:
                self.error("value", loc, f"answer to {link_id!r} is shorter than {defn.min_length} characters",
                           link_id)
            if defn.regex is not None and key in ("valueString", "valueUri") and not defn.regex.fullmatch(value):
                self.error("value", loc, f"answer to {link_id!r} does not match {defn.regex.pattern!r}", link_id)
        if key == "valueDecimal" and isinstance(defn.max_decimal_places, int):
            text = repr(float(value))
            places = len(text.split(".")[1].rstrip("0")) if "." in text and "e" not in text else 0
            if places > defn.max_decimal_places:
                self.error("value", loc, f"answer to {link_id!r} has more than "
                           f"{defn.max_decimal_places} decimal places", link_id)
        here = _comparable(key, value)
        for bound, word, fails in ((defn.min_value, "less than the minimum", lambda a, b: a < b),
                                   (defn.max_value, "more than the maximum", lambda a, b: a > b)):
            if bound is None or here is None:
                continue
            limit = _comparable(bound[0], bound[1])
            try:
                if fails(here, limit):
                    self.error("value", loc, f"answer to {link_id!r} is {word} {limit}", link_id)
            except TypeError:
                continue

    # ------------------------------------------------------------- constraints
    def constraints(self):
        """Check the questionnaire-constraints of a completed or amended response (drafts stay free)."""
        if self.status not in _NEEDS_REQUIRED:
            return
        compiled, view = self.compiled, self.view
        for defn, rules in _constraints_of(compiled):
            if defn is None:
                targets = [(self.response, "QuestionnaireResponse", None)]
            else:
                targets = []
                for node in view.nodes(defn.link_id):
                    if not view.is_enabled(defn, node):
                        continue
                    where, i = self.locations.get(id(node), ("QuestionnaireResponse", None))
                    targets.append((node, where if i is None else f"{where}.item[{i}]", defn.link_id))
            for context, loc, link_id in targets:
                for rule in rules:
                    result = rule.expression.evaluate(
                        self.response, context=context, questionnaire=compiled.questionnaire,
                        variables=view.variables(defn, context), weights=compiled.weight_of)
                    if result == [False]:
                        about = f" ({link_id})" if link_id else ""
                        self.error("invariant", loc, f"{rule.human}{about}", link_id, severity=rule.severity)

    # ----------------------------------------------------------- calculations
    def calculations(self):
        try:
            self.scored, results = calculate(self.response, self.compiled, self.view)  # the walk is done with it
        except ContentError as exc:
            self.error("processing", "QuestionnaireResponse", f"scores cannot be computed: {exc}")
            return
        for calc in results:
            node = calc.original
            if node is None:
                continue
            given = node.get("answer") or []
            if not _same_answers(given, calc.answers):
                where, i = self.locations.get(id(node), ("QuestionnaireResponse", None))
                loc = where if i is None else f"{where}.item[{i}]"
                expected = calc.value
                self.error("invariant", f"{loc}.answer",
                           f"calculated item {calc.defn.link_id!r} holds {_show(given)} but its "
                           f"calculation gives {expected!r}", calc.defn.link_id)


def _show(answers: list) -> Any:
    values = [answer_value(a)[1] for a in answers if isinstance(a, dict)]
    return values[0] if len(values) == 1 else values


def _same_value(a: Any, b: Any) -> bool:
    if isinstance(a, bool) or isinstance(b, bool):
        return a is b
    if isinstance(a, (int, float)) and isinstance(b, (int, float)):
        return math.isclose(a, b, rel_tol=1e-9, abs_tol=1e-9)
    if isinstance(a, dict) and isinstance(b, dict):
        if "code" in a or "code" in b:
            return (a.get("system"), a.get("code")) == (b.get("system"), b.get("code"))
        return a.keys() == b.keys() and all(_same_value(a[k], b[k]) for k in a)
    return a == b


def _same_answers(given: list, computed: list) -> bool:
    if len(given) != len(computed):
        return False
    for g, c in zip(given, computed):
        if not isinstance(g, dict):
            return False
        gk, gv = answer_value(g)
        ck, cv = answer_value(c)
        if gk != ck or not _same_value(gv, cv):
            return False
    return True


def _resolve(response: dict, questionnaire: dict | None, index: ContentIndex, issues: list) -> dict | None:
    canonical = response.get("questionnaire")
    if not isinstance(canonical, str) or not canonical:
        if questionnaire is None:
            issues.append(_issue("error", "required", "QuestionnaireResponse.questionnaire",
                                 "the response does not name its Questionnaire"))
            return None
        issues.append(_issue("error", "required", "QuestionnaireResponse.questionnaire",
                             "the response does not name its Questionnaire"))
        return questionnaire
    url, version = split_canonical(canonical)
    if questionnaire is None:
        questionnaire = index.find(url, version)
        if questionnaire is None:
            known = index.find(url)
            if known is not None:
                message = (f"Questionnaire {url} is known in version {known.get('version')!r}, "
                           f"not {version!r}")
            else:
                message = f"Questionnaire {canonical} is not known"
            issues.append(_issue("error", "not-found", "QuestionnaireResponse.questionnaire", message))
            return None
        return questionnaire
    if questionnaire.get("resourceType") != "Questionnaire":
        issues.append(_issue("fatal", "invalid", "Questionnaire", "the given definition is not a Questionnaire"))
        return None
    if questionnaire.get("url") != url:
        issues.append(_issue("error", "invalid", "QuestionnaireResponse.questionnaire",
                             f"the response is for {url}, not for {questionnaire.get('url')}"))
    elif version and questionnaire.get("version") and questionnaire["version"] != version:
        issues.append(_issue("error", "invalid", "QuestionnaireResponse.questionnaire",
                             f"the response is for version {version} of {url}, "
                             f"not version {questionnaire['version']}"))
    return questionnaire


def _shape(response: Any, issues: list) -> bool:
    if not isinstance(response, dict):
        issues.append(_issue("fatal", "structure", "QuestionnaireResponse", "not a JSON object"))
        return False
    if response.get("resourceType") != "QuestionnaireResponse":
        issues.append(_issue("fatal", "structure", "QuestionnaireResponse",
                             f"resourceType is {response.get('resourceType')!r}, not 'QuestionnaireResponse'"))
        return False
    status = response.get("status")
    if status not in STATUSES:
        issues.append(_issue("error", "value" if status else "required", "QuestionnaireResponse.status",
                             f"status {status!r} is not one of {', '.join(sorted(STATUSES))}"))
    authored = response.get("authored")
    if authored is not None and _format_error("valueDateTime", authored):
        issues.append(_issue("error", "value", "QuestionnaireResponse.authored", "authored must be a dateTime"))
    for key in ("subject", "encounter", "author", "source"):
        if key in response and not isinstance(response[key], dict):
            issues.append(_issue("error", "structure", f"QuestionnaireResponse.{key}", f"{key} must be a Reference"))
    return True


def _strict(response: dict, issues: list) -> None:
    from pydantic import ValidationError

    from fhir.resources.R4B.questionnaireresponse import QuestionnaireResponse

    try:
        QuestionnaireResponse.model_validate(response)
    except ValidationError as exc:
        for err in exc.errors():
            path = "QuestionnaireResponse" + "".join(
                f"[{p}]" if isinstance(p, int) else f".{p}" for p in err.get("loc", ()) if p != "__root__"
            )
            issues.append(_issue("error", "structure", path, f"R4: {err.get('msg')}"))


def validate_response(
    response: dict,
    questionnaire: dict | None = None,
    index: ContentIndex | None = None,
    *,
    strict: bool = False,
) -> dict:
    """Check ``response`` against its Questionnaire; return an OperationOutcome.

    ``questionnaire`` defaults to the one the response names, looked up in
    ``index`` (the shipped content by default). ``strict`` also runs the R4
    model (fhir.resources) over the resource, which is slower.
    """
    return validate_and_score(response, questionnaire, index, strict=strict)[0]


def validate_and_score(
    response: dict,
    questionnaire: dict | None = None,
    index: ContentIndex | None = None,
    *,
    strict: bool = False,
) -> tuple[dict, dict | None]:
    """:func:`validate_response`, plus the response with its scores (re)computed.

    Checking calculated items means computing them, so a caller that wants
    both gets them from one pass. The scored response is None when the
    response has errors.
    """
    index = index if index is not None else shipped()
    issues: list[dict] = []
    if not _shape(response, issues):
        return outcome(issues), None
    if strict:
        _strict(response, issues)
    questionnaire = _resolve(response, questionnaire, index, issues)
    if questionnaire is None:
        return outcome(issues), None
    try:
        compiled = compile_questionnaire(questionnaire, index)
    except ContentError as exc:
        issues.append(_issue("fatal", "processing", "Questionnaire", f"the Questionnaire is unusable: {exc}"))
        return outcome(issues), None
    if compiled.duplicate_link_ids:
        issues.append(_issue("fatal", "processing", "Questionnaire", "the Questionnaire repeats linkIds "
                             f"{', '.join(sorted(compiled.duplicate_link_ids))}, so answers cannot be placed"))
        return outcome(issues), None
    validator = _Validator(response, compiled)
    try:
        validator.items(response.get("item"), compiled.items, "QuestionnaireResponse", (), None)
        validator.constraints()
    except ContentError as exc:
        validator.error("processing", "QuestionnaireResponse", f"the Questionnaire's logic failed: {exc}")
    if not any(i["severity"] in ("error", "fatal") for i in validator.issues):
        validator.calculations()
    issues.extend(validator.issues)
    failed = any(i["severity"] in ("error", "fatal") for i in issues)
    return outcome(issues), None if failed else validator.scored


def check_response(
    response: dict,
    questionnaire: dict | None = None,
    index: ContentIndex | None = None,
    *,
    strict: bool = False,
) -> dict:
    """Raise :class:`ResponseInvalid` unless ``response`` is valid; return the outcome otherwise.

    Warnings (say, a ValueSet that cannot be expanded here) do not raise but
    are in the returned outcome.
    """
    result = validate_response(response, questionnaire, index, strict=strict)
    if any(i["severity"] in ("error", "fatal") for i in result["issue"]):
        raise ResponseInvalid(result)
    return result
