"""Helpers shared by the app tests: run a launch, read a form's hidden fields."""

from __future__ import annotations

import datetime as _dt
import re
from urllib.parse import urlencode, urljoin

import requests

from fake_ehr import ISS


class Browser(requests.Session):
    """A clinician's browser for the end-to-end tests: follows redirects one hop at a time,
    keeping cookies as a browser on localhost does (it sends the app's Secure cookie over
    loopback http)."""

    TIMEOUT = 120

    def request(self, method, url, *args, allow_redirects=True, **kwargs):
        kwargs.setdefault("timeout", self.TIMEOUT)
        for _ in range(10):
            answer = super().request(method, url, *args, allow_redirects=False, **kwargs)
            for cookie in self.cookies:
                cookie.secure = False  # loopback http is a secure context for browsers
            if not allow_redirects or answer.status_code not in (301, 302, 303, 307, 308):
                return answer
            url = urljoin(url, answer.headers["Location"])
            if answer.status_code in (301, 302, 303):
                method, kwargs = "GET", {k: v for k, v in kwargs.items() if k not in ("data", "json")}
        raise AssertionError("too many redirects")


def launch(client, ehr, *, patient=None, standalone=False):
    """Run a whole launch; returns the response of the callback."""
    query = {"iss": ISS} if standalone else {"iss": ISS, "launch": "xyz-launch"}
    started = client.get("/launch?" + urlencode(query))
    assert started.status_code == 302, started.data
    back = ehr.authorize(started.headers["Location"], patient=patient)
    return client.get("/callback?" + urlencode({"code": back["code"], "state": back["state"]}))


def long_history(ehr, *, sessions: int = 260, rfq: int = 20, checkins: int = 0) -> None:
    """Clone the example patient's responses into a long history on the fake server."""
    import copy
    import datetime as dt

    by_q: dict[str, dict] = {}
    for res in ehr.of_type("QuestionnaireResponse"):
        by_q.setdefault(res["questionnaire"].split("|")[0].rsplit("/", 1)[-1], res)
    start = dt.date(2021, 1, 4)
    for qid, count in (("mbt-session-record", sessions), ("rfq-8", rfq), ("mbt-weekly-checkin", checkins)):
        template = by_q[qid]
        for n in range(count):
            day = start + dt.timedelta(days=7 * n)
            clone = copy.deepcopy(template)
            clone["id"] = f"long-{qid}-{n}"
            clone["identifier"] = {"system": "urn:ietf:rfc:3986", "value": f"urn:uuid:00000000-0000-4000-8000-{qid[:4].encode().hex()}{n:04d}"}
            clone["authored"] = f"{day.isoformat()}T10:00:00Z"
            for item in clone.get("item", []):
                if item["linkId"] == "session.date":
                    item["answer"] = [{"valueDate": day.isoformat()}]
            ehr.put(clone)


def hidden_fields(html: str) -> dict:
    """The hidden fields of a rendered form: CSRF token, submission id, version, and the
    patient, launch and form it was opened for."""
    out = {
        "csrf_token": re.search(r'name="csrf_token" value="([^"]+)"', html).group(1),
        "submission_id": re.search(r'name="submission_id" value="([^"]*)"', html).group(1),
    }
    for name in ("version_id", "patient", "launch", "form", "duplicate_ok"):
        found = re.search(rf'type="hidden" name="{name}" value="([^"]*)"', html)
        if found:
            out[name] = found.group(1)
    return out


def form_csrf(client, path: str) -> dict:
    """The hidden fields (CSRF token, submission id, version, patient, launch) of the form at
    ``path`` (following the redirect that names a new form's submission in its URL)."""
    return hidden_fields(client.get(path, follow_redirects=True).get_data(as_text=True))


def post_data_from_response(questionnaire: dict, response: dict) -> dict[str, list[str]]:
    """What a browser would post for a form filled in like ``response``."""
    from fhir_mbt.content import shipped
    from smart_app.questionnaire_form import build_form, walk_fields

    data: dict[str, list[str]] = {}
    for field in walk_fields(build_form(questionnaire, shipped(), response)):
        if field.type in ("group", "display") or field.calculated:
            continue
        if field.values:
            data[field.name] = list(field.values)
        if field.other_text:
            data[field.name + ".other"] = [field.other_text]
    return data


def field_name(questionnaire: dict, link_id: str) -> str:
    from fhir_mbt.content import shipped
    from smart_app.questionnaire_form import build_form, walk_fields

    for field in walk_fields(build_form(questionnaire, shipped())):
        if field.link_id == link_id:
            return field.name
    raise KeyError(link_id)


# --- forms of the example patient --------------------------------------------------------

SESSION = "mbt-session-record"
#: A session date the example patient has no record for (yesterday: in the past, not in the examples).
NEW_SESSION_DATE = (_dt.date.today() - _dt.timedelta(days=1)).isoformat()


def questionnaire(qid):
    from fhir_mbt.content import shipped, terminology

    return shipped().get(terminology.questionnaire_url(qid))


def example_response(ehr, qid):
    """The example patient's first QuestionnaireResponse of form ``qid`` on the fake server."""
    found = [r for r in ehr.of_type("QuestionnaireResponse") if r["questionnaire"].split("|")[0].endswith("/" + qid)]
    return sorted(found, key=lambda r: r["authored"])[0]


def form_data(ehr, qid):
    """A post filled in like the example patient's first record of ``qid``, for a new occasion."""
    q = questionnaire(qid)
    data = post_data_from_response(q, example_response(ehr, qid))
    if qid == SESSION:
        data[field_name(q, "session.date")] = [NEW_SESSION_DATE]
    return data


#: What a clinician types as the reason for an amendment.
REASON = {"amend_reason": "Answers corrected after checking the clinical notes"}


def ours(ehr, resource_type):
    """The resources of ``resource_type`` written by the test (not the example patient's)."""
    return [r for r in ehr.of_type(resource_type) if not r["id"].startswith("peter-")]


#: A "Yes" risk answer, as the content codes it.
YES = [{"valueCoding": {"system": "http://fhir-mbt.org/fhir/CodeSystem/mbt", "code": "risk-yes", "display": "Yes"}}]


def set_answer(response: dict, link_id: str, answer: list) -> bool:
    """Replace the answer of ``link_id`` wherever it is nested; False if the response has no such item."""
    for item in response.get("item", []):
        if item.get("linkId") == link_id:
            item["answer"] = answer
            return True
        if set_answer(item, link_id, answer):
            return True
        for a in item.get("answer", []):
            if set_answer(a, link_id, answer):
                return True
    return False


def latest_session(ehr) -> dict:
    """The newest session record the fake EHR holds."""
    sessions = [r for r in ehr.of_type("QuestionnaireResponse") if "mbt-session-record" in r["questionnaire"]]
    return max(sessions, key=lambda r: r["authored"])
