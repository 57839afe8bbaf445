"""The signed-in user: fhirUser read once after launch, shown by name, the author only when it resolves."""

from __future__ import annotations

from dataclasses import replace

import pytest

from app_helpers import form_csrf, form_data, launch, ours
from fake_ehr import ISS
from fhir_mbt.smart import SmartClient

SESSION = "mbt-session-record"


@pytest.fixture
def as_user(monkeypatch):
    """Launches whose verified id_token names ``as_user.value`` as fhirUser."""
    class User:
        value = None
    original = SmartClient._with_identity

    def with_identity(self, tokens, config):
        tokens = original(self, tokens, config)
        return replace(tokens, context=replace(tokens.context, fhir_user=User.value))
    monkeypatch.setattr(SmartClient, "_with_identity", with_identity)
    return User


def save_session(client, ehr):
    path = f"/forms/{SESSION}/new"
    hidden = form_csrf(client, path)
    answer = client.post(path, data={**form_data(ehr, SESSION), **hidden, "action": "complete"})
    assert answer.status_code == 302, answer.get_data(as_text=True)[:2000]
    (saved,) = ours(ehr, "QuestionnaireResponse")
    return saved


@pytest.mark.parametrize("fhir_user", ["Practitioner/dr-anna", f"{ISS}/Practitioner/dr-anna"])
def test_a_user_that_resolves_is_named_and_is_the_author(client, ehr, example_data, as_user, fhir_user):
    ehr.put({"resourceType": "Practitioner", "id": "dr-anna", "name": [{"given": ["Anna"], "family": "Berg"}]})
    as_user.value = fhir_user
    launch(client, ehr)
    reads = [r for r in ehr.fhir_requests if "Practitioner" in str(getattr(r, "url", r))]
    assert len(reads) == 1
    assert "Signed in as Anna Berg" in client.get("/dashboard", follow_redirects=True).get_data(as_text=True)
    assert save_session(client, ehr)["author"] == {"reference": "Practitioner/dr-anna", "display": "Anna Berg"}
    assert len([r for r in ehr.fhir_requests if "Practitioner" in str(getattr(r, "url", r))]) == 1


@pytest.mark.parametrize("fhir_user", ["Practitioner/nobody", "https://elsewhere.test/fhir/Practitioner/x"])
def test_a_user_that_does_not_resolve_is_said_and_no_author_is_written(client, ehr, example_data, as_user,
                                                                      fhir_user):
    as_user.value = fhir_user
    launch(client, ehr)
    text = client.get("/dashboard", follow_redirects=True).get_data(as_text=True)
    assert "saved without an author" in text
    assert "author" not in save_session(client, ehr)
