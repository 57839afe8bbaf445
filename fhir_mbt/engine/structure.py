"""Does a response have its Questionnaire's shape? The walk over its items.

:class:`StructureCheck` walks the response once, item by item beside the
compiled Questionnaire: linkIds in place and in order, repeats, groups versus
questions, enabled-ness (through :class:`~fhir_mbt.engine.view.ResponseView`),
required items and cross-answer constraints when the status is final, and,
once the walk found no error, the calculated items (scoring computes them;
this compares). Each answer is handed to :mod:`fhir_mbt.engine.answers`.
"""

from __future__ import annotations

import datetime as _dt
import math
from typing import Any

from fhir_mbt.engine.answers import Bound, calculated_bounds, check_answer, fast_checks
from fhir_mbt.engine.clock import latest_today
from fhir_mbt.engine.compiled import CompiledQuestionnaire, ItemDef
from fhir_mbt.engine.constraints import check_constraints
from fhir_mbt.engine.outcome import issue, question_label
from fhir_mbt.engine.scoring import calculate
from fhir_mbt.engine.view import ResponseView, answer_value
from fhir_mbt.errors import ContentError

__all__ = ["NEEDS_REQUIRED", "StructureCheck"]

#: The statuses under which required items must be answered (drafts stay free).
NEEDS_REQUIRED = frozenset({"completed", "amended"})


def _label(defn: ItemDef) -> str:
    return question_label(defn.text, "A question of this form", defn.codes)


def _needs_answer(defn: ItemDef) -> str:
    """The human text for a required item left out."""
    if defn.type == "group":
        return f"{_label(defn)}: this section needs answers"
    return f"{_label(defn)} needs an answer"


def _unanswered(defn: ItemDef) -> str:
    """The message for a required item left out, naming the question by its text where it has one."""
    what = "group" if defn.type == "group" else "item"
    if isinstance(defn.text, str) and defn.text.strip():
        return f"required {what} {defn.link_id!r} ({defn.text.strip()!r}) is not answered"
    return f"required {what} {defn.link_id!r} is not answered"


class StructureCheck:
    """One walk over a response: structure, enabled-ness, required items, then the calculated items."""

    def __init__(self, response: dict, compiled: CompiledQuestionnaire, today: _dt.date | None = None):
        self.response = response
        self.compiled = compiled
        self.view = ResponseView(response, compiled)
        self.issues: list[dict] = []
        #: id(item) -> (location of its list, its index there), for issues found after the walk.
        self.locations: dict[int, tuple[str, int | None]] = {}
        self.status = response.get("status")
        self.scored: dict | None = None
        #: The day computed bounds (maxValue = today()) are evaluated for; see fhir_mbt.engine.clock.
        self.today = today
        self._bounds: dict[int, tuple[Bound | None, Bound | None]] = {}

    def error(self, code: str, where: str, message: str, link_id: str | None = None, severity="error",
              human: str | None = None):
        self.issues.append(issue(severity, code, where, message, link_id, human))

    def bounds(self, defn: ItemDef) -> tuple[Bound | None, Bound | None] | None:
        """The item's computed (minValue, maxValue), evaluated once per response; None if it has none."""
        if defn.min_calculated is None and defn.max_calculated is None:
            return None
        found = self._bounds.get(id(defn))
        if found is None:
            if self.today is None:
                self.today = latest_today()
            found = self._bounds[id(defn)] = calculated_bounds(defn, self.response, self.compiled.questionnaire,
                                                               self.today)
        return found

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
            self.error("structure", f"{where}.item", "item must be a non-empty list",
                       human="Part of this record is malformed (an empty list of answers)")
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
                self.error("structure", f"{where}.item[{i}]", "an item must be an object",
                           human="Part of this record is malformed")
                continue
            link_id = node.get("linkId")
            if not isinstance(link_id, str) or not link_id:
                self.error("required", f"{where}.item[{i}]", "item has no linkId",
                           human="Part of this record does not say which question it answers")
                continue
            locations[id(node)] = (where, i)
            defn = by_link.get(link_id)
            if defn is None:
                loc = f"{where}.item[{i}]"
                elsewhere = self.compiled.by_link.get(link_id)
                if elsewhere is not None:
                    owner = elsewhere.parent.link_id if elsewhere.parent else "the top level"
                    self.error("structure", loc, f"item {link_id!r} belongs under {owner!r}, not here", link_id,
                               human=f"{_label(elsewhere)} is answered in the wrong part of the form")
                else:
                    self.error("structure", loc, f"linkId {link_id!r} is not in the Questionnaire", link_id,
                               human="This record answers a question that this form does not have")
                continue
            position = positions[link_id]
            if position < last:
                self.error("structure", f"{where}.item[{i}]",
                           f"item {link_id!r} is out of the Questionnaire's order", link_id,
                           human=f"{_label(defn)} is out of the form's order")
            else:
                last = position
            if link_id in present and link_id not in repeated:
                repeated.add(link_id)
                if defn.type != "group":
                    self.error("structure", f"{where}.item[{i}]", f"question {link_id!r} appears more than once; "
                               "a question keeps all its answers in one item", link_id,
                               human=f"{_label(defn)} is answered more than once")
                elif not defn.repeats:
                    self.error("structure", f"{where}.item[{i}]", f"group {link_id!r} does not repeat", link_id,
                               human=f"{_label(defn)} can be filled in only once")
            present.add(link_id)
            if not enabled_here(defn, scope, node):
                self.error("business-rule", f"{where}.item[{i}]",
                           f"item {link_id!r} is disabled by its enable conditions and must be absent", link_id,
                           human=f"{_label(defn)} does not apply with the other answers given, so it must be left "
                                 "empty")
                continue
            self.item(node, defn, where, i, scope)
        self.required(defs, present, where, scope, parent)

    def required(self, defs, present: set[str], where: str, scope: tuple, parent: ItemDef | None):
        if self.status not in NEEDS_REQUIRED:
            return
        for d in defs:
            if d.required and d.link_id not in present and d.type != "display":
                if self.view.is_enabled(d, None, scope):
                    self.error("required", where, _unanswered(d), d.link_id, human=_needs_answer(d))

    def item(self, node: dict, defn: ItemDef, where: str, i: int, scope: tuple):
        """Check item ``i`` of the list at ``where``; ``scope`` is that of the list."""
        link_id = defn.link_id
        answers = node.get("answer")
        if defn.type == "display":
            if answers is not None or node.get("item") is not None:
                self.error("structure", f"{where}.item[{i}]",
                           f"display item {link_id!r} cannot hold answers or items", link_id,
                           human=f"{_label(defn)} is a note, not a question: it cannot be answered")
            return
        if defn.type == "group":
            loc = f"{where}.item[{i}]"
            if answers is not None:
                self.error("structure", f"{loc}.answer", f"group {link_id!r} cannot hold answers", link_id,
                           human=f"{_label(defn)} is a section, not a question: it cannot be answered")
            self.items(node.get("item"), defn.children, loc, scope + (id(node),), defn)
            if defn.required and self.status in NEEDS_REQUIRED and not node.get("item"):
                self.error("required", loc, f"required group {link_id!r} is empty", link_id,
                           human=_needs_answer(defn))
            return
        if node.get("item") is not None:
            self.error("structure", f"{where}.item[{i}].item",
                       f"items nested in question {link_id!r} belong under its answers (answer.item)", link_id,
                       human=f"The follow-up questions of {_label(defn)} are in the wrong place")
        if answers is None:
            if defn.required and self.status in NEEDS_REQUIRED:
                self.error("required", f"{where}.item[{i}]", _unanswered(defn), link_id,
                           human=_needs_answer(defn))
            return
        if not isinstance(answers, list) or not answers:
            self.error("structure", f"{where}.item[{i}].answer", "answer must be a non-empty list", link_id,
                       human=f"{_label(defn)} has a malformed answer")
            return
        if len(answers) > 1 and not defn.repeats:
            self.error("structure", f"{where}.item[{i}].answer[1]",
                       f"item {link_id!r} does not repeat but has {len(answers)} answers", link_id,
                       human=f"{_label(defn)} takes only one answer ({len(answers)} given)")
        checks = defn.answer_checks
        if checks is None:
            checks = fast_checks(defn)
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
                self.error("structure", aloc, "an answer must be an object", link_id,
                           human=f"{_label(defn)} has a malformed answer")
                continue
            bounds = self.bounds(defn)
            check_answer(answer, defn, aloc, self.error, bounds,
                         self.today.isoformat() if bounds is not None and self.today else None)
            if defn.children or answer.get("item") is not None:
                self.items(answer.get("item"), defn.children, aloc, scope + (id(node),), defn)

    # ------------------------------------------------------------- constraints
    def constraints(self):
        """Check the questionnaire-constraints of a completed or amended response (drafts stay free)."""
        if self.status in NEEDS_REQUIRED:
            check_constraints(self.response, self.compiled, self.view, self.locations, self.error)

    # ----------------------------------------------------------- calculations
    def calculations(self):
        try:
            self.scored, results = calculate(self.response, self.compiled, self.view)  # the walk is done with it
        except ContentError as exc:
            self.error("processing", "QuestionnaireResponse", f"scores cannot be computed: {exc}",
                       human="The scores of this form cannot be computed (a fault in the form's definition)")
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
                           f"calculation gives {expected!r}", calc.defn.link_id,
                           human=f"{_label(calc.defn)} does not match what the answers give ({_show(given)} given, "
                                 f"{expected!r} computed)")


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
