"""A score's calculation as portable JSON, for a preview computed while answering.

A score is whatever its item's SDC ``calculatedExpression`` (FHIRPath) gives
(:mod:`fhir_mbt.engine.scoring`). A form that wants to show the score before
it is saved needs the same rule in the browser; this module translates the
expression into a small JSON tree that a short interpreter
(``smart_app/static/score-preview.js``) evaluates with the engine's FHIRPath
semantics: collections, empty propagation, ``iif``, exact decimal arithmetic
(``/`` is exact, ``div`` truncates, ``round()`` rounds half up, as the engine's
compiled path does).

Only a closed subset translates, the one the shipped scores use:

- the answers of named items: ``%resource.repeat(item).where(linkId = 'x')``
  or ``…where(linkId in ('x' | 'y'))``, then ``.answer``, then optionally
  ``.valueCoding``/``.valueInteger``/``.valueDecimal``/``.valueBoolean``/``.value``;
- ``count() sum() exists() empty() not() first() round(n)``,
  ``select(…) where(…) aggregate(…, init)`` with ``$this``, ``$total`` and
  members of a Coding (``code``, ``system``, ``display``);
- ``iif``, literals (numbers, strings, booleans, ``{}``), ``= != < > <= >=``,
  ``+ - * / div``, ``and or implies``.

Anything else raises :class:`NotPortable` and that score is simply not
previewed (the saved score, computed by the engine, is the only one shown).
Left out on purpose: ``weight()``/``ordinal()`` (the weights would have to
travel too; no shipped score uses them), ``mod`` (Python and JavaScript
disagree on signs), scores that read other calculated items or ``variable``s
(their values are not inputs on the page), and anything evaluated on
``%context`` (scores inside repeating groups).
"""

from __future__ import annotations

from typing import Any, Iterable

from fhir_mbt.content import extensions as ext
from fhir_mbt.engine.fhirpath import ExpressionError, syntax_tree

__all__ = ["NotPortable", "score_program", "score_programs"]

#: Answer types the browser can read back from a form's inputs.
_INPUT_TYPES = frozenset({"choice", "integer", "decimal", "boolean"})
_VALUE_KEYS = frozenset({"valueCoding", "valueInteger", "valueDecimal", "valueBoolean", "value"})
_CODING_MEMBERS = frozenset({"code", "system", "display"})
_NO_ARGS = frozenset({"count", "sum", "exists", "empty", "not", "first"})
_BINARY = {
    "EqualityExpression": {"=", "!="},
    "InequalityExpression": {"<", ">", "<=", ">="},
    "AdditiveExpression": {"+", "-"},
    "MultiplicativeExpression": {"*", "/", "div"},
    "AndExpression": {"and"},
    "OrExpression": {"or"},
    "ImpliesExpression": {"implies"},
}


class NotPortable(Exception):
    """The expression uses something outside the subset the preview can evaluate."""


def _kids(node: dict) -> list[dict]:
    return node.get("children") or []


def _op(node: dict) -> str:
    ops = node.get("terminalNodeText") or []
    if len(ops) != 1:
        raise NotPortable(f"{node.get('type')} with {ops}")
    return ops[0]


def _identifier(node: dict) -> str:
    text = node.get("text") or ""
    return text[1:-1] if text[:1] in "`\"" and text[-1:] == text[:1] and len(text) > 1 else text


def _string(node: dict) -> str:
    text = node.get("text") or ""
    if len(text) < 2 or "\\" in text:
        raise NotPortable("string literal with escapes")
    return text[1:-1]


def _unwrap(node: dict) -> dict:
    while node.get("type") in ("TermExpression", "InvocationTerm") and len(_kids(node)) == 1:
        node = _kids(node)[0]
    return node


def _chain(node: dict) -> list[dict]:
    """``a.b.c()`` as its steps [a, b, c()] (an InvocationExpression is left-nested)."""
    steps = []
    while node.get("type") == "InvocationExpression":
        base, step = _kids(node)
        steps.append(step)
        node = base
    steps.append(node)
    return list(reversed(steps))


def _function(step: dict) -> tuple[str, list[dict]] | None:
    step = _unwrap(step)
    if step.get("type") != "FunctionInvocation":
        return None
    functn = _kids(step)[0]
    name = _identifier(_kids(functn)[0])
    params = _kids(_kids(functn)[1]) if len(_kids(functn)) > 1 else []
    return name, params


def _member(step: dict) -> str | None:
    step = _unwrap(step)
    if step.get("type") == "MemberInvocation":
        return _identifier(_kids(step)[0])
    return None


class _Translator:
    def __init__(self, types: dict[str, str], calculated: set[str]):
        self.types = types
        self.calculated = calculated

    # -- the answers of named items ----------------------------------------------------------
    def _link_ids(self, criterion: dict) -> list[str]:
        node = _unwrap(criterion)
        kind = node.get("type")
        if kind == "EqualityExpression" and _op(node) == "=":
            left, right = _kids(node)
            if _member(left) == "linkId":
                return [self._literal_string(right)]
        if kind == "MembershipExpression" and _op(node) == "in":
            left, right = _kids(node)
            if _member(left) == "linkId":
                return self._strings(right)
        raise NotPortable("items chosen otherwise than by linkId")

    def _literal_string(self, node: dict) -> str:
        node = _unwrap(node)
        if node.get("type") == "LiteralTerm" and _kids(node) and _kids(node)[0].get("type") == "StringLiteral":
            return _string(_kids(node)[0])
        raise NotPortable("a linkId that is not a string literal")

    def _strings(self, node: dict) -> list[str]:
        node = _unwrap(node)
        if node.get("type") == "ParenthesizedTerm":
            return self._strings(_kids(node)[0])
        if node.get("type") == "UnionExpression":
            left, right = _kids(node)
            return self._strings(left) + self._strings(right)
        return [self._literal_string(node)]

    def _answers(self, steps: list[dict]) -> tuple[dict, list[dict]]:
        """The ``%resource.repeat(item).where(linkId…).answer[.valueX]`` head of a chain, and the rest."""
        head = _unwrap(steps[0])
        if not (head.get("type") == "ExternalConstantTerm" and _identifier(_kids(_kids(head)[0])[0]) == "resource"):
            raise NotPortable("a path that does not start at %resource")
        repeat = _function(steps[1]) if len(steps) > 1 else None
        if not repeat or repeat[0] != "repeat" or len(repeat[1]) != 1 or _member(repeat[1][0]) != "item":
            raise NotPortable("%resource not followed by repeat(item)")
        where = _function(steps[2]) if len(steps) > 2 else None
        if not where or where[0] != "where" or len(where[1]) != 1:
            raise NotPortable("repeat(item) not followed by where(linkId …)")
        link_ids = self._link_ids(where[1][0])
        if len(steps) < 4 or _member(steps[3]) != "answer":
            raise NotPortable("items used otherwise than through their answers")
        key, rest = "value", steps[4:]
        if rest and _member(rest[0]) in _VALUE_KEYS:
            key, rest = _member(rest[0]), rest[1:]
        types = {}
        for link_id in link_ids:
            kind = self.types.get(link_id)
            if link_id in self.calculated:
                raise NotPortable(f"reads another calculated item ({link_id})")
            if kind not in _INPUT_TYPES:
                raise NotPortable(f"reads an item of type {kind}")
            types[link_id] = kind
        return {"answers": link_ids, "key": key, "types": types}, rest

    # -- expressions -------------------------------------------------------------------------
    def expr(self, node: dict, inner: bool) -> dict:
        """``inner``: inside select/where/aggregate, where a bare member is one of ``$this``."""
        kind = node.get("type")
        if kind in _BINARY:
            op = _op(node)
            if op not in _BINARY[kind]:
                raise NotPortable(f"operator {op}")
            left, right = _kids(node)
            return {"op": op, "args": [self.expr(left, inner), self.expr(right, inner)]}
        if kind in (None, "", "EntireExpression", "TermExpression") and len(_kids(node)) == 1:
            return self.expr(_kids(node)[0], inner)
        if kind == "ParenthesizedTerm":
            return self.expr(_kids(node)[0], inner)
        if kind == "LiteralTerm":
            return self._literal(_kids(node)[0])
        if kind in ("InvocationExpression", "InvocationTerm", "ExternalConstantTerm"):
            return self._path(node, inner)
        raise NotPortable(f"{kind}")

    def _literal(self, node: dict) -> dict:
        kind = node.get("type")
        if kind == "NumberLiteral":
            text = node.get("text") or ""
            if not text.replace(".", "", 1).isdigit():
                raise NotPortable(f"number {text!r}")
            return {"num": text}
        if kind == "StringLiteral":
            return {"str": _string(node)}
        if kind == "BooleanLiteral":
            return {"bool": node.get("text") == "true"}
        if kind == "NullLiteral":
            return {"empty": True}
        raise NotPortable(f"literal {kind}")

    def _path(self, node: dict, inner: bool) -> dict:
        steps = _chain(node)
        first = _unwrap(steps[0])
        if first.get("type") == "ExternalConstantTerm":
            value, rest = self._answers(steps)
        else:
            value, rest = self._start(steps[0], inner), steps[1:]
        for step in rest:
            value = self._apply(value, step)
        return value

    def _start(self, step: dict, inner: bool) -> dict:
        node = _unwrap(step)
        kind = node.get("type")
        if kind in ("ParenthesizedTerm", "LiteralTerm"):
            return self.expr(node, inner)
        if kind == "ThisInvocation" and inner:
            return {"this": True}
        if kind == "TotalInvocation" and inner:
            return {"total": True}
        if kind == "MemberInvocation" and inner:
            name = _identifier(_kids(node)[0])
            if name in _CODING_MEMBERS:
                return {"member": name, "of": {"this": True}}
        call = _function(node)
        if call and call[0] == "iif" and len(call[1]) in (2, 3):
            return {"iif": [self.expr(p, inner) for p in call[1]]}
        raise NotPortable(f"{kind} {node.get('text', '')}")

    def _apply(self, value: dict, step: dict) -> dict:
        name = _member(step)
        if name is not None:
            if name not in _CODING_MEMBERS:
                raise NotPortable(f"member {name}")
            return {"member": name, "of": value}
        call = _function(step)
        if call is None:
            raise NotPortable("an indexer or other step")
        fn, params = call
        if fn in _NO_ARGS and not params:
            return {"call": fn, "of": value}
        if fn in ("select", "where") and len(params) == 1:
            return {"call": fn, "of": value, "body": self.expr(params[0], True)}
        if fn == "aggregate" and len(params) in (1, 2):
            out = {"call": fn, "of": value, "body": self.expr(params[0], True)}
            if len(params) == 2:
                out["init"] = self.expr(params[1], False)
            return out
        if fn == "round" and len(params) <= 1:
            places = self.expr(params[0], False) if params else {"num": "0"}
            if "num" not in places or "." in places["num"]:
                raise NotPortable("round() to a computed precision")
            return {"call": fn, "of": value, "places": int(places["num"])}
        raise NotPortable(f"function {fn}() with {len(params)} parameters")


def _items(items: Iterable[dict]) -> Iterable[dict]:
    for item in items or ():
        yield item
        yield from _items(item.get("item"))


def score_program(questionnaire: dict, item: dict) -> dict:
    """The portable program of one calculated item; :class:`NotPortable` when it has none."""
    expression = ext.fhirpath(item, ext.CALCULATED_EXPRESSION)
    if not isinstance(expression, str):
        raise NotPortable("no FHIRPath calculatedExpression")
    everything = list(_items(questionnaire.get("item", ())))
    if ext.has(questionnaire, ext.VARIABLE) or any(ext.has(i, ext.VARIABLE) for i in everything):
        raise NotPortable("uses variables")
    types = {i.get("linkId"): i.get("type") for i in everything}
    calculated = {i.get("linkId") for i in everything if ext.has(i, ext.CALCULATED_EXPRESSION)}
    try:
        tree = syntax_tree(expression)
    except ExpressionError as exc:
        raise NotPortable(str(exc)) from None
    return _Translator(types, calculated).expr(tree, False)


def score_programs(questionnaire: dict) -> dict[str, dict[str, Any]]:
    """linkId → program for every calculated item that translates (the others are left out)."""
    out = {}
    for item in _items(questionnaire.get("item", ())):
        if not ext.has(item, ext.CALCULATED_EXPRESSION):
            continue
        try:
            out[item["linkId"]] = score_program(questionnaire, item)
        except NotPortable:
            continue
    return out
