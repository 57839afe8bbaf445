"""Reading the FHIRPath of views: tokens, then a Pratt parser to a small tuple tree.

The tree's nodes: ``('path', base, name)``, ``('call', base, name, args)``,
``('index', base, index)``, ``('op', operator, left, right)``, ``('lit', value)``,
``('var', name)``, ``('this',)`` and ``('neg', operand)``. ``is`` and ``as`` are
refused here, naming the operator.
"""

from __future__ import annotations

import re
from decimal import Decimal

from fhir_mbt.analytics.errors import UnsupportedConstruct, ViewDefinitionInvalid

__all__ = ["Parser", "parse"]

_TOKEN = re.compile(r"""
    \s*(?:
      (?P<str>'(?:[^'\\]|\\.)*')
    | (?P<date>@[0-9T:.\-+Z]+)
    | (?P<num>\d+(?:\.\d+)?)
    | (?P<var>%[A-Za-z_][A-Za-z0-9_]*|%`[^`]*`)
    | (?P<this>\$this|\$index|\$total)
    | (?P<id>[A-Za-z_][A-Za-z0-9_]*|`[^`]*`)
    | (?P<op><=|>=|!=|!~|[=~<>+\-*/|&.,()\[\]])
    )""", re.X)

_BINARY = {  # operator -> precedence (higher binds tighter)
    "implies": 1, "or": 2, "xor": 2, "and": 3, "in": 4, "contains": 4,
    "=": 5, "!=": 5, "~": 5, "!~": 5, "<": 6, ">": 6, "<=": 6, ">=": 6,
    "|": 7, "is": 8, "as": 8, "+": 9, "-": 9, "&": 9, "*": 10, "/": 10, "div": 10, "mod": 10,
}


def _tokens(text: str) -> list[tuple[str, str]]:
    out, pos = [], 0
    text = text.rstrip()
    while pos < len(text):
        m = _TOKEN.match(text, pos)
        if not m or m.end() == pos:
            raise ViewDefinitionInvalid(f"cannot read FHIRPath {text!r} at {text[pos:pos + 10]!r}")
        kind = m.lastgroup
        out.append((kind, m.group(kind)))
        pos = m.end()
    return out


class Parser:
    """A Pratt parser to a small tuple tree: ('path'|'call'|'index'|'op'|'lit'|'var'|'this'|'neg', ...)."""

    def __init__(self, text: str):
        self.text = text
        self.toks = _tokens(text)
        self.i = 0

    def peek(self) -> tuple[str, str] | None:
        return self.toks[self.i] if self.i < len(self.toks) else None

    def take(self, value: str | None = None) -> tuple[str, str]:
        tok = self.peek()
        if tok is None or (value is not None and tok[1] != value):
            raise ViewDefinitionInvalid(f"FHIRPath {self.text!r}: expected {value or 'more'}")
        self.i += 1
        return tok

    def parse(self) -> tuple:
        tree = self.expr(0)
        if self.peek() is not None:
            raise ViewDefinitionInvalid(f"FHIRPath {self.text!r}: unexpected {self.peek()[1]!r}")
        return tree

    def expr(self, min_prec: int) -> tuple:
        left = self.unary()
        while True:
            tok = self.peek()
            if tok is None or tok[0] not in ("op", "id") or tok[1] not in _BINARY:
                return left
            prec = _BINARY[tok[1]]
            if prec <= min_prec:
                return left
            self.take()
            if tok[1] in ("is", "as"):
                raise UnsupportedConstruct(tok[1], self.text)
            left = ("op", tok[1], left, self.expr(prec))

    def unary(self) -> tuple:
        tok = self.peek()
        if tok and tok[1] in ("-", "+") and tok[0] == "op":
            self.take()
            inner = self.unary()
            return ("neg", inner) if tok[1] == "-" else inner
        return self.postfix(self.term())

    def term(self) -> tuple:
        kind, value = self.take()
        if kind == "str":
            return ("lit", re.sub(r"\\(.)", r"\1", value[1:-1]))
        if kind == "num":
            return ("lit", Decimal(value) if "." in value else int(value))
        if kind == "date":
            return ("lit", value[1:])
        if kind == "var":
            return ("var", value[1:].strip("`"))
        if kind == "this":
            if value != "$this":
                raise UnsupportedConstruct(value, self.text)
            return ("this",)
        if value == "(":
            inner = self.expr(0)
            self.take(")")
            return inner
        if kind == "id":
            if value in ("true", "false"):
                return ("lit", value == "true")
            return self.member(("this",), value)
        raise ViewDefinitionInvalid(f"FHIRPath {self.text!r}: unexpected {value!r}")

    def member(self, base: tuple, name: str) -> tuple:
        name = name.strip("`")
        if self.peek() == ("op", "("):
            self.take("(")
            args = []
            if self.peek() != ("op", ")"):
                args.append(self.expr(0))
                while self.peek() == ("op", ","):
                    self.take(",")
                    args.append(self.expr(0))
            self.take(")")
            return ("call", base, name, args)
        return ("path", base, name)

    def postfix(self, node: tuple) -> tuple:
        while True:
            tok = self.peek()
            if tok == ("op", "."):
                self.take()
                kind, name = self.take()
                if kind != "id":
                    raise ViewDefinitionInvalid(f"FHIRPath {self.text!r}: a name must follow '.'")
                node = self.member(node, name)
            elif tok == ("op", "["):
                self.take()
                index = self.expr(0)
                self.take("]")
                node = ("index", node, index)
            else:
                return node


def parse(text: str) -> tuple:
    """The tree of ``text``."""
    return Parser(text).parse()
