"""The EHR's side of CDS Hooks: opening a patient's chart calls the registered services and shows their cards.

    GET /chart?patient=&practitioner=   discovery → for each patient-view service:
        prefetch (its templates, run on the upstream server, base rewritten to the sandbox's)
        + fhirServer and a short-lived fhirAuthorization token (read-only, this patient)
        + a JWT signed with the sandbox's key (RS256, kid; its JWKS at /jwks), aud = the service URL
      → the cards above the Launch button; a card's SMART link launches the app for this patient
    POST /chart/feedback                "Dismiss" sends an ``overridden`` feedback for that card

Services are found at ``SANDBOX_CDS_SERVICES`` (a CDS base URL, e.g. the
app's). A service that fails or is slow is named on the page; the chart
still opens.
"""

from __future__ import annotations

import datetime as _dt
import json
import logging
import re
import time
import uuid
from typing import Any
from urllib.parse import parse_qsl

import requests
from flask import Blueprint, abort, render_template, request
from markupsafe import Markup, escape

from ehr_sandbox.directory import display_name
from ehr_sandbox.services import Sandbox, sandbox
from ehr_sandbox.store import Context
from ehr_sandbox.upstream import UpstreamUnavailable

__all__ = ["bp", "call_services"]

log = logging.getLogger("ehr_sandbox")
bp = Blueprint("chart", __name__)

_ID = re.compile(r"[A-Za-z0-9\-.]{1,64}")
_SERVICE_ID = re.compile(r"[A-Za-z0-9\-._]{1,64}")
CDS_SCOPES = ("patient/Patient.rs", "patient/QuestionnaireResponse.rs", "patient/Task.rs", "patient/Flag.rs")
TOKEN_LIFETIME = 300
JWT_LIFETIME = 120
_ORDER = {"critical": 0, "warning": 1, "info": 2}


def client_jwt(sb: Sandbox, audience: str) -> str:
    now = int(time.time())
    return sb.key.sign({"iss": sb.issuer, "aud": audience, "iat": now, "exp": now + JWT_LIFETIME,
                        "jti": str(uuid.uuid4())})


def _prefetch(sb: Sandbox, templates: Any, context: dict[str, str]) -> dict[str, Any]:
    """Each template the sandbox can satisfy, as the service would get it from the sandbox's FHIR base."""
    out: dict[str, Any] = {}
    if not isinstance(templates, dict):
        return out
    for key, template in templates.items():
        if not isinstance(template, str):
            continue
        query = template
        for name, value in context.items():
            query = query.replace("{{context.%s}}" % name, value)
        query = query.replace("{{userPractitionerId}}", context.get("userId", "").partition("/")[2])
        if "{{" in query:
            continue  # a token this EHR does not know: not sent, the service reads for itself
        path, _, params = query.partition("?")
        try:
            answer = sb.upstream.request("GET", path, params=parse_qsl(params, keep_blank_values=True),
                                         headers={"Accept": "application/fhir+json"})
        except UpstreamUnavailable:
            continue
        if answer.status_code == 404:
            out[key] = None
        elif answer.status_code == 200:
            try:
                out[key] = json.loads(sb.upstream.to_public(answer.text))
            except ValueError:
                continue
    return out


def _authorization(sb: Sandbox, service_id: str, context: Context) -> dict[str, Any]:
    grant = sb.store.add_grant(None, client_id=f"cds-service:{service_id}", scopes=CDS_SCOPES, context=context,
                               nonce=None)
    token, _ = sb.store.issue(grant, CDS_SCOPES, TOKEN_LIFETIME, with_refresh=False)
    return {"access_token": token, "token_type": "Bearer", "expires_in": TOKEN_LIFETIME,
            "scope": " ".join(CDS_SCOPES), "subject": f"cds-service:{service_id}", "patient": context.patient}


def _cards(body: Any) -> list[dict[str, Any]]:
    cards = body.get("cards") if isinstance(body, dict) else None
    found = []
    for card in cards if isinstance(cards, list) else []:
        if isinstance(card, dict) and isinstance(card.get("summary"), str) and card.get("indicator") in _ORDER:
            found.append(card)
    return found


def call_services(sb: Sandbox, context: Context) -> tuple[list[dict[str, Any]], list[str]]:
    """(cards from every patient-view service, problems met) for opening ``context.patient``'s chart."""
    if not sb.cds_base:
        return [], []
    base = f"{sb.cds_base}/cds-services"
    problems: list[str] = []
    try:
        answer = sb.cds_session.get(base, timeout=sb.cds_timeout,
                                    headers={"Authorization": f"Bearer {client_jwt(sb, base)}"})
        services = answer.json().get("services", []) if answer.status_code == 200 else None
    except (requests.RequestException, ValueError, AttributeError):
        services = None
    if not isinstance(services, list):
        return [], [f"The CDS services at {base} could not be listed."]
    ctx = {"patientId": context.patient or ""}
    if context.practitioner:
        ctx["userId"] = f"Practitioner/{context.practitioner}"
    cards = []
    for service in services:
        if not isinstance(service, dict) or service.get("hook") != "patient-view" \
                or not _SERVICE_ID.fullmatch(str(service.get("id", ""))):
            continue
        url = f"{base}/{service['id']}"
        body = {"hook": "patient-view", "hookInstance": str(uuid.uuid4()), "context": ctx,
                "fhirServer": sb.fhir_base, "fhirAuthorization": _authorization(sb, service["id"], context)}
        prefetched = _prefetch(sb, service.get("prefetch"), ctx)
        if prefetched:
            body["prefetch"] = prefetched
        started = time.monotonic()
        try:
            answer = sb.cds_session.post(url, json=body, timeout=sb.cds_timeout,
                                         headers={"Authorization": f"Bearer {client_jwt(sb, url)}"})
            found = _cards(answer.json()) if answer.status_code == 200 else None
        except (requests.RequestException, ValueError):
            found = None
        log.info("CDS service %s answered in %.0f ms", service["id"], (time.monotonic() - started) * 1000)
        if found is None:
            problems.append(f"The CDS service {service.get('title') or service['id']} did not answer.")
            continue
        for card in found:
            card["_service"] = service["id"]
        cards.extend(found)
    cards.sort(key=lambda c: _ORDER[c["indicator"]])
    return cards, problems


def markdown(text: Any) -> Markup:
    """The small part of Markdown cards use (paragraphs, ``- `` lists, ``**bold**``, backslash escapes),
    with everything else shown as text: nothing from a card becomes HTML of its own."""
    html, items = [], []
    for block in str(text or "").split("\n\n"):
        lines = [line for line in block.split("\n") if line.strip()]
        if lines and all(line.startswith("- ") for line in lines):
            items = [f"<li>{_inline(line[2:])}</li>" for line in lines]
            html.append("<ul>" + "".join(items) + "</ul>")
        elif lines:
            html.append("<p>" + "<br>".join(_inline(line) for line in lines) + "</p>")
    return Markup("".join(html))


def _inline(text: str) -> str:
    parts = re.split(r"(\\.)", text)  # keep escaped characters out of the bold pattern
    out, escaped = [], []
    for part in parts:
        if len(part) == 2 and part.startswith("\\"):
            escaped.append(part[1])
            out.append(f"\x00{len(escaped) - 1}\x00")
        else:
            out.append(part)
    joined = str(escape("".join(out)))
    joined = re.sub(r"\*\*(.+?)\*\*", r"<strong>\1</strong>", joined)
    return re.sub("\x00(\\d+)\x00", lambda m: str(escape(escaped[int(m.group(1))])), joined)


def _safe_url(url: Any) -> str | None:
    return url if isinstance(url, str) and url.startswith(("https://", "http://")) else None


@bp.get("/chart")
def chart():
    sb = sandbox()
    patient = request.args.get("patient", "").strip()
    practitioner = request.args.get("practitioner", "").strip() or None
    if not _ID.fullmatch(patient) or (practitioner and not _ID.fullmatch(practitioner)):
        abort(400, description="Choose a patient (and practitioner) by FHIR id.")
    resource = None
    try:
        resource = sb.upstream.read_json(f"Patient/{patient}")
    except UpstreamUnavailable:
        pass
    name = display_name(resource) if resource else f"Patient/{patient}"
    cards, problems = call_services(sb, Context(patient=patient, practitioner=practitioner))
    return render_template("chart.html", patient=patient, practitioner=practitioner or "", name=name,
                           cards=cards, problems=problems, safe_url=_safe_url, markdown=markdown,
                           app_launch_url=request.args.get("app_launch_url") or sb.app_launch_url)


@bp.post("/chart/feedback")
def feedback():
    sb = sandbox()
    service, card = request.form.get("service", ""), request.form.get("card", "")
    if not sb.cds_base or not _SERVICE_ID.fullmatch(service) or not re.fullmatch(r"[A-Za-z0-9\-]{1,64}", card):
        abort(400, description="Unknown card.")
    url = f"{sb.cds_base}/cds-services/{service}/feedback"
    when = _dt.datetime.now(_dt.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")
    try:
        sb.cds_session.post(url, json={"feedback": [{"card": card, "outcome": "overridden", "outcomeTimestamp": when}]},
                            timeout=sb.cds_timeout, headers={"Authorization": f"Bearer {client_jwt(sb, url)}"})
    except requests.RequestException:
        log.warning("CDS feedback could not be sent to %s", service)
    return render_template("error.html", message="The card was dismissed; the service was told."), 200
