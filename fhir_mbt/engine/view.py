"""A QuestionnaireResponse seen through its compiled Questionnaire.

Validation and scoring both need to ask "is this item enabled here?", and
the answer depends on other answers in the response (enableWhen), on
FHIRPath (enableWhenExpression) and on the item's ancestors (a disabled group
disables everything in it). :class:`ResponseView` indexes the response once
and answers those questions with memoisation, so a long session record costs
one pass rather than one pass per condition.

R4 rules followed here: enableWhen ``question`` refers to the nearest
occurrence of that linkId (ancestors first); an answer of a disabled item
counts as no answer; ``exists`` compares answered-ness with the boolean,
``!=`` holds when no answer equals the value (so also when unanswered), the
other operators need at least one answer satisfying them; enableBehavior
``all`` (the default when there is one condition) or ``any``.
"""

from __future__ import annotations

from typing import Any, Iterator

from fhir_mbt.engine.compiled import VALUE_KEYS, CompiledQuestionnaire, ItemDef

__all__ = ["ResponseView", "answer_value"]


_VALUE_KEY_SET = frozenset(VALUE_KEYS)


def answer_value(answer: dict) -> tuple[str | None, Any]:
    """The (value[x] key, value) of an answer, or (None, None)."""
    if len(answer) == 1:  # the usual answer, nothing but its value: no need to try every key in turn
        for key, value in answer.items():
            if key in _VALUE_KEY_SET:
                return key, value
    for key in VALUE_KEYS:
        if key in answer:
            return key, answer[key]
    return None, None


def _equal(key: str, value: Any, ew_key: str, expected: Any) -> bool:
    if key == "valueCoding" and ew_key == "answerCoding":
        if not isinstance(value, dict):
            return False
        if expected.get("system") and value.get("system") != expected.get("system"):
            return False
        return value.get("code") == expected.get("code")
    if key == "valueQuantity" and ew_key == "answerQuantity":
        return (
            isinstance(value, dict)
            and value.get("value") == expected.get("value")
            and value.get("code", value.get("unit")) == expected.get("code", expected.get("unit"))
        )
    if key == "valueReference" and ew_key == "answerReference":
        return isinstance(value, dict) and value.get("reference") == expected.get("reference")
    if key[5:] != ew_key[6:] and not ({key[5:], ew_key[6:]} <= {"Decimal", "Integer"}):
        return False
    return value == expected and isinstance(value, bool) == isinstance(expected, bool)


def _compare(op: str, key: str, value: Any, ew_key: str, expected: Any) -> bool:
    if key == "valueQuantity" and ew_key == "answerQuantity":
        value, expected = (value or {}).get("value"), expected.get("value")
    elif key[5:] != ew_key[6:] and not ({key[5:], ew_key[6:]} <= {"Decimal", "Integer"}):
        return False
    if isinstance(value, bool) or isinstance(expected, bool) or value is None:
        return False
    try:
        if op == ">":
            return value > expected
        if op == "<":
            return value < expected
        if op == ">=":
            return value >= expected
        if op == "<=":
            return value <= expected
    except TypeError:
        return False
    return False


class _Occurrence:
    __slots__ = ("node", "defn", "parent", "scope")

    def __init__(self, node: dict, defn: ItemDef | None, parent: "_Occurrence | None", scope: tuple):
        self.node = node
        self.defn = defn
        self.parent = parent
        self.scope = scope


class ResponseView:
    """Answers by linkId and enabled-ness of items, for one response."""

    def __init__(self, response: dict, compiled: CompiledQuestionnaire):
        self.response = response
        self.compiled = compiled
        self.occurrences: dict[str, list[_Occurrence]] = {}
        self._by_node: dict[int, _Occurrence] = {}
        self._enabled: dict[Any, bool] = {}
        self._active: set = set()
        self._root_vars: dict | None = None
        #: id(copy) -> id(original) for the items :meth:`adopt` swapped in (their scope ids stay the originals').
        self._scope_ids: dict[int, int] = {}
        self._index(response.get("item"), compiled.root_by_link, None, ())

    def adopt(self, response: dict, copies: list[tuple[dict, dict]]) -> bool:
        """Describe ``response`` from now on: the indexed response with some items replaced by copies.

        ``copies`` pairs each copy with its original; everything else must be
        shared between the two responses. Scoring works on such a copy of a
        response the validator has just indexed, and indexing it again costs
        as much as building the view did; instead each copied item's
        occurrence is pointed at the copy. Scopes keep the ids of the
        originals (alive as long as the original response is). Returns False,
        changing nothing, when the copies do not fit this view (then build a
        new one).
        """
        by_node = self._by_node
        found = [by_node.get(id(original)) for _, original in copies]
        if any(occ is None for occ in found) or len({id(original) for _, original in copies}) != len(copies):
            return False
        self.response = response
        self.forget()
        for (copy, original), occ in zip(copies, found):
            occ.node = copy
            by_node[id(copy)] = occ
            self._scope_ids[id(copy)] = id(original)
        return True

    def forget(self) -> None:
        """Drop what was worked out from answers (enabled-ness, variables): the answers changed in place."""
        self._enabled.clear()
        self._root_vars = None

    def _index(self, items, lookup: dict, parent: _Occurrence | None, scope: tuple) -> None:
        if type(items) is not list:
            return
        occurrences, by_node = self.occurrences, self._by_node
        for node in items:
            if type(node) is not dict:
                continue
            link_id = node.get("linkId")
            defn = lookup.get(link_id)
            occ = _Occurrence(node, defn, parent, scope)
            found = occurrences.get(link_id)
            if found is None:
                occurrences[link_id] = [occ]
            else:
                found.append(occ)
            by_node[id(node)] = occ
            sub = node.get("item")
            if sub is not None:
                self._index(sub, defn.child_by_link if defn is not None else {}, occ, scope + (id(node),))
            answers = node.get("answer")
            if type(answers) is list:
                for answer in answers:  # most answers hold no items: no scope built for them
                    if type(answer) is dict and "item" in answer:
                        self._index(answer["item"], defn.child_by_link if defn is not None else {}, occ,
                                    scope + (id(node),))

    # ------------------------------------------------------------------ lookups
    def nodes(self, link_id: str) -> Iterator[dict]:
        for occ in self.occurrences.get(link_id, ()):
            yield occ.node

    def scope_of(self, node: dict) -> tuple:
        occ = self._by_node.get(id(node))
        return occ.scope + (self._scope_ids.get(id(node), id(node)),) if occ is not None else ()

    def _nearest(self, link_id: str, scope: tuple) -> _Occurrence | None:
        found = self.occurrences.get(link_id)
        if not found:
            return None
        if len(found) == 1:
            return found[0]
        best, best_len = found[0], -1
        for occ in found:
            common = 0
            for a, b in zip(occ.scope, scope):
                if a != b:
                    break
                common += 1
            if common > best_len:
                best, best_len = occ, common
        return best

    def answers_for(self, link_id: str, scope: tuple) -> list[dict]:
        """Answers of the nearest enabled occurrence of ``link_id`` (disabled counts as none)."""
        occ = self._nearest(link_id, scope)
        if occ is None or occ.defn is None or not self._occurrence_enabled(occ):
            return []
        answers = occ.node.get("answer")
        return [a for a in answers if isinstance(a, dict)] if isinstance(answers, list) else []

    # --------------------------------------------------------------- enablement
    def _occurrence_enabled(self, occ: _Occurrence) -> bool:
        if occ.parent is not None and not self._occurrence_enabled(occ.parent):
            return False
        return self.enabled_here(occ.defn, occ.scope, occ.node)

    def is_enabled(self, defn: ItemDef, node: dict | None = None, scope: tuple | None = None) -> bool:
        """Whether ``defn`` is enabled at ``node`` (or, if absent, within ``scope``).

        Ancestors are the caller's business when ``scope`` is given; for a
        node present in the response they are checked too.
        """
        if node is not None:
            occ = self._by_node.get(id(node))
            if occ is not None and occ.defn is not None:
                return self._occurrence_enabled(occ)
        return self.enabled_here(defn, scope or (), node)

    def enabled_here(self, defn: ItemDef, scope: tuple, node: dict | None) -> bool:
        if not defn.enable_when and defn.enable_expression is None:
            return True
        key = (id(defn), scope, id(node) if node is not None else None)
        cached = self._enabled.get(key)
        if cached is not None:
            return cached
        if key in self._active:
            return False
        self._active.add(key)
        try:
            result = self._conditions(defn, scope, node)
        finally:
            self._active.discard(key)
        self._enabled[key] = result
        return result

    def _conditions(self, defn: ItemDef, scope: tuple, node: dict | None) -> bool:
        result = True
        if defn.enable_when:
            checks = (self._condition(ew, scope) for ew in defn.enable_when)
            result = any(checks) if defn.enable_behavior == "any" else all(checks)
        if result and defn.enable_expression is not None:
            context = node if node is not None else self._context_node(scope)
            value = defn.enable_expression.evaluate(
                self.response,
                context=context,
                questionnaire=self.compiled.questionnaire,
                variables=self.variables(defn, context),
                weights=self.compiled.weight_of,
            )
            result = value == [True]
        return result

    def _context_node(self, scope: tuple) -> dict:
        if scope:
            occ = self._by_node.get(scope[-1])
            if occ is not None:
                return occ.node
        return self.response

    def _condition(self, ew: dict, scope: tuple) -> bool:
        op = ew.get("operator")
        answers = self.answers_for(ew.get("question"), scope)
        ew_key = next((k for k in ew if k.startswith("answer")), None)
        if ew_key is None:
            return False
        expected = ew[ew_key]
        if op == "exists":
            return bool(answers) == (expected is True)
        values = [answer_value(a) for a in answers]
        if op == "=":
            return any(k is not None and _equal(k, v, ew_key, expected) for k, v in values)
        if op == "!=":
            return not any(k is not None and _equal(k, v, ew_key, expected) for k, v in values)
        return any(k is not None and _compare(op, k, v, ew_key, expected) for k, v in values)

    # ---------------------------------------------------------------- variables
    def variables(self, defn: ItemDef | None, context: Any) -> dict:
        """The SDC ``variable`` values in scope for ``defn`` (Questionnaire level, then ancestors)."""
        if self._root_vars is None:
            self._root_vars = {}
            for name, expr in self.compiled.variables:
                self._root_vars[name] = expr.evaluate(
                    self.response,
                    questionnaire=self.compiled.questionnaire,
                    variables=self._root_vars,
                    weights=self.compiled.weight_of,
                )
        env = dict(self._root_vars)
        if defn is None:
            return env
        chain = [d for d in (defn, *defn.ancestors()) if d.variables]
        for d in reversed(chain):
            for name, expr in d.variables:
                env[name] = expr.evaluate(
                    self.response,
                    context=context,
                    questionnaire=self.compiled.questionnaire,
                    variables=env,
                    weights=self.compiled.weight_of,
                )
        return env
