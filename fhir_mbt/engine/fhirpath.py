"""FHIRPath for Questionnaire logic: a thin, strict, cached layer over fhirpathpy.

Why a wrapper at all: fhirpathpy's parser silently accepts broken expressions
(``item.where(`` compiles to something), its results carry ``Decimal`` and
internal node types, and it re-parses on every ``evaluate``. Here an
expression is parsed once, syntax errors are errors, results are plain JSON
values, and the SDC environment (``%resource``, ``%context``,
``%questionnaire``, named variables) is set up in one place.

Speed: an expression inside the subset questionnaires use runs as Python
closures (:mod:`fhir_mbt.engine.fhirpath_compiler`), about ten times faster than
fhirpathpy's interpreter; anything else, and any evaluation the closures
cannot vouch for, is handed to fhirpathpy, which stays the reference.

Two SDC functions that fhirpathpy lacks are provided: ``weight()`` and its
older name ``ordinal()``, which map a Coding to its answer weight. The weights
come from the Questionnaire being evaluated, passed in as ``weights``. A
caller may also fix the date ``today()`` gives (``today=``), so that bounds
like "not after today" follow one stated rule and can be tested at midnight.

Errors are :class:`ExpressionError` (a :class:`~fhir_mbt.errors.ContentError`):
an expression that does not compile or cannot be evaluated is a defect of the
definition that carries it.
"""

from __future__ import annotations

import contextvars
import datetime as _dt
from decimal import Decimal
from functools import lru_cache
from typing import Any, Callable, Mapping

from antlr4 import CommonTokenStream, InputStream, Token
from antlr4.error.ErrorListener import ErrorListener
from antlr4.tree.Tree import ParseTreeWalker
from fhirpathpy import apply_parsed_path
from fhirpathpy.engine.nodes import FP_DateTime, FP_Type, ResourceNode
from fhirpathpy.models import models
from fhirpathpy.parser.ASTPathListener import ASTPathListener
from fhirpathpy.parser.generated.FHIRPathLexer import FHIRPathLexer
from fhirpathpy.parser.generated.FHIRPathParser import FHIRPathParser

from fhir_mbt.errors import ContentError
from fhir_mbt.engine.fhirpath_compiler import Unsupported, compile_tree

__all__ = [
    "CompiledExpression",
    "ExpressionError",
    "ExpressionSyntaxError",
    "ExpressionEvaluationError",
    "compile_expression",
    "evaluate",
    "item_node",
    "syntax_tree",
    "use_compiler",
]

_MODEL = models["r4"]

#: Off only to measure what the compiler is worth (``benchmarks/bench_engine.py --no-compiler``).
_use_compiler = True


def use_compiler(enabled: bool) -> None:
    """Run expressions through the compiled closures (the default) or always through fhirpathpy."""
    global _use_compiler
    _use_compiler = bool(enabled)

#: Coding -> weight lookup for the evaluation in progress (see ``weight()``).
_weights: contextvars.ContextVar[Callable[[dict], Any] | None] = contextvars.ContextVar(
    "fhir_mbt_weights", default=None
)


#: The date ``today()`` gives in the evaluation in progress, when the caller fixed one.
_today: contextvars.ContextVar[_dt.date | None] = contextvars.ContextVar("fhir_mbt_today", default=None)


class ExpressionError(ContentError):
    """A FHIRPath expression in a definition is unusable."""

    def __init__(self, expression: str, message: str):
        self.expression = expression
        super().__init__(f"FHIRPath {expression!r}: {message}")


class ExpressionSyntaxError(ExpressionError):
    """The expression does not parse."""


class ExpressionEvaluationError(ExpressionError):
    """The expression parsed but failed while being evaluated."""


class _Raise(ErrorListener):
    def syntaxError(self, recognizer, offendingSymbol, line, column, msg, e):  # noqa: N802
        raise _Syntax(f"column {column + 1}: {msg}")


class _Syntax(Exception):
    pass


def _parse(expression: str) -> dict:
    lexer = FHIRPathLexer(InputStream(expression))
    lexer.removeErrorListeners()
    lexer.addErrorListener(_Raise())
    parser = FHIRPathParser(CommonTokenStream(lexer))
    parser.removeErrorListeners()
    parser.addErrorListener(_Raise())
    listener = ASTPathListener()
    try:
        tree = parser.expression()
        if parser.getCurrentToken().type != Token.EOF:
            raise _Syntax(f"unexpected {parser.getCurrentToken().text!r} after the expression")
    except _Syntax as exc:
        raise ExpressionSyntaxError(expression, str(exc)) from None
    except Exception as exc:  # the generated lexer raises its own error types
        raise ExpressionSyntaxError(expression, str(exc)) from None
    ParseTreeWalker().walk(listener, tree)
    return listener.parentStack[0]


def _weight_fn(inputs):
    lookup = _weights.get()
    out = []
    for value in inputs:
        if lookup is None or not isinstance(value, dict):
            continue
        weight = lookup(value)
        if weight is not None:
            out.append(Decimal(str(weight)) if isinstance(weight, float) else weight)
    return out


def _today_fn(inputs):
    day = _today.get() or _dt.date.today()
    return str(FP_DateTime(day.isoformat()))  # what fhirpathpy's own today() returns


_OPTIONS = {
    "userInvocationTable": {
        "weight": {"fn": _weight_fn, "arity": {0: []}},
        "ordinal": {"fn": _weight_fn, "arity": {0: []}},
    }
}
_OPTIONS_FIXED_TODAY = {
    "userInvocationTable": {**_OPTIONS["userInvocationTable"], "today": {"fn": _today_fn, "arity": {0: []}}}
}


def _plain(value: Any) -> Any:
    if isinstance(value, ResourceNode):
        value = value.data
    if isinstance(value, bool):
        return value
    if isinstance(value, Decimal):
        return int(value) if value == value.to_integral_value() and value.as_tuple().exponent >= 0 else float(value)
    if isinstance(value, FP_Type):
        return str(value)
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_plain(v) for v in value]
    return value


def item_node(item: dict) -> ResourceNode:
    """A QuestionnaireResponse item wrapped so that ``answer.value`` resolves."""
    return ResourceNode.create_node(item, "QuestionnaireResponse.item")


class CompiledExpression:
    """One parsed expression, ready to run many times."""

    __slots__ = ("expression", "_parsed", "_fast")

    def __init__(self, expression: str):
        self.expression = expression
        self._parsed = _parse(expression)
        try:
            self._fast = compile_tree(self._parsed)
        except Unsupported:
            self._fast = None

    @property
    def compiled(self) -> bool:
        """Whether the fast compiled form is used (else fhirpathpy interprets it)."""
        return self._fast is not None

    def __repr__(self) -> str:
        return f"CompiledExpression({self.expression!r})"

    def evaluate(
        self,
        resource: dict,
        *,
        context: Any = None,
        questionnaire: dict | None = None,
        variables: Mapping[str, Any] | None = None,
        weights: Callable[[dict], Any] | None = None,
        today: _dt.date | None = None,
    ) -> list:
        """Evaluate on ``resource`` (the ``%resource``), focused on ``context``.

        ``context`` defaults to the resource; a response item dict is wrapped
        so that choice elements resolve. ``today`` fixes what ``today()``
        gives (by default the machine's local date, as in fhirpathpy).
        Returns a list of plain JSON values.
        """
        if context is None:
            context = resource
        env = {"resource": resource, "rootResource": resource, "context": context}
        if questionnaire is not None:
            env["questionnaire"] = questionnaire
        if variables:
            env.update(variables)
        if self._fast is not None and _use_compiler and today is None:  # the closures know no today()
            try:
                return [_plain(v) for v in self._fast(context, env, weights)]
            except Unsupported:
                pass
        return self.interpret(resource, context, env, weights, today)

    def interpret(self, resource: dict, context: Any, env: dict, weights: Callable[[dict], Any] | None,
                  today: _dt.date | None = None) -> list:
        """Evaluate with fhirpathpy itself (the reference for the compiled form)."""
        if isinstance(context, dict) and "resourceType" not in context:
            context = item_node(context)
            env = {**env, "context": context}
        token, day = _weights.set(weights), _today.set(today)
        try:
            result = apply_parsed_path(context, self._parsed, env, _MODEL,
                                       _OPTIONS if today is None else _OPTIONS_FIXED_TODAY)
        except ExpressionError:
            raise
        except Exception as exc:
            raise ExpressionEvaluationError(self.expression, f"{type(exc).__name__}: {exc}") from None
        finally:
            _weights.reset(token)
            _today.reset(day)
        return [_plain(v) for v in result]


@lru_cache(maxsize=1024)
def compile_expression(expression: str) -> CompiledExpression:
    """Parse once; the same text always returns the same compiled expression."""
    if not isinstance(expression, str) or not expression.strip():
        raise ExpressionSyntaxError(str(expression), "empty expression")
    return CompiledExpression(expression)


def syntax_tree(expression: str) -> dict:
    """The parsed tree of an expression (fhirpathpy's AST as plain dicts), for tools that translate it."""
    return compile_expression(expression)._parsed


def evaluate(expression: str, resource: dict, **kwargs) -> list:
    """Compile (cached) and evaluate; see :meth:`CompiledExpression.evaluate`."""
    return compile_expression(expression).evaluate(resource, **kwargs)
