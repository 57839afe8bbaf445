"""The shape of a SQL-on-FHIR v2 ViewDefinition, checked as content.

A ViewDefinition is a logical-model resource (SQL-on-FHIR v2), not an R4
resource: the R4 JSON schema and models know nothing of it, and a FHIR R4
server cannot store it. So the content rules skip R4 structure for the types
in :data:`LOGICAL_TYPES` and check them here instead, element by element
against the specification's ViewDefinition: ``resource`` and ``status``
required, ``select`` a non-empty list of nodes made of ``column`` (``name``
and ``path``), ``select``, ``forEach``/``forEachOrNull`` (not both),
``repeat`` and ``unionAll`` (branches with the same column names), ``where``
items with a ``path``, ``constant`` items with a name and one ``value[x]``;
column names are SQL-safe and unique in the view. Whether a runner can
evaluate the paths is the runner's business (:mod:`fhir_mbt.analytics`).
"""

from __future__ import annotations

import re
from typing import Any, Iterator

__all__ = ["LOGICAL_TYPES", "view_definition_problems"]

#: Resource types the project ships that are logical models, not R4 resources.
LOGICAL_TYPES = frozenset({"ViewDefinition"})

_NAME = re.compile(r"^[A-Za-z][A-Za-z0-9_]*$")
_TOP = {
    "resourceType": str, "id": str, "url": str, "identifier": (dict, list), "name": str, "title": str,
    "meta": dict, "version": str, "status": str, "experimental": bool, "publisher": str, "contact": list,
    "description": str, "useContext": list, "copyright": str, "date": str, "resource": str,
    "resourceVersion": list, "fhirVersion": list, "constant": list, "select": list, "where": list,
    "extension": list, "text": dict, "purpose": str,
}
_SELECT = {"column": list, "select": list, "forEach": str, "forEachOrNull": str, "repeat": list,
           "unionAll": list, "extension": list}
_COLUMN = {"name": str, "path": str, "description": str, "collection": bool, "type": str, "tag": list,
           "extension": list}
_STATUSES = {"draft", "active", "retired", "unknown"}


def _keys(node: Any, allowed: dict, where: str) -> Iterator[tuple[str, str]]:
    if not isinstance(node, dict):
        yield where, "must be an object"
        return
    for key, value in node.items():
        kind = allowed.get(key)
        if kind is None:
            yield f"{where}.{key}", f"{key!r} is not an element of a ViewDefinition here"
        elif not isinstance(value, kind) or (kind is str and not value.strip()):
            yield f"{where}.{key}", f"{key!r} has the wrong type"


def _columns(node: dict) -> list[str]:
    names = [c.get("name") for c in node.get("column", []) if isinstance(c, dict)]
    for sub in node.get("select", []):
        if isinstance(sub, dict):
            names.extend(_columns(sub))
    union = node.get("unionAll") or []
    if union and isinstance(union[0], dict):
        names.extend(_columns(union[0]))
    return names


def _select(node: Any, where: str) -> Iterator[tuple[str, str]]:
    yield from _keys(node, _SELECT, where)
    if not isinstance(node, dict):
        return
    if "forEach" in node and "forEachOrNull" in node:
        yield where, "forEach and forEachOrNull cannot both be given"
    for i, col in enumerate(node.get("column", []) if isinstance(node.get("column"), list) else []):
        cw = f"{where}.column[{i}]"
        yield from _keys(col, _COLUMN, cw)
        if isinstance(col, dict):
            for required in ("name", "path"):
                if required not in col:
                    yield cw, f"a column needs a {required}"
            if isinstance(col.get("name"), str) and not _NAME.match(col["name"]):
                yield f"{cw}.name", f"column name {col['name']!r} is not SQL-safe (letters, digits, _)"
    for key in ("select", "unionAll"):
        for i, sub in enumerate(node.get(key, []) if isinstance(node.get(key), list) else []):
            yield from _select(sub, f"{where}.{key}[{i}]")
    union = node.get("unionAll")
    if isinstance(union, list) and len(union) > 1 and all(isinstance(u, dict) for u in union):
        first = _columns(union[0])
        for i, branch in enumerate(union[1:], 1):
            if _columns(branch) != first:
                yield f"{where}.unionAll[{i}]", "a unionAll branch must have the same columns as the first"


def view_definition_problems(view: Any) -> list[tuple[str, str]]:
    """(location, message) for each way ``view`` departs from the ViewDefinition shape."""
    problems = list(_keys(view, _TOP, "ViewDefinition"))
    if not isinstance(view, dict):
        return problems
    if view.get("resourceType") != "ViewDefinition":
        problems.append(("ViewDefinition.resourceType", "must be 'ViewDefinition'"))
    for required in ("resource", "status", "select"):
        if required not in view:
            problems.append((f"ViewDefinition.{required}", f"{required} is required"))
    if "status" in view and view["status"] not in _STATUSES:
        problems.append(("ViewDefinition.status", f"status {view['status']!r} is not a publication status"))
    if isinstance(view.get("resource"), str) and not re.match(r"^[A-Z][A-Za-z]+$", view["resource"]):
        problems.append(("ViewDefinition.resource", "resource must be a FHIR resource type"))
    if isinstance(view.get("select"), list) and not view["select"]:
        problems.append(("ViewDefinition.select", "select must not be empty"))
    for i, node in enumerate(view.get("select", []) if isinstance(view.get("select"), list) else []):
        problems.extend(_select(node, f"ViewDefinition.select[{i}]"))
    for i, item in enumerate(view.get("where", []) if isinstance(view.get("where"), list) else []):
        if not isinstance(item, dict) or not isinstance(item.get("path"), str) or not item["path"].strip():
            problems.append((f"ViewDefinition.where[{i}]", "a where item needs a path"))
    for i, const in enumerate(view.get("constant", []) if isinstance(view.get("constant"), list) else []):
        values = [k for k in const if k.startswith("value")] if isinstance(const, dict) else []
        if not isinstance(const, dict) or not _NAME.match(str(const.get("name", ""))) or len(values) != 1:
            problems.append((f"ViewDefinition.constant[{i}]", "a constant needs a SQL-safe name and one value[x]"))
    names = [n for node in view.get("select", []) if isinstance(node, dict) for n in _columns(node)]
    dupes = sorted({n for n in names if isinstance(n, str) and names.count(n) > 1})
    if dupes:
        problems.append(("ViewDefinition.select", f"column name(s) {dupes} used more than once"))
    return problems
