"""One event, one record, against HAPI FHIR through the EHR sandbox: a double click (two
requests of one form at once). The test makes its own patient, so the records it counts
are its own. (Faults: ``test_saving_faults.py``.)"""

from __future__ import annotations

import threading

from app_helpers import Browser, hidden_fields
from hapi_helpers import CHECKIN, all_responses, checkin, clinician, new_patient, stored


def open_form(session: Browser, stack) -> tuple[str, dict]:
    page = session.get(f"{stack.app_base}/forms/{CHECKIN}/new")
    assert page.status_code == 200 and "s=" in page.url
    return page.url, hidden_fields(page.text)


def post(session: Browser, stack, hidden: dict, data: dict, action: str = "complete"):
    return session.post(f"{stack.app_base}/forms/{CHECKIN}/new", data={**data, **hidden, "action": action})


# --- a double click ---------------------------------------------------------------------------


def test_double_click_writes_one_record_and_says_already_saved(stack):
    """Two requests of one form at once (a double click on Complete): one record, and neither
    is told "someone else saved this record"."""
    patient = new_patient(stack.fhir_base)
    session = clinician(stack, patient)
    for round_ in range(3):
        _, hidden = open_form(session, stack)
        data = checkin(round_ + 1)
        data["duplicate_ok"] = [" ".join(r["id"] for r in all_responses(stack.fhir_base, patient))]
        barrier = threading.Barrier(2)
        answers: list = []

        def click():
            barrier.wait()
            answers.append(post(session, stack, hidden, data))

        threads = [threading.Thread(target=click) for _ in range(2)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(timeout=120)
        assert len(answers) == 2
        for answer in answers:
            assert answer.status_code == 200 and "/dashboard" in answer.url, answer.text[:3000]
            assert "Someone else" not in answer.text
        # Both land on the dashboard. They share one server-side session, so the two flashed
        # messages race for it: at least one page says "Saved." or "already saved", and
        # neither says the save failed or was not made.
        assert any("Saved." in a.text or "already saved" in a.text for a in answers)
        assert not any("not saved" in a.text.lower() or "Nothing was saved" in a.text for a in answers)
        assert len(stored(stack.fhir_base, hidden["submission_id"])) == 1
    assert len(all_responses(stack.fhir_base, patient)) == 3
