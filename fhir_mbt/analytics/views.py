"""SQL-on-FHIR v2 ViewDefinitions: shape check, compilation, rows.

:func:`compile_view` checks a ViewDefinition against the v2 shape (the
resource, ``select`` trees of ``column``/``select``/``forEach``/
``forEachOrNull``/``unionAll``/``repeat``, ``where``, ``constant``), compiles
every path once (:mod:`fhir_mbt.analytics.fhirpath`) and returns a
:class:`CompiledView` whose :meth:`~CompiledView.rows` turns one resource into
its rows. Engines (DuckDB here, Spark through Pathling) only store the rows.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from decimal import Decimal
from typing import Any, Callable, Iterator

from fhir_mbt.analytics.errors import ViewDefinitionInvalid, ViewEvaluationError
from fhir_mbt.analytics.fhirpath import code_filter, compile_path

__all__ = ["Column", "CompiledView", "compile_view", "view_shape_problems"]

_NAME = re.compile(r"^[A-Za-z][A-Za-z0-9_]*$")
_SELECT_KEYS = {"column", "select", "forEach", "forEachOrNull", "unionAll", "repeat", "extension", "id"}
_VIEW_KEYS = {"resourceType", "id", "url", "identifier", "name", "title", "meta", "version", "status",
              "experimental", "publisher", "contact", "description", "useContext", "copyright", "date",
              "resource", "resourceVersion", "fhirVersion", "constant", "select", "where", "profile",
              "extension", "text", "language", "implicitRules", "modifierExtension", "purpose"}


@dataclass(frozen=True)
class Column:
    """One output column: its name, FHIR type (if stated) and whether it holds a list."""

    name: str
    type: str | None
    collection: bool


def _constant(c: dict, where: str) -> tuple[str, Any]:
    if not isinstance(c, dict) or not isinstance(c.get("name"), str) or not _NAME.match(c["name"]):
        raise ViewDefinitionInvalid(f"{where}: a constant needs a valid name")
    values = [(k, v) for k, v in c.items() if k.startswith("value")]
    if len(values) != 1:
        raise ViewDefinitionInvalid(f"{where}: constant {c['name']!r} needs exactly one value[x]")
    key, value = values[0]
    if key == "valueDecimal":
        value = Decimal(str(value))
    return c["name"], value


class _Select:
    """One compiled select node: its own columns, nested selects, unionAll branches."""

    def __init__(self, node: Any, where: str):
        if not isinstance(node, dict):
            raise ViewDefinitionInvalid(f"{where}: a select must be an object")
        unknown = set(node) - _SELECT_KEYS
        if unknown:
            raise ViewDefinitionInvalid(f"{where}: unknown select key(s) {sorted(unknown)}")
        if "forEach" in node and "forEachOrNull" in node:
            raise ViewDefinitionInvalid(f"{where}: forEach and forEachOrNull cannot both be given")
        self.for_each = self.or_null = self.repeat = None
        if "forEach" in node:
            self.for_each = compile_path(node["forEach"], f"{where}.forEach")
        if "forEachOrNull" in node:
            self.for_each = compile_path(node["forEachOrNull"], f"{where}.forEachOrNull")
            self.or_null = True
        if "repeat" in node:
            if not isinstance(node["repeat"], list) or not node["repeat"]:
                raise ViewDefinitionInvalid(f"{where}.repeat: a non-empty list of paths")
            self.repeat = [compile_path(p, f"{where}.repeat") for p in node["repeat"]]
        self.columns: list[tuple[Column, Callable]] = []
        for i, col in enumerate(node.get("column") or []):
            cw = f"{where}.column[{i}]"
            if not isinstance(col, dict) or not isinstance(col.get("name"), str) or not _NAME.match(col["name"]):
                raise ViewDefinitionInvalid(f"{cw}: a column needs a name of letters, digits and _")
            if "path" not in col:
                raise ViewDefinitionInvalid(f"{cw}: column {col['name']!r} needs a path")
            collection = col.get("collection") is True
            self.columns.append((Column(col["name"], col.get("type"), collection),
                                 compile_path(col["path"], f"{cw} ({col['name']})")))
        self.selects = [_Select(s, f"{where}.select[{i}]") for i, s in enumerate(_list(node, "select", where))]
        self.unions = [_Select(s, f"{where}.unionAll[{i}]") for i, s in enumerate(_list(node, "unionAll", where))]
        if self.unions:
            first = [c.name for c in self.unions[0].output()]
            for i, u in enumerate(self.unions[1:], 1):
                if [c.name for c in u.output()] != first:
                    raise ViewDefinitionInvalid(f"{where}.unionAll[{i}]: its columns differ from unionAll[0]'s")

    def output(self) -> list[Column]:
        cols = [c for c, _ in self.columns]
        for s in self.selects:
            cols.extend(s.output())
        if self.unions:
            cols.extend(self.unions[0].output())
        return cols

    def rows(self, focus: list, env: dict) -> list[dict]:
        if self.repeat is not None:
            foci = _repeat(focus, self.repeat, env)
        elif self.for_each is not None:
            foci = self.for_each(focus, env)
        else:
            return self._each(focus, env)
        if not foci:
            if not self.or_null:
                return []
            env["rowIndex"] = 0
            return self._each([], env)
        out = []
        for i, item in enumerate(foci):
            env["rowIndex"] = i
            out.extend(self._each([item], env))
        return out

    def _each(self, focus: list, env: dict) -> list[dict]:
        own = {}
        for col, path in self.columns:
            values = path(focus, env)
            if col.collection:
                own[col.name] = [_plain(v) for v in values]
            elif len(values) > 1:
                raise ViewEvaluationError(f"column {col.name!r} has {len(values)} values; "
                                          "mark it collection or narrow its path")
            else:
                own[col.name] = _plain(values[0]) if values else None
        if not self.selects and not self.unions:
            return [own]
        rows = [own]
        saved = env.get("rowIndex", 0)
        for s in self.selects:
            sub = s.rows(focus, env)
            env["rowIndex"] = saved
            rows = [{**r, **x} for r in rows for x in sub]
        if self.unions:
            sub = []
            for u in self.unions:
                sub.extend(u.rows(focus, env))
                env["rowIndex"] = saved
            rows = [{**r, **x} for r in rows for x in sub]
        return rows


def _repeat(focus: list, paths: list, env: dict, depth: int = 0) -> list:
    """Depth-first: each item reached by any of ``paths``, followed by what it leads to."""
    if depth > 64:
        raise ViewEvaluationError("repeat goes deeper than 64 levels")
    out = []
    for item in focus:
        for p in paths:
            for child in p([item], env):
                out.append(child)
                out.extend(_repeat([child], paths, env, depth + 1))
    return out


def _list(node: dict, key: str, where: str) -> list:
    value = node.get(key) or []
    if not isinstance(value, list):
        raise ViewDefinitionInvalid(f"{where}.{key} must be a list")
    return value


def _plain(value: Any) -> Any:
    if isinstance(value, Decimal):
        return int(value) if value == value.to_integral_value() and "." not in str(value) else float(value)
    return value


class CompiledView:
    """A ViewDefinition ready to run: ``name``, ``resource``, ``columns`` and :meth:`rows`."""

    def __init__(self, view: dict):
        self.definition = view
        self.resource = view["resource"]
        self.name = view.get("name") or view.get("id") or self.resource.lower()
        self.constants = dict(_constant(c, f"constant[{i}]") for i, c in enumerate(view.get("constant") or []))
        self.root = _Select({"select": view["select"]}, "ViewDefinition")
        wheres = _list(view, "where", "ViewDefinition")
        self.wheres = [compile_path(w.get("path") if isinstance(w, dict) else None, f"where[{i}]")
                       for i, w in enumerate(wheres)]
        #: (system, codes) when a ``where`` only keeps resources with one of these codes in
        #: ``code.coding``; a runner may route resources by code instead of evaluating it.
        self.codes: tuple[str, frozenset] | None = None
        self._routed = None
        for i, w in enumerate(wheres):
            found = code_filter(w["path"], self.constants)
            if found is not None:
                self.codes, self._routed = found, i
                break
        self.columns = self.root.output()
        names = [c.name for c in self.columns]
        dupes = sorted({n for n in names if names.count(n) > 1})
        if dupes:
            raise ViewDefinitionInvalid(f"column name(s) {dupes} used more than once")

    def rows(self, resource: dict, routed: bool = False) -> list[dict]:
        """The rows of one resource (none when it is of another type or fails a ``where``).

        ``routed`` says the caller already knows the resource has one of :attr:`codes`.
        """
        if resource.get("resourceType") != self.resource:
            return []
        env = dict(self.constants)
        env["resource"] = resource
        env["rowIndex"] = 0
        focus = [resource]
        for i, w in enumerate(self.wheres):
            if routed and i == self._routed:
                continue
            result = w(focus, env)
            if result and (len(result) > 1 or not isinstance(result[0], bool)):
                raise ViewEvaluationError(f"view {self.name!r}: a where path must give a boolean")
            if result != [True]:
                return []
        try:
            return self.root.rows(focus, env)
        except ViewDefinitionInvalid as exc:
            raise ViewEvaluationError(f"view {self.name!r} on {self.resource}/{resource.get('id')}: {exc}") from None

    def run(self, resources) -> Iterator[dict]:
        for resource in resources:
            yield from self.rows(resource)


def view_shape_problems(view: Any) -> list[str]:
    """Why ``view`` is not a runnable SQL-on-FHIR v2 ViewDefinition (empty when it is)."""
    try:
        compile_view(view)
    except ViewDefinitionInvalid as exc:
        return [str(exc)]
    return []


def compile_view(view: Any) -> CompiledView:
    """Check ``view`` against the SQL-on-FHIR v2 shape and compile it; raises ViewDefinitionInvalid."""
    if not isinstance(view, dict):
        raise ViewDefinitionInvalid("a ViewDefinition must be a JSON object")
    if view.get("resourceType", "ViewDefinition") != "ViewDefinition":
        raise ViewDefinitionInvalid(f"resourceType is {view.get('resourceType')!r}, not ViewDefinition")
    unknown = set(view) - _VIEW_KEYS
    if unknown:
        raise ViewDefinitionInvalid(f"unknown ViewDefinition element(s) {sorted(unknown)}")
    if not isinstance(view.get("resource"), str) or not view["resource"]:
        raise ViewDefinitionInvalid("a ViewDefinition needs the resource type it runs over")
    if not isinstance(view.get("select"), list) or not view["select"]:
        raise ViewDefinitionInvalid("a ViewDefinition needs a non-empty select list")
    if "status" in view and view["status"] not in ("draft", "active", "retired", "unknown"):
        raise ViewDefinitionInvalid(f"status {view['status']!r} is not a publication status")
    return CompiledView(view)
