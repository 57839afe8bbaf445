"""No code, token, secret, state or verifier ever reaches a log line.

Two full flows are logged at DEBUG on every logger: one against mocked
endpoints, and one against a real loopback server, so that urllib3's own
request lines are part of what is checked.
"""

from __future__ import annotations

import json
import logging
import threading
from base64 import b64decode
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlsplit

import jwt
import pytest
import requests

from fhir_mbt.client import BearerAuth, FhirClient
from fhir_mbt.smart import ClientSecretBasic, InvalidGrant, PrivateKeyJwt, SmartClient, code_challenge

from .ehr import CLIENT_ID, ISS, JWKS, REDIRECT, SCOPE, TOKEN, token_body, well_known


def logged_text(caplog) -> str:
    parts = [caplog.text]
    for record in caplog.records:
        parts.append(record.getMessage())
        if record.exc_info:
            parts.append(logging.Formatter().formatException(record.exc_info))
    return "\n".join(parts)


def assert_absent(text: str, secrets: list[str]) -> None:
    for secret in secrets:
        assert secret and secret not in text, f"a secret of length {len(secret)} was logged"


def test_mocked_flow_logs_no_secret(caplog, make_client, clock, sign, jwks, ec_server_key, rsps):
    caplog.set_level(logging.DEBUG)
    auth = PrivateKeyJwt(CLIENT_ID, ec_server_key, kid="app-1", alg="ES384", clock=clock)
    smart = make_client(client_auth=auth)
    rsps.get(f"{ISS}/.well-known/smart-configuration", json=well_known())
    url, pending = smart.authorize(ISS, launch="LAUNCH-secret")
    id_token = sign()
    rsps.post(TOKEN, json=token_body(access_token="AT-secret-A", refresh_token="RT-secret-A",
                                     id_token=id_token))
    rsps.get(JWKS, json=jwks)
    tokens = smart.complete(pending, {"state": pending.state, "code": "CODE-secret-A"})
    rsps.get(f"{ISS}/Patient/p-1", status=401)
    rsps.post(TOKEN, json=token_body(access_token="AT-secret-B", refresh_token="RT-secret-B"))
    rsps.get(f"{ISS}/Patient/p-1", json={"resourceType": "Patient", "id": "p-1"})
    auth_obj = BearerAuth(tokens, smart.refresh, clock=clock)
    FhirClient(ISS, auth=auth_obj).read("Patient", "p-1")
    rsps.post(TOKEN, status=400, json={"error": "invalid_grant"})
    with pytest.raises(InvalidGrant) as info:
        smart.refresh(auth_obj.token_set)
    assertions = [parse_qs(c.request.body)["client_assertion"][0] for c in rsps.calls
                  if c.request.url == TOKEN]
    text = logged_text(caplog) + str(info.value) + repr(tokens) + repr(pending) + repr(smart)
    assert "token refreshed" in text and "authorization started" in text
    assert_absent(text, [pending.state, pending.code_verifier, code_challenge(pending.code_verifier),
                         "CODE-secret-A", "AT-secret-A", "RT-secret-A", "AT-secret-B", "RT-secret-B",
                         id_token, id_token.split(".")[2], "LAUNCH-secret", *assertions])


class LoopbackEhr(BaseHTTPRequestHandler):
    """A small SMART EHR: discovery, JWKS, token endpoint with PKCE, one FHIR read."""

    state: dict = {}

    def log_message(self, *args):
        pass

    def _json(self, status, body):
        data = json.dumps(body).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def do_GET(self):
        s = self.state
        if self.path == "/fhir/.well-known/smart-configuration":
            base = s["base"]
            return self._json(200, well_known(
                issuer=base, jwks_uri=f"{base}/jwks", authorization_endpoint=f"{base}/authorize",
                token_endpoint=f"{base}/token"))
        if self.path == "/jwks":
            return self._json(200, s["jwks"])
        if self.path.startswith("/fhir/Patient/p-1"):
            if self.headers.get("Authorization") != f"Bearer {s['current']}":
                return self._json(401, {"resourceType": "OperationOutcome", "issue": []})
            return self._json(200, {"resourceType": "Patient", "id": "p-1"})
        return self._json(404, {})

    def do_POST(self):
        s = self.state
        length = int(self.headers.get("Content-Length", 0))
        form = {k: v[0] for k, v in parse_qs(self.rfile.read(length).decode()).items()}
        basic = b64decode(self.headers["Authorization"].split()[1]).decode()
        if basic != f"{CLIENT_ID}:{s['secret']}":
            return self._json(401, {"error": "invalid_client"})
        if form["grant_type"] == "authorization_code":
            if form["code"] != s["code"] or code_challenge(form["code_verifier"]) != s["challenge"]:
                return self._json(400, {"error": "invalid_grant"})
            s["current"] = None
            return self._json(200, token_body(access_token="AT-loop-stale", refresh_token="RT-loop-1",
                                              id_token=s["id_token"]))
        if form["grant_type"] == "refresh_token" and form["refresh_token"] == "RT-loop-1":
            s["current"] = "AT-loop-fresh"
            return self._json(200, token_body(access_token="AT-loop-fresh", refresh_token="RT-loop-2"))
        return self._json(400, {"error": "invalid_grant"})


@contextmanager
def loopback_server():
    server = ThreadingHTTPServer(("127.0.0.1", 0), LoopbackEhr)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()
        thread.join()


def test_loopback_flow_logs_no_secret_even_in_urllib3(caplog, server_key, jwks):
    from .ehr import public_jwk
    caplog.set_level(logging.DEBUG)
    with loopback_server() as base, requests.Session() as session:
        iss = f"{base}/fhir"
        id_token = jwt.encode({"iss": base, "sub": "u", "aud": CLIENT_ID, "iat": 1, "exp": 2**31,
                               "fhirUser": "Practitioner/pr-9"}, server_key, algorithm="RS256",
                              headers={"kid": "srv-1"})
        LoopbackEhr.state = {"base": base, "jwks": {"keys": [public_jwk(server_key, "srv-1")]},
                             "secret": "SECRET-loop", "code": "CODE-loop", "id_token": id_token}
        smart = SmartClient(client_id=CLIENT_ID, redirect_uri=REDIRECT, scope=SCOPE, issuers=[iss],
                            client_auth=ClientSecretBasic(CLIENT_ID, "SECRET-loop"), session=session)
        url, pending = smart.authorize(iss, launch="LAUNCH-loop")
        LoopbackEhr.state["challenge"] = parse_qs(urlsplit(url).query)["code_challenge"][0]
        tokens = smart.complete(pending, {"state": pending.state, "code": "CODE-loop"})
        assert tokens.fhir_user == "Practitioner/pr-9"
        auth = BearerAuth(tokens, smart.refresh)
        patient = FhirClient(iss, auth=auth, session=session).read("Patient", "p-1")
        assert patient["id"] == "p-1" and auth.token_set.refresh_token == "RT-loop-2"
    urllib3_lines = [r for r in caplog.records if r.name.startswith("urllib3")]
    assert any("/token" in r.getMessage() for r in urllib3_lines)
    basic = ClientSecretBasic(CLIENT_ID, "SECRET-loop")
    header = {}
    basic.apply({}, header, "")
    assert_absent(logged_text(caplog), [
        pending.state, pending.code_verifier, "CODE-loop", "SECRET-loop", header["Authorization"].split()[1],
        "AT-loop-stale", "AT-loop-fresh", "RT-loop-1", "RT-loop-2", id_token, "LAUNCH-loop",
    ])
