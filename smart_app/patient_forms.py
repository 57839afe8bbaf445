"""A patient answers their weekly check-in or RFQ-8: draft, resume, send.

The same renderer and engine as the clinicians' forms (questionnaire_form →
validate → score → extract → one transaction), with what differs for a
patient: the response's ``author`` and ``source`` are the Patient (so the
Observations' ``performer`` is too); only the patient forms open, and only
the patient's own drafts resume; answers to items a patient never sees
(score groups, calculated or read-only items) are dropped from the post,
never trusted; every message is plain language and the answers stay on the
page; and a check-in that reports risk writes a Flag and a Task for the care
team in the same transaction (:mod:`fhir_mbt.engine.care_team`), then shows
the emergency line and the patient's crisis plan at once.
"""

from __future__ import annotations

import datetime as dt
import logging
import re
import uuid

from flask import Blueprint, abort, flash, g, redirect, render_template, request, session, url_for

from fhir_mbt.client import FhirError, VersionConflict
from fhir_mbt.content import shipped, terminology
from fhir_mbt.engine import RESPONSE_IDENTIFIER_SYSTEM, ResponseError, apply_scores, extract, transaction_bundle
from fhir_mbt.engine.care_team import care_team_entries, reported_risk, urgent
from fhir_mbt.engine.validate import validate_response
from smart_app import ehr, saving
from smart_app.dashboard_data import questionnaire_id
from smart_app.patient_access import patient_only
from smart_app.patient_data import check_response_shape
from smart_app.patient_portal import current_crisis_plan
from smart_app.patient_record import PATIENT_FORMS, is_own
from smart_app.form_messages import field_errors
from smart_app.form_post import FormError, overlay_post, parse_form
from smart_app.questionnaire_form import build_form, walk_fields

__all__ = ["bp"]

bp = Blueprint("patient_forms", __name__, url_prefix="/me/forms")
log = logging.getLogger(__name__)

MAX_TEXT = 2000
MAX_FIELDS = 500
MAX_SUBMISSIONS = 20
_VERSION = re.compile(r"^[A-Za-z0-9.\-]{1,64}$")
_RID = re.compile(r"^[A-Za-z0-9\-.]{1,64}$")


def _now() -> str:
    return dt.datetime.now(dt.timezone.utc).replace(microsecond=0).isoformat().replace("+00:00", "Z")


class _NotForPatients(Exception):
    """A form that only clinicians fill in was asked for."""


def _questionnaire(qid: str) -> dict:
    if qid in terminology.QUESTIONNAIRES and qid not in PATIENT_FORMS:
        raise _NotForPatients(qid)
    if qid not in PATIENT_FORMS:
        abort(404)
    return shipped().get(terminology.questionnaire_url(qid))


def _error(title: str, message: str, status: int):
    return render_template("patient/error.html", title=title, message=message, ctx=None), status


@bp.errorhandler(_NotForPatients)
def _not_for_patients(_exc):
    return _error("This form is for your care team",
                  "Only the clinicians who look after you fill in this form, so it cannot be opened or sent from "
                  "your sign-in. Nothing was shown or saved.", 403)


@bp.errorhandler(404)
def _not_found(_exc):
    return _error("Not found", "There is nothing here for you. It may have been sent already, or the link is "
                  "wrong. Go back to your home page.", 404)


@bp.errorhandler(413)
def _too_large(_exc):
    return _error("That was too much to send", "What you typed was far too long to send, so nothing was saved. "
                  f"Please go back, shorten your answers (at most {MAX_TEXT} characters each) and send again.", 413)


def _me() -> dict:
    return {"reference": f"Patient/{g.patient_id}"}


def _fields(questionnaire: dict, response: dict | None = None):
    fields = build_form(questionnaire, shipped(), response)
    for f in walk_fields(fields):
        if f.type in ("text", "string") and not f.max_length:
            f.max_length = MAX_TEXT
    return fields


def _posted(questionnaire: dict) -> dict[str, list[str]]:
    """The answers posted for questions a patient can see and answer; nothing else is read."""
    if len(request.form) > MAX_FIELDS:
        abort(413)
    hidden_names = set()
    answerable = set()
    for f in walk_fields(_fields(questionnaire)):
        if f.hidden or f.calculated or f.read_only:
            hidden_names.add(f.name)
            for instance in f.instances:
                hidden_names.update(c.name for c in walk_fields(instance))
        elif f.type not in ("group", "display"):
            answerable.update((f.name, f.name + ".other"))
    return {k: request.form.getlist(k) for k in request.form
            if k in answerable and k not in hidden_names}


def _plain(message: str, field) -> str:
    text = message.lower()
    if field is not None:  # the question's own words must not be read as the kind of problem
        text = text.replace(field.label.lower(), "")
    if "section needs answers" in text or (field is not None and field.type == "group"):
        return "Please answer the questions in this part."
    if "needs an answer" in text or "not answered" in text or "required" in text:
        return "Please answer this question."
    if field is not None and field.type in ("integer", "decimal") and (
            field.min is not None or field.max is not None) and ("number" in text or "min" in text or "max" in text
                                                                  or "below" in text or "above" in text):
        low = field.min if field.min is not None else 0
        return f"Please enter a number from {low} to {field.max}." if field.max is not None else \
            f"Please enter a number of at least {low}."
    if "whole number" in text:
        return "Please enter a whole number, like 3."
    if "listed answers" in text or "not in" in text or "valueset" in text:
        return "Please choose one of the answers shown."
    if "characters" in text or "too long" in text or "maxlength" in text:
        return f"This answer is too long: please keep it under {MAX_TEXT} characters."
    if "yes or no" in text:
        return "Please answer yes or no."
    return "Please check this answer."


def _plain_errors(questionnaire: dict, errors: dict[str, str]) -> dict[str, str]:
    by_name = {f.name: f for f in walk_fields(_fields(questionnaire))}
    return {name: _plain(message, by_name.get(name)) for name, message in errors.items()}


def _too_long(posted: dict[str, list[str]]) -> dict[str, str]:
    return {name: f"This answer is too long: please keep it under {MAX_TEXT} characters."
            for name, values in posted.items() if any(len(v) > MAX_TEXT for v in values)}


def _render(questionnaire, fields, *, action, submission_id, version_id=None, status=200, errors=False,
            general=(), risk=False):
    plan = current_crisis_plan()[0] if risk else None
    problems = [(f.text, "f-" + re.sub(r"[:/\[]", "-", f.name).replace("]", "")) for f in walk_fields(fields) if f.error]
    return render_template("patient/form.html", questionnaire=questionnaire, fields=fields, action=action,
                           submission_id=submission_id, version_id=version_id, form_errors=errors,
                           general_errors=list(general), problems=problems, risk=risk, crisis=plan,
                           ctx=None), status


# --- submission ids, bound to the session and the patient ---------------------------------


def _issue(qid: str, rid: str | None = None) -> str:
    sid = str(uuid.uuid4())
    issued = dict(session.get("patient_submissions", {}))
    issued[sid] = {"qid": qid, "patient": g.patient_id, "rid": rid, "at": _now()}
    for old in sorted(issued, key=lambda k: issued[k]["at"])[: max(0, len(issued) - MAX_SUBMISSIONS)]:
        issued.pop(old)
    session["patient_submissions"] = issued
    return sid


def _issued(sid: str, qid: str) -> dict | None:
    found = session.get("patient_submissions", {}).get(sid)
    return found if found and found["qid"] == qid and found["patient"] == g.patient_id else None


def _bind(sid: str, rid: str) -> None:
    issued = dict(session.get("patient_submissions", {}))
    if sid in issued:
        issued[sid] = {**issued[sid], "rid": rid}
        session["patient_submissions"] = issued


# --- routes --------------------------------------------------------------------------------


@bp.get("/<qid>/new")
@patient_only
def new(qid):
    questionnaire = _questionnaire(qid)
    return _render(questionnaire, _fields(questionnaire), action=url_for("patient_forms.new", qid=qid),
                   submission_id=_issue(qid))


def _load_own_draft(rid: str) -> dict:
    """The patient's own draft of a patient form, or 404: anything else is as if it did not exist."""
    if not _RID.match(rid):
        abort(404)
    try:
        response = check_response_shape(g.fhir.read("QuestionnaireResponse", rid))
    except (FhirError, ValueError):
        abort(404)
    if (questionnaire_id(response) not in PATIENT_FORMS or not is_own(response, g.patient_id)
            or response.get("status") != "in-progress"):
        abort(404)
    return response


@bp.get("/r/<rid>")
@patient_only
def resume(rid):
    draft = _load_own_draft(rid)
    questionnaire = _questionnaire(questionnaire_id(draft))
    return _render(questionnaire, _fields(questionnaire, draft), action=url_for("patient_forms.resume", rid=rid),
                   submission_id=(draft.get("identifier") or {}).get("value", ""),
                   version_id=(draft.get("meta") or {}).get("versionId"), risk=bool(reported_risk(draft)))


@bp.post("/<qid>/new")
@patient_only
def create(qid):
    questionnaire = _questionnaire(qid)
    sid = request.form.get("submission_id", "")
    issued = _issued(sid, qid)
    if issued is None:
        fields = overlay_post(_fields(questionnaire), _posted(questionnaire))
        return _render(questionnaire, fields, action=url_for("patient_forms.new", qid=qid), submission_id=_issue(qid),
                       status=400, errors=True, general=["This page had expired, so nothing was sent. Your answers "
                                                         "are below: please press the button again."])
    if issued.get("rid"):
        draft = _load_existing(issued["rid"])
        if draft is None:
            flash("Thank you: this was already sent.", "info")
            return redirect(url_for("patient.home"))
        return _save(questionnaire, draft, sid, (draft.get("meta") or {}).get("versionId"),
                     url_for("patient_forms.resume", rid=draft["id"]))
    return _save(questionnaire, None, sid, None, url_for("patient_forms.new", qid=qid))


def _load_existing(rid: str) -> dict | None:
    """The record this form already saved: its draft, or None once it was sent."""
    try:
        response = check_response_shape(g.fhir.read("QuestionnaireResponse", rid))
    except (FhirError, ValueError):
        abort(404)
    if not is_own(response, g.patient_id) or questionnaire_id(response) not in PATIENT_FORMS:
        abort(404)
    return response if response.get("status") == "in-progress" else None


@bp.post("/r/<rid>")
@patient_only
def update(rid):
    draft = _load_own_draft(rid)
    questionnaire = _questionnaire(questionnaire_id(draft))
    sent = request.form.get("version_id", "")
    current = (draft.get("meta") or {}).get("versionId")
    action = url_for("patient_forms.resume", rid=rid)
    sid = (draft.get("identifier") or {}).get("value", "")
    if not current or not _VERSION.match(sent) or sent != current:
        fields = overlay_post(_fields(questionnaire), _posted(questionnaire))
        return _render(questionnaire, fields, action=action, submission_id=sid, version_id=current, status=409,
                       errors=True, general=["This draft was changed somewhere else (another tab or device) after "
                                             "you opened it. Nothing was overwritten; your answers are below."])
    return _save(questionnaire, draft, sid, current, action)


def _save(questionnaire: dict, draft: dict | None, sid: str, version: str | None, action: str):
    if not (ehr.can("QuestionnaireResponse", "create") and ehr.can("Observation", "create")):
        return _render(questionnaire, overlay_post(_fields(questionnaire), _posted(questionnaire)), action=action,
                       submission_id=sid, version_id=version, status=403, errors=True,
                       general=["Your portal did not allow this app to save your answers. Nothing was sent."])
    index = shipped()
    posted = _posted(questionnaire)
    complete = request.form.get("action") == "complete"

    def again(errors: dict[str, str], general=(), status=422, risk=False):
        fields = overlay_post(_fields(questionnaire), posted, errors)
        return _render(questionnaire, fields, action=action, submission_id=sid, version_id=version, status=status,
                       errors=True, general=general, risk=risk)

    try:
        items = parse_form(questionnaire, posted, index)
        errors = {}
    except FormError as exc:
        items, errors = exc.items, _plain_errors(questionnaire, exc.errors)
    errors.update(_too_long(posted))
    response = {
        "resourceType": "QuestionnaireResponse",
        **({"id": draft["id"]} if draft else {}),
        "identifier": (draft or {}).get("identifier") or {"system": RESPONSE_IDENTIFIER_SYSTEM, "value": sid},
        "questionnaire": f"{questionnaire['url']}|{questionnaire['version']}",
        "status": "completed" if complete else "in-progress",
        "subject": _me(), "authored": _now(), "author": _me(), "source": _me(),
        **({"item": items} if items else {}),
    }
    findings = reported_risk(response, questionnaire) if complete else []
    if errors:
        return again(errors, risk=bool(findings))
    if complete:
        response = apply_scores(response, questionnaire, index)
    found, general = field_errors(validate_response(response, questionnaire, index), _fields(questionnaire), posted)
    if found or general:
        return again(_plain_errors(questionnaire, found),
                     ["Some answers need another look. Please check them and try again."] if general else [],
                     risk=bool(findings))
    if not complete:
        return _write(lambda: _write_draft(response, version), again, sid, response, findings=[])
    try:
        result = extract(response, questionnaire, index)
    except ResponseError:
        return again({}, ["Your answers could not be saved. Please check them and try again."], risk=bool(findings))
    bundle = transaction_bundle(result.response, result, now=_now())
    first = bundle["entry"][0]["request"]
    if draft:
        first["ifMatch"] = f'W/"{version}"'
    elif "ifNoneExist" in first:
        first["ifNoneExist"] += f"&subject=Patient/{g.patient_id}"
    alerted = bool(findings) and ehr.can("Flag", "create") and ehr.can("Task", "create")
    if alerted:
        bundle["entry"] += care_team_entries(result.response, findings, now=_now())
    return _write(lambda: _rid(g.fhir.transaction(bundle)), again, sid, result.response, findings=findings,
                  alerted=alerted)


def _rid(answer: dict) -> str | None:
    entries = answer.get("entry") or []
    location = (entries[0].get("response") or {}).get("location", "") if entries else ""
    match = re.search(r"QuestionnaireResponse/([A-Za-z0-9\-.]{1,64})", location)
    return match.group(1) if match else None


def _write_draft(response: dict, version: str | None) -> str | None:
    if response.get("id"):
        return g.fhir.update(response, if_match=version).id or response["id"]
    ident = response["identifier"]
    return g.fhir.create(response, if_none_exist={"identifier": f"{ident['system']}|{ident['value']}",
                                                  "subject": f"Patient/{g.patient_id}"}).id


NOT_SENT = ("We could not send your answers just now, so nothing was saved. Your answers are below: please try "
            "again in a moment.")
UNKNOWN = ("We could not tell whether your answers reached your care team. Your answers are below: sending them "
           "again is safe, they will not be saved twice.")


def _landed(response: dict) -> dict | None | bool:
    """After a failure that may have happened after the write: the stored record if it holds
    exactly these answers, None if it is not there (or differs), False if the server cannot say."""
    try:
        stored = saving.find(g.fhir, g.patient_id, response["identifier"])
    except FhirError:
        return False
    if stored and stored.get("status") == response["status"] and saving.same_answers(stored, response):
        return stored
    return None


def _write(write, again, sid: str, response: dict, *, findings: list, alerted: bool = False):
    complete = request.form.get("action") == "complete"
    try:
        rid = write()
    except VersionConflict:
        return again({}, ["This draft was changed somewhere else after you opened it. Nothing was overwritten; "
                          "your answers are below."], status=409, risk=bool(findings))
    except saving.AMBIGUOUS as exc:
        # The server may have saved before it failed: ask it (by the record's identifier) before saying anything.
        stored = _landed(response)
        log.warning("patient save failed (%s); the look-up found it %s", type(exc).__name__,
                    "saved" if stored else "not saved" if stored is None else "unknown")
        if not stored:
            return again({}, [NOT_SENT if stored is None else UNKNOWN], status=502, risk=bool(findings))
        rid = stored.get("id")
    except FhirError as exc:
        log.warning("patient save failed: %s", type(exc).__name__)
        return again({}, [NOT_SENT], status=502, risk=bool(findings))
    if rid:
        _bind(sid, rid)
    if findings:
        session["safety"] = {"sent": True, "alerted": alerted, "urgent": urgent(findings)}
        return redirect(url_for("patient.safety"))
    if not complete:
        flash("Saved. You can come back and finish it later.", "info")
        return redirect(url_for("patient_forms.resume", rid=rid)) if rid else redirect(url_for("patient.home"))
    flash("Thank you: your answers were sent to your care team.", "info")
    return redirect(url_for("patient.home"))
