"""Reading token responses into TokenSet and LaunchContext."""

import pytest

from fhir_mbt.smart import FhirContextItem, MalformedTokenResponse, TokenSet
from fhir_mbt.smart._tokens import parse_token_response

from .ehr import ISS, NOW, SCOPE, token_body


def parse(body, scope=SCOPE):
    return parse_token_response(body, issuer=ISS, requested_scope=scope, now=NOW)


def test_full_launch_context():
    tokens = parse(token_body(
        intent="reconcile-medications", tenant="t-9", token_type="bearer", vendor_hint="x",
        fhirContext=[
            {"reference": "Appointment/a-1"},
            "DocumentReference/d-1",
            {"canonical": "https://mbt.example/Questionnaire/session|1.0.0", "type": "Questionnaire",
             "role": "https://mbt.example/role/form-to-fill"},
            {"identifier": {"system": "urn:x", "value": "42"}, "type": "ServiceRequest"},
            {"reference": "Patient/p-2", "role": "https://example.org/role/sibling"},
        ],
    ))
    assert tokens.access_token == "AT-secret-1" and tokens.token_type == "Bearer"
    assert tokens.expires_at == NOW + 3600 and tokens.issuer == ISS
    assert tokens.refresh_token == "RT-secret-1"
    ctx = tokens.context
    assert (ctx.patient, ctx.encounter, ctx.need_patient_banner) == ("p-1", "e-1", False)
    assert ctx.smart_style_url == "https://ehr.example/style.json"
    assert (ctx.intent, ctx.tenant) == ("reconcile-medications", "t-9")
    assert ctx.extra == {"vendor_hint": "x"}
    first, second, third, fourth, fifth = ctx.fhir_context
    assert first == FhirContextItem(reference="Appointment/a-1") and first.role == "launch"
    assert first.resource_type == "Appointment" and second.resource_type == "DocumentReference"
    assert third.canonical.endswith("|1.0.0") and third.resource_type == "Questionnaire"
    assert fourth.identifier == {"system": "urn:x", "value": "42"}
    assert [i.reference for i in ctx.context_for("launch")] == ["Appointment/a-1", "DocumentReference/d-1",
                                                                None]
    assert fifth.role == "https://example.org/role/sibling"
    assert tokens.patient == "p-1"
    assert tokens.scope.can("QuestionnaireResponse", "create")


def test_missing_scope_means_the_request_was_granted():
    tokens = parse(token_body(scope=None), scope="launch patient/Observation.rs")
    assert tokens.scope.can("Observation", "search")


def test_missing_expiry_is_unknown_and_never_expired():
    tokens = parse(token_body(expires_in=None))
    assert tokens.expires_at is None and not tokens.expired(now=NOW + 10**9)


def test_expiry_with_leeway():
    tokens = parse(token_body(expires_in="120"))
    assert not tokens.expired(now=NOW + 60, leeway=30)
    assert tokens.expired(now=NOW + 95, leeway=30)


@pytest.mark.parametrize("changes", [
    {"access_token": None}, {"access_token": ""}, {"access_token": 5},
    {"token_type": None}, {"token_type": "mac"},
    {"expires_in": -1}, {"expires_in": "soon"}, {"expires_in": True},
    {"scope": ["a"]}, {"patient": 7}, {"need_patient_banner": "false"},
    {"fhirContext": {"reference": "A/1"}}, {"fhirContext": [7]},
    {"fhirContext": [{"type": "Questionnaire"}]}, {"fhirContext": [{"reference": 1}]},
    {"fhirContext": [{"identifier": "x"}]}, {"refresh_token": 1}, {"id_token": {}},
])
def test_malformed_token_responses_are_refused(changes):
    with pytest.raises(MalformedTokenResponse):
        parse(token_body(**changes))


def test_repr_shows_no_token_and_round_trip_keeps_everything():
    tokens = parse(token_body(id_token="ID-secret-1", fhirContext=[{"reference": "Appointment/a-1"}]))
    text = repr(tokens)
    for secret in ("AT-secret-1", "RT-secret-1", "ID-secret-1"):
        assert secret not in text
    assert "p-1" in text
    assert TokenSet.from_dict(tokens.to_dict()) == tokens
