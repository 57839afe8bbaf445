"""The page of one saved record: its summary, printable, read in one FHIR request.

The record, its author and its patient come back from one search
(``QuestionnaireResponse?_id=…&_include=…:author&_include=…:subject``), so a
record page costs at most one request, whoever wrote it and whether or not this
launch has read the Patient yet. A server that refuses the includes is asked
again with a plain read (the author is then named by the response's own
``author.display``, or by its reference).
"""

from __future__ import annotations

import logging
from typing import Mapping

from flask import abort, g, render_template

from fhir_mbt.client import InvalidResource, RateLimited, RequestRejected
from fhir_mbt.content import shipped, terminology
from smart_app.dashboard_data import patient_summary, questionnaire_id
from smart_app.form_save import EDITABLE, FINAL, can_write
from smart_app.patient_context import banner, remember
from smart_app.patient_data import MalformedRecord, check_response_shape
from smart_app.record_summary import questionnaire_of, render, summarize

__all__ = ["read_record", "show", "render_record"]

log = logging.getLogger(__name__)
_ID_CHARS = frozenset("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-.")


def _key(resource: Mapping) -> str:
    return f"{resource.get('resourceType')}/{resource.get('id')}"


def read_record(rid: str) -> tuple[dict, dict[str, dict]]:
    """The launch patient's response ``rid`` and the resources read with it (``Type/id`` → resource).

    404 when there is no such record for this patient; :class:`MalformedRecord`
    when the server's resource is not a record of one of this app's forms.
    """
    if not rid or len(rid) > 64 or not set(rid) <= _ID_CHARS:
        abort(404, description="There is no such record.")
    # The subject is named too: a patient-scoped token may search only within its patient's compartment.
    params = [("_id", rid), ("subject", f"Patient/{g.tokens.patient}"), ("_include", "QuestionnaireResponse:author"),
              ("_include", "QuestionnaireResponse:subject")]
    response, resources = None, {}
    try:
        bundle = next(g.fhir.pages("QuestionnaireResponse", params))
        for entry in bundle.get("entry") or []:
            resource = entry.get("resource") if isinstance(entry, Mapping) else None
            if not isinstance(resource, dict):
                continue
            if resource.get("resourceType") == "QuestionnaireResponse" and resource.get("id") == rid:
                response = resource
            elif isinstance(resource.get("resourceType"), str) and isinstance(resource.get("id"), str):
                resources[_key(resource)] = resource
    except (InvalidResource, RequestRejected) as exc:
        if isinstance(exc, RateLimited):
            raise
        log.info("the server refused the record search (%s); reading the record alone", type(exc).__name__)
        response = g.fhir.read("QuestionnaireResponse", rid)
    if response is None:
        abort(404, description="There is no such record.")
    check_response_shape(response)
    if questionnaire_id(response) not in terminology.QUESTIONNAIRES:
        raise MalformedRecord(f"QuestionnaireResponse/{rid} is not one of this app's forms")
    if (response.get("subject") or {}).get("reference", "").split("/_history/")[0] != f"Patient/{g.tokens.patient}":
        abort(404, description="There is no such record for this patient.")
    return response, resources


def show(rid: str):
    """The record page: the summary of ``rid``, with Print and Amend (or Resume)."""
    response, resources = read_record(rid)
    patient = resources.get(f"Patient/{g.tokens.patient}")
    if patient is not None:
        remember(patient_summary(patient))
    return render_record(response, resources)


def render_record(response: dict, resources: Mapping[str, dict], *, earlier: dict | None = None):
    """The summary page of ``response``; an ``earlier`` version (its place in the history) is read-only."""
    person = banner()
    questionnaire = questionnaire_of(response, shipped())
    if questionnaire is None:
        raise MalformedRecord(f"QuestionnaireResponse/{response.get('id')} names no Questionnaire this app has")
    summary = summarize(questionnaire, response, resources=resources, patient_name=person.get("name", ""))
    return render_template("response.html", summary=summary, summary_html=render(summary), response=response,
                           can_write=can_write() and response.get("status") in EDITABLE and earlier is None,
                           final=response.get("status") in FINAL, ctx=g.tokens.context, patient=person,
                           earlier=earlier)
