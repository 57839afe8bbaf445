"""What compiled FHIRPath runs on: values, operators and functions.

FHIRPath works on collections: every step takes a list and gives a list.
This module holds that runtime for the subset
:mod:`fhir_mbt.engine.fhirpath_compiler` compiles (equality and ordering
across FHIR's number and string types, arithmetic with Decimal, the
functions the questionnaires use, and ``weight()``); the compiler turns a
syntax tree into closures that call it. Anything outside the subset raises
:class:`Unsupported`, and the caller falls back to fhirpathpy.

Deliberate difference: ``round()`` rounds half up, as the FHIRPath
specification says, where fhirpathpy rounds half to even.
"""

from __future__ import annotations

import json
import re
from decimal import ROUND_HALF_UP, Decimal
from typing import Any, Callable

__all__ = [
    "Env",
    "Fn",
    "StringSet",
    "Unsupported",
    "as_number",
    "binary_op",
    "function_call",
    "is_number",
    "member_values",
    "single_value",
    "value_key",
]

Fn = Callable[[list, "Env"], list]


class Unsupported(Exception):
    """The expression (or this evaluation of it) is outside the compiled subset."""


class Env:
    """Variables and the iteration state ($this, $index, $total) of one evaluation.

    ``memo`` holds the values of repeated subexpressions already computed in
    this evaluation (see ``_memoized`` in the compiler).
    """

    __slots__ = ("vars", "this", "index", "total", "weights", "memo")

    def __init__(self, variables: dict, weights: Callable[[dict], Any] | None):
        self.vars = variables
        self.this: Any = None
        self.index: int | None = None
        self.total: list | None = None
        self.weights = weights
        self.memo: dict[str, list] = {}


def as_number(value: Any) -> Any:
    if isinstance(value, float):
        return Decimal(str(value))
    return value


def member_values(focus: list, name: str) -> list:
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
            out.extend(as_number(v) for v in value if v is not None)
        else:
            out.append(as_number(value))
    return out


def is_number(v: Any) -> bool:
    return isinstance(v, (int, Decimal)) and not isinstance(v, bool)


def _kind(v: Any) -> str:
    if isinstance(v, bool):
        return "bool"
    if is_number(v):
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


def value_key(v: Any) -> Any:
    k = _kind(v)
    if k == "obj":
        return ("obj", id(v))
    if k == "num":
        return ("num", Decimal(v).normalize() if isinstance(v, Decimal) else Decimal(v))
    return (k, v)


def _distinct(values: list) -> list:
    seen, out = set(), []
    for v in values:
        key = value_key(v)
        if key not in seen:
            seen.add(key)
            out.append(v)
    return out


def single_value(values: list) -> Any:
    if len(values) != 1:
        raise Unsupported("a singleton was expected")
    return values[0]


def _truth(values: list) -> bool | None:
    if not values:
        return None
    v = single_value(values)
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
    if not (is_number(a) and is_number(b)):
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


def binary_op(op: str, left: Fn, right: Fn) -> Fn:
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
            x, y = single_value(a), single_value(b)
            if _kind(x) != _kind(y) or _kind(x) not in ("num", "str"):
                raise Unsupported("comparison of unlike values")
            return [x < y if op == "<" else x > y if op == ">" else x <= y if op == "<=" else x >= y]

        return compare
    if op in ("+", "-", "*", "/", "div", "mod"):
        def arithmetic(focus, env):
            a, b = left(focus, env), right(focus, env)
            if not a or not b:
                return []
            return _arith(op, single_value(a), single_value(b))

        return arithmetic
    if op == "&":
        def concat(focus, env):
            a, b = left(focus, env), right(focus, env)
            return _arith("&", single_value(a) if a else None, single_value(b) if b else None)

        return concat
    if op == "|":
        return lambda focus, env: _distinct(left(focus, env) + right(focus, env))
    if op in ("in", "contains"):
        pool = right if op == "in" else left
        probe = left if op == "in" else right
        if isinstance(pool, StringSet):
            members = pool.members

            def in_strings(focus, env):
                a = probe(focus, env)
                if not a:
                    return []
                x = single_value(a)
                return [isinstance(x, str) and x in members]

            return in_strings

        def membership(focus, env):
            a, b = left(focus, env), right(focus, env)
            if op == "contains":
                a, b = b, a
            if not a:
                return []
            x = single_value(a)
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
    v = single_value(values)
    if not is_number(v):
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
    if is_number(v):
        return [Decimal(v)]
    if isinstance(v, str) and re.fullmatch(r"[+-]?\d+(\.\d+)?", v):
        return [Decimal(v)]
    return []


def function_call(name: str, params: list[Fn]) -> Fn:
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
                        key = id(r) if type(r) is dict else value_key(r)
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
            p = single_value(places(focus, env)) if places else 0
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
        "sum": lambda f: [sum(f)] if all(is_number(v) for v in f) else _raise("sum of non-numbers"),
        "distinct": _distinct,
        "toInteger": _to_integer,
        "toDecimal": _to_decimal,
        "toString": lambda f: [str(single_value(f)).lower() if isinstance(single_value(f), bool) else str(single_value(f))]
        if f else [],
        "allTrue": lambda f: [all(_truth([v]) for v in f)],
        "anyTrue": lambda f: [any(_truth([v]) for v in f)],
        "hasValue": lambda f: [len(f) == 1 and not isinstance(f[0], dict)],
        "abs": lambda f: [abs(single_value(f))] if f else [],
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
                        out.append(as_number(w))
            return out

        return weight
    raise Unsupported(f"function {name}()")


def _raise(message: str):
    raise Unsupported(message)


class StringSet:
    """A constant collection of strings, which membership tests look up in a set."""

    __slots__ = ("values", "members")

    def __init__(self, values: list):
        self.values = values
        self.members = frozenset(values)

    def __call__(self, focus, env):
        return list(self.values)

