"""A record's versions from a history Bundle, and each Provenance paired with the version it was written for."""

from __future__ import annotations

import pytest

from smart_app.dashboard_data import questionnaire_id
from smart_app.patient_data import MalformedRecord
from smart_app.record_history import attach_reasons, history_of

Q = "http://fhir-mbt.org/fhir/Questionnaire/mbt-session-record|0.1.0"
FORMS = {"mbt-session-record"}


def version(vid, updated, patient="p1", status="amended", rid="r1"):
    return {"resourceType": "QuestionnaireResponse", "id": rid, "questionnaire": Q, "status": status,
            "subject": {"reference": f"Patient/{patient}"}, "authored": "2026-03-02T10:00:00Z",
            "meta": {"versionId": vid, "lastUpdated": updated}, "item": []}


def bundle(*resources, total=None, more=False):
    out = {"resourceType": "Bundle", "type": "history",
           "entry": [{"resource": r} if "resourceType" in r else r for r in resources]}
    if total is not None:
        out["total"] = total
    if more:
        out["link"] = [{"relation": "next", "url": "https://x/next"}]
    return out


def history(*resources, **kw):
    return history_of("r1", bundle(*resources, **kw), "p1", FORMS, questionnaire_id)


def prov(targets, updated, reason, recorded="2026-01-01T00:00:00Z"):
    return {"resourceType": "Provenance", "target": [{"reference": t} for t in targets], "recorded": recorded,
            "meta": {"lastUpdated": updated}, "reason": [{"text": reason}]}


def test_versions_come_oldest_first_numbered_from_the_first():
    found = history(version("3", "2026-03-04T10:00:00Z"), version("2", "2026-03-03T10:00:00Z"),
                    version("1", "2026-03-02T10:00:00Z", status="completed"))
    assert [(v.vid, v.number) for v in found.versions] == [("1", 1), ("2", 2), ("3", 3)]
    assert found.current.vid == "3" and not found.cut and found.total == 3


def test_a_cut_history_numbers_from_the_total_and_says_so():
    found = history(version("9", "2026-03-04T10:00:00Z"), version("8", "2026-03-03T10:00:00Z"), total=9, more=True)
    assert found.cut and [v.number for v in found.versions] == [8, 9]
    unknown = history(version("9", "2026-03-04T10:00:00Z"), more=True)
    assert unknown.cut and unknown.versions[0].number is None and unknown.total is None


def test_the_newest_version_decides_whose_record_it_is():
    with pytest.raises(MalformedRecord):
        history(version("2", "2026-03-03T10:00:00Z", patient="other"), version("1", "2026-03-02T10:00:00Z"))
    with pytest.raises(MalformedRecord):
        history_of("r1", bundle(version("1", "2026-03-02T10:00:00Z", rid="r2")), "p1", FORMS, questionnaire_id)


def test_an_older_version_of_another_patient_or_form_is_withheld():
    other_form = version("2", "2026-03-03T10:00:00Z")
    other_form["questionnaire"] = "http://elsewhere.example/Questionnaire/x|1"
    found = history(version("3", "2026-03-04T10:00:00Z"), other_form,
                    version("1", "2026-03-02T10:00:00Z", patient="other"))
    assert [(v.vid, v.unreadable, v.response is None) for v in found.versions] == [
        ("1", True, True), ("2", True, True), ("3", False, False)]


def test_a_deletion_is_a_version_without_a_record():
    deleted = {"request": {"method": "DELETE", "url": "QuestionnaireResponse/r1/_history/2"},
               "response": {"status": "204", "lastModified": "2026-03-03T10:00:00Z"}}
    found = history(version("3", "2026-03-04T10:00:00Z"), deleted, version("1", "2026-03-02T10:00:00Z"))
    assert [(v.vid, v.deleted) for v in found.versions] == [("1", False), ("2", True), ("3", False)]


def test_a_versioned_target_pairs_exactly_and_an_unversioned_one_by_the_servers_clock():
    found = history(version("3", "2026-03-04T10:00:00.500+00:00"), version("2", "2026-03-03T10:00:00Z"),
                    version("1", "2026-03-02T10:00:00Z", status="completed"))
    attach_reasons([found], [
        # Written in the same transaction as version 2: the same instant, in another offset.
        prov(["QuestionnaireResponse/r1"], "2026-03-03T12:00:00+02:00", "second"),
        # Written one by one after version 3 (its lastUpdated a little later).
        prov(["https://ehr.example/fhir/QuestionnaireResponse/r1"], "2026-03-04T10:00:01Z", "third"),
        # Names version 1, whatever its time says.
        prov(["QuestionnaireResponse/r1/_history/1"], "2026-03-09T10:00:00Z", "first"),
        # Another record's, and one older than every version read.
        prov(["QuestionnaireResponse/r2"], "2026-03-03T10:00:00Z", "not ours"),
        prov(["QuestionnaireResponse/r1"], "2026-03-01T10:00:00Z", "before the versions read"),
    ])
    assert [v.reasons for v in found.versions] == [["first"], ["second"], ["third"]]


def test_a_provenance_without_its_servers_time_falls_back_to_recorded():
    found = history(version("2", "2026-03-03T10:00:00Z"), version("1", "2026-03-02T10:00:00Z"))
    attach_reasons([found], [{"resourceType": "Provenance", "target": [{"reference": "QuestionnaireResponse/r1"}],
                              "recorded": "2026-03-02T11:00:00Z", "reason": [{"text": "kept"}]}])
    assert [v.reasons for v in found.versions] == [["kept"], []]
