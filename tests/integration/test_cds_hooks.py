"""CDS Hooks end to end: HAPI FHIR, the EHR sandbox's chart and the app's service, on loopback.

A patient reports risk in the portal's check-in → the clinician opens the
chart in the EHR and sees the critical card → records the follow-up in the
app → on opening the chart again the card is gone.
"""

from __future__ import annotations

import html as html_lib
import re
import time

from fhir_mbt.client import FhirClient
from fhir_mbt.content import terminology
from patient_ehr import risky
from integration.test_end_to_end import CLINICIAN, TIMEOUT, Browser, hidden_fields

PATIENT = "mbt-cds-e2e"


def _fhir(stack) -> FhirClient:
    return FhirClient(stack.fhir_base, timeout=(10, TIMEOUT))


def _ensure_patient(stack) -> None:
    _fhir(stack).update({"resourceType": "Patient", "id": PATIENT,
                         "name": [{"given": ["Casey"], "family": "Hooks"}], "birthDate": "1994-05-05"})


def chart(stack, session) -> str:
    answer = session.get(f"{stack.sandbox_base}/chart", params={"patient": PATIENT, "practitioner": CLINICIAN})
    assert answer.status_code == 200, answer.text[:1000]
    return answer.text


def cards_of(html: str) -> list[str]:
    return re.findall(r'data-indicator="(\w+)"', html)


def report_risk_in_the_portal(stack) -> None:
    patient = Browser()
    home = patient.post(f"{stack.sandbox_base}/portal/launch",
                        data={"patient": PATIENT, "app_launch_url": f"{stack.app_base}/portal/launch"})
    assert home.status_code == 200 and home.url.startswith(f"{stack.app_base}/me"), home.text[:1000]
    form = f"{stack.app_base}/me/forms/{terminology.WEEKLY_CHECKIN}/new"
    sent = patient.post(form, data={**risky(), **hidden_fields(patient, form), "action": "complete"})
    assert sent.status_code == 200, sent.text[:2000]


def test_risky_check_in_shows_a_critical_card_until_the_follow_up_is_recorded(stack):
    _ensure_patient(stack)
    clinician = Browser()
    assert "critical" not in cards_of(chart(stack, clinician))

    report_risk_in_the_portal(stack)
    html = chart(stack, clinician)
    assert cards_of(html)[0] == "critical", html[:3000]
    assert "not yet followed up" in html and "Open MBT: record the follow-up" in html
    assert html.index('data-indicator="critical"') < html.index(">Launch</button>")

    # The card's SMART link launches the app on this patient, with the card's appContext.
    launch_url = re.search(r'name="app_launch_url" value="([^"]+)">', html).group(1)
    app_context = html_lib.unescape(re.search(r'name="app_context" value="([^"]+)">', html).group(1))
    dashboard = clinician.post(f"{stack.sandbox_base}/launch",
                               data={"patient": PATIENT, "practitioner": CLINICIAN, "app_launch_url": launch_url,
                                     "app_context": app_context})
    assert dashboard.status_code == 200
    assert dashboard.url.startswith(f"{stack.app_base}/dashboard?patient={PATIENT}&focus=")
    [task_id] = re.findall(r'data-task="([^"]+)"', dashboard.text)
    assert re.search(rf'data-task="{task_id}" class="from-card"', dashboard.text), "the card's follow-up is marked"
    token = re.search(r'name="csrf_token" value="([^"]+)"', dashboard.text).group(1)
    done = clinician.post(f"{stack.app_base}/follow-up/{task_id}",
                          data={"csrf_token": token, "note": "Phoned; safe; seen tomorrow."})
    assert done.status_code == 200 and "Follow-up recorded." in done.text
    assert _fhir(stack).read("Task", task_id)["status"] == "completed"

    assert "critical" not in cards_of(chart(stack, clinician))


def test_the_hook_answers_fast_with_prefetch(stack):
    """The sandbox logs each service's time; here: the whole chart (prefetch, hook, render) stays quick."""
    _ensure_patient(stack)
    clinician = Browser()
    chart(stack, clinician)
    started = time.monotonic()
    chart(stack, clinician)
    assert time.monotonic() - started < 5
