"""The FHIR endpoint apps see: a reverse proxy to the upstream server.

Every request needs a live Bearer token issued by the sandbox, except the
CapabilityStatement (``/fhir/metadata``), which gains the SMART security
block. The token's scopes are enforced as :mod:`ehr_sandbox.access`
describes; the request then goes upstream with its method, query, body and
FHIR headers, and comes back with the upstream base rewritten to the
sandbox's and anything the token may not read withheld.
"""

from __future__ import annotations

import json
import logging
from typing import Any
from urllib.parse import parse_qsl, urlsplit

from flask import Blueprint, Response, request

from ehr_sandbox import limits
from ehr_sandbox.access import Interaction, Policy, Refused, classify, entry_interaction, outcome
from ehr_sandbox.scopes import Granted
from ehr_sandbox.services import Sandbox, sandbox
from ehr_sandbox.upstream import REQUEST_HEADERS, RESPONSE_HEADERS, UpstreamUnavailable

__all__ = ["bp"]

log = logging.getLogger("ehr_sandbox")
bp = Blueprint("proxy", __name__)

FHIR_JSON = "application/fhir+json"
OAUTH_URIS = "http://fhir-registry.smarthealthit.org/StructureDefinition/oauth-uris"
METHODS = ["GET", "POST", "PUT", "PATCH", "DELETE"]
_READS = ("read", "search", "operation", "page")


def _fhir_error(status: int, code: str, text: str, headers: dict[str, str] | None = None) -> Response:
    response = Response(json.dumps(outcome(code, text)), status=status, content_type=FHIR_JSON)
    for name, value in (headers or {}).items():
        response.headers[name] = value
    return response


def _refused(exc: Refused) -> Response:
    headers = {}
    if exc.insufficient_scope:
        headers["WWW-Authenticate"] = 'Bearer error="insufficient_scope"'
    code = {400: "invalid", 406: "not-supported", 415: "not-supported"}.get(exc.status, "forbidden")
    return _fhir_error(exc.status, code, str(exc), headers)


def _bearer(sb: Sandbox) -> tuple[Policy, str] | None:
    scheme, _, token = request.headers.get("Authorization", "").partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        return None
    found = sb.store.access(token.strip())
    if found is None:
        return None
    access, grant = found
    return Policy(Granted(access.scopes), grant.context, grant.pages), grant.grant_id


def _wants_xml(params: list[tuple[str, str]]) -> bool:
    formats = [v for k, v in params if k == "_format"]
    accept = request.headers.get("Accept", "")
    return any("xml" in f for f in formats) or ("xml" in accept and "json" not in accept)


@bp.route("/fhir", methods=METHODS, defaults={"path": ""}, strict_slashes=False)
@bp.route("/fhir/<path:path>", methods=METHODS)
def fhir(path: str):
    sb = sandbox()
    if path == "metadata" and request.method == "GET":
        return _forward(sb, path, list(request.args.items(multi=True)), metadata=True)
    found = _bearer(sb)
    if found is None:
        return _fhir_error(401, "login", "a valid Bearer token from this sandbox is required",
                           {"WWW-Authenticate": 'Bearer realm="ehr-sandbox"'})
    policy, grant_id = found
    request.get_data()  # cached, so reading the form below leaves the body to forward
    params = list(request.args.items(multi=True))
    try:
        if _wants_xml(params):
            raise Refused("the sandbox serves FHIR JSON only", 406)
        interaction = classify(request.method, path, params)
        if interaction.kind == "search" and request.method == "POST":
            interaction = Interaction("search", interaction.resource_type,
                                      params=tuple(params) + tuple(request.form.items(multi=True)))
        body = _json_body(interaction)
        limits.check_request(request.method, path, params, request.headers, body)
        only = None
        if interaction.kind == "bundle":
            checks, only = _check_bundle(sb, policy, body)
        else:
            checks = policy.check(interaction, body)
        for stored_path in checks:
            stored = sb.upstream.read_json(stored_path)
            if "?" in stored_path:
                # A conditional update: every resource the condition matches now must be in reach.
                if stored is None or stored.get("resourceType") != "Bundle":
                    raise Refused(f"the condition of {stored_path.split('?')[0]} could not be checked", 400)
                matches = [e.get("resource") for e in stored.get("entry") or []]
            else:
                matches = [stored]
            if not all(policy.in_compartment(m) for m in matches):
                raise Refused(f"{stored_path.split('?')[0]} belongs to another patient")
    except Refused as exc:
        log.info("refused %s %s: %s", request.method, request.path, exc)
        return _refused(exc)
    except UpstreamUnavailable as exc:
        return _fhir_error(504 if exc.timeout else 502, "transient", str(exc))
    return _forward(sb, path, params, policy=policy, grant_id=grant_id,
                    interaction=interaction, only=only)


def _json_body(interaction: Interaction) -> Any:
    if interaction.kind not in ("create", "update", "bundle") or interaction.patch:
        return None
    content_type = request.headers.get("Content-Type", "")
    if "json" not in content_type:
        raise Refused("write bodies must be FHIR JSON", 415)
    try:
        return json.loads(request.get_data(as_text=True) or "null")
    except ValueError:
        raise Refused("the body is not JSON", 400) from None


def _check_bundle(sb: Sandbox, policy: Policy, bundle: Any) -> tuple[list[str], set[int]]:
    if not isinstance(bundle, dict) or bundle.get("resourceType") != "Bundle" \
            or bundle.get("type") not in ("batch", "transaction"):
        raise Refused("POST to the base takes a batch or transaction Bundle", 400)
    checks, reads = [], set()
    for index, entry in enumerate(bundle.get("entry") or []):
        interaction = entry_interaction(entry, sb.fhir_base)
        checks += policy.check(interaction, entry.get("resource"))
        if interaction.kind in _READS:
            reads.add(index)
    return checks, reads


def _forward(sb: Sandbox, path: str, params: list[tuple[str, str]], *, metadata: bool = False,
             policy: Policy | None = None, grant_id: str | None = None,
             interaction: Interaction | None = None, only: set[int] | None = None) -> Response:
    upstream = sb.upstream
    headers = {name: request.headers[name] for name in REQUEST_HEADERS if name in request.headers}
    body = request.get_data() or None
    if body is not None and upstream.is_text(headers.get("Content-Type")):
        body = upstream.to_upstream(body.decode("utf-8", errors="replace")).encode("utf-8")
    try:
        answer = upstream.request(request.method, path, params=params, headers=headers, body=body)
    except UpstreamUnavailable as exc:
        return _fhir_error(504 if exc.timeout else 502, "transient", str(exc))
    content = answer.content
    content_type = answer.headers.get("Content-Type")
    if upstream.is_text(content_type):
        text = upstream.to_public(content.decode(answer.encoding or "utf-8", errors="replace"))
        if "json" in (content_type or "") and 200 <= answer.status_code < 300:
            text = _json_out(sb, text, metadata, policy, grant_id, interaction, only)
            if isinstance(text, Response):
                return text
        content = text.encode("utf-8")
    response = Response(content, status=answer.status_code)
    for name in RESPONSE_HEADERS:
        value = answer.headers.get(name)
        if value is not None:
            response.headers[name] = upstream.to_public(value) if "Location" in name else value
    if content_type and upstream.is_text(content_type) and "charset" not in content_type:
        response.headers["Content-Type"] = f"{content_type}; charset=utf-8"
    log.info("%s %s -> %s", request.method, request.path, answer.status_code)
    return response


def _json_out(sb: Sandbox, text: str, metadata: bool, policy: Policy | None, grant_id: str | None,
              interaction: Interaction | None, only: set[int] | None) -> str | Response:
    try:
        body = json.loads(text)
    except ValueError:
        return text
    if not isinstance(body, dict):
        return text
    if metadata:
        _add_security(sb, body)
        limits.limit_capability(body)
        return json.dumps(body, ensure_ascii=False)
    if policy is None or interaction is None:
        return text
    kind = interaction.kind
    if kind not in _READS and kind != "bundle":
        return text
    if body.get("resourceType") == "Bundle":
        sb.store.remember_pages(grant_id, _page_ids(body))
        withheld = policy.filter_bundle(body, only if kind == "bundle" else None)
        if withheld:
            log.info("withheld %d resource(s) outside the granted scopes", withheld)
    elif not policy.readable(body):
        return _refused(Refused("the resource is outside the scopes granted to this token"))
    return json.dumps(body, ensure_ascii=False)


def _page_ids(bundle: dict[str, Any]) -> set[str]:
    ids = set()
    for link in bundle.get("link") or []:
        url = link.get("url") if isinstance(link, dict) else None
        if isinstance(url, str):
            ids |= {v for k, v in parse_qsl(urlsplit(url).query) if k == "_getpages"}
    return ids


def _add_security(sb: Sandbox, capability: dict[str, Any]) -> None:
    if capability.get("resourceType") != "CapabilityStatement":
        return
    security = {
        "service": [{"coding": [{
            "system": "http://terminology.hl7.org/CodeSystem/restful-security-service",
            "code": "SMART-on-FHIR",
        }]}],
        "extension": [{"url": OAUTH_URIS, "extension": [
            {"url": "authorize", "valueUri": sb.url("/authorize")},
            {"url": "token", "valueUri": sb.url("/token")},
        ]}],
    }
    for rest in capability.get("rest") or []:
        if isinstance(rest, dict):
            rest["security"] = security
