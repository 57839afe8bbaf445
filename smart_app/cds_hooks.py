"""The CDS Hooks 2.0 service: MBT's risk and due measures as cards in the EHR's own chart.

    GET  /cds-services                          discovery (public: it names no patient)
    POST /cds-services/mbt-patient-view         the patient-view hook → {"cards": [...]}
    POST /cds-services/mbt-patient-view/feedback  accepted, logged (card, outcome, reason code)

Every POST carries the EHR's signed JWT, checked by
:class:`fhir_mbt.cds.client_auth.ClientVerifier` against ``MBT_CDS_CLIENTS``
(issuer → JWKS URL) with ``aud`` = the URL called (from ``MBT_CDS_BASE_URL``
when set); anything else is 401. The record comes from the prefetch, else is
read from ``fhirServer`` with ``fhirAuthorization`` within
``MBT_CDS_TIME_BUDGET`` seconds; a record that cannot be read gives a card
saying so, never a 500. ``fhirAuthorization`` is used for that read and
never logged, stored or echoed. The card rules are :mod:`fhir_mbt.cds.cards`.
"""

from __future__ import annotations

import logging
import re
import time

from flask import Blueprint, current_app, jsonify, request, url_for

from fhir_mbt.cds import data as cds_data
from fhir_mbt.cds.cards import Links, Settings, patient_cards, unreadable_card
from fhir_mbt.cds.client_auth import ClientNotTrusted, ClientVerifier

__all__ = ["bp", "SERVICE_ID", "discovery"]

bp = Blueprint("cds_hooks", __name__, url_prefix="/cds-services")
log = logging.getLogger(__name__)

SERVICE_ID = "mbt-patient-view"
HOOK = "patient-view"
_ID = re.compile(r"^[A-Za-z0-9\-.]{1,64}$")
_OUTCOMES = ("accepted", "overridden")


def discovery() -> dict:
    return {"services": [{
        "hook": HOOK,
        "id": SERVICE_ID,
        "title": "MBT: risk and due measures",
        "description": ("Cards for a patient in Mentalization-Based Treatment: risk reported in a check-in or "
                        "session record and not yet followed up (critical); no attended session for some "
                        "weeks, RFQ-8 review due (warning). No card when nothing needs attention."),
        "prefetch": dict(cds_data.PREFETCH),
        "usageRequirements": ("Prefetch, or fhirServer with fhirAuthorization granting read of the patient's "
                              "QuestionnaireResponse and Task resources; a JWT from a registered issuer."),
    }]}


def _verifier() -> ClientVerifier:
    verifier = current_app.extensions.get("mbt.cds_verifier")
    if verifier is None:
        # Used jtis are kept in the session store's database, which every worker shares: a replay
        # to another worker is refused too.
        options = {"first_use": current_app.session_interface.store.first_use,
                   **current_app.config.get("MBT_CDS_VERIFIER_OPTIONS", {})}
        verifier = current_app.extensions["mbt.cds_verifier"] = ClientVerifier(
            current_app.config["MBT_CDS_CLIENTS"], **options)
    return verifier


def _public_url(path: str) -> str:
    base = current_app.config.get("MBT_CDS_BASE_URL")
    return f"{base.rstrip('/')}{path}" if base else request.host_url.rstrip("/") + path


def _refused(why: str):
    log.warning("CDS Hooks request refused: %s", why)
    response = jsonify({"error": "unauthorized"})
    response.status_code = 401
    response.headers["WWW-Authenticate"] = 'Bearer realm="cds-services"'
    return response


def _trusted() -> dict | None:
    try:
        return _verifier().verify(request.headers.get("Authorization"), _public_url(request.path))
    except ClientNotTrusted as exc:
        request.environ["mbt.cds_refusal"] = str(exc)
        return None


def _links() -> Links:
    base = current_app.config.get("MBT_CDS_BASE_URL")
    launch = f"{base.rstrip('/')}/launch" if base else url_for("launch.launch", _external=True)
    return Links(launch_url=launch)


def _settings() -> Settings:
    cfg = current_app.config
    return Settings(session_gap_weeks=cfg["MBT_CDS_SESSION_GAP_WEEKS"], rfq8_interval_weeks=cfg["MBT_CDS_RFQ8_WEEKS"])


def _bad(message: str, status: int = 400):
    response = jsonify({"error": message})
    response.status_code = status
    return response


@bp.before_request
def _body_limit():
    """A prefetched record of years is megabytes: more than a form post, read only once the JWT is checked."""
    request.max_content_length = current_app.config["MBT_CDS_MAX_BODY"]


@bp.errorhandler(413)
def _too_large(_exc):
    return _bad("the request is larger than this service accepts", 413)


@bp.get("")
def services():
    return jsonify(discovery())


@bp.post(f"/{SERVICE_ID}")
def patient_view():
    started = time.perf_counter()
    if _trusted() is None:
        return _refused(request.environ.get("mbt.cds_refusal", ""))
    body = request.get_json(silent=True)
    if not isinstance(body, dict) or body.get("hook") != HOOK:
        return _bad("expected a patient-view hook request")
    context = body.get("context")
    patient = context.get("patientId") if isinstance(context, dict) else None
    if not isinstance(patient, str) or not _ID.match(patient):
        return _bad("context.patientId must be a FHIR id")
    links = _links()
    try:
        record = cds_data.gather(body, patient, budget=current_app.config["MBT_CDS_TIME_BUDGET"],
                                 session=current_app.config.get("MBT_CDS_HTTP_SESSION"))
        cards = patient_cards(record.responses, record.tasks, patient, links=links, settings=_settings())
        prefetch = body.get("prefetch")
        source = "prefetch" if isinstance(prefetch, dict) and isinstance(prefetch.get(cds_data.PREFETCH_KEY), dict) \
            else "fhirServer"
    except cds_data.NoData as exc:
        log.info("patient-view: no data to read (%s)", exc)
        return _bad("no prefetch, and no fhirServer with fhirAuthorization", 412)
    except cds_data.Unavailable as exc:
        log.warning("patient-view: record unreadable: %s", exc)
        cards, source = [unreadable_card(links, "The patient's MBT record could not be read in time.")], "failed"
    except Exception:  # noqa: BLE001 - a malformed record must give a card, never a 500 in the EHR
        log.exception("patient-view: cards could not be made")
        cards, source = [unreadable_card(links, "The patient's MBT record could not be understood.")], "failed"
    log.info("patient-view: %d card(s) from %s in %.0f ms", len(cards), source,
             (time.perf_counter() - started) * 1000)
    return jsonify({"cards": cards})


@bp.post(f"/{SERVICE_ID}/feedback")
def feedback():
    if _trusted() is None:
        return _refused(request.environ.get("mbt.cds_refusal", ""))
    body = request.get_json(silent=True)
    items = body.get("feedback") if isinstance(body, dict) else None
    if not isinstance(items, list):
        return _bad("expected {\"feedback\": [...]}")
    for item in items[:50]:
        if not isinstance(item, dict):
            continue
        outcome = item.get("outcome") if item.get("outcome") in _OUTCOMES else "unknown"
        reason = (item.get("overrideReason") or {}).get("reason") if isinstance(item.get("overrideReason"), dict) else None
        code = reason.get("code") if isinstance(reason, dict) else None
        log.info("CDS feedback: card %s %s%s", str(item.get("card", ""))[:64], outcome,
                 f" (reason {str(code)[:64]})" if code else "")
    return jsonify({})
