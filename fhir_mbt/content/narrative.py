"""Narratives (``text``) for the definitional resources, generated from the content itself.

Validators warn (dom-6) about a resource without a narrative, and a human
reading the server's copy needs one. It is written from the resource's own
elements, so it cannot say something else than the content: title and
description, then what the resource defines (a Questionnaire's items, a
CodeSystem's codes, a ValueSet's includes, a profile's base, a guide's
resources). ``scripts/narratives.py`` writes it into the files; a test
checks that every file holds what the generator gives.
"""

from __future__ import annotations

from html import escape
from typing import Any

__all__ = ["narrative", "with_narrative", "NARRATED_TYPES"]

NARRATED_TYPES = ("Questionnaire", "CodeSystem", "ValueSet", "StructureDefinition", "ImplementationGuide",
                  "ObservationDefinition")
_XHTML = "http://www.w3.org/1999/xhtml"


def _e(value: Any) -> str:
    return escape(str(value), quote=False)


def _items(items: list[dict], out: list[str]) -> None:
    out.append("<ul>")
    for item in items:
        text = item.get("text") or item.get("linkId")
        out.append(f"<li>{_e(text)} ({_e(item.get('type'))}{', required' if item.get('required') else ''})")
        if item.get("item"):
            _items(item["item"], out)
        out.append("</li>")
    out.append("</ul>")


def _body(resource: dict) -> list[str]:
    kind = resource["resourceType"]
    out: list[str] = []
    if kind == "Questionnaire" and resource.get("item"):
        _items(resource["item"], out)
    elif kind == "CodeSystem" and resource.get("concept"):
        out.append("<table><tr><th>Code</th><th>Display</th></tr>")
        stack = list(resource["concept"])
        while stack:
            concept = stack.pop(0)
            out.append(f"<tr><td>{_e(concept.get('code'))}</td><td>{_e(concept.get('display', ''))}</td></tr>")
            stack[:0] = concept.get("concept", [])
        out.append("</table>")
    elif kind == "ValueSet":
        for include in (resource.get("compose") or {}).get("include", []):
            if include.get("concept"):
                codes = ", ".join(_e(c.get("display") or c.get("code")) for c in include["concept"])
                out.append(f"<p>From {_e(include.get('system', ''))}: {codes}</p>")
            elif include.get("system"):
                out.append(f"<p>All codes of {_e(include['system'])}"
                           f"{' matching the filter' if include.get('filter') else ''}</p>")
            for vs in include.get("valueSet", []):
                out.append(f"<p>Includes {_e(vs)}</p>")
    elif kind == "StructureDefinition":
        out.append(f"<p>Profile of {_e(resource.get('type'))} (based on {_e(resource.get('baseDefinition', ''))})</p>")
    elif kind == "ImplementationGuide":
        names = [r.get("name") or (r.get("reference") or {}).get("reference")
                 for r in (resource.get("definition") or {}).get("resource", [])]
        if names:
            out.append("<ul>" + "".join(f"<li>{_e(n)}</li>" for n in names) + "</ul>")
    return out


def narrative(resource: dict) -> dict:
    """The generated ``text`` of a definitional resource."""
    if resource["resourceType"] == "ObservationDefinition":
        name = (resource.get("code") or {}).get("text") or resource.get("id")
        lead = f"<p>{_e(name)}: {_e(resource.get('preferredReportName') or name)}.</p>"
        existing = (resource.get("text") or {}).get("div")
        if existing:  # written with the content's build; kept as it is
            return dict(resource["text"])
        return {"status": "generated", "div": f'<div xmlns="{_XHTML}">{lead}</div>'}
    title = resource.get("title") or resource.get("name") or resource.get("id")
    parts = [f"<p><b>{_e(title)}</b>"
             + (f" (version {_e(resource['version'])})" if resource.get("version") else "") + "</p>"]
    if resource.get("description"):
        parts.append(f"<p>{_e(resource['description'])}</p>")
    parts += _body(resource)
    return {"status": "generated", "div": f'<div xmlns="{_XHTML}">' + "".join(parts) + "</div>"}


def with_narrative(resource: dict) -> dict:
    """``resource`` with its generated ``text``, placed after ``id`` and ``meta`` as FHIR orders them."""
    text = narrative(resource)
    out: dict = {}
    for key, value in resource.items():
        if key == "text":
            continue
        out[key] = value
        if key == ("meta" if "meta" in resource else "id"):
            out["text"] = text
    if "text" not in out:
        out = {"text": text, **out}
    return out
