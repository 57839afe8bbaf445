"""The second edition of the content, as the app uses it: sliders, crisis line, required groups,
constraints, the newest crisis plan, and the patient's copy in the patient's words."""

from __future__ import annotations

import re

from app_helpers import form_csrf, launch, post_data_from_response
from fhir_mbt.content import terminology
from fhir_mbt.content import shipped
from smart_app.questionnaire_form import build_form, walk_fields


def questionnaire(qid):
    return shipped().get(terminology.questionnaire_url(qid))


def names(qid) -> dict[str, str]:
    return {f.link_id: f.name for f in walk_fields(build_form(questionnaire(qid), shipped()))}


def example(ehr, rid):
    return ehr.resources[("QuestionnaireResponse", rid)]


def submit(client, path, data, action="complete"):
    return client.post(path, data={**data, **form_csrf(client, path), "action": action})


def test_untouched_sliders_post_no_answer(launched):
    html = launched.get(f"/forms/{terminology.SESSION_RECORD}/new", follow_redirects=True).get_data(as_text=True)
    sliders = re.findall(r'<input type="range"[^>]*>', html)
    assert sliders, "the session record has sliders"
    for slider in sliders:
        assert " name=" not in slider and "data-name=" in slider, slider


def test_checkin_introduction_shows_the_configured_crisis_line_and_no_scores(launched):
    html = launched.get(f"/forms/{terminology.WEEKLY_CHECKIN}/new", follow_redirects=True).get_data(as_text=True)
    intro = html[html.index('data-link-id="checkin.crisis-line"'):]
    intro = intro[:intro.index("</p>")]
    assert "Call 988" in intro
    assert html.index('data-link-id="checkin.crisis-line"') < html.index('data-link-id="checkin.blow-ups"')
    # Scores hidden from the patient are folded away on a clinician's form (opened by a click), never open.
    scores = html.index('data-link-id="checkin.score.')
    assert html.rfind('<details class="clinician-scores">', 0, scores) > html.rfind("</details>", 0, scores)


def test_attended_session_without_risk_section_is_refused_beside_the_group(launched, ehr):
    path = f"/forms/{terminology.SESSION_RECORD}/new"
    q = questionnaire(terminology.SESSION_RECORD)
    data = post_data_from_response(q, example(ehr, "peter-session-27"))
    field = names(terminology.SESSION_RECORD)
    for link in ("risk.self-harm", "risk.suicidal-thoughts", "risk.suicide-attempt", "risk.harm-to-others",
                 "risk.emergency-attendance"):
        data.pop(field[link], None)
    answer = submit(launched, path, data)
    assert answer.status_code == 422
    html = answer.get_data(as_text=True)
    risk = html[html.index('data-link-id="risk"'):]
    assert "field-error" in risk[:risk.index("</legend>") + 200]


def test_no_further_action_with_another_action_is_refused(launched, ehr):
    path = f"/forms/{terminology.SESSION_RECORD}/new"
    q = questionnaire(terminology.SESSION_RECORD)
    data = post_data_from_response(q, example(ehr, "peter-session-01"))
    field = names(terminology.SESSION_RECORD)
    cs = terminology.CODE_SYSTEM
    data[field["risk.action"]] = [f"{cs}|risk-explored", f"{cs}|no-further-action"]
    answer = submit(launched, path, data)
    assert answer.status_code == 422
    assert "cannot be recorded together with another action" in answer.get_data(as_text=True)


def test_dashboard_shows_the_newest_crisis_plan_whichever_record_holds_it(client, ehr, example_data):
    launch(client, ehr)
    html = client.get("/dashboard").get_data(as_text=True)
    assert "From the formulation of 1 Jun 2026" in html
    del ehr.resources[("QuestionnaireResponse", "peter-formulation-2")]
    launch(client, ehr)
    html = client.get("/dashboard").get_data(as_text=True)
    assert "From the crisis plan revision of 30 Mar 2026" in html
    assert "phone someone while I walk" in html
    assert "Revise the crisis plan" in html


def test_crisis_plan_revision_starts_from_the_newest_plan(launched, ehr):
    page = launched.get("/forms/mbt-crisis-plan/revise", follow_redirects=True)
    assert page.status_code == 200
    html = page.get_data(as_text=True)
    assert "QuestionnaireResponse/peter-formulation-2" in html
    assert "phone someone while I walk" in html


def test_patient_copy_uses_patient_wording_the_letter_and_the_shared_diagnosis(launched, ehr):
    html = launched.get("/copy/formulation").get_data(as_text=True)
    assert "Our shared understanding, written to you" in html and "three months on" in html
    assert "When a feeling seems like a fact" in html
    assert "Putting down what hurt me" in html
    assert "Psychic equivalence" not in html
    assert "Narcissistic personality disorder" in html, "the diagnosis was talked through in the revision"


def test_patient_copy_leaves_out_a_diagnosis_not_yet_shared(client, ehr, example_data):
    del ehr.resources[("QuestionnaireResponse", "peter-formulation-2")]
    launch(client, ehr)
    html = client.get("/copy/formulation").get_data(as_text=True)
    assert "Narcissistic personality disorder" not in html
    assert "The diagnosis we talked about" not in html
    assert "Your crisis plan" in html and "phone someone while I walk" in html


def test_clinician_sees_the_hidden_scores_when_reading_a_checkin(launched, ehr):
    html = launched.get("/forms/r/peter-checkin-27").get_data(as_text=True)
    scores = html[html.index("<h3>Scores</h3>"):]
    scores = scores[:scores.index("</section>")]
    assert "Steadiness of self-worth (0-4)" in scores and 'data-link-id="checkin.score.self-worth"' in scores
    assert "<input" not in html, "a saved record is read, not shown as a form"
