"""FHIRPath compiled to Python closures, for the subset questionnaires use.

fhirpathpy interprets its syntax tree on every call and spends most of that
time on generality a score does not need (``linkId in ('a' | 'b')`` rebuilds
and de-duplicates the union for every item it filters). Scores and enable
conditions are evaluated for every response the engine handles, so
:func:`compile_tree` turns the tree fhirpathpy's parser produced into nested
closures once, for the common subset: paths, ``where``/``select``/
``repeat``/``iif``/``aggregate`` and friends, arithmetic, comparison,
boolean logic, unions and membership. A tree using anything else raises
:class:`Unsupported` at compile time, and any surprise at run time does too;
:mod:`fhir_mbt.fhirpath` then falls back to fhirpathpy, so the subset only
ever changes speed, never results (the tests compare both on the shipped
expressions).

Deliberate difference: ``round()`` rounds half up, as the FHIRPath
specification says, where fhirpathpy rounds half to even.
"""

from __future__ import annotations

import contextvars
import json
import re
from decimal import ROUND_HALF_UP, Decimal, InvalidOperation
from typing import Any, Callable

__all__ = ["Unsupported", "compile_tree", "Env"]

Fn = Callable[[list, "Env"], list]


class Unsupported(Exception):
    """The expression (or this evaluation of it) is outside the compiled subset."""


class Env:
    """Variables and the iteration state ($this, $index, $total) of one evaluation.

    ``memo`` holds the values of repeated subexpressions already computed in
    this evaluation (see :func:`_memoized`).
    """

    __slots__ = ("vars", "this", "index", "total", "weights", "memo")

    def __init__(self, variables: dict, weights: Callable[[dict], Any] | None):
        self.vars = variables
        self.this: Any = None
        self.index: int | None = None
        self.total: list | None = None
        self.weights = weights
        self.memo: dict[str, list] = {}


def _num(value: Any) -> Any:
    if isinstance(value, float):
        return Decimal(str(value))
    return value


def _members(focus: list, name: str) -> list:
    if len(focus) == 1 and type(focus[0]) is dict:
        value = focus[0].get(name)
        if type(value) is str:
            return [value]
        if type(value) is list and all(type(v) is dict for v in value):
            return list(value)
    out: list = []
    for item in focus:
        if not isinstance(item, dict):
            continue
        value = item.get(name)
        if value is None:
            if name[:1].isupper() and item.get("resourceType") == name:
                out.append(item)
                continue
            if name == "value":
                for key, v in item.items():
                    if key.startswith("value") and len(key) > 5 and key[5].isupper():
                        value = v
                        break
            if value is None:
                continue
        if isinstance(value, list):
            out.extend(_num(v) for v in value if v is not None)
        else:
            out.append(_num(value))
    return out


def _is_number(v: Any) -> bool:
    return isinstance(v, (int, Decimal)) and not isinstance(v, bool)


def _kind(v: Any) -> str:
    if isinstance(v, bool):
        return "bool"
    if _is_number(v):
        return "num"
    if isinstance(v, str):
        return "str"
    if isinstance(v, dict):
        return "obj"
    raise Unsupported(f"value of type {type(v).__name__}")


def _eq(a: Any, b: Any) -> bool:
    if type(a) is str and type(b) is str:
        return a == b
    ka, kb = _kind(a), _kind(b)
    if ka != kb:
        return False
    if ka == "obj":
        return json.dumps(a, sort_keys=True, default=str) == json.dumps(b, sort_keys=True, default=str)
    return a == b


def _key(v: Any) -> Any:
    k = _kind(v)
    if k == "obj":
        return ("obj", id(v))
    if k == "num":
        return ("num", Decimal(v).normalize() if isinstance(v, Decimal) else Decimal(v))
    return (k, v)


def _distinct(values: list) -> list:
    seen, out = set(), []
    for v in values:
        key = _key(v)
        if key not in seen:
            seen.add(key)
            out.append(v)
    return out


def _single(values: list) -> Any:
    if len(values) != 1:
        raise Unsupported("a singleton was expected")
    return values[0]


def _truth(values: list) -> bool | None:
    if not values:
        return None
    v = _single(values)
    if not isinstance(v, bool):
        raise Unsupported("a boolean was expected")
    return v


def _is_true(values: list) -> bool:
    return len(values) == 1 and values[0] is True


# ------------------------------------------------------------------ operators
def _arith(op: str, a: Any, b: Any) -> list:
    if op == "&":
        return [("" if a is None else a) + ("" if b is None else b)]
    if op == "+" and isinstance(a, str) and isinstance(b, str):
        return [a + b]
    if not (_is_number(a) and _is_number(b)):
        raise Unsupported(f"{op} on non-numbers")
    if op == "+":
        return [a + b]
    if op == "-":
        return [a - b]
    if op == "*":
        return [a * b]
    if op == "/":
        if b == 0:
            return []
        return [Decimal(a) / Decimal(b)]
    if op == "div":
        if b == 0:
            return []
        return [int(Decimal(a) / Decimal(b))]
    if op == "mod":
        if b == 0:
            return []
        return [a % b]
    raise Unsupported(op)


def _binary(op: str, left: Fn, right: Fn) -> Fn:
    if op in ("=", "!="):
        negate = op == "!="

        def equality(focus, env):
            a, b = left(focus, env), right(focus, env)
            if not a or not b:
                return []
            same = len(a) == len(b) and all(_eq(x, y) for x, y in zip(a, b))
            return [same != negate]

        return equality
    if op in ("<", ">", "<=", ">="):
        def compare(focus, env):
            a, b = left(focus, env), right(focus, env)
            if not a or not b:
                return []
            x, y = _single(a), _single(b)
            if _kind(x) != _kind(y) or _kind(x) not in ("num", "str"):
                raise Unsupported("comparison of unlike values")
            return [x < y if op == "<" else x > y if op == ">" else x <= y if op == "<=" else x >= y]

        return compare
    if op in ("+", "-", "*", "/", "div", "mod"):
        def arithmetic(focus, env):
            a, b = left(focus, env), right(focus, env)
            if not a or not b:
                return []
            return _arith(op, _single(a), _single(b))

        return arithmetic
    if op == "&":
        def concat(focus, env):
            a, b = left(focus, env), right(focus, env)
            return _arith("&", _single(a) if a else None, _single(b) if b else None)

        return concat
    if op == "|":
        return lambda focus, env: _distinct(left(focus, env) + right(focus, env))
    if op in ("in", "contains"):
        pool = right if op == "in" else left
        probe = left if op == "in" else right
        if isinstance(pool, _StringSet):
            members = pool.members

            def in_strings(focus, env):
                a = probe(focus, env)
                if not a:
                    return []
                x = _single(a)
                return [isinstance(x, str) and x in members]

            return in_strings

        def membership(focus, env):
            a, b = left(focus, env), right(focus, env)
            if op == "contains":
                a, b = b, a
            if not a:
                return []
            x = _single(a)
            return [any(_eq(x, y) for y in b)]

        return membership
    if op in ("and", "or", "xor", "implies"):
        def logic(focus, env):
            a = _truth(left(focus, env))
            if op == "and" and a is False:
                return [False]
            if op == "or" and a is True:
                return [True]
            if op == "implies" and a is False:
                return [True]
            b = _truth(right(focus, env))
            if op == "and":
                return [True] if a and b else [False] if b is False else []
            if op == "or":
                return [True] if b else [False] if a is False and b is False else []
            if op == "xor":
                return [] if a is None or b is None else [a != b]
            return [True] if b else [] if a is None or b is None else [False]

        return logic
    raise Unsupported(f"operator {op}")


# ------------------------------------------------------------------ functions
def _round(values: list, places: int) -> list:
    if not values:
        return []
    v = _single(values)
    if not _is_number(v):
        raise Unsupported("round of a non-number")
    return [Decimal(v).quantize(Decimal(1).scaleb(-places), rounding=ROUND_HALF_UP)]


def _to_integer(values: list) -> list:
    if len(values) != 1:
        return []
    v = values[0]
    if isinstance(v, bool):
        return [1 if v else 0]
    if isinstance(v, int):
        return [v]
    if isinstance(v, str) and re.fullmatch(r"[+-]?\d+", v):
        return [int(v)]
    return []


def _to_decimal(values: list) -> list:
    if len(values) != 1:
        return []
    v = values[0]
    if isinstance(v, bool):
        return [Decimal(1 if v else 0)]
    if _is_number(v):
        return [Decimal(v)]
    if isinstance(v, str) and re.fullmatch(r"[+-]?\d+(\.\d+)?", v):
        return [Decimal(v)]
    return []


def _function(name: str, params: list[Fn]) -> Fn:
    n = len(params)

    def need(*counts):
        if n not in counts:
            raise Unsupported(f"{name}() with {n} parameters")

    if name == "iif":
        need(2, 3)
        cond, ok = params[0], params[1]
        fail = params[2] if n == 3 else None

        def iif(focus, env):
            if _is_true(cond(focus, env)):
                return ok(focus, env)
            return fail(focus, env) if fail else []

        return iif
    if name in ("where", "select", "exists", "all"):
        need(0, 1) if name == "exists" else need(1)
        if name == "exists" and n == 0:
            return lambda focus, env: [bool(focus)]
        body = params[0]

        def iterate(focus, env):
            saved = env.this, env.index
            out = []
            try:
                for i, item in enumerate(focus):
                    env.this, env.index = item, i
                    result = body([item], env)
                    if name == "select":
                        out.extend(result)
                    elif name == "all":
                        if not _is_true(result):
                            return [False]
                    elif _is_true(result):
                        if name == "exists":
                            return [True]
                        out.append(item)
            finally:
                env.this, env.index = saved
            if name == "exists":
                return [False]
            if name == "all":
                return [True]
            return out

        return iterate
    if name == "repeat":
        need(1)
        body = params[0]

        def repeat(focus, env):
            saved = env.this, env.index
            out, seen, queue, i = [], set(), list(focus), 0
            try:
                while i < len(queue):
                    item = queue[i]
                    i += 1
                    env.this, env.index = item, None
                    for r in body([item], env):
                        key = id(r) if type(r) is dict else _key(r)
                        if key not in seen:
                            seen.add(key)
                            out.append(r)
                            queue.append(r)
            finally:
                env.this, env.index = saved
            return out

        return repeat
    if name == "aggregate":
        need(1, 2)
        body = params[0]
        init = params[1] if n == 2 else None

        def aggregate(focus, env):
            saved = env.this, env.index, env.total
            try:
                env.total = init(focus, env) if init else []
                for i, item in enumerate(focus):
                    env.this, env.index = item, i
                    env.total = body([item], env)
                return env.total
            finally:
                env.this, env.index, env.total = saved

        return aggregate
    if name == "round":
        need(0, 1)
        places = params[0] if n == 1 else None

        def round_(focus, env):
            p = _single(places(focus, env)) if places else 0
            if not isinstance(p, int) or isinstance(p, bool):
                raise Unsupported("round precision")
            return _round(focus, p)

        return round_
    simple: dict[str, Callable[[list], list]] = {
        "empty": lambda f: [not f],
        "count": lambda f: [len(f)],
        "first": lambda f: f[:1],
        "last": lambda f: f[-1:],
        "tail": lambda f: f[1:],
        "not": lambda f: [] if not f else [not _truth(f)],
        "sum": lambda f: [sum(f)] if all(_is_number(v) for v in f) else _raise("sum of non-numbers"),
        "distinct": _distinct,
        "toInteger": _to_integer,
        "toDecimal": _to_decimal,
        "toString": lambda f: [str(_single(f)).lower() if isinstance(_single(f), bool) else str(_single(f))]
        if f else [],
        "allTrue": lambda f: [all(_truth([v]) for v in f)],
        "anyTrue": lambda f: [any(_truth([v]) for v in f)],
        "hasValue": lambda f: [len(f) == 1 and not isinstance(f[0], dict)],
        "abs": lambda f: [abs(_single(f))] if f else [],
    }
    if name in simple:
        need(0)
        fn = simple[name]
        return lambda focus, env: fn(focus)
    if name in ("weight", "ordinal"):
        need(0)

        def weight(focus, env):
            if env.weights is None:
                return []
            out = []
            for item in focus:
                if isinstance(item, dict):
                    w = env.weights(item)
                    if w is not None:
                        out.append(_num(w))
            return out

        return weight
    raise Unsupported(f"function {name}()")


def _raise(message: str):
    raise Unsupported(message)


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
        return lambda focus, env: _members(focus, name)
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
        return _function(name, [_compile(p) for p in raw])
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
    :func:`_function` ``repeat`` (a closure call and a :func:`_members` call
    per node) is the single largest cost of scoring. This gives the same
    collection in the same order: breadth first, each dict once (by
    identity), other values once (by value); odd shapes go through
    :func:`_members` exactly as the generic form would.
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
            for r in value if type(value) is list else _members([item], name):
                if type(r) is dict:
                    key = id(r)
                elif r is None:
                    continue
                else:
                    r = _num(r)
                    key = _key(r)
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
            return _StringSet(value)
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


class _StringSet:
    """A constant collection of strings, which membership tests look up in a set."""

    __slots__ = ("values", "members")

    def __init__(self, values: list):
        self.values = values
        self.members = frozenset(values)

    def __call__(self, focus, env):
        return list(self.values)


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
                return [_num(v) for v in value]
            return [] if value is None else [_num(value)]

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
            i = _single(i)
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
            v = _single(values)
            if not _is_number(v):
                raise Unsupported("negation of a non-number")
            return [-v]

        return negate
    if kind in ("EqualityExpression", "InequalityExpression", "AdditiveExpression", "MultiplicativeExpression",
                "UnionExpression", "MembershipExpression", "AndExpression", "OrExpression", "ImpliesExpression"):
        if len(children) != 2:
            raise Unsupported(f"{kind} with {len(children)} operands")
        return _binary(_op(node), _compile(children[0]), _compile(children[1]))
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
