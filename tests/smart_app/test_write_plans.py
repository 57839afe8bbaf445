"""Saving on EHRs with fewer capabilities: no transactions, no conditional create, v1 or narrower scopes.

The same scenario on every plan: complete a session record, save it twice
(a double click), amend it; the server's contents are checked each time.
"""

from __future__ import annotations

import pytest

from app_helpers import REASON, form_csrf, launch, ours
from fake_ehr import ISS

from .test_forms import SESSION, session_post

V2 = ("launch openid fhirUser patient/Patient.r patient/QuestionnaireResponse.crus patient/Observation.crus "
      "patient/Provenance.cu")
V1 = ("launch openid fhirUser patient/Patient.read patient/QuestionnaireResponse.write patient/QuestionnaireResponse.read "
      "patient/Observation.write patient/Observation.read patient/Provenance.write")
NO_OBSERVATIONS = "launch openid fhirUser patient/Patient.r patient/QuestionnaireResponse.crus patient/Observation.rs"

PLANS = {
    # name: (transactions, conditional create, scopes)
    "transaction": (True, True, V2),
    "no-transaction": (False, True, V2),
    "no-conditional-create": (False, False, V2),
    "v1-scopes": (True, True, V1),
    "v1-scopes-no-transaction": (False, True, V1),
}


def as_server(ehr, client, transactions, conditional, scope):
    ehr.transactions, ehr.conditional_create, ehr.granted_scope = transactions, conditional, scope
    assert launch(client, ehr).status_code == 302


def written(ehr, submission_id):
    (qr,) = [r for r in ehr.of_type("QuestionnaireResponse") if r.get("identifier", {}).get("value") == submission_id]
    observations = [o for o in ehr.of_type("Observation")
                    if o.get("derivedFrom", [{}])[0].get("reference") == f"QuestionnaireResponse/{qr['id']}"]
    return qr, observations


@pytest.mark.parametrize("plan", PLANS)
def test_complete_double_click_and_amend_on_every_plan(client, ehr, example_data, plan):
    transactions, conditional, scope = PLANS[plan]
    as_server(ehr, client, transactions, conditional, scope)
    path = f"/forms/{SESSION}/new"
    hidden = form_csrf(client, path)
    data = session_post(ehr)
    before = len(ehr.fhir_requests)
    first = client.post(path, data={**data, **hidden, "action": "complete"})
    assert first.status_code == 302, first.get_data(as_text=True)[:3000]
    sent = ehr.fhir_requests[before:]
    writes = [r for r in sent if r.method != "GET"]
    if transactions:
        assert [(r.method, r.url.rstrip("/")) for r in writes] == [("POST", ISS)]
    else:
        assert all(r.url.rstrip("/") != ISS for r in writes), "no transaction is sent to a server without them"
        assert all(("If-None-Exist" in r.headers) == conditional for r in writes if r.method == "POST")
    qr, observations = written(ehr, hidden["submission_id"])
    assert qr["status"] == "completed" and observations
    assert all(o["subject"]["reference"] == qr["subject"]["reference"] for o in observations)
    assert ours(ehr, "Provenance")
    counts = (len(ours(ehr, "QuestionnaireResponse")), len(ehr.of_type("Observation")), len(ours(ehr, "Provenance")))

    again = client.post(path, data={**data, **hidden, "action": "complete"})
    assert again.status_code == 302
    assert (len(ours(ehr, "QuestionnaireResponse")), len(ehr.of_type("Observation")),
            len(ours(ehr, "Provenance"))) == counts, "a double click writes nothing twice"

    edit = f"/forms/r/{qr['id']}/edit"
    hidden = form_csrf(client, edit)
    changed = session_post(ehr, session_attendance=None)
    changed = {**data, **{k: v for k, v in changed.items() if k not in data}}
    amended = client.post(edit, data={**changed, **hidden, **REASON, "action": "complete"})
    assert amended.status_code == 302, amended.get_data(as_text=True)[:3000]
    qr, observations = written(ehr, qr["identifier"]["value"])
    assert qr["status"] == "amended" and observations
    assert len(ehr.of_type("Observation")) == counts[1], "an amendment updates its Observations"


def test_observations_not_writable_saves_the_response_alone_and_says_so(client, ehr, example_data):
    as_server(ehr, client, True, True, NO_OBSERVATIONS)
    path = f"/forms/{SESSION}/new"
    hidden = form_csrf(client, path)
    before = len(ehr.of_type("Observation"))
    answer = client.post(path, data={**session_post(ehr), **hidden, "action": "complete"}, follow_redirects=True)
    text = answer.get_data(as_text=True)
    assert answer.status_code == 200
    assert "Only the record itself was stored" in text and "Observations" in text and "Provenance" in text
    qr, _ = written(ehr, hidden["submission_id"])
    assert qr["status"] == "completed"
    assert len(ehr.of_type("Observation")) == before and not ours(ehr, "Provenance")


@pytest.mark.parametrize("conditional", [True, False])
def test_a_save_that_stops_half_way_says_what_was_stored_and_the_next_save_completes_it(
        client, ehr, example_data, conditional):
    as_server(ehr, client, False, conditional, V2)
    path = f"/forms/{SESSION}/new"
    hidden = form_csrf(client, path)
    data = session_post(ehr)
    ehr.fault(method="POST", path="Observation", status=500, skip=1, times=5)
    answer = client.post(path, data={**data, **hidden, "action": "complete"})
    text = answer.get_data(as_text=True)
    assert answer.status_code == 502
    assert "Partly saved" in text and "the record itself and 1 clinical measurement" in text, text[text.find("form-errors"):][:800]
    assert "Save again" in text
    qr, observations = written(ehr, hidden["submission_id"])
    assert len(observations) == 1
    ehr.faults.clear()
    again = client.post(path, data={**data, **hidden, "action": "complete"})
    assert again.status_code == 302, again.get_data(as_text=True)[:3000]
    qr2, observations = written(ehr, hidden["submission_id"])
    assert qr2["id"] == qr["id"] and len(observations) > 1
    keys = [o["identifier"][0]["value"] for o in observations]
    assert len(keys) == len(set(keys)), "nothing was written twice"
    assert ours(ehr, "Provenance")


def test_the_capability_statement_is_read_once_per_server(client, ehr, example_data):
    as_server(ehr, client, False, True, V2)
    for _ in range(2):
        path = f"/forms/{SESSION}/new"
        hidden = form_csrf(client, path)
        client.post(path, data={**session_post(ehr), **hidden, "action": "complete"})
    assert launch(client, ehr).status_code == 302
    assert len([r for r in ehr.fhir_requests if r.url.endswith("/metadata")]) == 1


def test_foreign_meta_is_not_passed_on_to_what_the_app_writes(client, ehr, example_data):
    as_server(ehr, client, True, True, V2)
    path = f"/forms/{SESSION}/new"
    hidden = form_csrf(client, path)
    client.post(path, data={**session_post(ehr), **hidden, "action": "complete"})
    qr, _ = written(ehr, hidden["submission_id"])
    qr["meta"] = {**qr["meta"], "profile": ["http://other.example/StructureDefinition/theirs"],
                  "tag": [{"system": "http://other.example/tags", "code": "x"}]}
    edit = f"/forms/r/{qr['id']}/edit"
    hidden = form_csrf(client, edit)
    client.post(edit, data={**session_post(ehr), **hidden, **REASON, "action": "complete"})
    qr, observations = written(ehr, qr["identifier"]["value"])
    for resource in [qr, *observations]:
        assert "http://other.example" not in str(resource.get("meta", {}))
