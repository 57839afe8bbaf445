"""Scores: answer weights and the Questionnaire's calculated items.

A score is whatever a read-only item's SDC ``calculatedExpression`` computes
from the other answers; the instrument's rules live in the content, not here,
so the RFQ-8 subscales (or any later instrument) need no Python. What this
module adds is what the expressions rely on: answer weights (``itemWeight``
and the older ``ordinalValue``, on an answerOption, on a ValueSet concept or
on the CodeSystem concept) behind FHIRPath ``weight()``/``ordinal()``;
``variable`` extensions; and evaluation in dependency order, so a score that
uses another score sees its value.

Nothing is mutated: :func:`apply_scores` returns a new response with the
values written into the score items (sharing the untouched items with the
input), :func:`score` just the values.
"""

from __future__ import annotations

import pickle
from dataclasses import dataclass
from typing import Any

from fhir_mbt.engine.compiled import (
    CompiledQuestionnaire,
    ItemDef,
    compile_questionnaire,
    questionnaire_for,
)
from fhir_mbt.content import ContentIndex, shipped
from fhir_mbt.errors import ContentError
from fhir_mbt.engine.view import ResponseView, answer_value

__all__ = ["Calculation", "calculate", "score", "apply_scores", "answer_weights"]


@dataclass(frozen=True)
class Calculation:
    """One calculated item instance: where it sits and the answers it computes.

    ``original`` is the item as found in the input response (None when the
    input lacks it); ``answers`` is the computed answer list (empty when the
    expression gives nothing, e.g. an in-progress form missing inputs).
    """

    defn: ItemDef
    original: dict | None
    answers: list[dict]

    @property
    def value(self) -> Any:
        values = [answer_value(a)[1] for a in self.answers]
        if not values:
            return None
        return values if self.defn.repeats else values[0]


def _answers_from(defn: ItemDef, result: list) -> list[dict]:
    if len(result) > 1 and not defn.repeats:
        raise ContentError(
            f"calculatedExpression of item {defn.link_id!r} gives {len(result)} values for a non-repeating item"
        )
    return [{_key(defn, value): _typed(defn, value)} for value in result]


def _key(defn: ItemDef, value: Any) -> str:
    t = defn.type
    if t == "decimal":
        return "valueQuantity" if isinstance(value, dict) else "valueDecimal"
    if t in ("choice", "open-choice"):
        return "valueCoding" if isinstance(value, dict) or t == "choice" else "valueString"
    return {
        "integer": "valueInteger", "boolean": "valueBoolean", "string": "valueString",
        "text": "valueString", "date": "valueDate", "dateTime": "valueDateTime", "time": "valueTime",
        "url": "valueUri", "quantity": "valueQuantity", "reference": "valueReference",
    }.get(t) or _unsupported(defn)


def _unsupported(defn: ItemDef):
    raise ContentError(f"item {defn.link_id!r} of type {defn.type!r} cannot hold a calculated value")


def _typed(defn: ItemDef, value: Any) -> Any:
    t = defn.type
    bad = ContentError(f"calculatedExpression of item {defn.link_id!r} gives {value!r}, not a {t}")
    if t == "decimal":
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise bad
        return float(value)
    if t == "integer":
        if isinstance(value, bool) or not isinstance(value, (int, float)) or value != int(value):
            raise bad
        return int(value)
    if t == "boolean":
        if not isinstance(value, bool):
            raise bad
        return value
    if t == "quantity":
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            quantity = {"value": value}
            if defn.unit:
                quantity.update(unit=defn.unit.get("display", defn.unit.get("code")),
                                system=defn.unit.get("system"), code=defn.unit.get("code"))
            return {k: v for k, v in quantity.items() if v is not None}
        if not isinstance(value, dict):
            raise bad
        return value
    if t in ("choice", "open-choice"):
        if isinstance(value, dict):
            return value
        if t == "choice":
            match = [c for (_, code), c in defn.option_codings.items() if code == value]
            if not match and defn.allowed:
                match = [{k: c[k] for k in ("system", "code", "display") if c.get(k)}
                         for (_, code), c in defn.allowed.items() if code == value]
            if not match:
                raise bad
            return match[0]
        return str(value)
    if not isinstance(value, str):
        raise bad
    return value


def _insert(container: list, node: dict, defn: ItemDef, siblings: dict[str, int]) -> None:
    mine = siblings.get(defn.link_id, 0)
    for i, other in enumerate(container):
        if isinstance(other, dict) and siblings.get(other.get("linkId"), -1) > mine:
            container.insert(i, node)
            return
    container.append(node)


def _copy_spine(value: Any, spine: frozenset[str], origin: dict[int, tuple[dict, dict]]) -> Any:
    """A copy of an item list in which only the items on the ``spine`` (and lists holding them) are new.

    :func:`calculate` writes answers into score items and adds missing score
    items and their groups, nothing else; copying the whole response for that
    (what a deep copy does) costs more than the scoring itself. Items off the
    spine are shared with the input, which is never written to. ``origin``
    maps each copied item (by id) to (the copy, the item it was copied from).
    A value that is not a list (a malformed response) is copied whole.
    """
    if type(value) is not list:
        return pickle.loads(pickle.dumps(value, pickle.HIGHEST_PROTOCOL))
    out = list(value)
    for i, node in enumerate(out):
        if type(node) is not dict or not isinstance(node.get("linkId"), str) or node["linkId"] not in spine:
            continue
        copy = out[i] = dict(node)
        origin[id(copy)] = (copy, node)
        if "item" in node:
            copy["item"] = _copy_spine(node["item"], spine, origin)
        answers = node.get("answer")
        if type(answers) is list:
            copy["answer"] = answers = [dict(a) if type(a) is dict else a for a in answers]
            for answer in answers:
                if type(answer) is dict and "item" in answer:
                    answer["item"] = _copy_spine(answer["item"], spine, origin)
    return out


def calculate(
    response: dict, compiled: CompiledQuestionnaire, view: ResponseView | None = None
) -> tuple[dict, list[Calculation]]:
    """Evaluate every calculated item in dependency order on a copy of ``response``.

    Returns the copy, with the computed answers written in (parts the
    calculation does not touch are shared with ``response``), and one
    :class:`Calculation` per item instance. Score items (and the
    non-repeating groups holding them) are added where the response lacks
    them, and left out again when their expression gives nothing.

    ``view``, a :class:`ResponseView` of ``response`` the caller has no more
    use for, is taken over (and changed) rather than indexing the copy anew.
    """
    work = dict(response)
    if not compiled.calculated:
        return work, []
    origin: dict[int, tuple[dict, dict]] = {}
    if "item" in work:
        work["item"] = _copy_spine(work["item"], compiled.calculation_spine, origin)
    if view is not None and not (view.response is response and view.compiled is compiled
                                 and view.adopt(work, list(origin.values()))):
        view = None
    state = _Work(work, compiled, view)
    results: list[Calculation] = []
    for defn in compiled.calculated:
        for holder, container in state.containers(defn):
            node = next((n for n in container if isinstance(n, dict) and n.get("linkId") == defn.link_id), None)
            original = origin[id(node)][1] if node is not None and id(node) in origin else None
            if not state.view.is_enabled(defn, node, state.view.scope_of(holder) if holder is not work else ()):
                answers: list[dict] = []
            else:
                if node is None:
                    node = state.add(container, defn)
                result = defn.calculated.evaluate(
                    work,
                    context=node,
                    questionnaire=compiled.questionnaire,
                    variables=state.view.variables(defn, node),
                    weights=compiled.weight_of,
                )
                answers = _answers_from(defn, result)
            if node is not None:
                if answers:
                    node["answer"] = answers
                else:
                    node.pop("answer", None)
                    if not node.get("item"):
                        container.remove(node)
                        state.changed()
            results.append(Calculation(defn, original, answers))
        state.refresh()
    state.prune()
    return work, results


class _Work:
    """The working copy during :func:`calculate`, and the view kept in step with it."""

    def __init__(self, work: dict, compiled: CompiledQuestionnaire, view: ResponseView | None = None):
        self.work = work
        self.compiled = compiled
        self.view = view if view is not None else ResponseView(work, compiled)
        self.created: list[tuple[list, dict]] = []
        self.touched: list[dict] = []
        self.dirty = False

    def changed(self) -> None:
        self.dirty = True

    def refresh(self) -> None:
        if self.dirty:
            self.view = ResponseView(self.work, self.compiled)
            self.dirty = False
        else:
            self.view.forget()

    def add(self, container: list, defn: ItemDef) -> dict:
        node = {"linkId": defn.link_id}
        if defn.text:
            node["text"] = defn.text
        positions = defn.parent.child_position if defn.parent else self.compiled.root_position
        _insert(container, node, defn, positions)
        self.dirty = True
        self.refresh()
        return node

    def _list(self, holder: dict) -> list:
        if "item" not in holder:
            holder["item"] = []
            self.touched.append(holder)
        return holder["item"]

    def containers(self, defn: ItemDef) -> list[tuple[dict, list]]:
        """(holder, item list) pairs where instances of ``defn`` live, creating plain groups on the way."""
        parent = defn.parent
        if parent is None:
            return [(self.work, self._list(self.work))]
        out = []
        for holder, container in self.containers(parent):
            nodes = [n for n in container if isinstance(n, dict) and n.get("linkId") == parent.link_id]
            if not nodes and parent.type == "group" and not parent.repeats:
                scope = self.view.scope_of(holder) if holder is not self.work else ()
                if self.view.is_enabled(parent, None, scope):
                    node = self.add(container, parent)
                    self.created.append((container, node))
                    nodes = [node]
            for node in nodes:
                if not self.view.is_enabled(parent, node):
                    continue
                if parent.type == "group":
                    out.append((node, self._list(node)))
                else:
                    for answer in node.get("answer", ()):
                        if isinstance(answer, dict):
                            out.append((answer, self._list(answer)))
        return out

    def prune(self) -> None:
        for container, node in reversed(self.created):
            if not node.get("item") and node in container:
                container.remove(node)
        for holder in self.touched:
            if holder.get("item") == []:
                del holder["item"]


def _compiled(response: dict, questionnaire: dict | None, index: ContentIndex | None) -> CompiledQuestionnaire:
    index = index if index is not None else shipped()
    if questionnaire is None:
        questionnaire = questionnaire_for(response, index)
    return compile_questionnaire(questionnaire, index)


def score(response: dict, questionnaire: dict | None = None, index: ContentIndex | None = None) -> dict[str, Any]:
    """The value of every calculated item, by linkId.

    A value is None when its expression gives nothing (missing inputs). A
    score inside a repeating group gives a list, one value per group.
    """
    compiled = _compiled(response, questionnaire, index)
    _, results = calculate(response, compiled)
    out: dict[str, Any] = {}
    for calc in results:
        if calc.defn.link_id in out and any(a.repeats for a in calc.defn.ancestors()):
            previous = out[calc.defn.link_id]
            out[calc.defn.link_id] = (previous if isinstance(previous, list) else [previous]) + [calc.value]
        else:
            out[calc.defn.link_id] = calc.value
    for defn in compiled.calculated:
        out.setdefault(defn.link_id, None)
    return out


def apply_scores(response: dict, questionnaire: dict | None = None, index: ContentIndex | None = None) -> dict:
    """A copy of ``response`` with every calculated item's answer (re)computed.

    ``response`` is left as it was; items without a calculation in them are
    shared between the two, not copied.
    """
    work, _ = calculate(response, _compiled(response, questionnaire, index))
    return work


def answer_weights(
    response: dict, questionnaire: dict | None = None, index: ContentIndex | None = None
) -> dict[str, list]:
    """The weight of each coded answer, by linkId (None where a code has no weight)."""
    compiled = _compiled(response, questionnaire, index)
    out: dict[str, list] = {}

    def walk(items):
        for node in items or ():
            if not isinstance(node, dict):
                continue
            defn = compiled.by_link.get(node.get("linkId"))
            for answer in node.get("answer", ()):
                if defn is not None and "valueCoding" in answer:
                    weight = defn.weight_of(answer["valueCoding"])
                    if weight is None:
                        weight = compiled.weight_of(answer["valueCoding"])
                    out.setdefault(defn.link_id, []).append(weight)
                walk(answer.get("item"))
            walk(node.get("item"))

    walk(response.get("item"))
    return out
