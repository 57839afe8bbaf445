"""Bounded work: whatever the server holds, one page reads and renders a bounded amount."""

from __future__ import annotations

import copy
import time
import tracemalloc

from app_helpers import launch

PATIENT = "mbt-example-peter"


def _latest(ehr, kind):
    found = [r for r in ehr.of_type("QuestionnaireResponse") if kind in r["questionnaire"]]
    return max(found, key=lambda r: r["authored"])


def test_a_record_with_5000_extra_items_is_capped_and_said(client, ehr, example_data):
    record = _latest(ehr, "mbt-session-record")
    extra = [{"linkId": f"extra.{n}", "text": "x" * 50, "answer": [{"valueString": "y" * 100}]} for n in range(5000)]
    record["item"] = record["item"] + [{"linkId": "extra", "item": extra}]
    ehr.put(record)
    launch(client, ehr)
    tracemalloc.start()
    started = time.monotonic()
    page = client.get("/dashboard")
    elapsed = time.monotonic() - started
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    assert page.status_code == 200
    html = page.get_data(as_text=True)
    assert "more answers than this page reads" in html
    assert elapsed < 5 and peak < 150 * 1024 * 1024


def test_20000_records_are_read_in_bounded_pages_and_said(client, ehr, example_data):
    from smart_app.patient_data import MAX_RECORDS

    base = _latest(ehr, "mbt-weekly-checkin")
    for n in range(MAX_RECORDS + 50):
        clone = copy.deepcopy(base)
        clone["id"] = f"clone-{n}"
        clone["authored"] = f"2020-01-01T00:00:{n % 60:02d}Z"
        clone.pop("identifier", None)
        ehr.resources[("QuestionnaireResponse", clone["id"])] = {**clone, "meta": {"versionId": "1"}}
    launch(client, ehr)
    before = len(ehr.fhir_requests)
    page = client.get("/dashboard")
    assert page.status_code == 200
    assert len(ehr.fhir_requests) - before <= 2
    html = page.get_data(as_text=True)
    assert f"newest {MAX_RECORDS:,} records" in html
    assert len(html) < 3_000_000
