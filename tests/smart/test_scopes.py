"""Scopes: building v2 requests, reading v1 and v2 grants."""

import pytest
from hypothesis import given
from hypothesis import strategies as st

from fhir_mbt.smart import (
    FHIR_USER,
    LAUNCH,
    LAUNCH_PATIENT,
    ONLINE_ACCESS,
    OPENID,
    GrantedScopes,
    parse_scope,
    resource_scope,
    scope_string,
)


def test_the_app_request_in_v2_syntax():
    request = scope_string([
        LAUNCH, LAUNCH_PATIENT, f"{OPENID} {FHIR_USER}", ONLINE_ACCESS,
        resource_scope("patient", "QuestionnaireResponse", "urc"),
        resource_scope("patient", "Observation", "src"),
        LAUNCH,
    ])
    assert request == ("launch launch/patient openid fhirUser online_access "
                       "patient/QuestionnaireResponse.cru patient/Observation.crs")


def test_query_restricted_scope():
    assert resource_scope("patient", "Observation", "rs", "category=survey") == \
        "patient/Observation.rs?category=survey"


@pytest.mark.parametrize("args", [
    ("practitioner", "Observation", "r"), ("patient", "Observation", ""),
    ("patient", "Observation", "rx"), ("patient", "observation", "r"),
])
def test_invalid_scope_requests_are_refused(args):
    with pytest.raises(ValueError):
        resource_scope(*args)


@pytest.mark.parametrize("text, context, type_, perms", [
    ("patient/Observation.read", "patient", "Observation", "rs"),
    ("patient/Observation.write", "patient", "Observation", "cud"),
    ("user/Observation.*", "user", "Observation", "cruds"),
    ("patient/*.read", "patient", "*", "rs"),
    ("patient/Observation.crs", "patient", "Observation", "crs"),
    ("system/Patient.cruds", "system", "Patient", "cruds"),
    ("user/*.d", "user", "*", "d"),
])
def test_v1_and_v2_scopes_parse_to_the_same_shape(text, context, type_, perms):
    scope = parse_scope(text)
    assert (scope.context, scope.resource_type, scope.permissions) == (context, type_, frozenset(perms))


@pytest.mark.parametrize("text", [
    "launch", "openid", "fhirUser", "launch/patient", "patient/Observation.rcs", "patient/Observation.rr",
    "patient/Observation.x", "patient/Observation", "other/Observation.r", "patient/Observation.read?a=b",
])
def test_non_resource_or_invalid_scopes_are_not_resource_scopes(text):
    assert parse_scope(text) is None


def test_can_answers_per_interaction_and_context():
    granted = GrantedScopes.parse(
        "launch openid fhirUser patient/QuestionnaireResponse.cru patient/Observation.read "
        "user/Practitioner.rs patient/Condition.rs?category=problem-list-item"
    )
    assert granted.can("QuestionnaireResponse", "create")
    assert granted.can("QuestionnaireResponse", "update")
    assert not granted.can("QuestionnaireResponse", "delete")
    assert not granted.can("QuestionnaireResponse", "search")
    assert granted.can("Observation", "search") and granted.can("Observation", "read")
    assert not granted.can("Observation", "create")
    assert granted.can("Practitioner", "read", context="user")
    assert not granted.can("Practitioner", "read", context="patient")
    assert not granted.can("Condition", "read")
    assert granted.can("Condition", "read", include_restricted=True)
    assert "launch" in granted and granted.has_openid and not granted.offline
    assert str(granted).startswith("launch openid")


def test_wildcard_type_grants_every_type():
    granted = GrantedScopes.parse("patient/*.write")
    assert granted.can("Observation", "create") and granted.can("Flag", "delete")
    assert not granted.can("Flag", "read")


def test_can_refuses_unknown_interactions():
    with pytest.raises(ValueError):
        GrantedScopes.parse("patient/*.read").can("Observation", "write")
    with pytest.raises(ValueError):
        GrantedScopes.parse("patient/*.read").can("Observation", "read", context="practitioner")


def test_empty_grant_grants_nothing():
    assert not GrantedScopes.parse(None).can("Observation", "read")


@given(st.sets(st.sampled_from("cruds"), min_size=1), st.sampled_from(["patient", "user", "system"]))
def test_built_scopes_parse_back(letters, context):
    text = resource_scope(context, "Observation", "".join(letters))
    scope = parse_scope(text)
    assert scope.permissions == frozenset(letters) and scope.context == context
    granted = GrantedScopes.parse(text)
    for name, letter in {"create": "c", "read": "r", "update": "u", "delete": "d", "search": "s"}.items():
        assert granted.can("Observation", name, context) == (letter in letters)
