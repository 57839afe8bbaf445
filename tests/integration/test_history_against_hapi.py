"""A record's history against the real HAPI FHIR, through the EHR sandbox: complete a session
record, amend it twice with reasons; the history lists three versions with their reasons and
what changed, and each earlier version opens read-only. Once as HAPI is (one batch), once with
the sandbox refusing transactions (single-request writes; no batch, so two reads)."""

from __future__ import annotations

import re
from urllib.parse import urlsplit

import pytest

from fhir_mbt.content import terminology

from .test_any_ehr import ehr_limits  # noqa: F401 (the fixture)
from .test_end_to_end import TIMEOUT, by_identifier, clinician, fhir, hidden_fields, session_form

CASES = {"hapi-as-is": ((), "2026-09-14"), "no-transaction": (("no-transaction",), "2026-09-15")}
FIRST, SECOND, THIRD = ("Slow the row at home down", "Look at the shame after the exam",
                        "Repair with his father after Sunday")


def versions(html: str) -> list[str]:
    return re.findall(r"<h3>(Version \d+ of \d+)", html)


@pytest.mark.parametrize("case", CASES)
def test_three_versions_with_reasons_and_changes(stack, ehr_limits, case):  # noqa: F811
    limits, day = CASES[case]
    ehr_limits(limits)
    session = clinician(stack)
    url = f"{stack.app_base}/forms/{terminology.SESSION_RECORD}/new"
    hidden = hidden_fields(session, url)
    saved = session.post(url, data={**session_form({"session.date": day, "next.focus": FIRST}), **hidden,
                                    "action": "complete"}, timeout=TIMEOUT)
    assert urlsplit(saved.url).path == "/dashboard", saved.text[:2000]
    [record] = by_identifier(stack, hidden["submission_id"])
    edit = f"{stack.app_base}/forms/r/{record['id']}/edit"
    form = session.get(edit, timeout=TIMEOUT).text
    assert 'name="amend_reason"' in form

    refused = session.post(edit, data={**session_form({"session.date": day, "next.focus": SECOND}),
                                       **hidden_fields(session, edit), "action": "complete"}, timeout=TIMEOUT)
    assert refused.status_code == 422 and "Say why this record is being amended" in refused.text
    assert fhir(stack).read("QuestionnaireResponse", record["id"])["meta"]["versionId"] == record["meta"]["versionId"]

    for focus, reason in ((SECOND, f"Focus agreed at the end of the session ({case})"),
                          (THIRD, f"Corrected after supervision ({case})")):
        answer = session.post(edit, data={**session_form({"session.date": day, "next.focus": focus}),
                                          **hidden_fields(session, edit), "action": "complete",
                                          "amend_reason": reason}, timeout=TIMEOUT)
        assert urlsplit(answer.url).path == "/dashboard", answer.text[:2000]

    provenances = list(fhir(stack).search("Provenance", {"target": f"QuestionnaireResponse/{record['id']}"}))
    assert sorted(r["text"] for p in provenances for r in p.get("reason") or []) == [
        f"Corrected after supervision ({case})", f"Focus agreed at the end of the session ({case})"]

    page = session.get(f"{stack.app_base}/forms/r/{record['id']}", timeout=TIMEOUT)
    assert f"/forms/r/{record['id']}/history" in page.text
    history = session.get(f"{stack.app_base}/forms/r/{record['id']}/history", timeout=TIMEOUT)
    html = history.text
    assert history.status_code == 200, html[:2000]
    assert versions(html) == ["Version 3 of 3", "Version 2 of 3", "Version 1 of 3"]
    third, second, first = (html[html.index(v):] for v in ("Version 3 of 3", "Version 2 of 3", "Version 1 of 3"))
    third, second = third[:third.index("Version 2 of 3")], second[:second.index("Version 1 of 3")]
    assert f"Corrected after supervision ({case})" in third and "Focus agreed" not in third
    assert f"Focus agreed at the end of the session ({case})" in second
    assert "First saved" in first
    assert "Focus for the next session" in third and SECOND in third and THIRD in third
    assert FIRST in second and SECOND in second
    assert html.count("<dt>Who</dt><dd>Morgan Reyes</dd>") == 3, "the author, named as the header names the user"
    assert "next.focus" not in html

    earlier = session.get(f"{stack.app_base}/forms/r/{record['id']}/v/1", timeout=TIMEOUT)
    assert earlier.status_code == 200, earlier.text[:2000]
    assert "Earlier version 1 of 3" in earlier.text and "superseded on" in earlier.text
    assert FIRST in earlier.text and THIRD not in earlier.text


def test_the_formulation_history_lists_both_formulations(stack):
    session = clinician(stack)
    dashboard = session.get(f"{stack.app_base}/dashboard", timeout=TIMEOUT).text
    assert "/forms/formulation/history" in dashboard
    page = session.get(f"{stack.app_base}/forms/formulation/history", timeout=TIMEOUT)
    assert page.status_code == 200, page.text[:2000]
    assert "Formulation of 2 Mar 2026" in page.text and "(a revision)" in page.text
    assert "from the formulation of 2 Mar 2026" in page.text
