"""FhirClient: interactions, paging, writes, retries, auth refresh and error mapping."""

from __future__ import annotations

import json
from urllib.parse import parse_qs, urlsplit

import pytest
import requests
import responses

from fhir_mbt.client import (
    BearerAuth,
    FhirClient,
    FhirError,
    Forbidden,
    InvalidResource,
    MalformedResponse,
    PageLimitExceeded,
    RateLimited,
    RequestRejected,
    ResourceGone,
    ResourceNotFound,
    ServerError,
    Timeout,
    TransportError,
    Unauthorized,
    VersionConflict,
)
from fhir_mbt.errors import FhirMbtError

BASE = "https://fhir.example/r4"
OUTCOME = {
    "resourceType": "OperationOutcome",
    "issue": [{"severity": "error", "code": "conflict", "diagnostics": "version 3 is not current"}],
}


class Sleeps(list):
    def __call__(self, seconds):
        self.append(seconds)


@pytest.fixture
def sleeps():
    return Sleeps()


@pytest.fixture
def fhir(sleeps):
    return FhirClient(BASE, sleep=sleeps)


@pytest.fixture
def rsps():
    with responses.RequestsMock() as mock:
        yield mock


def bundle(entries, next_url=None):
    body = {"resourceType": "Bundle", "type": "searchset",
            "entry": [{"resource": r} for r in entries]}
    if next_url:
        body["link"] = [{"relation": "self", "url": "x"}, {"relation": "next", "url": next_url}]
    return body


def obs(i):
    return {"resourceType": "Observation", "id": f"o{i}"}


# -- reads -------------------------------------------------------------------

def test_read_sends_fhir_json_accept_and_timeout(rsps):
    rsps.get(f"{BASE}/Patient/p1", json={"resourceType": "Patient", "id": "p1"})
    seen = {}
    session = requests.Session()
    original = session.request

    def spy(*args, **kwargs):
        seen.update(kwargs)
        return original(*args, **kwargs)

    session.request = spy
    client = FhirClient(BASE, session=session, timeout=(1, 2))
    assert client.read("Patient", "p1")["id"] == "p1"
    assert rsps.calls[0].request.headers["Accept"] == "application/fhir+json"
    assert seen["timeout"] == (1, 2)


def test_default_timeout_is_set_on_every_call(rsps):
    rsps.get(f"{BASE}/metadata", json={"resourceType": "CapabilityStatement"})
    session = requests.Session()
    timeouts = []
    original = session.request
    session.request = lambda *a, **k: timeouts.append(k.get("timeout")) or original(*a, **k)
    FhirClient(BASE, session=session).capabilities()
    assert timeouts == [(5.0, 30.0)]


def test_vread_builds_history_url(fhir, rsps):
    rsps.get(f"{BASE}/Observation/o1/_history/2",
             json={"resourceType": "Observation", "id": "o1", "meta": {"versionId": "2"}})
    assert fhir.vread("Observation", "o1", "2")["meta"]["versionId"] == "2"


@pytest.mark.parametrize("bad", ["../Patient", "a/b", "", "x" * 65, "a?b"])
def test_ids_that_could_change_the_path_are_refused(fhir, bad):
    with pytest.raises(ValueError):
        fhir.read("Patient", bad)


def test_type_is_checked(fhir):
    with pytest.raises(ValueError):
        fhir.read("patient", "p1")


def test_read_of_other_type_is_malformed(fhir, rsps):
    rsps.get(f"{BASE}/Patient/p1", json={"resourceType": "Observation", "id": "p1"})
    with pytest.raises(MalformedResponse):
        fhir.read("Patient", "p1")


def test_malformed_json_body_is_a_typed_error(fhir, rsps):
    rsps.get(f"{BASE}/Patient/p1", body="{not json", content_type="application/fhir+json")
    with pytest.raises(MalformedResponse) as info:
        fhir.read("Patient", "p1")
    assert isinstance(info.value, ValueError) and isinstance(info.value, FhirMbtError)
    assert info.value.response.status_code == 200
    assert not isinstance(info.value, json.JSONDecodeError)


def test_json_that_is_not_a_resource_is_malformed(fhir, rsps):
    rsps.get(f"{BASE}/Patient/p1", json=[1, 2])
    with pytest.raises(MalformedResponse):
        fhir.read("Patient", "p1")


# -- errors ------------------------------------------------------------------

@pytest.mark.parametrize(
    "status, cls",
    [(400, InvalidResource), (401, Unauthorized), (403, Forbidden), (404, ResourceNotFound),
     (405, RequestRejected), (409, VersionConflict), (410, ResourceGone), (412, VersionConflict),
     (422, InvalidResource), (429, RateLimited), (500, ServerError), (501, ServerError)],
)
def test_status_maps_to_one_error_class(status, cls, rsps):
    rsps.put(f"{BASE}/Observation/o1", status=status, json=OUTCOME)
    with pytest.raises(cls) as info:
        FhirClient(BASE).update(obs(1))
    assert isinstance(info.value, FhirError)
    assert info.value.status == status
    assert info.value.response.status_code == status
    assert info.value.outcome == OUTCOME


def test_409_and_412_are_both_version_conflicts_carrying_the_outcome(fhir, rsps):
    rsps.put(f"{BASE}/Observation/o1", status=409, json=OUTCOME)
    rsps.put(f"{BASE}/Observation/o1", status=412, json=OUTCOME)
    for expected in (409, 412):
        with pytest.raises(VersionConflict) as info:
            fhir.update(obs(1), if_match="3")
        assert info.value.status == expected
        assert info.value.outcome["issue"][0]["code"] == "conflict"
        assert "version 3 is not current" in str(info.value)
    assert all(c.request.headers["If-Match"] == 'W/"3"' for c in rsps.calls)


def test_gone_is_a_not_found(fhir, rsps):
    rsps.get(f"{BASE}/Patient/p1", status=410)
    with pytest.raises(ResourceNotFound) as info:
        fhir.read("Patient", "p1")
    assert isinstance(info.value, ResourceGone) and isinstance(info.value, LookupError)


def test_auth_status_with_html_body_is_still_forbidden(fhir, rsps):
    rsps.get(f"{BASE}/Patient/p1", status=403, body="<html>no</html>", content_type="text/html")
    with pytest.raises(Forbidden) as info:
        fhir.read("Patient", "p1")
    assert info.value.outcome is None


def test_error_body_that_is_not_an_outcome_is_not_carried(fhir, rsps):
    rsps.get(f"{BASE}/Patient/p1", status=404, json={"resourceType": "Patient"})
    with pytest.raises(ResourceNotFound) as info:
        fhir.read("Patient", "p1")
    assert info.value.outcome is None


# -- search and paging ---------------------------------------------------------

def test_search_follows_next_links_across_pages(fhir, rsps):
    rsps.get(f"{BASE}/Observation", json=bundle([obs(1), obs(2)], f"{BASE}?_getpages=a&p=2"))
    rsps.get(f"{BASE}?_getpages=a&p=2", json=bundle([obs(3)], f"{BASE}?_getpages=a&p=3"))
    rsps.get(f"{BASE}?_getpages=a&p=3", json=bundle([obs(4)]))
    found = list(fhir.search("Observation", {"patient": "p1", "code": ["a", "b"]}))
    assert [r["id"] for r in found] == ["o1", "o2", "o3", "o4"]
    assert len(rsps.calls) == 3
    first = parse_qs(urlsplit(rsps.calls[0].request.url).query)
    assert first == {"patient": ["p1"], "code": ["a", "b"]}


def test_search_stops_at_limit_without_reading_more_pages(fhir, rsps):
    rsps.get(f"{BASE}/Observation", json=bundle([obs(1), obs(2)], f"{BASE}?page=2"))
    assert [r["id"] for r in fhir.search("Observation", limit=2)] == ["o1", "o2"]
    assert len(rsps.calls) == 1


def test_paging_is_bounded(sleeps, rsps):
    client = FhirClient(BASE, page_limit=2, sleep=sleeps)
    rsps.get(f"{BASE}/Observation", json=bundle([obs(1)], f"{BASE}?page=2"))
    rsps.get(f"{BASE}?page=2", json=bundle([obs(2)], f"{BASE}?page=3"))
    rsps.get(f"{BASE}?page=3", json=bundle([obs(3)]))
    rsps.assert_all_requests_are_fired = False
    got = []
    with pytest.raises(PageLimitExceeded):
        for r in client.search("Observation"):
            got.append(r["id"])
    assert got == ["o1", "o2"]
    assert len(rsps.calls) == 2


def test_next_link_to_another_origin_is_refused(fhir, rsps):
    rsps.get(f"{BASE}/Observation", json=bundle([obs(1)], "https://evil.example/r4?page=2"))
    with pytest.raises(MalformedResponse):
        list(fhir.search("Observation"))
    assert len(rsps.calls) == 1


def test_next_link_loop_is_refused(fhir, rsps):
    rsps.get(f"{BASE}/Observation", json=bundle([obs(1)], f"{BASE}?page=2"))
    rsps.get(f"{BASE}?page=2", json=bundle([obs(2)], f"{BASE}?page=2"))
    with pytest.raises(MalformedResponse):
        list(fhir.search("Observation"))
    assert len(rsps.calls) == 2


def test_pages_yields_bundles_with_includes(fhir, rsps):
    body = bundle([obs(1)])
    body["entry"].append({"resource": {"resourceType": "Patient", "id": "p1"},
                          "search": {"mode": "include"}})
    rsps.get(f"{BASE}/Observation", json=body)
    pages = list(fhir.pages("Observation", {"_include": "Observation:subject"}))
    assert len(pages) == 1 and pages[0]["entry"][1]["search"]["mode"] == "include"
    rsps.get(f"{BASE}/Observation", json=body)
    assert [r["resourceType"] for r in fhir.search("Observation")] == ["Observation", "Patient"]


# -- writes --------------------------------------------------------------------

def test_conditional_create_sends_if_none_exist_and_reports_created(fhir, rsps):
    rsps.post(f"{BASE}/QuestionnaireResponse", status=201,
              json={"resourceType": "QuestionnaireResponse", "id": "qr1", "meta": {"versionId": "1"}},
              headers={"Location": f"{BASE}/QuestionnaireResponse/qr1/_history/1", "ETag": 'W/"1"'})
    rsps.post(f"{BASE}/QuestionnaireResponse", status=200,
              json={"resourceType": "QuestionnaireResponse", "id": "qr1", "meta": {"versionId": "1"}})
    resource = {"resourceType": "QuestionnaireResponse", "status": "completed"}
    first = fhir.create(resource, if_none_exist={"identifier": "urn:x|42"})
    again = fhir.create(resource, if_none_exist="identifier=urn:x|42")
    assert first.created and first.id == "qr1" and first.version_id == "1"
    assert not again.created and again.id == "qr1"
    sent = rsps.calls[0].request
    assert sent.headers["If-None-Exist"] == "identifier=urn%3Ax%7C42"
    assert rsps.calls[1].request.headers["If-None-Exist"] == "identifier=urn:x|42"
    assert sent.headers["Content-Type"].startswith("application/fhir+json")
    assert json.loads(sent.body) == resource


def test_create_without_body_reads_location(fhir, rsps):
    rsps.post(f"{BASE}/Observation", status=201,
              headers={"Location": f"{BASE}/Observation/o9/_history/4"})
    result = fhir.create({"resourceType": "Observation"})
    assert result.resource is None and result.id == "o9" and result.version_id == "4"


def test_update_needs_an_id(fhir):
    with pytest.raises(ValueError):
        fhir.update({"resourceType": "Observation"})


def test_update_keeps_a_given_etag(fhir, rsps):
    rsps.put(f"{BASE}/Observation/o1", json=obs(1), headers={"ETag": 'W/"8"'})
    result = fhir.update(obs(1), if_match='W/"7"')
    assert rsps.calls[0].request.headers["If-Match"] == 'W/"7"'
    assert result.version_id == "8" and not result.created


def test_delete(fhir, rsps):
    rsps.delete(f"{BASE}/Observation/o1", status=204)
    assert fhir.delete("Observation", "o1").status == 204


def test_transaction_posts_to_base_and_checks_the_answer(fhir, rsps):
    rsps.post(BASE, json={"resourceType": "Bundle", "type": "transaction-response", "entry": []})
    answer = fhir.transaction({"resourceType": "Bundle", "type": "transaction", "entry": []})
    assert answer["type"] == "transaction-response"
    assert json.loads(rsps.calls[0].request.body)["type"] == "transaction"


def test_transaction_answer_of_wrong_type_is_malformed(fhir, rsps):
    rsps.post(BASE, json={"resourceType": "Bundle", "type": "searchset"})
    with pytest.raises(MalformedResponse):
        fhir.transaction({"resourceType": "Bundle", "type": "transaction"})


def test_batch_refuses_a_transaction_bundle(fhir):
    with pytest.raises(ValueError):
        fhir.batch({"resourceType": "Bundle", "type": "transaction"})


def test_batch(fhir, rsps):
    rsps.post(BASE, json={"resourceType": "Bundle", "type": "batch-response", "entry": [{}]})
    assert fhir.batch({"resourceType": "Bundle", "type": "batch", "entry": [{}]})["entry"] == [{}]


def test_operations_at_each_level(fhir, rsps):
    params = {"resourceType": "Parameters", "parameter": []}
    rsps.post(f"{BASE}/QuestionnaireResponse/$extract", json={"resourceType": "Bundle"})
    rsps.get(f"{BASE}/Patient/p1/$everything", json={"resourceType": "Bundle"})
    rsps.post(f"{BASE}/$process-message", status=204)
    assert fhir.operation("extract", resource_type="QuestionnaireResponse", body=params)
    assert fhir.operation("$everything", resource_type="Patient", id="p1")["resourceType"] == "Bundle"
    assert fhir.operation("$process-message", body=params) is None
    assert [c.request.method for c in rsps.calls] == ["POST", "GET", "POST"]
    with pytest.raises(ValueError):
        fhir.operation("$x", id="p1")
    with pytest.raises(ValueError):
        fhir.operation("$../x")


# -- retries ---------------------------------------------------------------------

def test_get_honours_retry_after_on_429_and_503(fhir, sleeps, rsps):
    rsps.get(f"{BASE}/Patient/p1", status=429, headers={"Retry-After": "2"})
    rsps.get(f"{BASE}/Patient/p1", status=503, headers={"Retry-After": "3"})
    rsps.get(f"{BASE}/Patient/p1", json={"resourceType": "Patient", "id": "p1"})
    assert fhir.read("Patient", "p1")["id"] == "p1"
    assert sleeps == [2.0, 3.0]
    assert len(rsps.calls) == 3


def test_retries_are_bounded_in_count(fhir, sleeps, rsps):
    for _ in range(3):
        rsps.get(f"{BASE}/Patient/p1", status=503, json=OUTCOME)
    with pytest.raises(ServerError) as info:
        fhir.read("Patient", "p1")
    assert len(rsps.calls) == 3 and len(sleeps) == 2
    assert info.value.outcome == OUTCOME


def test_retry_after_beyond_the_budget_is_not_waited_for(sleeps, rsps):
    client = FhirClient(BASE, sleep=sleeps, max_retry_wait=10)
    rsps.get(f"{BASE}/Patient/p1", status=503, headers={"Retry-After": "120"})
    with pytest.raises(ServerError):
        client.read("Patient", "p1")
    assert sleeps == [] and len(rsps.calls) == 1


def test_retry_after_as_http_date(fhir, sleeps, rsps):
    rsps.get(f"{BASE}/Patient/p1", status=503, headers={"Retry-After": "Wed, 21 Oct 2015 07:28:00 GMT"})
    rsps.get(f"{BASE}/Patient/p1", json={"resourceType": "Patient", "id": "p1"})
    fhir.read("Patient", "p1")
    assert sleeps == [0.0]


def test_create_is_not_retried_on_503(fhir, sleeps, rsps):
    rsps.post(f"{BASE}/Observation", status=503, headers={"Retry-After": "1"})
    with pytest.raises(ServerError):
        fhir.create({"resourceType": "Observation"})
    assert len(rsps.calls) == 1 and sleeps == []


def test_transaction_is_not_retried_on_429(fhir, sleeps, rsps):
    rsps.post(BASE, status=429, headers={"Retry-After": "1"})
    with pytest.raises(RateLimited):
        fhir.transaction({"resourceType": "Bundle", "type": "transaction"})
    assert len(rsps.calls) == 1 and sleeps == []


def test_500_is_retried_once_for_reads(fhir, sleeps, rsps):
    rsps.get(f"{BASE}/Patient/p1", status=500)
    with pytest.raises(ServerError):
        fhir.read("Patient", "p1")
    assert len(rsps.calls) == 2


def test_500_then_success_on_a_read(fhir, sleeps, rsps):
    rsps.get(f"{BASE}/Patient/p1", status=500)
    rsps.get(f"{BASE}/Patient/p1", json={"resourceType": "Patient", "id": "p1"})
    assert fhir.read("Patient", "p1")["id"] == "p1"


def test_500_is_not_retried_for_writes(fhir, sleeps, rsps):
    rsps.post(f"{BASE}/Patient", status=500)
    with pytest.raises(ServerError):
        fhir.create({"resourceType": "Patient"})
    assert len(rsps.calls) == 1


def test_read_timeout_is_retried_then_raised_as_timeout(fhir, sleeps, rsps):
    for _ in range(3):
        rsps.get(f"{BASE}/Patient/p1", body=requests.exceptions.ReadTimeout("slow"))
    with pytest.raises(Timeout) as info:
        fhir.read("Patient", "p1")
    assert isinstance(info.value, TransportError)
    assert isinstance(info.value.__cause__, requests.exceptions.ReadTimeout)
    assert info.value.response is None
    assert len(rsps.calls) == 3 and sleeps == [0.5, 1.0]


def test_connect_timeout_then_success(fhir, sleeps, rsps):
    rsps.get(f"{BASE}/Patient/p1", body=requests.exceptions.ConnectTimeout("no route"))
    rsps.get(f"{BASE}/Patient/p1", json={"resourceType": "Patient", "id": "p1"})
    assert fhir.read("Patient", "p1")["id"] == "p1"
    assert sleeps == [0.5]


def test_post_timeout_is_not_retried(fhir, sleeps, rsps):
    rsps.post(f"{BASE}/Observation", body=requests.exceptions.ReadTimeout("slow"))
    with pytest.raises(Timeout):
        fhir.create({"resourceType": "Observation"})
    assert len(rsps.calls) == 1 and sleeps == []


def test_connection_error_is_a_transport_error(sleeps, rsps):
    client = FhirClient(BASE, sleep=sleeps, max_retries=0)
    rsps.get(f"{BASE}/Patient/p1", body=requests.exceptions.ConnectionError("refused"))
    with pytest.raises(TransportError) as info:
        client.read("Patient", "p1")
    assert not isinstance(info.value, Timeout)


# -- auth ----------------------------------------------------------------------------

class Tokens:
    def __init__(self, access_token, expires_at=None):
        self.access_token = access_token
        self.expires_at = expires_at

    def expired(self, now=None, leeway=30.0):
        return self.expires_at is not None and now >= self.expires_at - leeway


def test_bearer_token_on_every_verb(rsps):
    client = FhirClient(BASE, auth=BearerAuth(Tokens("tok-1")))
    rsps.get(f"{BASE}/Patient/p1", json={"resourceType": "Patient", "id": "p1"})
    rsps.post(f"{BASE}/Observation", status=201)
    rsps.put(f"{BASE}/Observation/o1", status=200, json=obs(1))
    rsps.delete(f"{BASE}/Observation/o1", status=204)
    rsps.post(BASE, json={"resourceType": "Bundle", "type": "transaction-response"})
    client.read("Patient", "p1")
    client.create({"resourceType": "Observation"})
    client.update(obs(1))
    client.delete("Observation", "o1")
    client.transaction({"resourceType": "Bundle", "type": "transaction"})
    assert [c.request.headers["Authorization"] for c in rsps.calls] == ["Bearer tok-1"] * 5


def test_401_refreshes_once_and_retries_once(rsps):
    refreshed = []

    def refresher(old):
        refreshed.append(old.access_token)
        return Tokens(f"tok-{len(refreshed) + 1}")

    auth = BearerAuth(Tokens("tok-1"), refresher)
    client = FhirClient(BASE, auth=auth)
    rsps.post(f"{BASE}/Observation", status=401)
    rsps.post(f"{BASE}/Observation", status=201, json=obs(1))
    assert client.create({"resourceType": "Observation"}).created
    assert refreshed == ["tok-1"]
    assert [c.request.headers["Authorization"] for c in rsps.calls] == ["Bearer tok-1", "Bearer tok-2"]
    assert auth.token_set.access_token == "tok-2"


def test_second_401_is_raised_not_retried_again(rsps):
    calls = []
    auth = BearerAuth(Tokens("tok-1"), lambda old: calls.append(1) or Tokens("tok-2"))
    client = FhirClient(BASE, auth=auth)
    for _ in range(3):
        rsps.get(f"{BASE}/Patient/p1", status=401)
    rsps.assert_all_requests_are_fired = False
    with pytest.raises(Unauthorized):
        client.read("Patient", "p1")
    assert len(rsps.calls) == 2 and calls == [1]


def test_expired_token_is_refreshed_before_sending(rsps):
    now = [1000.0]
    auth = BearerAuth(Tokens("old", expires_at=1010.0), lambda old: Tokens("new", 5000.0),
                      clock=lambda: now[0])
    client = FhirClient(BASE, auth=auth)
    rsps.get(f"{BASE}/Patient/p1", json={"resourceType": "Patient", "id": "p1"})
    client.read("Patient", "p1")
    assert rsps.calls[0].request.headers["Authorization"] == "Bearer new"


def test_failed_refresh_gives_unauthorized_and_keeps_the_cause(rsps):
    def refresher(old):
        raise FhirMbtError("refresh token revoked")

    auth = BearerAuth(Tokens("tok-1"), refresher)
    rsps.get(f"{BASE}/Patient/p1", status=401)
    with pytest.raises(Unauthorized):
        FhirClient(BASE, auth=auth).read("Patient", "p1")
    assert len(rsps.calls) == 1
    assert str(auth.refresh_error) == "refresh token revoked"


def test_no_refresher_means_401_is_raised_at_once(rsps):
    rsps.get(f"{BASE}/Patient/p1", status=401)
    with pytest.raises(Unauthorized):
        FhirClient(BASE, auth=BearerAuth(Tokens("t"))).read("Patient", "p1")
    assert len(rsps.calls) == 1


def test_repr_hides_the_token():
    auth = BearerAuth(Tokens("very-secret-token"))
    assert "very-secret-token" not in repr(auth)
    assert "very-secret-token" not in repr(FhirClient(BASE, auth=auth))


def test_base_url_must_be_absolute():
    with pytest.raises(ValueError):
        FhirClient("fhir.example/r4")


def test_a_timeout_is_required():
    with pytest.raises(ValueError):
        FhirClient(BASE, timeout=None)


def test_retry_policy_can_be_given_whole(sleeps, rsps):
    from fhir_mbt.client import RetryPolicy
    client = FhirClient(BASE, sleep=sleeps, retry=RetryPolicy(max_retries=1, backoff=2.0))
    rsps.get(f"{BASE}/Patient/p1", status=502)
    rsps.get(f"{BASE}/Patient/p1", status=504)
    with pytest.raises(ServerError) as info:
        client.read("Patient", "p1")
    assert info.value.status == 504 and sleeps == [2.0]
