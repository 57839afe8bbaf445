"""A Questionnaire read once into the form the response engine needs.

Validation, scoring and extraction all ask the same questions of a
Questionnaire item (what type of answer, which codes are allowed, what weight
a code carries, is it extractable, in what order are scores computed). Reading
those out of nested JSON and extensions on every response would dominate the
cost of processing one, so :func:`compile_questionnaire` does it once per
Questionnaire and caches the result: answer ValueSets expanded, FHIRPath
parsed, inheritance of SDC flags resolved, calculation order sorted.

The cache holds the Questionnaire (and index) it was built from, so an entry
is only reused for the very same objects; do not mutate a Questionnaire after
handing it to the engine.
"""

from __future__ import annotations

import re
from collections import OrderedDict
from typing import Any, Iterator

from fhir_mbt.content import extensions as ext
from fhir_mbt.content.index import ContentIndex
from fhir_mbt.errors import ContentError
from fhir_mbt.engine.fhirpath import CompiledExpression, compile_expression

__all__ = [
    "CompiledQuestionnaire",
    "ItemDef",
    "compile_questionnaire",
    "questionnaire_for",
    "SURVEY_CATEGORY",
    "VALUE_KEYS",
    "ANSWER_TYPES",
]

SURVEY_CATEGORY = {
    "coding": [
        {
            "system": "http://terminology.hl7.org/CodeSystem/observation-category",
            "code": "survey",
            "display": "Survey",
        }
    ]
}

#: Every answer value[x] key R4 allows on QuestionnaireResponse.item.answer.
VALUE_KEYS = (
    "valueBoolean", "valueDecimal", "valueInteger", "valueDate", "valueDateTime", "valueTime",
    "valueString", "valueUri", "valueAttachment", "valueCoding", "valueQuantity", "valueReference",
)

#: The answer value[x] each R4 item type takes (choice items may also take
#: the value types their answerOptions use).
ANSWER_TYPES: dict[str, frozenset[str]] = {
    "group": frozenset(),
    "display": frozenset(),
    "boolean": frozenset({"valueBoolean"}),
    "decimal": frozenset({"valueDecimal"}),
    "integer": frozenset({"valueInteger"}),
    "date": frozenset({"valueDate"}),
    "dateTime": frozenset({"valueDateTime"}),
    "time": frozenset({"valueTime"}),
    "string": frozenset({"valueString"}),
    "text": frozenset({"valueString"}),
    "url": frozenset({"valueUri"}),
    "choice": frozenset({"valueCoding"}),
    "open-choice": frozenset({"valueCoding", "valueString"}),
    "attachment": frozenset({"valueAttachment"}),
    "reference": frozenset({"valueReference"}),
    "quantity": frozenset({"valueQuantity"}),
}

_QUOTED = re.compile(r"'((?:[^'\\]|\\.)*)'")
#: What an expression that depends on the day alone is made of: today(), literals, date arithmetic.
_CLOCK_ONLY = re.compile(r"today\(\)|@[0-9T:.+\-Z]+|'[^'\\]*'|[0-9]+(?:\.[0-9]+)?|\s+|[()+\-]"
                         r"|\b(?:years?|months?|weeks?|days?|hours?|minutes?|seconds?|milliseconds?)\b")


def _expression(element: dict, url: str) -> CompiledExpression | None:
    text = ext.fhirpath(element, url)
    return compile_expression(text) if text else None


def _per_day(calculated: tuple[str, CompiledExpression] | None) -> bool:
    return calculated is None or _CLOCK_ONLY.sub("", calculated[1].expression) == ""


def _calculated_bound(item: dict, url: str) -> tuple[str, CompiledExpression] | None:
    found = ext.calculated_value(item, url)
    return (found[0], compile_expression(found[1])) if found else None


def _variables(element: dict) -> tuple[tuple[str, CompiledExpression], ...]:
    return tuple((name, compile_expression(text)) for name, text in ext.variables(element))


def coding_key(coding: dict) -> tuple[str | None, str | None]:
    return coding.get("system"), coding.get("code")


class ItemDef:
    """One Questionnaire item, with everything the engine asks of it precomputed."""

    __slots__ = (
        "item", "link_id", "type", "text", "required", "repeats", "read_only", "max_length",
        "parent", "children", "child_position", "child_by_link", "depth",
        "enable_when", "enable_behavior", "enable_expression",
        "calculated", "variables", "value_keys",
        "option_codings", "option_values", "value_set", "allowed", "expand_error", "weights",
        "min_value", "max_value", "min_calculated", "max_calculated", "bounds_per_day", "bounds_memo", "min_length", "regex", "max_decimal_places",
        "unit", "codes", "extract_codes", "extractable", "category", "answer_checks",
    )

    def __init__(self, item: dict, parent: "ItemDef | None"):
        self.item = item
        self.link_id: str = item.get("linkId", "")
        self.type: str = item.get("type", "")
        self.text = item.get("text")
        self.required = item.get("required") is True
        self.repeats = item.get("repeats") is True
        self.read_only = item.get("readOnly") is True
        self.max_length = item.get("maxLength")
        self.parent = parent
        self.depth = 0 if parent is None else parent.depth + 1
        self.enable_when = tuple(item.get("enableWhen", ()))
        self.enable_behavior = item.get("enableBehavior", "all")
        self.enable_expression = _expression(item, ext.ENABLE_WHEN_EXPRESSION)
        self.calculated = _expression(item, ext.CALCULATED_EXPRESSION)
        self.variables = _variables(item)
        self.codes = tuple(item.get("code", ()))
        self.unit = next((e.get("valueCoding") for e in ext.extensions(item, ext.UNIT)), None)
        self.min_value = ext.value(item, ext.MIN_VALUE)
        self.max_value = ext.value(item, ext.MAX_VALUE)
        #: (value[x] key, expression) of a bound computed when answering, e.g. maxValue = today().
        self.min_calculated = _calculated_bound(item, ext.MIN_VALUE)
        self.max_calculated = _calculated_bound(item, ext.MAX_VALUE)
        #: Whether the computed bounds depend on the day alone (then fhir_mbt.engine.answers
        #: evaluates them once a day, keeping (day, bounds) in bounds_memo).
        self.bounds_per_day = all(_per_day(c) for c in (self.min_calculated, self.max_calculated))
        self.bounds_memo: tuple | None = None
        self.min_length = next((e.get("valueInteger") for e in ext.extensions(item, ext.MIN_LENGTH)), None)
        regex = next((e.get("valueString") for e in ext.extensions(item, ext.REGEX)), None)
        self.regex = re.compile(regex) if regex else None
        self.max_decimal_places = next(
            (e.get("valueInteger") for e in ext.extensions(item, ext.MAX_DECIMAL_PLACES)), None
        )
        self.option_codings: dict[tuple, dict] = {}
        self.option_values: list[tuple[str, Any]] = []
        self.weights: dict[tuple, Any] = {}
        keys = set(ANSWER_TYPES.get(self.type, ()))
        for option in item.get("answerOption", ()):
            for key, value in option.items():
                if not key.startswith("value"):
                    continue
                keys.add(key)
                if key == "valueCoding":
                    self.option_codings[coding_key(value)] = value
                    weight = ext.weight(option)
                    if weight is None:
                        weight = ext.weight(value)
                    if weight is not None:
                        self.weights[coding_key(value)] = weight
                else:
                    self.option_values.append((key, value))
        if self.type not in ("choice", "open-choice"):
            keys = set(ANSWER_TYPES.get(self.type, ()))
        self.value_keys = frozenset(keys)
        self.value_set = item.get("answerValueSet")
        self.allowed: dict[tuple, dict] | None = None
        self.expand_error: str | None = None
        self.children: tuple[ItemDef, ...] = ()
        self.child_position: dict[str, int] = {}
        self.child_by_link: dict[str, ItemDef] = {}
        self.extract_codes: tuple[dict, ...] = ()
        self.extractable = False
        self.category: list[dict] = []
        #: value[x] key -> "is this value certainly valid here?", built by fhir_mbt.engine.validate on first use.
        self.answer_checks: dict[str, Any] | None = None

    def __repr__(self) -> str:
        return f"ItemDef({self.link_id!r}, {self.type!r})"

    @property
    def is_question(self) -> bool:
        return self.type not in ("group", "display")

    def ancestors(self) -> Iterator["ItemDef"]:
        node = self.parent
        while node is not None:
            yield node
            node = node.parent

    def weight_of(self, coding: dict) -> Any:
        weight = self.weights.get(coding_key(coding))
        if weight is None and coding.get("system") is None:
            weight = next((w for (s, c), w in self.weights.items() if c == coding.get("code")), None)
        return weight


class CompiledQuestionnaire:
    """The engine's view of one Questionnaire (see the module docstring)."""

    def __init__(self, questionnaire: dict, index: ContentIndex):
        self.questionnaire = questionnaire
        self.index = index
        self.url = questionnaire.get("url")
        self.version = questionnaire.get("version")
        self.variables = _variables(questionnaire)
        self.by_link: dict[str, ItemDef] = {}
        self.duplicate_link_ids: set[str] = set()
        self.weights: dict[tuple, Any] = {}
        #: Per-item parts of extracted Observations, filled by fhir_mbt.engine.extraction.
        self.extraction_cache: dict = {}
        root_flag = ext.observation_extract(questionnaire)
        root_category = [e["valueCodeableConcept"] for e in ext.extensions(questionnaire, ext.OBSERVATION_EXTRACT_CATEGORY)
                         if "valueCodeableConcept" in e]
        self.items = self._build(questionnaire.get("item", ()), None, root_flag,
                                 root_category or [SURVEY_CATEGORY])
        self.calculated = self._calculation_order()
        #: linkIds of the calculated items and their ancestors: what scoring writes to.
        self.calculation_spine = frozenset(a.link_id for d in self.calculated for a in (d, *d.ancestors()))
        self.root_by_link = {d.link_id: d for d in reversed(self.items)}
        self.root_position = {d.link_id: i for i, d in reversed(list(enumerate(self.items)))}

    @property
    def canonical(self) -> str | None:
        if not self.url:
            return None
        return f"{self.url}|{self.version}" if self.version else self.url

    def _build(self, items, parent, inherited_flag, inherited_category) -> tuple[ItemDef, ...]:
        built = []
        for raw in items:
            d = ItemDef(raw, parent)
            if d.link_id in self.by_link:
                self.duplicate_link_ids.add(d.link_id)
            self.by_link.setdefault(d.link_id, d)
            if d.value_set:
                self._expand(d)
            for key, weight in d.weights.items():
                self.weights.setdefault(key, weight)
            flag = ext.observation_extract(raw)
            flag = inherited_flag if flag is None else flag
            tagged = [c for c in d.codes if ext.observation_extract(c) is True]
            d.extract_codes = tuple(tagged) if tagged else tuple(
                c for c in d.codes if ext.observation_extract(c) is not False
            )
            d.extractable = d.is_question and (bool(tagged) or flag is True)
            category = [e["valueCodeableConcept"] for e in ext.extensions(raw, ext.OBSERVATION_EXTRACT_CATEGORY)
                        if "valueCodeableConcept" in e]
            d.category = category or inherited_category
            d.children = self._build(raw.get("item", ()), d, flag, d.category)
            d.child_position = {c.link_id: i for i, c in reversed(list(enumerate(d.children)))}
            d.child_by_link = {c.link_id: c for c in reversed(d.children)}
            built.append(d)
        return tuple(built)

    def _expand(self, d: ItemDef) -> None:
        try:
            expansion = self.index.expand(d.value_set)
        except ContentError as exc:
            d.expand_error = str(exc)
            return
        d.allowed = {}
        for concept in expansion:
            key = (concept["system"], concept["code"])
            d.allowed[key] = concept
            weight = concept.get("weight")
            if weight is None:
                known = self.index.concept(concept["system"], concept["code"])
                weight = ext.weight(known) if known else None
            if weight is not None:
                d.weights.setdefault(key, weight)

    def _calculation_order(self) -> list[ItemDef]:
        calc = [d for d in self.walk() if d.calculated is not None]
        names = {d.link_id for d in calc}
        var_text = {name: expr.expression for name, expr in self.variables}
        deps: dict[str, set[str]] = {}
        for d in calc:
            texts = [d.calculated.expression, *var_text.values()]
            for a in (d, *d.ancestors()):
                texts.extend(e.expression for _, e in a.variables)
            mentioned = {m for t in texts for m in _QUOTED.findall(t)}
            deps[d.link_id] = (mentioned & names) - {d.link_id}
        order: list[ItemDef] = []
        done: set[str] = set()
        pending = list(calc)
        while pending:
            ready = [d for d in pending if deps[d.link_id] <= done]
            if not ready:
                cycle = ", ".join(d.link_id for d in pending)
                raise ContentError(
                    f"Questionnaire {self.url}: calculatedExpressions depend on each other in a cycle ({cycle})"
                )
            for d in ready:
                order.append(d)
                done.add(d.link_id)
            pending = [d for d in pending if d.link_id not in done]
        return order

    def walk(self, items: tuple[ItemDef, ...] | None = None) -> Iterator[ItemDef]:
        """Every item definition, depth first in document order."""
        for d in self.items if items is None else items:
            yield d
            yield from self.walk(d.children)

    def weight_of(self, coding: dict) -> Any:
        """The weight of a Coding anywhere in this Questionnaire (for ``weight()``)."""
        weight = self.weights.get(coding_key(coding))
        if weight is None:
            known = self.index.concept(coding.get("system"), coding.get("code")) if coding.get("system") else None
            weight = ext.weight(known) if known else None
        return weight


_CACHE: "OrderedDict[tuple[int, int], CompiledQuestionnaire]" = OrderedDict()
_CACHE_SIZE = 64


def compile_questionnaire(questionnaire: dict, index: ContentIndex) -> CompiledQuestionnaire:
    """The compiled form of ``questionnaire``, built once per (questionnaire, index)."""
    key = (id(questionnaire), id(index))
    hit = _CACHE.get(key)
    if hit is not None and hit.questionnaire is questionnaire and hit.index is index:
        _CACHE.move_to_end(key)
        return hit
    compiled = CompiledQuestionnaire(questionnaire, index)
    _CACHE[key] = compiled
    if len(_CACHE) > _CACHE_SIZE:
        _CACHE.popitem(last=False)
    return compiled


def questionnaire_for(response: dict, index: ContentIndex) -> dict:
    """The Questionnaire a response names in ``questionnaire`` (``url|version``).

    Raises :class:`~fhir_mbt.errors.ContentNotFound` when the index has no
    such definition (or not in that version).
    """
    canonical = response.get("questionnaire")
    if not isinstance(canonical, str) or not canonical:
        raise ContentError("the QuestionnaireResponse does not name its Questionnaire")
    return index.get(canonical)
