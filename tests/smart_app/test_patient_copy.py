"""The patient's copy of the formulation: written to the patient, no clinician's notes, no bare codes."""

from __future__ import annotations

import json
import re

import pytest

from fhir_mbt.cds.record import flatten
from fhir_mbt.content import definitions_dir, shipped, terminology
from smart_app.formulation_copy import SECTIONS, build_copy, patient_wording

#: The formulation's clinical notes: written about the patient, for colleagues.
CLINICIAN_NOTES = ("presenting.difficulties", "presenting.context", "presentation.description", "attachment.history",
                   "attachment.patterns", "self-esteem.conditions-detail", "self-esteem.alien-self",
                   "self-esteem.threat-example", "clinician.description", "clinician.approach", "diagnosis.note",
                   "comorbidity.detail", "risk-history.context", "revision.reason",
                   *(f"dimension.{d}.example" for d in ("self-other", "internal-external", "cognitive-affective",
                                                        "automatic-controlled")),
                   *(f"mode.{m}.{p}" for m in ("psychic-equivalence", "pretend-mode", "teleological-mode")
                     for p in ("triggers", "example")))
THIRD_PERSON = re.compile(r"\b(he|him|his|himself|she|her|hers|herself|Peter describes|the patient)\b", re.I)
#: Items whose coded answers the copy shows.
CODED = ("presentation.type", "self-esteem.conditions", "self-esteem.threat-response", "self-esteem.patterns",
         "clinician.patterns")


def _responses() -> list[dict]:
    bundle = json.loads((definitions_dir() / "examples" / "Bundle-mbt-example-peter.json").read_text())
    return [e["resource"] for e in bundle["entry"] if e["resource"]["resourceType"] == "QuestionnaireResponse"]


def _article(html: str) -> str:
    start = html.index('<article class="copy">')
    return html[start:html.index("</article>", start)]


def _text(html: str) -> str:
    return re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", html)).replace("&#39;", "'")


def _formulation(ehr) -> dict:
    return ehr.resources[("QuestionnaireResponse", "peter-formulation-2")]


def test_the_copy_has_no_clinician_notes_and_no_third_person(launched, ehr):
    text = _text(_article(launched.get("/copy/formulation").get_data(as_text=True)))
    answers = flatten(_formulation(ehr)["item"])
    for link in CLINICIAN_NOTES:
        for note in answers.get(link, []):
            assert note not in text, f"{link} is the clinician's note"
            assert note[:40] not in text, f"{link} is the clinician's note"
    found = THIRD_PERSON.findall(text)
    assert found == [], f"third person in the patient's copy: {found}"
    assert "What brings you to treatment" in text and "You came to us after" in text


def test_the_copy_shows_codes_only_in_plain_words(launched, ehr):
    text = _text(_article(launched.get("/copy/formulation").get_data(as_text=True)))
    answers = flatten(_formulation(ehr)["item"])
    index = shipped()
    checked = 0
    for link in CODED:
        for coding in answers[link]:
            concept = index.concept(coding["system"], coding["code"])
            worded = patient_wording(index, coding)
            assert worded and worded != concept["display"], f"{coding['code']} has patient wording"
            assert worded in text
            assert not re.search(rf"\b{re.escape(coding['code'])}\b", text), f"bare code {coding['code']}"
            assert not re.search(rf"(^|[^\w-]){re.escape(concept['display'])}($|[^\w-])", text), \
                f"clinical label {concept['display']!r}"
            checked += 1
    for label in ("Shame collapse", "Psychic equivalence", "Me-mode", "Idealisation and devaluation"):
        assert label not in text
    assert checked >= 15


def test_the_copy_prints_the_service_and_not_the_mrn_unless_asked(app, launched):
    app.config.update(MBT_SERVICE_NAME="Riverside MBT Programme", MBT_SERVICE_CONTACT="01234 567890")
    plain = _article(launched.get("/copy/formulation").get_data(as_text=True))
    assert "Riverside MBT Programme" in plain and "01234 567890" in plain
    assert "Peter Example" in plain and "born 14 Oct 1999" in plain
    assert "PETER-0001" not in plain
    app.config["MBT_COPY_SHOW_MRN"] = True
    assert "PETER-0001" in _article(launched.get("/copy/formulation").get_data(as_text=True))


@pytest.mark.parametrize("value, expected", [("", False), ("false", False), ("0", False), ("true", True),
                                             ("yes", True), ("1", True)])
def test_mrn_setting(value, expected):
    from smart_app.config import from_environment

    assert from_environment({"MBT_COPY_SHOW_MRN": value})["MBT_COPY_SHOW_MRN"] is expected


def test_a_mistyped_mrn_setting_stops_the_app():
    from smart_app.config import from_environment

    with pytest.raises(ValueError, match="MBT_COPY_SHOW_MRN"):
        from_environment({"MBT_COPY_SHOW_MRN": "perhaps"})


def test_build_copy_from_the_example():
    copy = build_copy(_responses(), shipped())
    assert copy.agreed and copy.date == "2026-06-01" and copy.letter.startswith("Dear Peter")
    headings = [s.heading for s in copy.sections]
    assert headings == [r.heading for r in SECTIONS], "every section has something for Peter"
    modes = next(s for s in copy.sections if s.heading == "When thinking about feelings gets hard")
    assert modes.lists == [("", ["When a feeling seems like a fact", "Talking about feelings without really feeling them",
                                 "Only what is done or achieved seems to count"])]
    assert [label for label, _ in copy.crisis][:3] == ["Warning signs", "What I can do", "What professionals should do"]
    assert "phone someone while I walk" in dict(copy.crisis)["What I can do"]
    assert copy.comments == "This version feels more like me."


def test_a_formulation_without_patient_parts_shows_only_the_plain_words():
    responses = _responses()
    for r in responses:
        r["item"] = [i for i in r.get("item", []) if i["linkId"] != "patient-copy"]
    copy = build_copy(responses, shipped())
    assert "What brings you to treatment" not in [s.heading for s in copy.sections]
    assert all(not s.paragraphs for s in copy.sections)
    assert any(s.lists for s in copy.sections)


def test_the_patients_own_pages_show_only_what_was_agreed():
    responses = _responses()
    for r in responses:
        if r["id"] == "peter-formulation-2":
            agreement = next(i for i in r["item"] if i["linkId"] == "agreement")
            agreement["item"] = [{"linkId": "agreement.agreed", "answer": [{"valueBoolean": False}]}]
    shown = build_copy(responses, shipped(), agreed_only=True)
    assert shown.formulation["id"] == "peter-formulation-1"
    clinician = build_copy(responses, shipped())
    assert clinician.formulation["id"] == "peter-formulation-2" and not clinician.agreed


def test_every_answer_the_copy_can_show_has_patient_wording():
    """Content: each answer of the copy's coded items has a patient-wording designation."""
    index = shipped()
    formulation = index.get(terminology.questionnaire_url(terminology.FORMULATION))

    def item(items, link):
        for i in items:
            if i["linkId"] == link:
                return i
            found = item(i.get("item", []), link)
            if found:
                return found

    for link in CODED + ("goal.domain",):
        for concept in index.expand(item(formulation["item"], link)["answerValueSet"]):
            defined = index.concept(concept["system"], concept["code"])
            assert any((d.get("use") or {}).get("code") == "patient-wording" and d.get("value")
                       for d in defined.get("designation", ())), (link, concept["code"])
