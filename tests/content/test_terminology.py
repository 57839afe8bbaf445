"""The names code relies on exist in the shipped content (content and code cannot drift)."""

from __future__ import annotations

import re
from pathlib import Path

from fhir_mbt.content import terminology as t
from fhir_mbt.content import load_manifest, shipped

ROOT = Path(__file__).resolve().parents[2]


def test_canonical_base_is_the_manifest_one():
    assert load_manifest().canonical == t.CANONICAL


def test_code_system_and_profiles_exist():
    index = shipped()
    assert index.get(t.CODE_SYSTEM)["resourceType"] == "CodeSystem"
    assert index.get(t.SCORE_PROFILE)["type"] == "Observation"
    assert index.get(t.FINDING_PROFILE)["type"] == "Observation"


def test_every_questionnaire_is_listed_and_exists():
    index = shipped()
    shipped_ids = {q["id"] for q in index.resources("Questionnaire")}
    assert shipped_ids == set(t.QUESTIONNAIRES)
    for qid in t.QUESTIONNAIRES:
        assert index.get(t.questionnaire_url(qid))["id"] == qid


def _link_ids() -> set[str]:
    found = set()

    def walk(items):
        for item in items or ():
            found.add(item["linkId"])
            walk(item.get("item"))

    for q in shipped().resources("Questionnaire"):
        walk(q.get("item"))
    return found


LINK_ID_LITERAL = re.compile(r"""["']((?:[a-z0-9]+-?)+(?:\.[a-z0-9-]+)+)["']""")
NOT_LINK_IDS = re.compile(r"\.(html|css|js|json|sqlite3|py|ico|svg)$")


def test_link_ids_used_by_the_app_exist(tmp_path):
    from smart_app import create_app

    app = create_app({"TESTING": True, "MBT_SESSION_DB": str(tmp_path / "s.sqlite3")})
    endpoints = {rule.endpoint for rule in app.url_map.iter_rules()} | {"mbt.smart"}
    known = _link_ids()
    sources = [*(ROOT / "smart_app").glob("*.py"), *(ROOT / "smart_app" / "templates").glob("*.html")]
    used = set()
    for path in sources:
        for literal in LINK_ID_LITERAL.findall(path.read_text(encoding="utf-8")):
            if not NOT_LINK_IDS.search(literal) and literal not in endpoints and not literal[0].isdigit():
                used.add((path.name, literal))
    assert used, "the app reads answers by linkId; this test must find them"
    missing = sorted((name, link) for name, link in used if link not in known)
    assert missing == []
