"""Slow and failing servers against HAPI behind the fault proxy: a page fails fast within its
time budget, whatever the client's own timeouts and retries; a read that meets one 500 is
retried and the page shows."""

from __future__ import annotations

import time

import pytest

from demo.stack import Stack
from hapi_helpers import clinician, new_patient

SEARCH = r"/QuestionnaireResponse\?"


@pytest.fixture
def via_proxy(stack, fault_proxy):
    """Default client timeouts (30 s reads, two retries), a 4 s page budget."""
    running = Stack(fhir_base=fault_proxy.base_url, load=False, app_config={"MBT_PAGE_BUDGET": 4.0}).start()
    try:
        yield running
    finally:
        running.stop()


def test_a_hanging_server_fails_the_page_within_its_budget(via_proxy, fault_proxy, hapi_base_url):
    session = clinician(via_proxy, new_patient(hapi_base_url))
    fault_proxy.add_rule("hang_after_write", method="GET", path=SEARCH, times=None, hang_seconds=60)
    started = time.monotonic()
    page = session.get(f"{via_proxy.app_base}/dashboard")
    elapsed = time.monotonic() - started
    fault_proxy.clear()
    assert page.status_code == 504, page.text[:500]
    assert "within the time this page allows" in page.text
    assert "Nothing was saved" not in page.text
    assert elapsed < 12, elapsed


def test_one_500_on_a_read_is_retried(via_proxy, fault_proxy, hapi_base_url):
    session = clinician(via_proxy, new_patient(hapi_base_url))
    fault_proxy.add_rule("fail_before", method="GET", path=SEARCH, times=1, status=500)
    page = session.get(f"{via_proxy.app_base}/dashboard")
    assert page.status_code == 200, page.text[:500]
