"""Questionnaire-constraints: rules a completed response must keep.

SDC's ``questionnaire-constraint`` extension (on the Questionnaire, or on an
item) carries a FHIRPath ``expression`` that must not be false, a ``human``
text and a ``severity``. They are checked for ``completed`` and ``amended``
responses only (drafts stay free): the expression is evaluated with the
response as ``%resource`` and the item (or the response) as context, for each
enabled occurrence of the item.
"""

from __future__ import annotations

from typing import Callable

from fhir_mbt.content.extensions import CONSTRAINT, extensions
from fhir_mbt.engine.compiled import CompiledQuestionnaire, ItemDef
from fhir_mbt.engine.fhirpath import CompiledExpression, compile_expression
from fhir_mbt.engine.view import ResponseView
from fhir_mbt.errors import ContentError

__all__ = ["CONSTRAINT_EXTENSION", "check_constraints"]

CONSTRAINT_EXTENSION = CONSTRAINT


class _Constraint:
    """One ``questionnaire-constraint``: key, severity, human text and the compiled expression."""

    __slots__ = ("key", "severity", "human", "expression")

    def __init__(self, key: str, severity: str, human: str, expression: CompiledExpression):
        self.key, self.severity, self.human, self.expression = key, severity, human, expression


def _read_constraints(element: dict, where: str) -> list[_Constraint]:
    out = []
    for ext in extensions(element, CONSTRAINT):
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


def check_constraints(response: dict, compiled: CompiledQuestionnaire, view: ResponseView,
                      locations: dict[int, tuple[str, int | None]], error: Callable) -> None:
    """Report each breached constraint through ``error(code, where, message, link_id, severity=)``."""
    for defn, rules in _constraints_of(compiled):
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
                    error("invariant", loc, f"{rule.human}{about}", link_id, severity=rule.severity)
