"""Every message a form shows names the question in the form's words, never by its linkId.

For each shipped Questionnaire, each kind of error it can have is provoked through the app
(a value below the minimum, above the maximum, too long, of the wrong type, a required answer
left out, a rule across answers broken) and every message on the page that comes back is read:
beside the questions and in the list at the top. None may contain a linkId of that
Questionnaire. (A linkId that is a plain word, "risk" or "goals", is also ordinary language in
the questions themselves; for those only the quoted forms 'risk' and "risk" are refused.) The
list at the top leads to each question: every entry is a link to the element holding it.
"""

from __future__ import annotations

import json
import re
from html.parser import HTMLParser

import pytest
import responses

from app_helpers import field_name, form_csrf, form_data, questionnaire
from fhir_mbt.content import definitions_dir, shipped, terminology
from patient_ehr import ME, PETER, PatientEhr, portal_launch
from smart_app.patient_record import PATIENT_FORMS
from smart_app.questionnaire_form import build_form, text_limit, walk_fields

FORMS = list(terminology.QUESTIONNAIRES)


class _Messages(HTMLParser):
    """The text of every .field-error and of every entry of the top-of-form list, with the
    links of that list, and the ids on the page."""

    def __init__(self):
        super().__init__()
        self.messages: list[str] = []
        self.links: list[str] = []
        self.ids: set[str] = set()
        self._depth = 0
        self._stack: list[bool] = []
        self._buffer: list[str] = []
        self._in_errors = 0
        self._divs: list[bool] = []

    def handle_starttag(self, tag, attrs):
        a = dict(attrs)
        classes = (a.get("class") or "").split()
        if "id" in a:
            self.ids.add(a["id"])
        if tag == "div":
            self._divs.append("form-errors" in classes)
            self._in_errors += "form-errors" in classes
        capture = "field-error" in classes or (tag == "li" and self._in_errors)
        if tag == "a" and self._in_errors and a.get("href", "").startswith("#"):
            self.links.append(a["href"][1:])
        if tag in ("br", "input", "img", "meta", "link"):
            return
        self._stack.append(capture)
        if capture:
            self._depth += 1
            if self._depth == 1:
                self._buffer = []

    def handle_endtag(self, tag):
        if tag == "div" and self._divs:
            self._in_errors -= self._divs.pop()
        if tag in ("br", "input", "img", "meta", "link") or not self._stack:
            return
        if self._stack.pop():
            self._depth -= 1
            if self._depth == 0:
                self.messages.append(" ".join("".join(self._buffer).split()))

    def handle_data(self, data):
        if self._depth:
            self._buffer.append(data)


def read(html: str) -> _Messages:
    parser = _Messages()
    parser.feed(html)
    return parser


def link_ids(questionnaire_: dict) -> list[str]:
    out = []

    def walk(items):
        for item in items or ():
            out.append(item["linkId"])
            walk(item.get("item"))

    walk(questionnaire_["item"])
    return out


def assert_no_link_id(messages: list[str], qid: str) -> None:
    assert messages, "the page shows what is wrong"
    for message in messages:
        for link_id in link_ids(questionnaire(qid)):
            if re.fullmatch(r"[a-z]+", link_id):
                assert f"'{link_id}'" not in message and f'"{link_id}"' not in message, (link_id, message)
            else:
                assert link_id not in message, f"{message!r} names the linkId {link_id!r}"


def _fields(qid):
    return [f for f in walk_fields(build_form(questionnaire(qid), shipped()))
            if f.type not in ("group", "display") and not f.calculated and not f.read_only and not f.hidden]


def cases(qid: str, base: dict[str, list[str]]):
    """(kind, field, changed post) for every kind of error this form can have, on questions the
    example record answers (so they are asked)."""
    fields = [f for f in _fields(qid) if f.name in base]
    numeric = [f for f in fields if f.type in ("integer", "decimal")]
    out = []
    low = next((f for f in numeric if f.min is not None), None)
    if low is not None:
        out.append(("below-min", low, {low.name: [str(low.min - 1)]}))
    high = next((f for f in numeric if f.max is not None), None)
    if high is not None:
        out.append(("above-max", high, {high.name: [str(high.max + 1)]}))
    asked = fields + [f for f in _fields(qid) if "/" not in f.name and not f.enable_when and f.name not in base]
    text = next((f for f in asked if f.type in ("string", "text")), None)
    if text is not None:
        item = {"maxLength": text.max_length} if text.max_length else {}
        out.append(("too-long", text, {text.name: ["x" * (text_limit(item) + 1)]}))
    wrong = next((f for f in fields if f.type in ("integer", "decimal", "date")), None)
    if wrong is not None:
        out.append(("wrong-type", wrong, {wrong.name: ["31/12/2026" if wrong.type != "date" else "twelve"]}))
    choice = next((f for f in fields if f.type == "choice"), None)
    if choice is not None:
        out.append(("not-an-option", choice, {choice.name: ["http://example.org/other|nothing"]}))
    # A required question whose section keeps other answers (else the section is what is missing).
    required = next((f for f in fields if f.required and any(
        g is not f and g.name.rpartition("/")[0] == f.name.rpartition("/")[0] for g in fields)), None)
    if required is not None:
        out.append(("missing-required", required, {required.name: None}))
    return out


def _post(client, ehr, qid, changes):
    data = form_data(ehr, qid)
    if qid == "mbt-formulation":
        data[field_name(questionnaire(qid), "revision.is-revision")] = ["no"]
        for link in ("revision.previous", "revision.reason"):
            data.pop(field_name(questionnaire(qid), link), None)
    for name, values in changes.items():
        if values is None:
            data.pop(name, None)
        else:
            data[name] = values
    path = f"/forms/{qid}/new"
    return client.post(path, data={**data, **form_csrf(client, path), "action": "complete"})


@pytest.mark.parametrize("qid", FORMS)
def test_no_message_a_clinician_sees_names_a_link_id(launched, ehr, qid):
    base = form_data(ehr, qid)
    found = cases(qid, base)
    assert len(found) >= (2 if qid == terminology.RFQ8 else 3), found  # the RFQ-8 has only its eight choices
    for kind, field, changes in found:
        answer = _post(launched, ehr, qid, changes)
        assert answer.status_code in (400, 422), (kind, answer.status_code)
        page = read(answer.get_data(as_text=True))
        assert_no_link_id(page.messages, qid)
        beside = [m for m in page.messages if field.label in m]
        assert beside, f"{kind}: no message names {field.label!r}: {page.messages}"


def test_a_broken_rule_across_answers_is_said_in_words(launched, ehr):
    qid = terminology.SESSION_RECORD
    q = questionnaire(qid)
    tokens = {f.link_id: {o.token.split("|")[1]: o.token for o in f.options} for f in _fields(qid)}
    answer = _post(launched, ehr, qid, {
        field_name(q, "risk.self-harm"): [tokens["risk.self-harm"]["risk-yes"]],
        field_name(q, "risk.level"): [tokens["risk.level"]["risk-imminent"]],
        field_name(q, "risk.action"): [tokens["risk.action"]["no-further-action"],
                                       tokens["risk.action"]["safety-plan-reviewed"]
                                       if "safety-plan-reviewed" in tokens["risk.action"]
                                       else sorted(tokens["risk.action"].values())[0]],
    })
    assert answer.status_code == 422
    page = read(answer.get_data(as_text=True))
    assert any("imminent risk needs an emergency action" in m for m in page.messages), page.messages
    assert any("'No further action' cannot be recorded together" in m for m in page.messages), page.messages
    assert_no_link_id(page.messages, qid)


def test_engine_messages_below_the_minimum_read_as_the_form_does(launched, ehr):
    qid = terminology.WEEKLY_CHECKIN
    answer = _post(launched, ehr, qid, {field_name(questionnaire(qid), "checkin.blow-ups"): ["-1"]})
    page = read(answer.get_data(as_text=True))
    assert "Blow-ups this week cannot be below 0" in page.messages


@pytest.mark.parametrize("qid", FORMS)
def test_the_list_at_the_top_leads_to_each_question(launched, ehr, qid):
    base = form_data(ehr, qid)
    required = [f for f in _fields(qid) if f.required and f.name in base]
    if not required:
        pytest.skip(f"{qid}: no required question the example answers")
    answer = _post(launched, ehr, qid, {f.name: None for f in required[:3]})
    html = answer.get_data(as_text=True)
    page = read(html)
    assert page.links, "the list at the top has links"
    for f in required[:3]:  # the question's own entry, or its section's when the whole section is empty
        anchor = "f-" + re.sub(r"[:/\[]", "-", f.name).replace("]", "")
        assert any(anchor.startswith(link) for link in page.links), (anchor, page.links)
    for anchor in page.links:
        assert anchor in page.ids, f"#{anchor} leads nowhere"


# --- the patient's forms ------------------------------------------------------------------------


@pytest.fixture
def patient(client):
    with responses.RequestsMock(assert_all_requests_are_fired=False) as rsps:
        fake = PatientEhr(rsps)
        fake.patient = PETER
        fake._bundle(json.loads((definitions_dir() / "examples" / "Bundle-mbt-example-peter.json").read_text()))
        answer = portal_launch(client, fake, user=ME)
        assert answer.status_code == 302
        yield client, fake


@pytest.mark.parametrize("qid", sorted(PATIENT_FORMS))
def test_no_message_a_patient_sees_names_a_link_id(patient, qid):
    client, fake = patient
    base = form_data(fake, qid)
    path = f"/me/forms/{qid}/new"
    for kind, field, changes in cases(qid, base):
        data = {**base}
        for name, values in changes.items():
            if values is None:
                data.pop(name, None)
            else:
                data[name] = values
        page_html = client.get(path).get_data(as_text=True)
        sid = re.search(r'name="submission_id" value="([^"]+)"', page_html).group(1)
        csrf = re.search(r'name="csrf_token" value="([^"]+)"', page_html).group(1)
        answer = client.post(path, data={**data, "submission_id": sid, "csrf_token": csrf, "action": "complete"})
        assert answer.status_code in (400, 413, 422), (kind, answer.status_code)
        if answer.status_code == 413:
            continue  # too long for a patient's form: the page says so without naming any question
        page = read(answer.get_data(as_text=True))
        assert_no_link_id(page.messages, qid)
