"""FHIRPath compiled to Python closures, for the subset questionnaires use.

fhirpathpy interprets its syntax tree on every call and spends most of that
time on generality a score does not need (``linkId in ('a' | 'b')`` rebuilds
and de-duplicates the union for every item it filters). Scores and enable
conditions are evaluated for every response the engine handles, so
:func:`compile_tree` turns the tree fhirpathpy's parser produced into nested
closures once, for the common subset: paths, ``where``/``select``/
``repeat``/``iif``/``aggregate`` and friends, arithmetic, comparison,
boolean logic, unions and membership (the values, operators and functions
they run on are in :mod:`fhir_mbt.engine.fhirpath_runtime`). A tree using
anything else raises :class:`Unsupported` at compile time, and any surprise
at run time does too; :mod:`fhir_mbt.engine.fhirpath` then falls back to
fhirpathpy, so the subset only ever changes speed, never results (the tests
compare both on the shipped expressions).

Why it is here: with every expression sent through fhirpathpy instead, the
engine's full path (validate + score + extract + bundle) over the example
session records drops from 2,711 to 57 responses per CPU-second (measured
on 2026-11-30 on a 2-core machine; an earlier run gave 2,600 against 106).
Reproduce with ``benchmarks/bench_engine.py`` and
``benchmarks/bench_engine.py --no-compiler``: the last line of each.
"""

from __future__ import annotations

import contextvars
import json
import re
from decimal import Decimal, InvalidOperation
from typing import Any, Callable

from fhir_mbt.engine.fhirpath_runtime import (
    Env,
    Fn,
    StringSet,
    Unsupported,
    as_number,
    binary_op,
    function_call,
    is_number,
    member_values,
    single_value,
    value_key,
)

__all__ = ["Unsupported", "compile_tree", "Env"]

# ------------------------------------------------------------------ the tree
def _identifier(node: dict) -> str:
    text = node.get("text") or ""
    if text.startswith("`") and text.endswith("`"):
        return text[1:-1]
    if text.startswith('"') and text.endswith('"'):
        return text[1:-1]
    return text


def _string(text: str) -> str:
    body = text[1:-1]
    return re.sub(r"\\(.)", lambda m: {"n": "\n", "t": "\t", "r": "\r", "f": "\f"}.get(m.group(1), m.group(1)), body)


def _op(node: dict) -> str:
    ops = node.get("terminalNodeText") or []
    if len(ops) != 1:
        raise Unsupported(f"{node.get('type')} with {ops}")
    return ops[0]


def _invocation(node: dict) -> Fn:
    kind = node.get("type")
    if kind == "MemberInvocation":
        name = _identifier(node["children"][0])
        return lambda focus, env: member_values(focus, name)
    if kind == "FunctionInvocation":
        functn = node["children"][0]
        name = _identifier(functn["children"][0])
        raw = functn["children"][1].get("children", []) if len(functn["children"]) > 1 else []
        if name == "where" and len(raw) == 1:
            fast = _member_filter(raw[0])
            if fast is not None:
                return fast
        if name == "repeat" and len(raw) == 1:
            member = _member_name(raw[0])
            if member is not None:
                return _repeat_member(member)
        return function_call(name, [_compile(p) for p in raw])
    if kind == "ThisInvocation":
        return lambda focus, env: [] if env.this is None else [env.this]
    if kind == "IndexInvocation":
        return lambda focus, env: [] if env.index is None else [env.index]
    if kind == "TotalInvocation":
        return lambda focus, env: env.total or []
    raise Unsupported(f"invocation {kind}")


_CONST_KINDS = frozenset({
    "TermExpression", "ParenthesizedTerm", "LiteralTerm", "StringLiteral", "NumberLiteral", "BooleanLiteral",
    "NullLiteral", "EqualityExpression", "InequalityExpression", "AdditiveExpression",
    "MultiplicativeExpression", "UnionExpression", "MembershipExpression", "AndExpression", "OrExpression",
    "ImpliesExpression", "PolarityExpression",
})


def _constant(node: dict) -> bool:
    """Whether a subtree's value depends on nothing (no paths, variables or functions)."""
    return node.get("type") in _CONST_KINDS and all(_constant(c) for c in node.get("children") or ())


def _member_name(node: dict) -> str | None:
    """The X of a bare member path ``X`` (as a where() criterion sees it), else None."""
    while node.get("type") == "TermExpression" and len(node.get("children") or ()) == 1:
        node = node["children"][0]
    if node.get("type") == "InvocationTerm":
        inner = node["children"][0]
        if inner.get("type") == "MemberInvocation":
            return _identifier(inner["children"][0])
    return None


def _member_filter(node: dict) -> Fn | None:
    """``where(X = 'a')`` / ``where(X in ('a' | 'b'))`` as a direct filter on dict items."""
    kind = node.get("type")
    if kind not in ("EqualityExpression", "MembershipExpression") or len(node.get("children") or ()) != 2:
        return None
    if _op(node) not in ("=", "in"):
        return None
    name = _member_name(node["children"][0])
    if name is None or name == "value" or not _constant(node["children"][1]):
        return None
    values = _compile(node["children"][1])([], Env({}, None))
    if _op(node) == "=" and len(values) != 1:
        return None
    if not values or not all(isinstance(v, str) for v in values):
        return None
    wanted = frozenset(values)

    def where_member(focus, env):
        out = []
        for item in focus:
            if type(item) is dict:
                v = item.get(name)
                if type(v) is str and v in wanted:
                    out.append(item)
        return out

    return where_member


def _repeat_member(name: str) -> Fn:
    """``repeat(X)`` for a bare member ``X`` (``%resource.repeat(item)``), walked in one loop.

    Every score walks the whole response this way, so the generic
    :func:`function_call` ``repeat`` (a closure call and a :func:`member_values` call
    per node) is the single largest cost of scoring. This gives the same
    collection in the same order: breadth first, each dict once (by
    identity), other values once (by value); odd shapes go through
    :func:`member_values` exactly as the generic form would.
    """
    plain = name != "value" and not name[:1].isupper()

    def repeat_member(focus, env):
        out, seen, queue, i = [], set(), list(focus), 0
        while i < len(queue):
            item = queue[i]
            i += 1
            if type(item) is not dict:
                continue
            value = item.get(name)
            if value is None and plain:
                continue
            for r in value if type(value) is list else member_values([item], name):
                if type(r) is dict:
                    key = id(r)
                elif r is None:
                    continue
                else:
                    r = as_number(r)
                    key = value_key(r)
                if key not in seen:
                    seen.add(key)
                    out.append(r)
                    queue.append(r)
        return out

    return repeat_member


def _compile(node: dict) -> Fn:
    fn = _compile_node(node)
    if node.get("type") not in ("StringLiteral", "NumberLiteral", "BooleanLiteral", "NullLiteral") and _constant(node):
        value = fn([], Env({}, None))
        if value and all(isinstance(v, str) for v in value):
            return StringSet(value)
        return lambda focus, env: list(value)
    if node.get("type") == "InvocationExpression":
        key = _tree_key(node)
        if key in _REPEATED.get():
            return _memoized(key, fn)
    return fn


# ------------------------------------------------------- repeated subexpressions
#: Keys of the subtrees worth remembering in the tree being compiled (see :func:`compile_tree`).
_REPEATED: contextvars.ContextVar[frozenset[str]] = contextvars.ContextVar("fhirpath_repeated",
                                                                             default=frozenset())
_ITERATION_STATE = frozenset({"ThisInvocation", "IndexInvocation", "TotalInvocation"})
_COMBINING = frozenset({
    "EqualityExpression", "InequalityExpression", "AdditiveExpression", "MultiplicativeExpression",
    "UnionExpression", "MembershipExpression", "AndExpression", "OrExpression", "ImpliesExpression",
    "PolarityExpression", "IndexerExpression",
})


def _tree_key(node: dict) -> str:
    """Equal for subtrees written the same way (so computing the same thing in the same evaluation)."""
    return json.dumps(node, sort_keys=True, default=str)


def _mentions_iteration(node: dict) -> bool:
    return node.get("type") in _ITERATION_STATE or any(_mentions_iteration(c) for c in node.get("children") or ())


def _environment_only(node: dict) -> bool:
    """Whether a subtree's value depends only on the variables (``%resource.repeat(item)...``).

    Such a value is the same wherever the subtree occurs in one evaluation:
    it starts from a variable or a literal, and uses no ``$this``, ``$index``
    or ``$total`` that an enclosing iteration could bind.
    """
    kind = node.get("type")
    children = node.get("children") or []
    if kind == "ExternalConstantTerm":
        return True
    if kind in (None, "TermExpression", "ParenthesizedTerm") and len(children) == 1:
        return _environment_only(children[0])
    if kind == "InvocationExpression" and len(children) == 2:
        return _environment_only(children[0]) and not _mentions_iteration(children[1])
    if kind in _COMBINING:
        return all(_environment_only(c) for c in children) and not _mentions_iteration(node)
    return _constant(node)


def _repeated_subtrees(tree: dict) -> frozenset[str]:
    """Keys of the paths that occur more than once in ``tree`` and depend only on the variables.

    Scores are written as ``iif(%resource.repeat(item).where(...).answer.count() = 7,
    %resource.repeat(item).where(...).answer.aggregate(...))``: the same walk of
    the whole response, twice or more per expression.
    """
    counts: dict[str, int] = {}

    def visit(node: dict) -> None:
        if node.get("type") == "InvocationExpression" and _environment_only(node):
            key = _tree_key(node)
            counts[key] = counts.get(key, 0) + 1
        for child in node.get("children") or ():
            visit(child)

    visit(tree)
    return frozenset(k for k, n in counts.items() if n > 1)


def _memoized(key: str, fn: Fn) -> Fn:
    """``fn``, computed once per evaluation (callers get their own copy of the collection)."""

    def memo(focus, env):
        hit = env.memo.get(key)
        if hit is None:
            hit = env.memo[key] = fn(focus, env)
        return list(hit)

    return memo



def _compile_node(node: dict) -> Fn:
    kind = node.get("type")
    children = node.get("children") or []
    if kind is None or kind in ("TermExpression", "ParenthesizedTerm", "LiteralTerm"):
        if len(children) != 1:
            raise Unsupported(f"{kind} with {len(children)} children")
        return _compile(children[0])
    if kind == "InvocationTerm":
        return _invocation(children[0])
    if kind == "StringLiteral":
        value = _string(node["text"])
        return lambda focus, env: [value]
    if kind == "NumberLiteral":
        number = Decimal(node["text"])
        value = int(number) if number == int(number) else number
        return lambda focus, env: [value]
    if kind == "BooleanLiteral":
        value = node["text"] == "true"
        return lambda focus, env: [value]
    if kind == "NullLiteral":
        return lambda focus, env: []
    if kind == "ExternalConstantTerm":
        constant = children[0]
        inner = constant["children"][0]
        name = _string(inner["text"]) if inner.get("type") == "StringLiteral" else _identifier(inner)

        def external(focus, env):
            if name not in env.vars:
                raise Unsupported(f"undefined variable %{name}")
            value = env.vars[name]
            if isinstance(value, list):
                return [as_number(v) for v in value]
            return [] if value is None else [as_number(value)]

        return external
    if kind == "InvocationExpression":
        base, inv = _compile(children[0]), _invocation(children[1])
        return lambda focus, env: inv(base(focus, env), env)
    if kind == "IndexerExpression":
        base, index = _compile(children[0]), _compile(children[1])

        def indexer(focus, env):
            values, i = base(focus, env), index(focus, env)
            if not i:
                return []
            i = single_value(i)
            return values[i:i + 1] if isinstance(i, int) and i >= 0 else []

        return indexer
    if kind == "PolarityExpression":
        inner = _compile(children[0])
        if _op(node) == "+":
            return inner

        def negate(focus, env):
            values = inner(focus, env)
            if not values:
                return []
            v = single_value(values)
            if not is_number(v):
                raise Unsupported("negation of a non-number")
            return [-v]

        return negate
    if kind in ("EqualityExpression", "InequalityExpression", "AdditiveExpression", "MultiplicativeExpression",
                "UnionExpression", "MembershipExpression", "AndExpression", "OrExpression", "ImpliesExpression"):
        if len(children) != 2:
            raise Unsupported(f"{kind} with {len(children)} operands")
        return binary_op(_op(node), _compile(children[0]), _compile(children[1]))
    raise Unsupported(f"{kind}")


def compile_tree(tree: dict) -> Callable[[Any, dict, Callable | None], list]:
    """Closures for a fhirpathpy syntax tree; raises :class:`Unsupported` outside the subset."""
    token = _REPEATED.set(_repeated_subtrees(tree))
    try:
        fn = _compile(tree)
    finally:
        _REPEATED.reset(token)

    def run(focus: Any, variables: dict, weights: Callable | None) -> list:
        env = Env(variables, weights)
        try:
            return fn(focus if isinstance(focus, list) else [focus], env)
        except (Unsupported, InvalidOperation, TypeError, ValueError, AttributeError, KeyError, IndexError) as exc:
            raise Unsupported(str(exc)) from None

    return run
