"""Which questions become a grid and which sections a long form's index lists: read off the
field tree, the same for any content."""

from __future__ import annotations

import copy

from fhir_mbt.content import shipped, terminology
from smart_app.form_layout import Grid, blocks, field_id, sections
from smart_app.questionnaire_form import build_form, walk_fields


def fields_of(qid):
    return build_form(shipped().get(terminology.questionnaire_url(qid)), shipped())


def grids(fields):
    found = [b for b in blocks(fields) if isinstance(b, Grid)]
    for f in fields:
        for instance in f.instances:
            found += grids(instance)
    return found


def test_the_rfq8_statements_share_one_grid_on_the_seven_point_scale():
    [grid] = grids(fields_of(terminology.RFQ8))
    assert grid.link_ids == [f"rfq8.{n}" for n in range(1, 9)]
    assert [c.label for c in grid.columns] == [
        "Strongly disagree", "Disagree", "Slightly disagree", "Neither agree nor disagree", "Slightly agree",
        "Agree", "Strongly agree"]


def test_the_session_records_adherence_ratings_and_risk_questions_are_grids():
    found = {tuple(g.link_ids): [c.label for c in g.columns] for g in grids(fields_of(terminology.SESSION_RECORD))}
    adherence = next(k for k in found if k[0] == "adherence.stance")
    assert len(adherence) == 8 and found[adherence] == ["1", "2", "3", "4", "5", "6", "7"]
    risk = next(k for k in found if k[0] == "risk.self-harm")
    assert len(risk) == 5 and found[risk] == ["Yes", "No", "Not assessed this session"]


def test_questions_on_different_scales_or_alone_stay_as_they_are():
    q = copy.deepcopy(shipped().get(terminology.questionnaire_url(terminology.RFQ8)))
    q["url"] += "-variant"
    statements = [i for i in q["item"] if i["linkId"].startswith("rfq8.") and i["type"] == "choice"]
    statements[2]["answerValueSet"] = "http://fhir-mbt.org/fhir/ValueSet/mbt-change-5"  # another scale between
    statements[5]["repeats"] = True  # a checkbox list is no grid row
    found = [g.link_ids for g in grids(build_form(q, shipped()))]
    assert found == [["rfq8.1", "rfq8.2"], ["rfq8.4", "rfq8.5"], ["rfq8.7", "rfq8.8"]]


def test_a_form_without_such_questions_has_no_grid():
    assert grids(fields_of(terminology.CRISIS_PLAN)) == []


def test_the_session_records_index_lists_the_sections_inside_its_session_group():
    found = sections(fields_of(terminology.SESSION_RECORD))
    assert [s.text for s in found] == [
        "Risk since the last session", "Arousal", "Mentalizing in the session", "Interventions",
        "Me-mode and we-mode", "Alliance", "The clinician's own reactions",
        "Clinician self-rating of MBT adherence", "Missed session follow-up"]
    ids = {field_id(f.name) for f in walk_fields(fields_of(terminology.SESSION_RECORD)) if f.type == "group"}
    assert all(s.anchor in ids for s in found)
    assert all(s.conditional for s in found), "every section depends on the attendance"


def test_a_short_form_has_no_index_and_the_formulation_has_its_top_level_groups():
    assert sections(fields_of(terminology.RFQ8)) == []
    formulation = fields_of(terminology.FORMULATION)
    assert [s.text for s in sections(formulation)] == [f.text for f in formulation if f.type == "group"]
