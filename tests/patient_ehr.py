"""The faked EHR of ``fake_ehr``, plus what a patient launch needs: a signed id_token with
``fhirUser`` (checked by the app against the EHR's JWKS) and ``_revinclude=Task:focus``."""

from __future__ import annotations

import json
import secrets
import time
from urllib.parse import urlencode

import responses

from ehr_sandbox.keys import SigningKey
from fake_ehr import AUTH, ISS, FakeEhr

_KEY = SigningKey()


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
