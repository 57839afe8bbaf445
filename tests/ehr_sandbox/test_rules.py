"""Scope granting and request classification, without HTTP."""

from __future__ import annotations

import logging

import pytest

from ehr_sandbox import scopes
from ehr_sandbox.__main__ import QuietQueryHandler, parse_args
from ehr_sandbox.access import Policy, Refused, classify
from ehr_sandbox.store import Context


@pytest.mark.parametrize("requested, allowed, granted", [
    ("patient/Observation.rs", "patient/*.cruds", ["patient/Observation.rs"]),
    ("patient/Observation.read", "patient/*.rs", ["patient/Observation.read"]),
    ("patient/Observation.write", "patient/*.rs", []),
    ("patient/Observation.sr", "patient/*.cruds", []),
    ("user/Observation.rs", "patient/*.cruds", []),
    ("patient/Observation.rs?category=survey", "patient/*.cruds", []),
    ("system/Patient.rs", "system/*.cruds", []),
    ("openid fhirUser launch", "openid launch", ["openid", "launch"]),
])
def test_grant(requested, allowed, granted):
    assert scopes.grant(requested.split(), allowed.split()) == granted


@pytest.mark.parametrize("method, path, query, kind, rtype, rid", [
    ("GET", "", [("_getpages", "x")], "page", None, None),
    ("POST", "", [], "bundle", None, None),
    ("GET", "Patient", [], "search", "Patient", None),
    ("POST", "Patient/_search", [], "search", "Patient", None),
    ("POST", "Observation", [], "create", "Observation", None),
    ("GET", "Observation/o-1", [], "read", "Observation", "o-1"),
    ("HEAD", "Observation/o-1", [], "read", "Observation", "o-1"),
    ("GET", "Observation/o-1/_history/2", [], "read", "Observation", "o-1"),
    ("PUT", "Observation/o-1", [], "update", "Observation", "o-1"),
    ("DELETE", "Observation", [("code", "x")], "delete", "Observation", None),
    ("GET", "Patient/p/$everything", [], "operation", "Patient", "p"),
    ("POST", "$reindex", [], "operation", "*", None),
])
def test_classify(method, path, query, kind, rtype, rid):
    interaction = classify(method, path, query)
    assert (interaction.kind, interaction.resource_type, interaction.resource_id) == (kind, rtype, rid)


@pytest.mark.parametrize("method, path", [
    ("GET", "patient/x"), ("GET", "Patient/a b"), ("PUT", ""), ("GET", "Patient/p/Observation"),
    ("POST", "Patient/p"),
])
def test_classify_refuses_what_it_does_not_know(method, path):
    with pytest.raises(Refused) as info:
        classify(method, path, [])
    assert info.value.status == 400


def test_patient_policy():
    policy = Policy(scopes.Granted(("patient/Observation.crus", "patient/Patient.r")), Context(patient="p"))
    obs = {"resourceType": "Observation", "subject": {"reference": "Patient/p"}}
    assert policy.check(classify("GET", "Observation", [("subject", "Patient/p")])) == []
    assert policy.check(classify("PUT", "Observation/o", []), {**obs, "id": "o"}) == ["Observation/o"]
    # a conditional update in the compartment: its current matches are checked first
    assert policy.check(classify("PUT", "Observation", [("identifier", "s|v")]), obs) == [
        "Observation?identifier=s%7Cv"
    ]
    for interaction, body in (
        (classify("GET", "Patient", [("_id", "p")]), None),  # no s on Patient
        (classify("PUT", "Observation", [("code", "x")]), {**obs, "subject": {"reference": "Patient/q"}}),
        (classify("DELETE", "Observation", [("code", "x")]), None),  # conditional delete
        (classify("PATCH", "Observation/o", []), None),
        (classify("POST", "Observation/$validate", []), None),
        (classify("DELETE", "Observation/o", []), None),  # no d
        (classify("POST", "Observation", []), {**obs, "subject": {"reference": "Patient/q"}}),
    ):
        with pytest.raises(Refused):
            policy.check(interaction, body)
    assert policy.readable({"resourceType": "Questionnaire"}) is False
    assert policy.readable({"resourceType": "Observation"}) is True  # names no patient
    assert policy.readable({"resourceType": "Patient", "id": "q"}) is False


def test_command_line_defaults():
    args = parse_args(["--upstream", "http://127.0.0.1:8080/fhir"])
    assert args.port == 9090 and args.client_id == "fhir-mbt"
    assert args.app_launch == "http://127.0.0.1:5000/launch"


def test_request_log_lines_leave_out_the_query():
    handler = QuietQueryHandler.__new__(QuietQueryHandler)
    handler.path = "/authorize?state=secret-state&code_challenge=abc"
    handler.command = "GET"
    lines = []
    handler.log = lambda level, fmt, *args: lines.append(fmt % args)
    handler.log_request(302)
    assert lines == ['"GET /authorize" 302']


def test_no_code_token_or_state_in_the_logs(sb, caplog):
    caplog.set_level(logging.DEBUG)
    code, verifier = sb.code_for()
    body = sb.exchange(code, verifier).get_json()
    sb.upstream.get(f"{sb.UPSTREAM}/Patient/peter", json=sb.PETER)
    sb.client.get("/fhir/Patient/peter", headers={"Authorization": f"Bearer {body['access_token']}"})
    sb.refresh(body["refresh_token"])
    text = caplog.text
    for secret in (code, verifier, body["access_token"], body["refresh_token"], body["id_token"]):
        assert secret not in text
    assert "tokens issued" in text


def test_entry_whose_query_holds_a_url_is_not_another_server():
    from ehr_sandbox.access import entry_interaction

    entry = {"request": {"method": "PUT", "url": "Observation?identifier=http://fhir-mbt.org/fhir/identifier/observation|x"}}
    interaction = entry_interaction(entry, "http://127.0.0.1:9090/fhir")
    assert interaction.kind == "update" and interaction.conditional
    with pytest.raises(Refused):
        entry_interaction({"request": {"method": "GET", "url": "http://elsewhere.test/fhir/Observation"}},
                          "http://127.0.0.1:9090/fhir")
