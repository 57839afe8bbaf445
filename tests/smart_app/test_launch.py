"""EHR launch, standalone launch and the callback, end to end against a faked EHR."""

from __future__ import annotations

import json
import logging
import re
from urllib.parse import parse_qs, urlencode, urlsplit

import pytest
import responses

from app_helpers import launch
from fake_ehr import AUTH, ISS


def test_ehr_launch_end_to_end(client, ehr, example_data):
    started = client.get("/launch?" + urlencode({"iss": ISS, "launch": "abc"}))
    assert started.status_code == 302
    query = parse_qs(urlsplit(started.headers["Location"]).query)
    assert query["launch"] == ["abc"]
    assert query["aud"] == [ISS]
    assert query["code_challenge_method"] == ["S256"]
    assert "launch" in query["scope"][0].split() and "patient/QuestionnaireResponse.cruds" in query["scope"][0].split()
    assert len(query["state"][0]) >= 22
    back = ehr.authorize(started.headers["Location"])
    done = client.get("/callback?" + urlencode({"code": back["code"], "state": back["state"]}))
    assert done.status_code == 302 and urlsplit(done.headers["Location"]).path == "/dashboard"
    page = client.get("/dashboard")
    assert page.status_code == 200
    assert "Peter" in page.get_data(as_text=True)


def test_standalone_launch_uses_launch_patient(client, ehr, example_data):
    listing = client.get("/")
    assert ISS in listing.get_data(as_text=True)
    started = client.get("/launch?" + urlencode({"iss": ISS}))
    query = parse_qs(urlsplit(started.headers["Location"]).query)
    assert "launch" not in query
    assert "launch/patient" in query["scope"][0].split()
    back = ehr.authorize(started.headers["Location"])
    done = client.get("/callback?" + urlencode({"code": back["code"], "state": back["state"]}))
    assert urlsplit(done.headers["Location"]).path == "/dashboard"


def test_unknown_issuer_is_refused_before_any_request(client, rsps):
    answer = client.get("/launch?" + urlencode({"iss": "https://evil.test/fhir", "launch": "x"}))
    assert answer.status_code == 400
    assert "did not contact it" in answer.get_data(as_text=True)
    assert len(rsps.calls) == 0


def test_state_is_single_use(client, ehr, example_data):
    started = client.get("/launch?" + urlencode({"iss": ISS, "launch": "abc"}))
    back = ehr.authorize(started.headers["Location"])
    first = client.get("/callback?" + urlencode({"code": back["code"], "state": back["state"]}))
    assert first.status_code == 302
    again = client.get("/callback?" + urlencode({"code": back["code"], "state": back["state"]}))
    assert again.status_code == 400
    assert "already used" in again.get_data(as_text=True)


def test_state_from_another_browser_is_refused(app, client, ehr, example_data):
    started = client.get("/launch?" + urlencode({"iss": ISS, "launch": "abc"}))
    back = ehr.authorize(started.headers["Location"])
    other = app.test_client()
    answer = other.get("/callback?" + urlencode({"code": back["code"], "state": back["state"]}))
    assert answer.status_code == 400
    assert other.get("/dashboard").status_code == 401


def test_denied_authorization_is_explained(client, ehr):
    started = client.get("/launch?" + urlencode({"iss": ISS, "launch": "abc"}))
    state = parse_qs(urlsplit(started.headers["Location"]).query)["state"][0]
    answer = client.get("/callback?" + urlencode({"error": "access_denied", "state": state}))
    assert answer.status_code == 400
    assert "did not grant" in answer.get_data(as_text=True)


def test_session_cookie_is_opaque_and_iframe_ready(client, ehr, example_data):
    answer = launch(client, ehr)
    cookie = answer.headers["Set-Cookie"]
    assert "Secure" in cookie and "HttpOnly" in cookie and "SameSite=None" in cookie
    value = cookie.split(";", 1)[0].split("=", 1)[1]
    for token in ehr.access_tokens:
        assert token not in value
    assert len(value) >= 40


def test_session_id_changes_at_login(client, ehr, example_data):
    before = client.get("/launch?" + urlencode({"iss": ISS, "launch": "abc"}))
    first_sid = before.headers["Set-Cookie"].split(";", 1)[0]
    back = ehr.authorize(before.headers["Location"])
    after = client.get("/callback?" + urlencode({"code": back["code"], "state": back["state"]}))
    assert after.headers["Set-Cookie"].split(";", 1)[0] != first_sid


def test_dashboard_without_launch_says_what_to_do(client):
    answer = client.get("/dashboard")
    assert answer.status_code == 401
    assert "Open the app from the patient" in answer.get_data(as_text=True)


def test_missing_iss(client):
    assert client.get("/launch").status_code == 400


def test_session_cookie_is_partitioned_for_ehr_iframes(client, ehr, example_data):
    cookie = launch(client, ehr).headers["Set-Cookie"]
    assert "Partitioned" in cookie and "SameSite=None" in cookie and "Secure" in cookie


def test_a_blocked_cookie_at_the_callback_is_explained_with_a_link_that_works(app, client, ehr, example_data):
    started = client.get("/launch?" + urlencode({"iss": ISS, "launch": "abc"}))
    back = ehr.authorize(started.headers["Location"])
    blocked = app.test_client()  # the iframe's browser sent no cookie back
    answer = blocked.get("/callback?" + urlencode({"code": back["code"], "state": back["state"]}))
    text = answer.get_data(as_text=True)
    assert answer.status_code == 400
    assert "blocked this app" in text and "already used" not in text
    link = re.search(r'href="([^"]+)" target="_blank"', text).group(1)
    assert link.startswith("http://localhost/launch?iss=")
    # The link starts a launch in the new window's own browsing context, which then completes.
    started = blocked.get(link.replace("&amp;", "&").replace("http://localhost", ""))
    assert started.status_code == 302
    back = ehr.authorize(started.headers["Location"])
    done = blocked.get("/callback?" + urlencode({"code": back["code"], "state": back["state"]}))
    assert done.status_code == 302 and "/dashboard" in done.headers["Location"]


@pytest.mark.parametrize("error, check", [
    ("invalid_client", "MBT_CLIENT_ID"),
    ("invalid_scope", "scopes"),
    ("invalid_grant", "MBT_REDIRECT_URI"),
])
def test_oauth_errors_are_logged_with_their_description_and_explained(client, ehr, rsps, caplog, error, check):
    started = client.get("/launch?" + urlencode({"iss": ISS, "launch": "abc"}))
    back = ehr.authorize(started.headers["Location"])
    rsps.replace(responses.POST, f"{AUTH}/token", status=400 if error != "invalid_client" else 401,
                 body=json.dumps({"error": error, "error_description": f"said {error}"}),
                 content_type="application/json")
    with caplog.at_level(logging.WARNING):
        answer = client.get("/callback?" + urlencode({"code": back["code"], "state": back["state"]}))
    text = answer.get_data(as_text=True)
    assert answer.status_code == 400 and check in text and "administrator" in text
    assert f"error={error}" in caplog.text and f"said {error}" in caplog.text
    assert back["code"] not in caplog.text
