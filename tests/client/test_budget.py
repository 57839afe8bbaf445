"""A time budget per client (one page of the app): every call and every retry fits in it."""

from __future__ import annotations

import pytest
import requests
import responses

from fhir_mbt.client import FhirClient, Timeout

BASE = "https://fhir.example/r4"


class Clock:
    def __init__(self):
        self.now = 1000.0

    def __call__(self):
        return self.now

    def sleep(self, seconds):
        self.now += seconds


@pytest.fixture
def rsps():
    with responses.RequestsMock(assert_all_requests_are_fired=False) as mock:
        yield mock


def test_each_request_gets_at_most_what_is_left_of_the_budget(rsps):
    clock = Clock()
    seen = []

    def slow(request):
        seen.append(request.req_kwargs["timeout"])
        clock.now += 4
        return 200, {}, '{"resourceType": "Patient", "id": "p1"}'

    rsps.add_callback("GET", f"{BASE}/Patient/p1", callback=slow)
    fhir = FhirClient(BASE, timeout=(5.0, 30.0), budget=10.0, clock=clock, sleep=clock.sleep)
    fhir.read("Patient", "p1")
    fhir.read("Patient", "p1")
    assert seen[0] == (5.0, 10.0)
    assert seen[1] == (5.0, 6.0)


def test_a_spent_budget_fails_fast_without_a_request(rsps):
    clock = Clock()
    fhir = FhirClient(BASE, budget=10.0, clock=clock, sleep=clock.sleep)
    clock.now += 10.5
    with pytest.raises(Timeout):
        fhir.read("Patient", "p1")
    assert len(rsps.calls) == 0


def test_retries_stop_when_the_budget_is_spent(rsps):
    clock = Clock()

    def down(request):
        clock.now += 3
        raise requests.exceptions.ConnectionError("refused")

    rsps.add_callback("GET", f"{BASE}/Patient/p1", callback=down)
    fhir = FhirClient(BASE, budget=4.0, clock=clock, sleep=clock.sleep, max_retries=5)
    with pytest.raises(Exception):
        fhir.read("Patient", "p1")
    assert len(rsps.calls) <= 2
    assert clock.now - 1000.0 <= 4.0 + 3
