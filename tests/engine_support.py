"""Shared test material for the response engine.

- ``demo_index()``: a small content index whose Questionnaire uses every item
  type, enableWhen flavour, weight source and extraction option, so each
  validation rule can be broken one at a time.
- ``answers_for(questionnaire, index)``: a hypothesis strategy that generates
  a completed, valid QuestionnaireResponse from any Questionnaire definition,
  honouring enableWhen (it interprets the definition itself, independently of
  the engine).
- ``FakeServer``: a tiny in-memory model of FHIR transactions with
  conditional create/update keyed on identifiers, to show replays are no-ops.
"""

from __future__ import annotations

import copy
import functools
import itertools
from urllib.parse import unquote

import hypothesis
from hypothesis import strategies as st

from fhir_mbt.content import ContentIndex, LoadedResource

BASE = "http://test.example/fhir"
CS = f"{BASE}/CodeSystem/demo"
Q_URL = f"{BASE}/Questionnaire/demo"
SDC = "http://hl7.org/fhir/uv/sdc/StructureDefinition/"
EXTRACT = {"url": SDC + "sdc-questionnaire-observationExtract", "valueBoolean": True}
UCUM = "http://unitsofmeasure.org"
SURVEY = "http://terminology.hl7.org/CodeSystem/observation-category"


def _code(code: str) -> list[dict]:
    return [{"system": CS, "code": code, "display": code.replace("-", " ")}]


def _weight(value):
    return {"url": "http://hl7.org/fhir/StructureDefinition/itemWeight", "valueDecimal": value}


def _calc(expression: str) -> dict:
    return {"url": SDC + "sdc-questionnaire-calculatedExpression",
            "valueExpression": {"language": "text/fhirpath", "expression": expression}}


def _unit(code: str, display: str) -> dict:
    return {"url": "http://hl7.org/fhir/StructureDefinition/questionnaire-unit",
            "valueCoding": {"system": UCUM, "code": code, "display": display}}


def code_system() -> dict:
    concepts = [
        "flag", "count", "dose", "label", "note", "day", "moment", "clock", "link", "pick", "picks", "open",
        "amount", "ref", "file", "follow", "exists-follow", "any-follow", "expr-follow", "rep-value", "parent",
        "child", "total", "double", "low", "mid", "high", "red", "green", "blue", "other-category",
    ]
    out = []
    for c in concepts:
        concept = {"code": c, "display": c.replace("-", " "), "definition": f"Test concept {c}."}
        if c == "blue":
            concept["extension"] = [{"url": "http://hl7.org/fhir/StructureDefinition/ordinalValue",
                                     "valueDecimal": 30}]
        out.append(concept)
    return {"resourceType": "CodeSystem", "id": "demo", "url": CS, "version": "1.0.0", "status": "active",
            "content": "complete", "concept": out}


def colours_value_set() -> dict:
    return {
        "resourceType": "ValueSet", "id": "colours", "url": f"{BASE}/ValueSet/colours", "version": "1.0.0",
        "status": "active",
        "compose": {"include": [{"system": CS, "concept": [
            {"code": "red", "extension": [{"url": "http://hl7.org/fhir/StructureDefinition/ordinalValue",
                                           "valueDecimal": 10}]},
            {"code": "green", "extension": [_weight(20)]},
            {"code": "blue"},
        ]}]},
    }


def codes_value_set(vs_id: str, codes: list[str]) -> dict:
    return {"resourceType": "ValueSet", "id": vs_id, "url": f"{BASE}/ValueSet/{vs_id}", "version": "1.0.0",
            "status": "active", "compose": {"include": [{"system": CS, "concept": [{"code": c} for c in codes]}]}}


SCORE_CODES = ["count", "dose", "amount", "total", "double", "rep-value"]
FINDING_CODES = ["flag", "day", "moment", "clock", "pick", "picks", "label", "link", "open", "parent", "child",
                 "ref"]


def profile(sd_id: str, vs_id: str, types: list[str]) -> dict:
    return {
        "resourceType": "StructureDefinition", "id": sd_id, "url": f"{BASE}/StructureDefinition/{sd_id}",
        "name": sd_id, "status": "active", "kind": "resource", "abstract": False, "type": "Observation",
        "baseDefinition": "http://hl7.org/fhir/StructureDefinition/Observation", "derivation": "constraint",
        "differential": {"element": [
            {"id": "Observation.code", "path": "Observation.code",
             "binding": {"strength": "required", "valueSet": f"{BASE}/ValueSet/{vs_id}|1.0.0"}},
            {"id": "Observation.value[x]", "path": "Observation.value[x]", "min": 1,
             "type": [{"code": t} for t in types]},
        ]},
    }


def questionnaire() -> dict:
    """Every item type and rule the engine knows, in one form."""
    return {
        "resourceType": "Questionnaire", "id": "demo", "url": Q_URL, "version": "1.0.0", "status": "active",
        "extension": [{"url": SDC + "sdc-questionnaire-observation-extract-category",
                       "valueCodeableConcept": {"coding": [{"system": SURVEY, "code": "survey"}]}}],
        "item": [
            {"linkId": "intro", "type": "display", "text": "Intro"},
            {"linkId": "main", "type": "group", "text": "Main", "extension": [EXTRACT], "item": [
                {"linkId": "flag", "type": "boolean", "required": True, "code": _code("flag"), "text": "Flag"},
                {"linkId": "count", "type": "integer", "code": _code("count"), "text": "Count",
                 "extension": [{"url": "http://hl7.org/fhir/StructureDefinition/minValue", "valueInteger": 0},
                               {"url": "http://hl7.org/fhir/StructureDefinition/maxValue", "valueInteger": 10},
                               _unit("/wk", "per week")]},
                {"linkId": "dose", "type": "decimal", "code": _code("dose"),
                 "extension": [{"url": "http://hl7.org/fhir/StructureDefinition/maxDecimalPlaces",
                                "valueInteger": 2}]},
                {"linkId": "label", "type": "string", "maxLength": 10, "code": _code("label")},
                {"linkId": "note", "type": "text", "code": _code("note"),
                 "extension": [{"url": SDC + "sdc-questionnaire-observationExtract", "valueBoolean": False}]},
                {"linkId": "day", "type": "date", "code": _code("day")},
                {"linkId": "moment", "type": "dateTime", "code": _code("moment")},
                {"linkId": "clock", "type": "time", "code": _code("clock")},
                {"linkId": "link", "type": "url", "code": _code("link")},
                {"linkId": "pick", "type": "choice", "required": True, "code": _code("pick"), "answerOption": [
                    {"valueCoding": {"system": CS, "code": "low", "display": "low"}, "extension": [_weight(1)]},
                    {"valueCoding": {"system": CS, "code": "mid", "display": "mid"}, "extension": [_weight(2)]},
                    {"valueCoding": {"system": CS, "code": "high", "display": "high"}, "extension": [_weight(3)]},
                ]},
                {"linkId": "picks", "type": "choice", "repeats": True, "code": _code("picks"),
                 "answerValueSet": f"{BASE}/ValueSet/colours|1.0.0"},
                {"linkId": "open", "type": "open-choice", "code": _code("open"), "answerOption": [
                    {"valueCoding": {"system": CS, "code": "red", "display": "red"}},
                ]},
                {"linkId": "amount", "type": "quantity", "code": _code("amount")},
                {"linkId": "ref", "type": "reference", "code": _code("ref")},
                {"linkId": "file", "type": "attachment"},
            ]},
            {"linkId": "follow", "type": "string", "required": True, "text": "Follow",
             "enableWhen": [{"question": "flag", "operator": "=", "answerBoolean": True}]},
            {"linkId": "exists-follow", "type": "string",
             "enableWhen": [{"question": "count", "operator": "exists", "answerBoolean": True}]},
            {"linkId": "any-follow", "type": "string", "enableBehavior": "any", "enableWhen": [
                {"question": "count", "operator": ">", "answerInteger": 5},
                {"question": "pick", "operator": "=", "answerCoding": {"system": CS, "code": "high"}},
            ]},
            {"linkId": "expr-follow", "type": "string", "extension": [
                {"url": SDC + "sdc-questionnaire-enableWhenExpression", "valueExpression": {
                    "language": "text/fhirpath",
                    "expression": "%resource.repeat(item).where(linkId='label').answer.value = 'sesame'"}}]},
            {"linkId": "rep", "type": "group", "repeats": True, "item": [
                {"linkId": "rep-value", "type": "integer", "required": True, "code": _code("rep-value"),
                 "extension": [EXTRACT]},
            ]},
            {"linkId": "parent", "type": "choice", "answerOption": [
                {"valueCoding": {"system": CS, "code": "low"}}, {"valueCoding": {"system": CS, "code": "high"}}],
             "item": [{"linkId": "child", "type": "string", "required": True, "code": _code("child"),
                       "extension": [EXTRACT]}]},
            {"linkId": "opt", "type": "group", "item": [
                {"linkId": "opt-required", "type": "string", "required": True}]},
            {"linkId": "scores", "type": "group", "item": [
                {"linkId": "total", "type": "decimal", "readOnly": True, "code": _code("total"),
                 "extension": [EXTRACT, _unit("{score}", "score"), _calc(
                     "iif(%resource.repeat(item).where(linkId='pick').answer.exists(), "
                     "%resource.repeat(item).where(linkId in ('pick' | 'picks')).answer.value.weight().sum(), {})"
                 )]},
                {"linkId": "double", "type": "integer", "readOnly": True, "code": _code("double"),
                 "extension": [EXTRACT, _calc(
                     "(%resource.repeat(item).where(linkId='total').answer.value * 2).round(0)")]},
            ]},
        ],
    }


def demo_index(q: dict | None = None) -> ContentIndex:
    from pathlib import Path

    resources = [
        code_system(), colours_value_set(),
        codes_value_set("score-codes", SCORE_CODES), codes_value_set("finding-codes", FINDING_CODES),
        profile("demo-score", "score-codes", ["Quantity"]),
        profile("demo-finding", "finding-codes", ["CodeableConcept", "boolean", "string", "integer", "dateTime",
                                                  "time"]),
        q or questionnaire(),
    ]
    return ContentIndex([LoadedResource(Path(f"{r['resourceType']}-{r['id']}.json"), r) for r in resources])


def response(items: list[dict], status: str = "completed", **extra) -> dict:
    base = {
        "resourceType": "QuestionnaireResponse",
        "questionnaire": f"{Q_URL}|1.0.0",
        "status": status,
        "subject": {"reference": "Patient/p1"},
        "authored": "2026-03-02T10:00:00Z",
        "author": {"reference": "Practitioner/dr1"},
    }
    base.update(extra)
    base["item"] = items
    return base


def a(key: str, value) -> dict:
    return {key: value}


def coding(code: str) -> dict:
    return {"valueCoding": {"system": CS, "code": code, "display": code}}


def minimal_items(flag: bool = False) -> list[dict]:
    """The smallest valid completed answer set of the demo form."""
    items = [{"linkId": "main", "item": [
        {"linkId": "flag", "answer": [{"valueBoolean": flag}]},
        {"linkId": "pick", "answer": [coding("low")]},
    ]}]
    if flag:
        items.append({"linkId": "follow", "answer": [{"valueString": "yes"}]})
    return items


# ------------------------------------------------------------------ generation
def _expand(index: ContentIndex, url: str) -> list[dict]:
    return [{k: c[k] for k in ("system", "code", "display") if c.get(k)} for c in index.expand(url)]


def _value_strategy(item: dict, index: ContentIndex):
    t = item["type"]
    ext = {e["url"].rsplit("/", 1)[-1]: e for e in item.get("extension", ())}
    if t == "boolean":
        return st.builds(lambda v: {"valueBoolean": v}, st.booleans())
    if t == "integer":
        lo = ext.get("minValue", {}).get("valueInteger", -1000)
        hi = ext.get("maxValue", {}).get("valueInteger", 1000)
        return st.builds(lambda v: {"valueInteger": v}, st.integers(lo, hi))
    if t == "decimal":
        lo = ext.get("minValue", {}).get("valueDecimal", -1000.0)
        hi = ext.get("maxValue", {}).get("valueDecimal", 1000.0)
        return st.builds(lambda v: {"valueDecimal": v}, st.integers(int(lo * 100), int(hi * 100)).map(
            lambda n: round(n / 100, 2)))
    if t in ("string", "text"):
        limit = item.get("maxLength", 40)
        return st.builds(lambda v: {"valueString": v},
                         st.text(st.characters(min_codepoint=32, max_codepoint=126), min_size=1, max_size=limit))
    if t == "date":
        return st.builds(lambda d: {"valueDate": d.isoformat()}, st.dates())
    if t == "dateTime":
        return st.builds(lambda d: {"valueDateTime": d.strftime("%Y-%m-%dT%H:%M:%S") + "Z"},
                         st.datetimes(min_value=__import__("datetime").datetime(1900, 1, 1)))
    if t == "time":
        return st.builds(lambda d: {"valueTime": d.strftime("%H:%M:%S")}, st.times())
    if t == "url":
        return st.builds(lambda n: {"valueUri": f"https://example.org/{n}"}, st.integers(0, 999))
    if t == "quantity":
        return st.builds(lambda v: {"valueQuantity": {"value": v, "unit": "mg", "system": UCUM, "code": "mg"}},
                         st.integers(0, 500))
    if t == "reference":
        return st.just({"valueReference": {"reference": "Patient/p1"}})
    if t in ("choice", "open-choice"):
        options = []
        for option in item.get("answerOption", ()):
            options.extend({k: v} for k, v in option.items() if k.startswith("value"))
        if item.get("answerValueSet"):
            options.extend({"valueCoding": c} for c in _expand(index, item["answerValueSet"]))
        strategies = [st.sampled_from(options)] if options else []
        if t == "open-choice":
            strategies.append(st.builds(lambda v: {"valueString": v}, st.text(
                st.characters(min_codepoint=97, max_codepoint=122), min_size=1, max_size=12)))
        return st.one_of(strategies)
    return None


def _enabled(item: dict, answers: dict[str, list]) -> bool:
    """enableWhen, interpreted on its own terms (the engine is not consulted)."""
    if any(e["url"].endswith("enableWhenExpression") for e in item.get("extension", ())):
        return False
    conditions = item.get("enableWhen")
    if not conditions:
        return True
    results = []
    for ew in conditions:
        given = answers.get(ew["question"], [])
        key = next(k for k in ew if k.startswith("answer"))
        expected = ew[key]
        values = [next(v for k, v in ans.items() if k.startswith("value")) for ans in given]
        if ew["operator"] == "exists":
            results.append(bool(values) == expected)
            continue

        def same(v):
            if isinstance(expected, dict) and isinstance(v, dict):
                return v.get("code") == expected.get("code") and v.get("system") == expected.get("system")
            return v == expected and type(v) is type(expected)

        if ew["operator"] == "=":
            results.append(any(same(v) for v in values))
        elif ew["operator"] == "!=":
            results.append(not any(same(v) for v in values))
        else:
            ops = {">": lambda x: x > expected, "<": lambda x: x < expected,
                   ">=": lambda x: x >= expected, "<=": lambda x: x <= expected}
            results.append(any(ops[ew["operator"]](v) for v in values if isinstance(v, (int, float))))
    return any(results) if item.get("enableBehavior") == "any" else all(results)


CONSTRAINT = "http://hl7.org/fhir/StructureDefinition/questionnaire-constraint"


@functools.lru_cache(maxsize=64)
def _fhirpathpy(expression: str):
    from fhirpathpy import compile as fhirpath_compile
    from fhirpathpy.models import models

    return fhirpath_compile(expression, models["r4"])


def _constraints_hold(questionnaire: dict, items: list[dict]) -> bool:
    """The questionnaire-constraints (error severity), evaluated by fhirpathpy itself, not the engine.

    Only expressions that name their targets through ``%resource`` are supported here, which is how the
    shipped content writes them; a generated response that breaks one is simply not generated.
    """
    resource = {"resourceType": "QuestionnaireResponse", "item": items}

    def walk(elements):
        for element in elements:
            yield element
            yield from walk(element.get("item", ()))

    for element in walk([questionnaire]):
        for ext in element.get("extension", ()):
            if ext.get("url") != CONSTRAINT:
                continue
            parts = {e["url"]: next(v for k, v in e.items() if k.startswith("value")) for e in ext["extension"]}
            if parts.get("severity", "error") != "error":
                continue
            if _fhirpathpy(parts["expression"])(resource, {"resource": resource}) == [False]:
                return False
    return True


@st.composite
def answers_for(draw, questionnaire: dict, index: ContentIndex, status: str = "completed"):
    """A valid response to ``questionnaire``: required items answered, disabled ones absent."""
    answers: dict[str, list] = {}

    def build(items: list[dict]) -> list[dict]:
        out = []
        for item in items:
            if item["type"] == "display" or item.get("readOnly") or not _enabled(item, answers):
                continue
            required = item.get("required") is True
            if not required and not draw(st.booleans()):
                continue
            if item["type"] == "group":
                copies = draw(st.integers(1, 2)) if item.get("repeats") else 1
                for _ in range(copies):
                    children = build(item.get("item", []))
                    if children:
                        out.append({"linkId": item["linkId"], "item": children})
                continue
            strategy = _value_strategy(item, index)
            if strategy is None:
                continue
            if item.get("repeats"):
                values = draw(st.lists(strategy, min_size=1, max_size=3, unique_by=lambda v: repr(v)))
            else:
                values = [draw(strategy)]
            answers[item["linkId"]] = values
            node = {"linkId": item["linkId"], "answer": [dict(v) for v in values]}
            if item.get("item"):
                for answer in node["answer"]:
                    nested = build(item["item"])
                    if nested:
                        answer["item"] = nested
            out.append(node)
        return out

    items = build(questionnaire.get("item", []))
    for _ in range(50):  # redraw rather than reject: most draws satisfy the constraints
        if _constraints_hold(questionnaire, items):
            break
        answers.clear()
        items = build(questionnaire.get("item", []))
    hypothesis.assume(_constraints_hold(questionnaire, items))
    canonical = questionnaire["url"] + (f"|{questionnaire['version']}" if questionnaire.get("version") else "")
    resp = {
        "resourceType": "QuestionnaireResponse",
        "id": f"gen-{draw(st.integers(0, 10**6))}",
        "questionnaire": canonical,
        "status": status,
        "subject": {"reference": "Patient/p1"},
        "authored": "2026-03-02T10:00:00Z",
        "author": {"reference": "Practitioner/dr1"},
    }
    if items:
        resp["item"] = items
    return resp


# ------------------------------------------------------------------ server
class FakeServer:
    """Transactions with conditional create/update on ``identifier=system|value``."""

    def __init__(self):
        self.store: dict[str, dict[str, dict]] = {}
        self.created = 0
        self.updated = 0
        self._ids = itertools.count(1)

    def _match(self, rtype: str, query: str) -> list[str]:
        assert query.startswith("identifier="), query
        system, _, value = unquote(query[len("identifier="):]).partition("|")
        found = []
        for rid, res in self.store.get(rtype, {}).items():
            idents = res.get("identifier")
            idents = idents if isinstance(idents, list) else [idents] if idents else []
            if any(i.get("system") == system and i.get("value") == value for i in idents):
                found.append(rid)
        return found

    def _put(self, rtype: str, rid: str, resource: dict) -> None:
        existing = self.store.setdefault(rtype, {})
        if rid in existing:
            self.updated += 1
        else:
            self.created += 1
        existing[rid] = {**copy.deepcopy(resource), "id": rid}

    def transaction(self, bundle: dict) -> None:
        assert bundle["type"] == "transaction"
        for entry in bundle["entry"]:
            req, res = entry["request"], entry["resource"]
            rtype = res["resourceType"]
            if req["method"] == "POST":
                assert req["url"] == rtype
                if req.get("ifNoneExist") and self._match(rtype, req["ifNoneExist"]):
                    continue
                self._put(rtype, f"s{next(self._ids)}", res)
            elif req["method"] == "PUT" and "?" in req["url"]:
                path, _, query = req["url"].partition("?")
                assert path == rtype
                found = self._match(rtype, query)
                assert len(found) <= 1
                self._put(rtype, found[0] if found else f"s{next(self._ids)}", res)
            elif req["method"] == "PUT":
                path, _, rid = req["url"].partition("/")
                assert path == rtype and rid
                self._put(rtype, rid, res)
            else:
                raise AssertionError(f"unexpected request {req}")

    def count(self, rtype: str) -> int:
        return len(self.store.get(rtype, {}))
