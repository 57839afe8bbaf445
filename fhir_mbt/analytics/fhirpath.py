"""The FHIRPath subset SQL-on-FHIR views use, compiled once to Python closures.

A view's paths run for every resource of an export (a million Observations
for a year of a programme), so each path is parsed once into nested
closures ``f(collection, env) -> collection``. The subset is the one the
SQL-on-FHIR v2 specification requires of a runner: paths and indexers,
``where``, ``select``, ``exists``, ``empty``, ``first``, ``last``, ``count``,
``not``, ``ofType`` (choice elements ``value.ofType(Quantity)`` read
``valueQuantity``), ``extension(url)``, ``join``, ``getResourceKey()``,
``getReferenceKey([type])``, comparison, arithmetic, ``and``/``or``/``xor``/
``implies``, ``|``, ``in``/``contains``, ``%constants`` and ``$this``.
Anything else is refused at compile time with
:class:`~fhir_mbt.analytics.errors.UnsupportedConstruct` naming it, never
evaluated approximately.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Any, Callable

from fhir_mbt.analytics.errors import UnsupportedConstruct, ViewDefinitionInvalid
from fhir_mbt.analytics.fhirpath_parser import parse

__all__ = ["compile_path", "code_filter", "Compiled", "reference_key", "resource_key"]

Compiled = Callable[[list, dict], list]

_PRIMITIVES = {
    "string": str, "code": str, "id": str, "uri": str, "url": str, "canonical": str, "oid": str,
    "uuid": str, "markdown": str, "base64Binary": str, "date": str, "dateTime": str, "instant": str,
    "time": str, "integer": int, "positiveInt": int, "unsignedInt": int, "integer64": int,
    "decimal": (int, float, Decimal), "boolean": bool,
}

# ------------------------------------------------------------------ runtime
def _children(items: list, name: str) -> list:
    out: list = []
    for item in items:
        if type(item) is dict:
            value = item.get(name)
            if value is None:
                if name[:1].isupper() and item.get("resourceType") == name:
                    out.append(item)  # a leading type name: Patient.name
                    continue
                value = _choice(item, name)
                if value is None:
                    continue
            if type(value) is list:
                out.extend(value)
            else:
                out.append(value)
    return out


def _choice(item: dict, name: str) -> Any:
    """``value`` of an element holding ``valueQuantity`` (a choice element read without its type)."""
    n = len(name)
    for key, value in item.items():
        if len(key) > n and key.startswith(name) and key[n].isupper():
            return value
    return None


def resource_key(resource: Any) -> str | None:
    """The key ``getResourceKey()`` gives: ``Type/id``, the same form Pathling uses, so the
    keys of both engines' tables match and a reference key equals its target's key."""
    if isinstance(resource, dict) and isinstance(resource.get("id"), str) and resource.get("resourceType"):
        return f"{resource['resourceType']}/{resource['id']}"
    return None


def reference_key(reference: Any, type_name: str | None = None) -> str | None:
    """The key ``getReferenceKey([type])`` gives: ``Type/id`` of a relative or absolute literal
    reference (a version is dropped); nothing for another type, a ``urn:`` or a missing reference."""
    if not isinstance(reference, dict):
        return None
    ref = reference.get("reference")
    if not isinstance(ref, str) or not ref or ref.startswith("urn:") or ref.startswith("#"):
        return None
    parts = ref.split("/")
    if len(parts) >= 4 and parts[-2] == "_history":
        parts = parts[:-2]
    if len(parts) < 2 or not parts[-2][:1].isupper():
        return None
    if type_name and parts[-2] != type_name:
        return None
    return f"{parts[-2]}/{parts[-1]}"


def _truth(coll: list) -> bool | None:
    if not coll:
        return None
    if len(coll) == 1 and isinstance(coll[0], bool):
        return coll[0]
    if len(coll) == 1:
        return True
    raise ViewDefinitionInvalid("a collection of more than one item used as a boolean")


def _single(coll: list, what: str) -> Any:
    if len(coll) > 1:
        raise ViewDefinitionInvalid(f"{what}: expected one value, got {len(coll)}")
    return coll[0] if coll else None


def _num(v: Any) -> Any:
    return Decimal(str(v)) if isinstance(v, float) else v


def _compare(op: str, a: Any, b: Any) -> bool | None:
    if isinstance(a, bool) != isinstance(b, bool):
        return False if op in ("=", "~") else True if op in ("!=", "!~") else None
    if isinstance(a, (int, float, Decimal)) and isinstance(b, (int, float, Decimal)):
        a, b = _num(a), _num(b)
    elif type(a) is not type(b):
        return False if op in ("=", "~") else True if op in ("!=", "!~") else None
    if op in ("=", "~"):
        return a == b
    if op in ("!=", "!~"):
        return a != b
    return {"<": a < b, ">": a > b, "<=": a <= b, ">=": a >= b}[op]


def _arith(op: str, a: Any, b: Any) -> Any:
    if op == "&" or (op == "+" and isinstance(a, str)):
        return f"{'' if a is None else a}{'' if b is None else b}"
    if a is None or b is None:
        return None
    a, b = _num(a), _num(b)
    if op == "+":
        return a + b
    if op == "-":
        return a - b
    if op == "*":
        return a * b
    if op == "/":
        return None if b == 0 else Decimal(a) / Decimal(b)
    if op == "div":
        return None if b == 0 else a // b
    return None if b == 0 else a % b


def _logic(op: str, a: bool | None, b: bool | None) -> bool | None:
    if op == "and":
        return False if a is False or b is False else None if a is None or b is None else True
    if op == "or":
        return True if a is True or b is True else None if a is None or b is None else False
    if op == "xor":
        return None if a is None or b is None else a != b
    return True if a is False or b is True else None if a is None or b is None else False  # implies


def _type_matches(item: Any, type_name: str) -> bool:
    py = _PRIMITIVES.get(type_name)
    if py is not None:
        if type_name == "decimal":
            return isinstance(item, (float, Decimal)) or (isinstance(item, int) and not isinstance(item, bool))
        if py is int:
            return isinstance(item, int) and not isinstance(item, bool)
        return isinstance(item, py)
    return isinstance(item, dict) and item.get("resourceType") == type_name


# ----------------------------------------------------------------- compiler
def compile_path(text: str, where: str = "") -> Compiled:
    """Compile a FHIRPath expression of the view subset; errors name the construct and ``where``."""
    if not isinstance(text, str) or not text.strip():
        raise ViewDefinitionInvalid(f"{where}: a path must be a non-empty string")
    try:
        return _compile(parse(text))
    except UnsupportedConstruct as exc:
        raise UnsupportedConstruct(exc.construct, f"{where}: {text!r}" if where else repr(text)) from None


def _constant(node: tuple) -> bool:
    """True for a tree of literals and operators: its value is computed once, at compile time."""
    if node[0] == "lit":
        return True
    if node[0] == "op":
        return _constant(node[2]) and _constant(node[3])
    return node[0] == "neg" and _constant(node[1])


def _compile(node: tuple) -> Compiled:
    kind = node[0]
    if kind != "lit" and _constant(node):
        value = _compile_tree(node)([], {})
        return lambda c, env: value
    return _compile_tree(node)


def _compile_tree(node: tuple) -> Compiled:
    kind = node[0]
    if kind == "this":
        return lambda c, env: c
    if kind == "lit":
        value = node[1]
        return lambda c, env: [value]
    if kind == "var":
        name = node[1]
        return lambda c, env: _variable(env, name)
    if kind == "neg":
        inner = _compile(node[1])
        return lambda c, env: [-v for v in inner(c, env)]
    if kind == "path":
        base, name = _compile(node[1]), node[2]
        if node[1] == ("this",):
            return lambda c, env: _children(c, name)
        return lambda c, env: _children(base(c, env), name)
    if kind == "index":
        base, index = _compile(node[1]), _compile(node[2])

        def at(c, env):
            items, i = base(c, env), _single(index(c, env), "indexer")
            return [items[i]] if isinstance(i, int) and 0 <= i < len(items) else []
        return at
    if kind == "op":
        return _compile_op(node[1], _compile(node[2]), _compile(node[3]))
    if kind == "call":
        return _compile_call(node)
    raise UnsupportedConstruct(kind)


def _variable(env: dict, name: str) -> list:
    if name not in env:
        raise ViewDefinitionInvalid(f"%{name} is not defined (no constant of that name)")
    value = env[name]
    return value if isinstance(value, list) else [value]


def _compile_op(op: str, left: Compiled, right: Compiled) -> Compiled:
    if op == "and":
        def both(c, env):
            a = _truth(left(c, env))
            if a is False:
                return [False]
            result = _logic(op, a, _truth(right(c, env)))
            return [] if result is None else [result]
        return both
    if op in ("or", "xor", "implies"):
        def logic(c, env):
            result = _logic(op, _truth(left(c, env)), _truth(right(c, env)))
            return [] if result is None else [result]
        return logic
    if op == "|":
        def union(c, env):
            out = []
            for v in left(c, env) + right(c, env):
                if v not in out:
                    out.append(v)
            return out
        return union
    if op in ("in", "contains"):
        def member(c, env):
            a, b = (left(c, env), right(c, env)) if op == "in" else (right(c, env), left(c, env))
            if not a:
                return []
            return [_single(a, op) in b]
        return member
    if op in ("=", "!=", "~", "!~", "<", ">", "<=", ">="):
        def compare(c, env):
            a, b = left(c, env), right(c, env)
            if not a or not b:
                return []
            if len(a) > 1 or len(b) > 1:
                if op in ("=", "!="):
                    same = len(a) == len(b) and all(_compare("=", x, y) for x, y in zip(a, b))
                    return [same if op == "=" else not same]
                raise ViewDefinitionInvalid(f"'{op}' over collections of more than one item")
            result = _compare(op, a[0], b[0])
            return [] if result is None else [result]
        return compare
    if op in ("+", "-", "*", "/", "div", "mod", "&"):
        def arith(c, env):
            a, b = left(c, env), right(c, env)
            if op != "&" and (not a or not b):
                return []
            result = _arith(op, _single(a, op), _single(b, op))
            return [] if result is None else [result]
        return arith
    raise UnsupportedConstruct(op)


def _type_arg(args: list, fn: str) -> str:
    if len(args) != 1 or args[0][0] != "path" or args[0][1] != ("this",):
        raise ViewDefinitionInvalid(f"{fn}() takes one type name")
    return args[0][2]


def _compile_call(node: tuple) -> Compiled:
    _, base_node, fn, args = node
    base = _compile(base_node)
    if fn == "ofType":
        type_name = _type_arg(args, fn)
        if base_node[0] == "path":  # value.ofType(Quantity) reads valueQuantity
            owner, name = _compile(base_node[1]), base_node[2]
            key = name + type_name[:1].upper() + type_name[1:]
            return lambda c, env: [v for v in _children(owner(c, env), key)
                                   if type_name not in _PRIMITIVES or _type_matches(v, type_name)]
        return lambda c, env: [v for v in base(c, env) if _type_matches(v, type_name)]
    if fn in ("where", "select", "exists", "all") and args:
        if len(args) != 1:
            raise ViewDefinitionInvalid(f"{fn}() takes one argument")
        crit = _compile(args[0])
        if fn == "select":
            return lambda c, env: [r for v in base(c, env) for r in crit([v], env)]
        if fn == "where":
            return lambda c, env: [v for v in base(c, env) if _truth(crit([v], env)) is True]
        if fn == "exists":
            return lambda c, env: [any(_truth(crit([v], env)) is True for v in base(c, env))]
        return lambda c, env: [all(_truth(crit([v], env)) is True for v in base(c, env))]
    if args and fn not in ("extension", "join", "getReferenceKey"):
        raise UnsupportedConstruct(f"{fn}(...)")
    simple = {
        "exists": lambda items: [bool(items)],
        "empty": lambda items: [not items],
        "first": lambda items: items[:1],
        "last": lambda items: items[-1:],
        "count": lambda items: [len(items)],
        "not": lambda items: [] if _truth(items) is None else [not _truth(items)],
        "getResourceKey": lambda items: [k for i in items if (k := resource_key(i)) is not None],
        "toString": lambda items: [str(i).lower() if isinstance(i, bool) else str(i) for i in items],
    }
    if fn in simple:
        f = simple[fn]
        return lambda c, env: f(base(c, env))
    if fn == "getReferenceKey":
        type_name = _type_arg(args, fn) if args else None
        return lambda c, env: [k for r in base(c, env) if (k := reference_key(r, type_name)) is not None]
    if fn == "extension":
        if len(args) != 1:
            raise ViewDefinitionInvalid("extension() takes one URL")
        url = _compile(args[0])
        return lambda c, env: [e for e in _children(base(c, env), "extension")
                               if isinstance(e, dict) and [e.get("url")] == url(c, env)]
    if fn == "join":
        sep = _compile(args[0]) if args else (lambda c, env: [""])
        return lambda c, env: [_single(sep(c, env), "join").join(str(v) for v in base(c, env))]
    raise UnsupportedConstruct(f"{fn}()")


def code_filter(text: str, constants: dict) -> tuple[str, frozenset] | None:
    """``(system, codes)`` when ``text`` is ``code.coding.where(system = S and code = C).exists()``
    (or ``code in (C1 | C2 ...)``) with S and the codes literals or constants; else None.

    Such a where keeps exactly the resources with one of those codings, so a runner can
    route resources to views by code; the general evaluation stays the definition.
    """
    try:
        tree = parse(text)
    except ViewDefinitionInvalid:
        return None
    if tree[:3] != ("call", tree[1], "exists") or tree[3]:
        return None
    inner = tree[1]
    if inner[0] != "call" or inner[2] != "where" or len(inner[3]) != 1:
        return None
    if inner[1] != ("path", ("path", ("this",), "code"), "coding"):
        return None
    crit = inner[3][0]
    if crit[0] != "op" or crit[1] != "and":
        return None

    def value(node):
        if node[0] == "var" and node[1] in constants:
            return [constants[node[1]]]
        if _constant(node):
            return _compile(node)([], {})
        return None

    system = codes = None
    for side in (crit[2], crit[3]):
        if side[0] != "op" or side[2][0] != "path" or side[2][1] != ("this",):
            return None
        field, op, found = side[2][2], side[1], value(side[3])
        if found is None or not all(isinstance(v, str) for v in found):
            return None
        if field == "system" and op == "=" and len(found) == 1:
            system = found[0]
        elif field == "code" and (op == "in" or (op == "=" and len(found) == 1)):
            codes = frozenset(found)
        else:
            return None
    if system is None or codes is None:
        return None
    return system, codes
