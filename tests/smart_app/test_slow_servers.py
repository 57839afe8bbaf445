"""Slow and failing servers: a time budget per page, pages that say what failed, answers kept."""

from __future__ import annotations

from app_helpers import field_name, form_csrf, form_data, launch, questionnaire

SESSION = "mbt-session-record"


def test_read_only_page_says_what_failed(launched, ehr):
    ehr.fail_next.append((500, {"resourceType": "OperationOutcome", "issue": []}))
    page = launched.get("/dashboard")
    html = page.get_data(as_text=True)
    assert page.status_code == 502
    assert "Nothing was saved" not in html
    assert "could not be shown" in html and "records were read" in html


def test_a_spent_page_budget_fails_fast_without_calling_the_server(client, ehr, example_data, app):
    launch(client, ehr)
    app.config["MBT_PAGE_BUDGET"] = 0.0
    before = len(ehr.fhir_requests)
    page = client.get("/dashboard")
    assert page.status_code == 504
    assert "within the time this page allows" in page.get_data(as_text=True)
    assert len(ehr.fhir_requests) == before


def test_default_page_budget_is_ten_seconds(app):
    assert app.config["MBT_PAGE_BUDGET"] == 10.0


def _open_draft(client, ehr):
    path = f"/forms/{SESSION}/new"
    client.get(path, follow_redirects=True)
    data = form_data(ehr, SESSION)
    answer = client.post(path, data={**data, **form_csrf(client, path), "action": "draft"})
    assert answer.status_code == 302, answer.get_data(as_text=True)[:1000]
    return answer.headers["Location"].split("?")[0], data


def test_answers_kept_when_the_record_was_deleted_meanwhile(launched, ehr):
    edit, data = _open_draft(launched, ehr)
    hidden = form_csrf(launched, edit)
    rid = edit.rstrip("/").split("/")[-2]
    del ehr.resources[("QuestionnaireResponse", rid)]
    data[field_name(questionnaire(SESSION), "session.note")] = ["Peter spoke about his brother"]
    answer = launched.post(edit, data={**data, **hidden, "action": "complete"})
    assert answer.status_code == 404
    html = answer.get_data(as_text=True)
    assert "Your answers are kept" in html
    again = launched.get(f"/forms/{SESSION}/new", follow_redirects=True)
    assert "Peter spoke about his brother" in again.get_data(as_text=True)


def test_answers_shown_on_the_expired_form_page(launched, ehr):
    path = f"/forms/{SESSION}/new"
    launched.get(path, follow_redirects=True)
    hidden = form_csrf(launched, path)
    hidden["csrf_token"] = "from-a-launch-two-launches-ago"
    data = form_data(ehr, SESSION)
    data[field_name(questionnaire(SESSION), "session.note")] = ["Peter spoke about his brother"]
    answer = launched.post(path, data={**data, **hidden, "action": "complete"})
    assert answer.status_code == 400
    html = answer.get_data(as_text=True)
    assert "Peter spoke about his brother" in html
    assert "not saved" in html
