"""The faked EHR of ``fake_ehr``, plus what a patient launch needs: a signed id_token with
``fhirUser`` (checked by the app against the EHR's JWKS) and ``_revinclude=Task:focus``."""

from __future__ import annotations

import json
import secrets
import time
from urllib.parse import urlencode

import responses

from app_helpers import hidden_fields
from ehr_sandbox.keys import SigningKey
from fake_ehr import AUTH, ISS, FakeEhr
from fhir_mbt.content import shipped, terminology

_KEY = SigningKey()
PETER = "mbt-example-peter"
ME = f"Patient/{PETER}"
CHECKIN = terminology.WEEKLY_CHECKIN


class PatientEhr(FakeEhr):
    """``fhir_user`` (e.g. ``Patient/peter``) is the user of the next launches; None: no id_token."""

    def __init__(self, rsps, iss: str = ISS):
        self.fhir_user: str | None = None
        super().__init__(rsps, iss)
        rsps.add_callback(responses.GET, f"{AUTH}/jwks", callback=lambda r: (
            200, {"Content-Type": "application/json"}, json.dumps(_KEY.jwks())))

    def _well_known(self, request):
        status, headers, body = super()._well_known(request)
        config = json.loads(body)
        config.update(jwks_uri=f"{AUTH}/jwks", scopes_supported=config["scopes_supported"] + ["patient/*.cruds"])
        return status, headers, json.dumps(config)

    def _fhir(self, request):
        # A second app discovering the same server: ``responses`` hands repeated matches to the last one.
        if request.url.endswith("/.well-known/smart-configuration"):
            return self._well_known(request)
        return super()._fhir(request)

    def authorize(self, authorize_url: str, *, patient: str | None = None) -> dict:
        back = super().authorize(authorize_url, patient=patient)
        self.codes[back["code"]]["fhir_user"] = self.fhir_user
        self.codes[back["code"]]["audience"] = self.codes[back["code"]]["client_id"]
        return back

    def _issue(self, grant: dict) -> dict:
        body = super()._issue(grant)
        if grant.get("fhir_user") and "openid" in grant["scope"].split():
            body["id_token"] = _KEY.id_token(issuer=AUTH, client_id=grant["audience"], subject="user-1",
                                             lifetime=3600, fhir_user=f"{self.iss}/{grant['fhir_user']}",
                                             now=time.time())
        return body

    def _search(self, resource_type: str, query: dict) -> dict:
        bundle = super()._search(resource_type, query)
        if resource_type == "QuestionnaireResponse" and query.get("_revinclude") == ["Task:focus"]:
            found = {f"QuestionnaireResponse/{e['resource']['id']}" for e in bundle["entry"]
                     if e["resource"]["resourceType"] == "QuestionnaireResponse"}
            for task in self.of_type("Task"):
                if (task.get("focus") or {}).get("reference") in found:
                    bundle["entry"].append({"fullUrl": f"{self.iss}/Task/{task['id']}", "resource": task,
                                            "search": {"mode": "include"}})
        return bundle


def portal_launch(client, ehr: PatientEhr, *, user: str | None = None, patient: str | None = None,
                  path: str = "/portal/launch", standalone: bool = False):
    """A whole launch from the portal (or ``path``) as ``user``; the callback's response."""
    ehr.fhir_user = user
    query = {"iss": ISS} if standalone else {"iss": ISS, "launch": "portal-" + secrets.token_hex(4)}
    started = client.get(f"{path}?" + urlencode(query))
    assert started.status_code == 302, started.data
    back = ehr.authorize(started.headers["Location"], patient=patient)
    return client.get("/callback?" + urlencode({"code": back["code"], "state": back["state"]}))


# --- filling in the patient's forms --------------------------------------------------------------


def names(qid: str) -> dict[str, str]:
    from smart_app.questionnaire_form import build_form, walk_fields

    q = shipped().get(terminology.questionnaire_url(qid))
    return {f.link_id: f.name for f in walk_fields(build_form(q, shipped()))}


def checkin_answers(**risk) -> dict[str, list[str]]:
    n = names(CHECKIN)
    mbt = terminology.CODE_SYSTEM
    data = {
        n["checkin.blow-ups"]: ["2"], n["checkin.pauses"]: ["5"],
        n["checkin.self-worth"]: [f"{mbt}|steady"], n["checkin.curiosity"]: [f"{mbt}|freq-often"],
        n["checkin.repairs"]: [_first_option(CHECKIN, "checkin.repairs")],
        n["checkin.risk.self-harm-thoughts"]: ["no"], n["checkin.risk.suicide-thoughts"]: ["no"],
        n["checkin.risk.acted"]: ["no"],
    }
    for link, value in risk.items():
        data[n[link.replace("_", "-").replace("risk-", "risk.").replace("checkin-", "checkin.")]] = [value]
    return data


def _first_option(qid: str, link_id: str) -> str:
    from smart_app.questionnaire_form import build_form, walk_fields

    q = shipped().get(terminology.questionnaire_url(qid))
    field = next(f for f in walk_fields(build_form(q, shipped())) if f.link_id == link_id)
    return field.options[0].token


def risky() -> dict[str, list[str]]:
    n = names(CHECKIN)
    data = checkin_answers()
    data[n["checkin.risk.suicide-thoughts"]] = ["yes"]
    data[n["checkin.risk.plan"]] = ["no"]
    data[n["checkin.risk.safe-now"]] = ["no"]
    data[n["checkin.risk.contact-wanted"]] = ["yes"]
    return data


def send(client, path: str, data: dict, action: str = "complete"):
    hidden = hidden_fields(client.get(path).get_data(as_text=True))
    return client.post(path, data={**data, **hidden, "action": action})


def mine(pehr, status=None) -> list[dict]:
    return [r for r in pehr.of_type("QuestionnaireResponse")
            if (r.get("author") or {}).get("reference") == ME and r["id"].startswith("peter-") is False
            and (status is None or r["status"] == status)]
