"""The same scenario on EHRs that take less than HAPI does: HAPI through the sandbox,
the sandbox told to refuse transactions, to refuse conditional create, to grant
SMART v1 scopes only, or to grant read-only scopes (``ehr_sandbox.limits``).

Launch, dashboard, complete a session record, amend it; then the server's
contents are checked: one response, its Observations once, its Provenance.
"""

from __future__ import annotations

from urllib.parse import urlsplit

import pytest

from fhir_mbt.content import terminology

from .test_end_to_end import CLINICIAN, PATIENT, TIMEOUT, by_identifier, clinician, fhir, hidden_fields, session_form

CASES = {
    "hapi-as-is": ((), "2026-10-05"),
    "no-transaction": (("no-transaction",), "2026-10-06"),
    "no-conditional-create": (("no-transaction", "no-conditional-create"), "2026-10-07"),
    "v1-scopes": (("v1-scopes",), "2026-10-08"),
    "v1-scopes-no-transaction": (("v1-scopes", "no-transaction"), "2026-10-09"),
    "read-only": (("read-only",), "2026-10-10"),
}


@pytest.fixture
def ehr_limits(stack):
    """Set the sandbox's limits for one test; the app learns the server's capabilities afresh."""
    def set_limits(limits):
        stack.sandbox_app.config["SANDBOX_LIMITS"] = tuple(limits)
        stack.app.extensions.pop("mbt.server_writes", None)
    yield set_limits
    set_limits(())


def observations_of(stack, rid):
    return list(fhir(stack).search("Observation", {"derived-from": f"QuestionnaireResponse/{rid}"}))


@pytest.mark.parametrize("case", CASES)
def test_launch_dashboard_complete_and_amend(stack, ehr_limits, case):
    limits, day = CASES[case]
    ehr_limits(limits)
    session = clinician(stack)
    dashboard = session.get(f"{stack.app_base}/dashboard", timeout=TIMEOUT)
    assert dashboard.status_code == 200 and "Peter" in dashboard.text
    url = f"{stack.app_base}/forms/{terminology.SESSION_RECORD}/new"
    form = session.get(url, timeout=TIMEOUT)
    hidden = hidden_fields(session, url)
    data = session_form({"session.date": day})
    answer = session.post(url, data={**data, **hidden, "action": "complete"}, timeout=TIMEOUT)

    if case == "read-only":
        assert "not allowed" in form.text.lower() or answer.status_code == 403
        assert answer.status_code == 403 and "Nothing was saved" in answer.text
        assert by_identifier(stack, hidden.get("submission_id", "none")) == []
        return

    assert answer.status_code == 200 and urlsplit(answer.url).path == "/dashboard", answer.text[:2000]
    [stored] = by_identifier(stack, hidden["submission_id"])
    assert stored["status"] == "completed" and stored["subject"]["reference"] == f"Patient/{PATIENT}"
    assert stored["author"] == {"reference": f"Practitioner/{CLINICIAN}", "display": "Morgan Reyes"}, \
        "the fhirUser resolved: it is the author, named"
    observations = observations_of(stack, stored["id"])
    assert observations and all(o["subject"]["reference"] == f"Patient/{PATIENT}" for o in observations)
    keys = [o["identifier"][0]["value"] for o in observations]
    assert len(keys) == len(set(keys))
    assert len(list(fhir(stack).search("Provenance", {"target": f"QuestionnaireResponse/{stored['id']}"}))) == 1

    again = session.post(url, data={**data, **hidden, "action": "complete"}, timeout=TIMEOUT)
    assert again.status_code == 200
    assert len(by_identifier(stack, hidden["submission_id"])) == 1
    assert len(observations_of(stack, stored["id"])) == len(observations), "a double click writes nothing twice"

    edit = f"{stack.app_base}/forms/r/{stored['id']}/edit"
    changed = session_form({"session.date": day, "next.focus": f"amended on {case}"})
    amended = session.post(edit, data={**changed, **hidden_fields(session, edit), "action": "complete",
                                       "amend_reason": f"Focus corrected ({case})"}, timeout=TIMEOUT)
    assert amended.status_code == 200 and urlsplit(amended.url).path == "/dashboard", amended.text[:2000]
    current = fhir(stack).read("QuestionnaireResponse", stored["id"])
    assert current["status"] == "amended" and f"amended on {case}" in str(current)
    assert len(observations_of(stack, stored["id"])) == len(observations), "an amendment updates, never adds"
    reasons = [r.get("text") for p in fhir(stack).search("Provenance", {"target": f"QuestionnaireResponse/{stored['id']}"})
               for r in p.get("reason") or []]
    assert reasons == [f"Focus corrected ({case})"], "the reason is on the amendment's Provenance"
