"""``ValueSet/$expand`` on the project's HAPI: every shipped ValueSet expands to what the library says.

A renderer (LHC-Forms, any SDC filler) that asks this server for answer lists
gets them; the server runs without Hibernate Search, so it expands from its
database tables (see hapi_server's FhirServerConfig).
"""

from __future__ import annotations

import pytest
import requests

from fhir_mbt.content import shipped

VALUESETS = shipped().resources("ValueSet")


def _not_selectable():
    """Grouping concepts of the project CodeSystem (``notSelectable``), which HAPI lists in a whole-system
    expansion and the library leaves out of answer lists."""
    out = set()
    for cs in shipped().resources("CodeSystem"):
        stack = list(cs.get("concept", []))
        while stack:
            concept = stack.pop()
            stack += concept.get("concept", [])
            if any(p.get("code") == "notSelectable" and p.get("valueBoolean") for p in concept.get("property", [])):
                out.add((cs["url"], concept["code"]))
    return out


def _codes(contains):
    out = set()
    for entry in contains or []:
        if entry.get("code"):
            out.add((entry.get("system"), entry["code"]))
        out |= _codes(entry.get("contains"))
    return out


@pytest.mark.parametrize("valueset", VALUESETS, ids=lambda v: v["id"])
def test_expand_every_shipped_valueset(stack, valueset):
    answer = requests.get(f"{stack.fhir_base}/ValueSet/$expand", params={"url": valueset["url"]}, timeout=120)
    assert answer.status_code == 200, answer.text[:500]
    expansion = answer.json()["expansion"]
    expected = {(c.get("system"), c["code"]) for c in shipped().expand(valueset["url"])}
    got = _codes(expansion.get("contains")) - _not_selectable()
    assert expected and got == expected, (len(got), len(expected), sorted(expected - got)[:5], sorted(got - expected)[:5], expansion.get("total"))
