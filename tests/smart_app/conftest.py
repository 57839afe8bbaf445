"""The app against a faked EHR (SMART authorization server + FHIR server on `responses`)."""

from __future__ import annotations

import json
from urllib.parse import urlsplit

import pytest
import responses

from app_helpers import launch
from fake_ehr import ISS, FakeEhr
from fhir_mbt.content import definitions_dir
from smart_app import create_app

PATIENT = "mbt-example-peter"


@pytest.fixture
def app(tmp_path):
    app = create_app(
        {
            "TESTING": True,
            "MBT_SESSION_DB": str(tmp_path / "sessions.sqlite3"),
            "MBT_ALLOWED_ISSUERS": [ISS],
            "MBT_CLIENT_ID": "mbt-app",
            "MBT_FRAME_ANCESTORS": ["https://ehr.test"],
            "MBT_EMERGENCY_LINE": "Call 988",
            "MBT_FHIR_OPTIONS": {"max_retries": 0, "sleep": lambda s: None},
        }
    )
    return app


@pytest.fixture
def rsps():
    with responses.RequestsMock(assert_all_requests_are_fired=False) as mock:
        yield mock


@pytest.fixture
def ehr(rsps):
    fake = FakeEhr(rsps)
    fake.patient = PATIENT
    return fake


@pytest.fixture
def example_data(ehr):
    bundle = json.loads((definitions_dir() / "examples" / "Bundle-mbt-example-peter.json").read_text())
    ehr._bundle(bundle)
    return ehr


@pytest.fixture
def client(app):
    return app.test_client()


@pytest.fixture
def launched(client, ehr, example_data):
    answer = launch(client, ehr)
    assert answer.status_code == 302 and urlsplit(answer.headers["Location"]).path == "/dashboard"
    return client


# --- the patient portal: Peter signed in himself -----------------------------------------------


@pytest.fixture
def pehr():
    """The portal's EHR, holding the example patient's records."""
    from patient_ehr import PETER, PatientEhr

    with responses.RequestsMock(assert_all_requests_are_fired=False) as rsps:
        fake = PatientEhr(rsps)
        fake.patient = PETER
        fake._bundle(json.loads((definitions_dir() / "examples" / "Bundle-mbt-example-peter.json").read_text()))
        yield fake


@pytest.fixture
def patient(client, pehr):
    """The app's test client after Peter opened it from the portal."""
    from patient_ehr import ME, portal_launch

    answer = portal_launch(client, pehr, user=ME)
    assert answer.status_code == 302 and answer.headers["Location"].endswith("/me/"), answer.data[:500]
    return client
