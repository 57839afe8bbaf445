"""Forms against the faked EHR: draft, complete, amend, conflict, expiry, bad input."""

from __future__ import annotations

from urllib.parse import urlsplit

import pytest

from app_helpers import (
    REASON,
    example_response,
    field_name,
    form_csrf,
    form_data,
    launch,
    ours,
    questionnaire,
)
from fhir_mbt.content import terminology
from fhir_mbt.content import shipped
from smart_app.questionnaire_form import build_form, walk_fields

SESSION = "mbt-session-record"


def session_post(ehr, **overrides):
    q = questionnaire(SESSION)
    data = form_data(ehr, SESSION)
    for link_id, values in overrides.items():
        name = field_name(q, link_id.replace("_", "."))
        if values is None:
            data.pop(name, None)
        else:
            data[name] = values if isinstance(values, list) else [values]
    return data


def submit(client, path, data, action="complete", hidden=None):
    hidden = hidden or form_csrf(client, path)
    return client.post(path, data={**data, **hidden, "action": action})


@pytest.mark.parametrize("qid", terminology.QUESTIONNAIRES)
def test_every_form_renders_and_completes_in_one_transaction(launched, ehr, qid):
    q = questionnaire(qid)
    path = f"/forms/{qid}/new"
    page = launched.get(path, follow_redirects=True)
    assert page.status_code == 200
    assert q["title"] in page.get_data(as_text=True)
    data = form_data(ehr, qid)
    if qid == "mbt-formulation":
        # a new formulation, not a revision of the example one
        data[field_name(q, "revision.is-revision")] = ["no"]
        for link in ("revision.previous", "revision.reason"):
            data.pop(field_name(q, link), None)
    hidden = form_csrf(launched, path)
    before_responses = len(ehr.of_type("QuestionnaireResponse"))
    before = len(ehr.fhir_requests)
    answer = launched.post(path, data={**data, **hidden, "action": "complete"})
    assert answer.status_code == 302, answer.get_data(as_text=True)[:3000]
    sent = ehr.fhir_requests[before:]
    assert [r.method for r in sent if r.method != "GET"] == ["POST"], "completing a form is one write: a transaction"
    # a session record, check-in or RFQ-8 first asks whether that occasion is already recorded (one search);
    # a crisis plan revision first reads the plan it names, to check it is this patient's (one read)
    assert len(sent) == (2 if qid in ("mbt-session-record", "mbt-weekly-checkin", "rfq-8", "mbt-crisis-plan") else 1)
    assert len(ehr.of_type("QuestionnaireResponse")) == before_responses + 1
    stored = [r for r in ehr.of_type("QuestionnaireResponse")
              if r.get("identifier", {}).get("value") == hidden["submission_id"]]
    assert len(stored) == 1 and stored[0]["status"] == "completed"
    observations = [o for o in ehr.of_type("Observation")
                    if o.get("derivedFrom", [{}])[0].get("reference") == f"QuestionnaireResponse/{stored[0]['id']}"]
    assert observations, "the answers became Observations"
    assert ours(ehr, "Provenance")


def test_double_submit_creates_one_response(launched, ehr):
    path = f"/forms/{SESSION}/new"
    hidden = form_csrf(launched, path)
    data = session_post(ehr)
    first = launched.post(path, data={**data, **hidden, "action": "complete"})
    assert first.status_code == 302
    counts = (len(ours(ehr, "QuestionnaireResponse")), len(ehr.of_type("Observation")))
    second = launched.post(path, data={**data, **hidden, "action": "complete"})
    assert second.status_code == 302
    assert (len(ours(ehr, "QuestionnaireResponse")), len(ehr.of_type("Observation"))) == counts


def test_draft_then_resume_then_complete(launched, ehr):
    path = f"/forms/{SESSION}/new"
    hidden = form_csrf(launched, path)
    partial = {field_name(questionnaire(SESSION), "session.date"): ["2026-10-01"],
               field_name(questionnaire(SESSION), "session.note"): ["half-written note"]}
    saved = launched.post(path, data={**partial, **hidden, "action": "draft"})
    assert saved.status_code == 302
    again = launched.post(path, data={**partial, **hidden, "action": "draft"})
    assert again.status_code == 302
    drafts = ours(ehr, "QuestionnaireResponse")
    assert len(drafts) == 1 and drafts[0]["status"] == "in-progress"
    assert ehr.of_type("Observation") == [], "a draft writes no Observations"
    dashboard = launched.get("/dashboard").get_data(as_text=True)
    assert f"/forms/r/{drafts[0]['id']}/edit" in dashboard
    edit_path = f"/forms/r/{drafts[0]['id']}/edit"
    page = launched.get(edit_path).get_data(as_text=True)
    assert "half-written note" in page
    data = session_post(ehr)
    done = submit(launched, edit_path, data)
    assert done.status_code == 302, done.get_data(as_text=True)[:2000]
    stored = ehr.resources[("QuestionnaireResponse", drafts[0]["id"])]
    assert stored["status"] == "completed"
    assert len(ours(ehr, "QuestionnaireResponse")) == 1


def test_amend_updates_observations_instead_of_adding(launched, ehr):
    path = f"/forms/{SESSION}/new"
    assert submit(launched, path, session_post(ehr)).status_code == 302
    [response] = ours(ehr, "QuestionnaireResponse")
    count = len(ehr.of_type("Observation"))
    edit = f"/forms/r/{response['id']}/edit"
    page = launched.get(edit).get_data(as_text=True)
    assert "Save amendment" in page and 'value="draft"' not in page, "a saved record cannot go back to a draft"
    answer = submit(launched, edit, {**session_post(ehr, **{"arousal.peak": "9"}), **REASON})
    assert answer.status_code == 302, answer.get_data(as_text=True)[:2000]
    stored = ehr.resources[("QuestionnaireResponse", response["id"])]
    assert stored["status"] == "amended"
    assert len(ehr.of_type("Observation")) == count
    amended = [o for o in ehr.of_type("Observation") if o["status"] == "amended"]
    assert any(o.get("valueQuantity", {}).get("value") == 9 for o in amended)


def test_second_clinician_gets_a_conflict_and_loses_nothing(app, launched, ehr):
    path = f"/forms/{SESSION}/new"
    assert submit(launched, path, session_post(ehr)).status_code == 302
    [response] = ours(ehr, "QuestionnaireResponse")
    edit = f"/forms/r/{response['id']}/edit"
    other = app.test_client()
    launch(other, ehr)
    mine = form_csrf(launched, edit)
    theirs = form_csrf(other, edit)
    assert submit(other, edit, {**session_post(ehr, **{"next_focus": "their focus"}), **REASON},
                  hidden=theirs).status_code == 302
    answer = submit(launched, edit, {**session_post(ehr, **{"next_focus": "my focus"}), **REASON}, hidden=mine)
    assert answer.status_code == 409
    html = answer.get_data(as_text=True)
    assert "Someone else saved this record" in html
    assert "my focus" in html, "the clinician's answers are kept on the page"
    stored = ehr.resources[("QuestionnaireResponse", response["id"])]
    assert "their focus" in str(stored) and "my focus" not in str(stored)


def test_missing_required_answer_is_shown_beside_the_question(launched, ehr):
    path = f"/forms/{SESSION}/new"
    data = session_post(ehr, **{"session.date": None, "session.note": "keep me"})
    answer = submit(launched, path, data)
    assert answer.status_code == 422
    html = answer.get_data(as_text=True)
    date_block = html[html.index('data-link-id="session.date"'):]
    date_block = date_block[:date_block.index("</div>")]
    assert "field-error" in date_block
    assert "keep me" in html
    assert ours(ehr, "QuestionnaireResponse") == []


def test_wrong_type_is_shown_beside_the_question(launched, ehr):
    answer = submit(launched, f"/forms/{SESSION}/new", session_post(ehr, **{"arousal.peak": "very high"}))
    assert answer.status_code == 422
    html = answer.get_data(as_text=True)
    block = html[html.index('data-link-id="arousal.peak"'):]
    assert "whole number" in block[:block.index("</div>")]
    assert 'value="very high"' in html
    assert ours(ehr, "QuestionnaireResponse") == []


def test_answer_to_a_question_that_does_not_apply_is_refused(launched, ehr):
    data = session_post(ehr, **{"alliance.rupture": "no"})
    q = questionnaire(SESSION)
    repair_options = [o for f in walk_fields(build_form(q, shipped())) if f.link_id == "alliance.repair" for o in f.options]
    data[field_name(q, "alliance.repair")] = [repair_options[0].token]
    answer = submit(launched, f"/forms/{SESSION}/new", data)
    assert answer.status_code == 422
    assert ours(ehr, "QuestionnaireResponse") == []


def test_expired_token_keeps_the_answers(launched, ehr):
    path = f"/forms/{SESSION}/new"
    hidden = form_csrf(launched, path)
    ehr.expire_all_tokens()
    ehr.refresh_tokens.clear()
    data = session_post(ehr, **{"session.note": "written while the token expired"})
    answer = launched.post(path, data={**data, **hidden, "action": "complete"})
    assert answer.status_code == 401
    assert "answers are kept" in answer.get_data(as_text=True)
    assert ours(ehr, "QuestionnaireResponse") == []
    back = launch(launched, ehr)
    assert back.headers["Location"].endswith(path)
    restored = launched.get(path, follow_redirects=True).get_data(as_text=True)
    assert "written while the token expired" in restored


def test_expired_token_is_refreshed_silently(launched, ehr):
    ehr.expire_all_tokens()
    answer = submit(launched, f"/forms/{SESSION}/new", session_post(ehr))
    assert answer.status_code == 302
    assert len(ours(ehr, "QuestionnaireResponse")) == 1


def test_without_write_scope_the_app_says_so(client, ehr, example_data):
    ehr.granted_scope = "launch openid fhirUser patient/Patient.r patient/QuestionnaireResponse.rs patient/Observation.rs"
    launch(client, ehr)
    page = client.get(f"/forms/{SESSION}/new", follow_redirects=True).get_data(as_text=True)
    assert "not granted permission to save" in page
    answer = submit(client, f"/forms/{SESSION}/new", session_post(ehr))
    assert answer.status_code == 403
    assert ours(ehr, "QuestionnaireResponse") == []


def test_post_without_csrf_token_is_refused(launched, ehr):
    answer = launched.post(f"/forms/{SESSION}/new", data={**session_post(ehr), "action": "complete",
                                                          "submission_id": "0f6e7d2c-1111-4e3b-9c55-000000000001"})
    assert answer.status_code == 400
    assert ours(ehr, "QuestionnaireResponse") == []


def test_hostile_text_is_stored_as_text_and_shown_escaped(launched, ehr):
    evil = '<script>alert("x")</script>"\'><img src=x onerror=alert(1)>'
    answer = submit(launched, f"/forms/{SESSION}/new", session_post(ehr, **{"session.note": evil, "next.focus": evil}))
    assert answer.status_code == 302
    [response] = ours(ehr, "QuestionnaireResponse")
    texts = []

    def collect(items):
        for item in items or ():
            texts.extend(a.get("valueString") for a in item.get("answer", ()))
            collect(item.get("item"))

    collect(response["item"])
    assert texts.count(evil) == 2
    page = launched.get(f"/forms/r/{response['id']}").get_data(as_text=True)
    assert "<script>alert" not in page and "<img src=x" not in page


def test_unknown_form_and_foreign_record(launched, ehr):
    assert launched.get("/forms/not-a-form/new").status_code == 404
    other = dict(example_response(ehr, SESSION), id="someone-else", subject={"reference": "Patient/other"})
    ehr.put(other)
    assert launched.get("/forms/r/someone-else").status_code == 404


def test_formulation_revision_starts_from_current(launched, ehr):
    page = launched.get("/forms/mbt-formulation/revise", follow_redirects=True).get_data(as_text=True)
    current = max((r for r in ehr.of_type("QuestionnaireResponse") if "formulation" in r["questionnaire"]),
                  key=lambda r: r["authored"])
    assert f'value="QuestionnaireResponse/{current["id"]}"' in page
    crisis = [a for i in current["item"] if i["linkId"] == "crisis" for a in i["item"] if a["linkId"] == "crisis.self"]
    assert crisis and crisis[0]["answer"][0]["valueString"][:30] in page


def test_complete_then_back_then_draft_keeps_the_completed_record(launched, ehr):
    path = f"/forms/{SESSION}/new"
    hidden = form_csrf(launched, path)
    data = session_post(ehr)
    assert launched.post(path, data={**data, **hidden, "action": "complete"}).status_code == 302
    [response] = ours(ehr, "QuestionnaireResponse")
    observations = len(ehr.of_type("Observation"))
    back = launched.post(path, data={**data, **hidden, "action": "draft"})
    assert back.status_code == 422
    assert "cannot go back to draft" in back.get_data(as_text=True)
    stored = ehr.resources[("QuestionnaireResponse", response["id"])]
    assert stored["status"] == "completed" and len(ehr.of_type("Observation")) == observations


def test_draft_then_back_then_complete_completes_the_draft(launched, ehr):
    path = f"/forms/{SESSION}/new"
    hidden = form_csrf(launched, path)
    data = session_post(ehr)
    saved = launched.post(path, data={**data, **hidden, "action": "draft"})
    assert saved.status_code == 302 and "/edit" in saved.headers["Location"]
    done = launched.post(path, data={**data, **hidden, "action": "complete"})
    assert done.status_code == 302, done.get_data(as_text=True)[:1500]
    [response] = ours(ehr, "QuestionnaireResponse")
    assert response["status"] == "completed"
    assert all(o["derivedFrom"][0]["reference"] == f"QuestionnaireResponse/{response['id']}"
               for o in ehr.of_type("Observation"))


def test_amend_without_or_with_forged_version_is_refused(launched, ehr):
    assert submit(launched, f"/forms/{SESSION}/new", session_post(ehr)).status_code == 302
    [response] = ours(ehr, "QuestionnaireResponse")
    edit = f"/forms/r/{response['id']}/edit"
    for version in (None, "*", "99"):
        hidden = form_csrf(launched, edit)
        if version is None:
            hidden.pop("version_id")
        else:
            hidden["version_id"] = version
        answer = submit(launched, edit, session_post(ehr, **{"next.focus": "changed"}), hidden=hidden)
        assert answer.status_code == 409, version
        assert 'value="changed"' in answer.get_data(as_text=True) or "changed" in answer.get_data(as_text=True)
    assert ehr.resources[("QuestionnaireResponse", response["id"])]["meta"]["versionId"] == "1"


def test_expired_token_while_amending_keeps_the_answers(launched, ehr):
    assert submit(launched, f"/forms/{SESSION}/new", session_post(ehr)).status_code == 302
    [response] = ours(ehr, "QuestionnaireResponse")
    edit = f"/forms/r/{response['id']}/edit"
    hidden = form_csrf(launched, edit)
    ehr.expire_all_tokens()
    ehr.refresh_tokens.clear()
    answer = submit(launched, edit, session_post(ehr, **{"next.focus": "kept across sign-in"}), hidden=hidden)
    assert answer.status_code == 401
    back = launch(launched, ehr)
    assert back.headers["Location"].endswith(edit)
    page = launched.get(edit).get_data(as_text=True)
    assert "kept across sign-in" in page
    assert f'name="version_id" value="{hidden["version_id"]}"' in page


def test_server_error_while_saving_keeps_the_answers(launched, ehr):
    path = f"/forms/{SESSION}/new"
    hidden = form_csrf(launched, path)
    ehr.fault(status=503, body={"resourceType": "OperationOutcome", "issue": []})
    answer = launched.post(path, data={**session_post(ehr, **{"session.note": "do not lose me"}), **hidden,
                                       "action": "complete"})
    assert answer.status_code == 502
    html = answer.get_data(as_text=True)
    assert "Not saved" in html and "do not lose me" in html
    assert ours(ehr, "QuestionnaireResponse") == [] and ehr.of_type("Observation") == []


def test_submission_id_must_come_from_this_session(launched, ehr):
    path = f"/forms/{SESSION}/new"
    hidden = form_csrf(launched, path)
    hidden["submission_id"] = "0f6e7d2c-1111-4e3b-9c55-000000000001"
    answer = submit(launched, path, session_post(ehr, **{"session.note": "still here"}), hidden=hidden)
    assert answer.status_code == 400
    assert "still here" in answer.get_data(as_text=True)
    assert ours(ehr, "QuestionnaireResponse") == []


def test_cannot_post_to_another_patients_record(launched, ehr):
    other = dict(example_response(ehr, SESSION), id="someone-else", subject={"reference": "Patient/other"})
    ehr.put(other)
    hidden = form_csrf(launched, f"/forms/{SESSION}/new")
    answer = launched.post("/forms/r/someone-else/edit", data={**session_post(ehr), **hidden, "action": "complete"})
    assert answer.status_code == 404
    assert ehr.resources[("QuestionnaireResponse", "someone-else")]["meta"]["versionId"] == "1"


def test_oversized_and_multipart_posts_are_refused(launched, ehr):
    path = f"/forms/{SESSION}/new"
    hidden = form_csrf(launched, path)
    huge = launched.post(path, data={**hidden, "action": "complete", "a:session.note": "x" * (2 * 1024 * 1024)})
    assert huge.status_code == 413
    import io

    multipart = launched.post(path, data={**hidden, "action": "complete", "f": (io.BytesIO(b"x"), "x.txt")},
                              content_type="multipart/form-data")
    assert multipart.status_code == 415
    assert ours(ehr, "QuestionnaireResponse") == []


def test_malformed_record_from_server_gives_a_clear_page(launched, ehr):
    bad = dict(example_response(ehr, SESSION), id="bad-one")
    bad["item"] = [{"linkId": "session.date", "answer": ["x"]}]
    ehr.put(bad)
    page = launched.get("/forms/r/bad-one")
    assert page.status_code == 502
    assert "expected shape" in page.get_data(as_text=True)


@pytest.mark.parametrize("qid", terminology.QUESTIONNAIRES)
def test_every_form_drafts_completes_and_amends(launched, ehr, qid):
    data = form_data(ehr, qid)
    path = f"/forms/{qid}/new"
    saved = submit(launched, path, data, action="draft")
    assert saved.status_code == 302 and urlsplit(saved.headers["Location"]).path.endswith("/edit")
    [draft] = ours(ehr, "QuestionnaireResponse")
    assert draft["status"] == "in-progress" and ehr.of_type("Observation") == []
    edit = f"/forms/r/{draft['id']}/edit"
    done = submit(launched, edit, data)
    assert done.status_code == 302, done.get_data(as_text=True)[:1500]
    assert ehr.resources[("QuestionnaireResponse", draft["id"])]["status"] == "completed"
    observations = len(ehr.of_type("Observation"))
    assert observations > 0
    assert submit(launched, edit, data).status_code == 422, "an amendment without a reason is not saved"
    amended = submit(launched, edit, {**data, **REASON})
    assert amended.status_code == 302, amended.get_data(as_text=True)[:1500]
    assert ehr.resources[("QuestionnaireResponse", draft["id"])]["status"] == "amended"
    assert len(ehr.of_type("Observation")) == observations
    assert len(ours(ehr, "QuestionnaireResponse")) == 1


HOSTILE = '</textarea><script>alert(1)</script>"\'><svg onload=alert(2)>{{7*7}}'


@pytest.mark.parametrize("qid", terminology.QUESTIONNAIRES)
def test_hostile_input_in_every_field(launched, ehr, qid):
    q = questionnaire(qid)
    data = form_data(ehr, qid)
    fields = [f for f in walk_fields(build_form(q, shipped())) if f.type not in ("group", "display")]
    text_names = {f.name for f in fields if f.type in ("string", "text")}
    for name in text_names:
        data[name] = [HOSTILE]
    answer = submit(launched, f"/forms/{qid}/new", data)
    assert answer.status_code in (302, 422), answer.status_code
    html = answer.get_data(as_text=True)
    assert "<script>alert(1)" not in html and "<svg onload" not in html
    stored = ours(ehr, "QuestionnaireResponse")
    if answer.status_code == 302:
        page = launched.get(f"/forms/r/{stored[0]['id']}").get_data(as_text=True)
        assert "<script>alert(1)" not in page and "<svg onload" not in page
        if text_names:
            assert "&lt;script&gt;alert(1)&lt;/script&gt;" in page
    # every non-text field sent something hostile instead: rejected beside the question, nothing written
    before = len(ours(ehr, "QuestionnaireResponse"))
    data = form_data(ehr, qid)
    others = [f for f in fields if f.type not in ("string", "text") and not f.calculated and f.name in data]
    for f in others:
        data[f.name] = [HOSTILE]
    refused = submit(launched, f"/forms/{qid}/new", data)
    assert refused.status_code == 422
    html = refused.get_data(as_text=True)
    assert "<script>alert(1)" not in html
    assert html.count('class="field-error"') >= min(len(others), 1)
    assert len(ours(ehr, "QuestionnaireResponse")) == before


def test_a_form_page_does_not_show_the_questionnaires_description_meant_for_implementers(launched):
    from fhir_mbt.content import shipped, terminology

    q = shipped().get(terminology.questionnaire_url(terminology.RFQ8))
    page = launched.get(f"/forms/{terminology.RFQ8}/new").get_data(as_text=True)
    assert "questionnaire-hidden" in q["description"]
    assert "questionnaire-hidden" not in page and q["description"][:60] not in page
