"""The ``questionnaire-constraint`` rules of a Questionnaire, checked on a final response.

For ``completed`` and ``amended`` responses every constraint (on the
Questionnaire, or on an item for each enabled occurrence of it) holds: its
FHIRPath ``expression``, evaluated with the response as ``%resource`` and the
item (or the response) as context, must not be false. A breach is reported
with the constraint's ``human`` text and its ``severity``; drafts stay free.
"""

from __future__ import annotations

from fhir_mbt.content import extensions as ext
from fhir_mbt.engine.compiled import CompiledQuestionnaire, ItemDef
from fhir_mbt.engine.fhirpath import CompiledExpression, compile_expression
from fhir_mbt.errors import ContentError

__all__ = ["check_constraints"]


class _Constraint:
    """One ``questionnaire-constraint``: key, severity, human text and the compiled expression."""

    __slots__ = ("key", "severity", "human", "expression")

    def __init__(self, key: str, severity: str, human: str, expression: CompiledExpression):
        self.key, self.severity, self.human, self.expression = key, severity, human, expression


def _read(element: dict, where: str) -> list[_Constraint]:
    out = []
    for found in ext.extensions(element, ext.CONSTRAINT):
        parts = {e.get("url"): next((v for k, v in e.items() if k.startswith("value")), None)
                 for e in found.get("extension", ()) if isinstance(e, dict)}
        expression, human = parts.get("expression"), parts.get("human")
        if not isinstance(expression, str) or not isinstance(human, str):
            raise ContentError(f"{where}: a questionnaire-constraint needs an expression and a human text")
        severity = parts.get("severity") if parts.get("severity") in ("error", "warning") else "error"
        out.append(_Constraint(str(parts.get("key") or ""), severity, human, compile_expression(expression)))
    return out


#: id(compiled questionnaire) -> (it, [(item definition or None for the Questionnaire, constraints)]).
_CACHE: dict[int, tuple[CompiledQuestionnaire, list]] = {}


def _constraints_of(compiled: CompiledQuestionnaire) -> list[tuple[ItemDef | None, list[_Constraint]]]:
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


def check_constraints(check) -> None:
    """Check the constraints of the response walked by ``check`` (a StructureCheck), adding its issues."""
    if check.status not in ("completed", "amended"):
        return
    compiled, view = check.compiled, check.view
    for defn, rules in _constraints_of(compiled):
        if defn is None:
            targets = [(check.response, "QuestionnaireResponse", None)]
        else:
            targets = []
            for node in view.nodes(defn.link_id):
                if not view.is_enabled(defn, node):
                    continue
                where, i = check.locations.get(id(node), ("QuestionnaireResponse", None))
                targets.append((node, where if i is None else f"{where}.item[{i}]", defn.link_id))
        for context, loc, link_id in targets:
            for rule in rules:
                result = rule.expression.evaluate(
                    check.response, context=context, questionnaire=compiled.questionnaire,
                    variables=view.variables(defn, context), weights=compiled.weight_of)
                if result == [False]:
                    about = f" ({link_id})" if link_id else ""
                    check.error("invariant", loc, f"{rule.human}{about}", link_id, severity=rule.severity)
