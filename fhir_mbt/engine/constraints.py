"""Rules across answers: the SDC ``questionnaire-constraint`` extension.

Some rules tie answers together ("no further action" stands alone; an
imminent risk needs an emergency action). The content states each as a
FHIRPath expression with a human text; here every rule is evaluated, for a
completed or amended response, on the Questionnaire (the response as
context) or on each enabled occurrence of its item. A rule that gives
``false`` is reported with its human text and severity; drafts stay free.
"""

from __future__ import annotations

from typing import Any, Callable

from fhir_mbt.content import extensions as ext
from fhir_mbt.engine.compiled import CompiledQuestionnaire, ItemDef
from fhir_mbt.engine.fhirpath import CompiledExpression, compile_expression
from fhir_mbt.engine.view import ResponseView
from fhir_mbt.errors import ContentError

__all__ = ["Constraint", "check_constraints", "constraints_of"]


class Constraint:
    """One ``questionnaire-constraint``: key, severity, human text and the compiled expression."""

    __slots__ = ("key", "severity", "human", "expression")

    def __init__(self, key: str, severity: str, human: str, expression: CompiledExpression):
        self.key, self.severity, self.human, self.expression = key, severity, human, expression


def _read(element: dict, where: str) -> list[Constraint]:
    try:
        rules = ext.constraints(element)
    except ContentError as exc:
        raise ContentError(f"{where}: {exc}") from None
    return [Constraint(key, severity, human, compile_expression(text)) for key, severity, human, text in rules]


#: id(compiled questionnaire) -> (it, [(item definition or None for the Questionnaire, constraints)]).
_CACHE: dict[int, tuple[CompiledQuestionnaire, list]] = {}


def constraints_of(compiled: CompiledQuestionnaire) -> list[tuple[ItemDef | None, list[Constraint]]]:
    """Every constraint of a Questionnaire, with the item it sits on (None: the Questionnaire)."""
    hit = _CACHE.get(id(compiled))
    if hit is not None and hit[0] is compiled:
        return hit[1]
    found = []
    root = _read(compiled.questionnaire, "Questionnaire")
    if root:
        found.append((None, root))
    for defn in compiled.walk():
        own = _read(defn.item, f"item {defn.link_id!r}")
        if own:
            found.append((defn, own))
    if len(_CACHE) > 64:
        _CACHE.clear()
    _CACHE[id(compiled)] = (compiled, found)
    return found


def check_constraints(response: dict, compiled: CompiledQuestionnaire, view: ResponseView,
                      locations: dict[int, tuple[str, int | None]], error: Callable[..., Any]) -> None:
    """Report through ``error`` every constraint that ``response`` breaks.

    ``locations`` maps id(item) to where the structure walk found it, so an
    issue points at the item it is about.
    """
    for defn, rules in constraints_of(compiled):
        if defn is None:
            targets = [(response, "QuestionnaireResponse", None)]
        else:
            targets = []
            for node in view.nodes(defn.link_id):
                if not view.is_enabled(defn, node):
                    continue
                where, i = locations.get(id(node), ("QuestionnaireResponse", None))
                targets.append((node, where if i is None else f"{where}.item[{i}]", defn.link_id))
        for context, loc, link_id in targets:
            for rule in rules:
                result = rule.expression.evaluate(
                    response, context=context, questionnaire=compiled.questionnaire,
                    variables=view.variables(defn, context), weights=compiled.weight_of)
                if result == [False]:
                    about = f" ({link_id})" if link_id else ""
                    error("invariant", loc, f"{rule.human}{about}", link_id, severity=rule.severity, human=rule.human)
