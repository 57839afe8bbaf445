"""A faked EHR for app tests: SMART authorization server + FHIR server, on `responses`.

Small but honest: the token endpoint checks the PKCE verifier against the
challenge it saw, codes are single use, the FHIR side keeps resources in
memory with versions (``_history``, vread; each write a second after the one
before), honours If-Match, conditional create (If-None-Exist on identifier) and
conditional update, ``_revinclude=Provenance:target``, and answers
batch/transaction Bundles.
Every request is recorded so tests can count round trips.
"""

from __future__ import annotations

import base64
import copy
import hashlib
import json
import re
import secrets
import time
import uuid
from urllib.parse import parse_qs, urlsplit

import requests
import responses

ISS = "https://ehr.test/fhir"
AUTH = "https://ehr.test/auth"


class FakeEhr:
    def __init__(self, rsps: responses.RequestsMock, iss: str = ISS):
        self.rsps = rsps
        self.iss = iss
        self.resources: dict[tuple[str, str], dict] = {}
        self.codes: dict[str, dict] = {}
        self.access_tokens: dict[str, dict] = {}
        self.refresh_tokens: dict[str, dict] = {}
        self.granted_scope: str | None = None
        self.patient = "peter"
        self.fail_next: list[tuple[int, dict | str]] = []
        self.faults: list[dict] = []
        self.token_lifetime = 3600
        self.need_patient_banner = True
        self.fhir_requests: list = []
        #: Rotating refresh tokens: each is good once; a reused one revokes the whole grant.
        self.rotate_refresh = False
        self.refresh_delay = 0.0
        self.refresh_reused = 0
        self.refreshes = 0
        self._used_refresh: set[str] = set()
        #: What this server takes (its CapabilityStatement says the same): turn off to play a lesser EHR.
        self.transactions = True
        self.conditional_create = True
        #: Whether the CapabilityStatement lists ``batch`` (batches are answered either way).
        self.batches = True
        #: Every version written, oldest first, by (type, id).
        self.versions: dict[tuple[str, str], list[dict]] = {}
        self._clock = 0
        #: Whether DELETE is honoured (with If-Match); off, it is refused with 405 as many EHRs do.
        self.deletes = True
        self._register()

    # --- authorization server ---------------------------------------------------
    def _register(self):
        self.rsps.add_callback(
            responses.GET, f"{self.iss}/.well-known/smart-configuration", callback=self._well_known
        )
        self.rsps.add_callback(responses.POST, f"{AUTH}/token", callback=self._token)
        self.rsps.add_callback(responses.GET, re.compile(re.escape(self.iss) + r"/.*"), callback=self._fhir)
        self.rsps.add_callback(responses.POST, re.compile(re.escape(self.iss) + r"/?$"), callback=self._fhir)
        self.rsps.add_callback(responses.POST, re.compile(re.escape(self.iss) + r"/.+"), callback=self._fhir)
        self.rsps.add_callback(responses.PUT, re.compile(re.escape(self.iss) + r"/.*"), callback=self._fhir)
        self.rsps.add_callback(responses.DELETE, re.compile(re.escape(self.iss) + r"/.*"), callback=self._fhir)

    def _well_known(self, request):
        return 200, {"Content-Type": "application/json"}, json.dumps(
            {
                "issuer": AUTH,
                "authorization_endpoint": f"{AUTH}/authorize",
                "token_endpoint": f"{AUTH}/token",
                "code_challenge_methods_supported": ["S256"],
                "capabilities": ["launch-ehr", "launch-standalone", "client-public", "context-ehr-patient"],
                "scopes_supported": ["openid", "fhirUser", "launch", "launch/patient"],
                "response_types_supported": ["code"],
            }
        )

    def authorize(self, authorize_url: str, *, patient: str | None = None) -> dict:
        """What the EHR does when the browser arrives: check, then redirect back with a code."""
        query = {k: v[0] for k, v in parse_qs(urlsplit(authorize_url).query).items()}
        assert query["response_type"] == "code"
        assert query["code_challenge_method"] == "S256"
        assert query["aud"] == self.iss
        code = secrets.token_urlsafe(16)
        self.codes[code] = {
            "challenge": query["code_challenge"],
            "redirect_uri": query["redirect_uri"],
            "client_id": query["client_id"],
            "scope": self.granted_scope or query["scope"],
            "patient": patient or self.patient,
        }
        return {"code": code, "state": query["state"], "redirect_uri": query["redirect_uri"]}

    def _token(self, request):
        form = {k: v[0] for k, v in parse_qs(request.body).items()}
        headers = {"Content-Type": "application/json", "Cache-Control": "no-store"}
        if form.get("grant_type") == "refresh_token":
            used = form.get("refresh_token", "")
            time.sleep(self.refresh_delay)
            if self.rotate_refresh and used in self._used_refresh:
                self.refresh_reused += 1
                self.access_tokens.clear()
                self.refresh_tokens.clear()
            grant = self.refresh_tokens.pop(used, None) if self.rotate_refresh else self.refresh_tokens.get(used)
            if grant is None:
                return 400, headers, json.dumps({"error": "invalid_grant"})
            self._used_refresh.add(used)
            self.refreshes += 1
            return 200, headers, json.dumps(self._issue(grant))
        grant = self.codes.pop(form.get("code", ""), None)
        if grant is None or grant["redirect_uri"] != form.get("redirect_uri"):
            return 400, headers, json.dumps({"error": "invalid_grant"})
        digest = hashlib.sha256(form.get("code_verifier", "").encode()).digest()
        if base64.urlsafe_b64encode(digest).rstrip(b"=").decode() != grant["challenge"]:
            return 400, headers, json.dumps({"error": "invalid_grant", "error_description": "PKCE"})
        return 200, headers, json.dumps(self._issue(grant))

    def _issue(self, grant: dict) -> dict:
        access = secrets.token_urlsafe(24)
        refresh = secrets.token_urlsafe(24)
        self.access_tokens[access] = {"expires": time.time() + self.token_lifetime, **grant}
        self.refresh_tokens[refresh] = grant
        return {
            "access_token": access,
            "token_type": "Bearer",
            "expires_in": self.token_lifetime,
            "scope": grant["scope"],
            "refresh_token": refresh,
            "patient": grant["patient"],
            "need_patient_banner": self.need_patient_banner,
        }

    def expire_all_tokens(self):
        for grant in self.access_tokens.values():
            grant["expires"] = 0

    # --- FHIR server ------------------------------------------------------------------
    def put(self, resource: dict) -> dict:
        res = copy.deepcopy(resource)
        res.setdefault("id", str(uuid.uuid4()))
        key = (res["resourceType"], res["id"])
        version = int(self.resources.get(key, {}).get("meta", {}).get("versionId", "0")) + 1
        self._clock += 1
        stamp = f"2026-11-23T10:{self._clock // 60 % 60:02d}:{self._clock % 60:02d}Z"
        res["meta"] = {**res.get("meta", {}), "versionId": str(version), "lastUpdated": stamp}
        self.resources[key] = res
        self.versions.setdefault(key, []).append(res)
        return res

    def of_type(self, resource_type: str) -> list[dict]:
        return [r for (t, _), r in self.resources.items() if t == resource_type]

    def _authorized(self, request) -> bool:
        header = request.headers.get("Authorization", "")
        token = header[7:] if header.startswith("Bearer ") else ""
        grant = self.access_tokens.get(token)
        return bool(grant) and grant["expires"] > time.time()

    def fault(self, *, method: str = "POST", path: str = "", query: str = "", after_write: bool = False,
              status: int = 500, body: dict | str | None = None, timeout: bool = False, times: int = 1,
              skip: int = 0) -> None:
        """Fail ``times`` requests of ``method`` to ``path`` ("" is the base: transactions) whose
        query contains ``query``, after letting ``skip`` of them through: answer ``status`` (or
        time out) before doing anything, or ``after_write``."""
        self.faults.append({"method": method, "path": path, "query": query, "after": after_write, "status": status,
                            "times": times, "timeout": timeout, "skip": skip,
                            "body": body if body is not None else _outcome("exception", "injected failure")})

    def _fault_for(self, request) -> dict | None:
        path = urlsplit(request.url).path[len(urlsplit(self.iss).path):].strip("/")
        for fault in self.faults:
            if (fault["times"] > 0 and fault["method"] == request.method and fault["path"] == path
                    and fault["query"] in (urlsplit(request.url).query or "")):
                if fault["skip"] > 0:
                    fault["skip"] -= 1
                    return None
                fault["times"] -= 1
                return fault
        return None

    def _fhir(self, request):
        self.fhir_requests.append(request)
        if self.fail_next:
            status, body = self.fail_next.pop(0)
            return status, {"Content-Type": "application/fhir+json"}, body if isinstance(body, str) else json.dumps(body)
        if not self._authorized(request):
            return 401, {"WWW-Authenticate": "Bearer"}, ""
        fault = self._fault_for(request)
        if fault and not fault["after"]:
            return self._fail(fault)
        status, body, headers = self.handle(request.method, request.url, request.body, request.headers)
        if fault:
            return self._fail(fault)
        return status, {"Content-Type": "application/fhir+json", **headers}, json.dumps(body) if body is not None else ""

    @staticmethod
    def _fail(fault: dict):
        if fault["timeout"]:
            raise requests.exceptions.ReadTimeout("injected timeout")
        body = fault["body"]
        return fault["status"], {"Content-Type": "application/fhir+json"}, body if isinstance(body, str) else json.dumps(body)

    def handle(self, method: str, url: str, body, headers) -> tuple[int, dict | None, dict]:
        parts = urlsplit(url)
        path = parts.path[len(urlsplit(self.iss).path):].strip("/")
        query = parse_qs(parts.query)
        data = json.loads(body) if body else None
        if method == "GET" and path == "metadata":
            return 200, self.capability_statement(), {}
        if method == "POST" and path == "" and data.get("type") == "transaction" and not self.transactions:
            return 405, _outcome("not-supported", "transactions are not supported"), {}
        if method == "POST" and path == "":
            result = self._bundle(data)
            return result.pop("_status", 200), result, {}
        segments = path.split("/") if path else []
        if method == "GET" and len(segments) == 2:
            res = self.resources.get((segments[0], segments[1]))
            if res is None:
                return 404, _outcome("not-found", "no such resource"), {}
            return 200, res, {"ETag": f'W/"{res["meta"]["versionId"]}"'}
        if method == "GET" and len(segments) == 3 and segments[2] == "_history":
            return self._history(segments[0], segments[1], query)
        if method == "GET" and len(segments) == 4 and segments[2] == "_history":
            found = [r for r in self.versions.get((segments[0], segments[1]), []) if r["meta"]["versionId"] == segments[3]]
            if not found:
                return 404, _outcome("not-found", "no such version"), {}
            return 200, found[0], {"ETag": f'W/"{segments[3]}"'}
        if method == "GET" and len(segments) == 1:
            return 200, self._search(segments[0], query), {}
        if method == "PUT" and len(segments) == 1 and parts.query:
            if not self.conditional_create:
                return 400, _outcome("not-supported", "conditional update is not supported"), {}
            matches = [r for r in self.of_type(segments[0]) if self._matches(r, query)]
            rid = matches[0]["id"] if matches else str(uuid.uuid4())
            return self._update(segments[0], rid, data, headers.get("If-Match"))
        if method == "PUT" and len(segments) == 2:
            return self._update(segments[0], segments[1], data, headers.get("If-Match"))
        if method == "DELETE" and len(segments) == 2:
            return self._delete(segments[0], segments[1], headers.get("If-Match"))
        if method == "POST" and len(segments) == 1:
            if headers.get("If-None-Exist") and not self.conditional_create:
                return 400, _outcome("not-supported", "conditional create is not supported"), {}
            return self._create(data, headers.get("If-None-Exist"))
        return 400, _outcome("not-supported", f"{method} {path}"), {}

    def capability_statement(self) -> dict:
        types = ["Patient", "QuestionnaireResponse", "Observation", "Provenance"]
        return {
            "resourceType": "CapabilityStatement", "status": "active", "kind": "instance", "fhirVersion": "4.0.1",
            "rest": [{
                "mode": "server",
                "interaction": ([{"code": "transaction"}] if self.transactions else [])
                + ([{"code": "batch"}] if self.batches else []),
                "resource": [{"type": t, "interaction": [{"code": c} for c in ("read", "search-type", "create", "update")
                                                         + (("delete",) if self.deletes else ())],
                              "conditionalCreate": self.conditional_create, "conditionalUpdate": self.conditional_create,
                              "updateCreate": True} for t in types],
            }],
        }

    def _matches(self, res: dict, query: dict) -> bool:
        for name, values in query.items():
            value = values[0]
            if name.startswith("_") and name != "_id":
                continue
            if name in ("subject", "patient"):
                ref = res.get("subject", {}).get("reference", "")
                if ref != value and ref != f"Patient/{value}":
                    return False
            elif name == "identifier":
                system, _, code = value.partition("|")
                if not any(i.get("system") == system and i.get("value") == code for i in _identifiers(res)):
                    return False
            elif name == "_id":
                if res.get("id") not in value.split(","):
                    return False
            elif name == "target":
                refs = [t.get("reference", "") for t in res.get("target", [])]
                if not any(r == value or r.startswith(value + "/_history/") for r in refs):
                    return False
            elif name == "questionnaire":
                if res.get("questionnaire", "").split("|")[0] != value.split("|")[0]:
                    return False
            elif name == "status":
                if res.get("status") not in value.split(","):
                    return False
            elif name == "authored":
                prefix, day = (value[:2], value[2:]) if value[:2] in ("ge", "le", "gt", "lt", "eq") else ("eq", value)
                authored = res.get("authored", "")[: len(day)]
                if not {"ge": authored >= day, "le": authored <= day, "gt": authored > day,
                        "lt": authored < day, "eq": authored == day}[prefix]:
                    return False
            else:
                return False
        return True

    def _search(self, resource_type: str, query: dict) -> dict:
        found = [r for r in self.of_type(resource_type) if self._matches(r, query)]
        if query.get("_sort", [""])[0] == "-authored":
            found.sort(key=lambda r: r.get("authored", ""), reverse=True)
        count = int(query.get("_count", ["1000"])[0])
        entries = [
            {"fullUrl": f"{self.iss}/{resource_type}/{r['id']}", "resource": r, "search": {"mode": "match"}}
            for r in found[:count]
        ]
        if query.get("_include") and found:
            # QuestionnaireResponse:subject, QuestionnaireResponse:author (each include by its own name)
            fields = {value.partition(":")[2] or "subject" for value in query["_include"]}
            refs = {(r.get(f) or {}).get("reference", "") for r in found[:count] for f in fields}
            for ref in sorted(refs):
                target = self.resources.get(tuple(ref.split("/", 1))) if "/" in ref else None
                if target:
                    entries.append({"fullUrl": f"{self.iss}/{ref}", "resource": target, "search": {"mode": "include"}})
        if query.get("_revinclude", [""])[0] == "Provenance:target":
            matched = {f"{resource_type}/{r['id']}" for r in found[:count]}
            for prov in self.of_type("Provenance"):
                refs = {t.get("reference", "").split("/_history/")[0] for t in prov.get("target", [])}
                if refs & matched:
                    entries.append({"fullUrl": f"{self.iss}/Provenance/{prov['id']}", "resource": prov,
                                    "search": {"mode": "include"}})
        return {"resourceType": "Bundle", "type": "searchset", "total": len(found), "entry": entries}

    def _history(self, resource_type: str, rid: str, query: dict):
        versions = self.versions.get((resource_type, rid))
        if not versions:
            return 404, _outcome("not-found", "no such resource"), {}
        newest = list(reversed(versions))
        count = int(query.get("_count", ["100"])[0])
        entries = [{"fullUrl": f"{self.iss}/{resource_type}/{rid}", "resource": r,
                    "request": {"method": "PUT", "url": f"{resource_type}/{rid}/_history/{r['meta']['versionId']}"}}
                   for r in newest[:count]]
        bundle = {"resourceType": "Bundle", "type": "history", "total": len(versions), "entry": entries}
        if len(versions) > count:
            bundle["link"] = [{"relation": "next", "url": f"{self.iss}/{resource_type}/{rid}/_history?_count={count}&_offset={count}"}]
        return 200, bundle, {}

    def _create(self, data: dict, if_none_exist: str | None):
        if if_none_exist:
            query = parse_qs(if_none_exist)
            existing = [r for r in self.of_type(data["resourceType"]) if self._matches(r, query)]
            if existing:
                return 200, existing[0], {"Location": _loc(existing[0])}
        data = dict(data)
        data.pop("id", None)
        res = self.put(data)
        return 201, res, {"Location": _loc(res), "ETag": f'W/"{res["meta"]["versionId"]}"'}

    def _update(self, resource_type: str, rid: str, data: dict, if_match: str | None):
        current = self.resources.get((resource_type, rid))
        if if_match and current is not None:
            wanted = if_match.replace("W/", "").strip('"')
            if wanted != current["meta"]["versionId"]:
                return 409, _outcome("conflict", "version conflict"), {}
        data = dict(data, id=rid)
        res = self.put(data)
        return (200 if current else 201), res, {"Location": _loc(res), "ETag": f'W/"{res["meta"]["versionId"]}"'}

    def _delete(self, resource_type: str, rid: str, if_match: str | None):
        """DELETE: refused (405) when this server does not delete; If-Match honoured (409, as HAPI answers)."""
        if not self.deletes:
            return 405, _outcome("not-supported", "delete is not supported"), {}
        current = self.resources.get((resource_type, rid))
        if current is None:
            return 404, _outcome("not-found", "no such resource"), {}
        if if_match and if_match.replace("W/", "").strip('"') != current["meta"]["versionId"]:
            return 409, _outcome("conflict", "version conflict"), {}
        del self.resources[(resource_type, rid)]
        return 200, {"resourceType": "OperationOutcome",
                     "issue": [{"severity": "information", "code": "informational", "diagnostics": "deleted"}]}, {}

    def _bundle(self, bundle: dict) -> dict:
        kind = bundle.get("type")
        snapshot = copy.deepcopy(self.resources)
        versions_before = {k: list(v) for k, v in self.versions.items()}
        full_urls: dict[str, str] = {}
        out = []
        entries = bundle.get("entry", [])
        # Resolve conditional creates first, as a server does, so urn:uuid references can be rewritten.
        for entry in entries:
            req = entry.get("request", {})
            method, url = req.get("method"), req.get("url", "")
            if method == "GET":
                parts = urlsplit(url)
                status, body, _ = self.handle("GET", f"{self.iss}/{parts.path}?{parts.query}", None, {})
                out.append({"resource": body, "response": {"status": str(status)}, "read": True})
                continue
            resource = _rewrite(entry.get("resource"), full_urls)
            if method == "POST":
                status, body, headers = self._create(resource, req.get("ifNoneExist"))
            elif method == "PUT" and "?" in url:
                rtype, _, q = url.partition("?")
                matches = [r for r in self.of_type(rtype) if self._matches(r, parse_qs(q))]
                rid = matches[0]["id"] if matches else str(uuid.uuid4())
                status, body, headers = self._update(rtype, rid, resource, req.get("ifMatch"))
            elif method == "PUT":
                rtype, _, rid = url.partition("/")
                status, body, headers = self._update(rtype, rid, resource, req.get("ifMatch"))
            else:
                status, body, headers = 400, _outcome("not-supported", method), {}
            if kind == "transaction" and status >= 400:
                self.resources = snapshot
                self.versions = versions_before
                return _outcome("conflict" if status == 409 else "processing", f"entry failed with {status}") | {
                    "_status": status
                }
            if entry.get("fullUrl") and body and "id" in body:
                full_urls[entry["fullUrl"]] = f"{body['resourceType']}/{body['id']}"
            out.append({"response": {"status": str(status), "location": headers.get("Location", "")}, "resource": body})
        for item in out:
            body = item.get("resource")
            if item.pop("read", False):
                continue
            if body and "id" in body and item["response"]["status"] in ("200", "201"):
                fixed = _rewrite(body, full_urls)
                self.resources[(fixed["resourceType"], fixed["id"])] = fixed
                self.versions[(fixed["resourceType"], fixed["id"])][-1] = fixed
                item["resource"] = fixed
        return {"resourceType": "Bundle", "type": f"{kind}-response", "entry": out}


def _rewrite(resource, full_urls):
    if resource is None:
        return None
    text = json.dumps(resource)
    for urn, ref in full_urls.items():
        text = text.replace(f'"{urn}"', f'"{ref}"')
    return json.loads(text)


def _identifiers(res: dict) -> list[dict]:
    value = res.get("identifier", [])
    return value if isinstance(value, list) else [value]


def _loc(res: dict) -> str:
    return f"{ISS}/{res['resourceType']}/{res['id']}/_history/{res['meta']['versionId']}"


def _outcome(code: str, text: str) -> dict:
    return {"resourceType": "OperationOutcome", "issue": [{"severity": "error", "code": code, "diagnostics": text}]}
