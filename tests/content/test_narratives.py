"""Every definitional resource carries the narrative generated from its content (scripts/narratives.py)."""

import json
import xml.dom.minidom
from pathlib import Path

import pytest

from fhir_mbt.content.narrative import NARRATED_TYPES, with_narrative

CONTENT = Path(__file__).resolve().parents[2] / "questionnaires"
FILES = [p for p in sorted(CONTENT.glob("*.json"))
         if p.name != "package.json" and json.loads(p.read_text())["resourceType"] in NARRATED_TYPES]


def test_there_are_definitional_resources():
    assert len(FILES) > 40


@pytest.mark.parametrize("path", FILES, ids=lambda p: p.stem)
def test_the_narrative_is_current(path):
    resource = json.loads(path.read_text(encoding="utf-8"))
    assert resource.get("text"), f"{path.name} has no narrative: run scripts/narratives.py"
    assert with_narrative(resource) == resource, f"{path.name}: narrative is stale, run scripts/narratives.py"
    assert resource["text"]["status"] == "generated"
    div = xml.dom.minidom.parseString(resource["text"]["div"]).documentElement
    assert div.tagName == "div" and div.getAttribute("xmlns") == "http://www.w3.org/1999/xhtml"
