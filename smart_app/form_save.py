"""Saving a form, and telling the clinician the truth about it.

The path is straight: read the post → check the answers against the
Questionnaire → score → extract Observations → one write (a transaction of
response + Observations + Provenance; a draft is the response alone) → know what
was written. Nothing is written unless every step before succeeded, and whatever
goes wrong the answers come back on the page (or, when the sign-in expired, after
the next launch).

What was written is never guessed (see ``saving``):
- an ambiguous failure (timeout, 5xx, dropped connection, unreadable reply) is
  followed by a look-up of the record by its identifier: "Saved" or "Not saved";
- a conditional create that finds the record already there compares it with the
  answers sent: the same is "already saved", different becomes an edit (If-Match)
  of that record, so a correction is never dropped;
- a version conflict whose stored version says what this save says (a double
  click) is "already saved"; any other is shown, never overwritten;
- a second completed record of the same occasion is asked about first;
- on a server without transactions (see ``write_plans``) a save that stopped
  part-way says what was stored, and saving again completes it.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import logging

from flask import abort, flash, g, redirect, render_template, request, url_for

from fhir_mbt.client import FhirError, MalformedResponse, PartialWrite, Timeout, Unauthorized, VersionConflict
from fhir_mbt.content import shipped, terminology
from fhir_mbt.engine import RESPONSE_IDENTIFIER_SYSTEM, ResponseError, apply_scores, extract, transaction_bundle
from fhir_mbt.engine.validate import validate_response
from fhir_mbt.errors import ContentNotFound
from smart_app import amendment, ehr, saving, submissions, user, write_plans
from smart_app.errors import page
from smart_app.patient_context import banner
from smart_app.form_messages import field_errors, unextractable
from smart_app.form_post import FormError, overlay_post, parse_form
from smart_app.questionnaire_form import build_form
from smart_app.references import foreign_references

__all__ = ["Target", "Hold", "save", "candidate", "render_form", "questionnaire_for", "can_write", "saved",
           "EDITABLE", "FINAL", "CONFLICT"]

log = logging.getLogger(__name__)

FORMS = terminology.QUESTIONNAIRES
EDITABLE = ("in-progress", "completed", "amended")
FINAL = ("completed", "amended")
CONFLICT = ("Someone else saved this record after you opened it. Your answers are below and nothing was "
            "overwritten: open the record again to see their version, then re-apply your changes.")
SAFE_AGAIN = "Saving again is safe: it will not create a second record, and your latest answers are the ones kept."


class Hold(Exception):
    """The sign-in expired while saving: keep the answers for the next launch."""


@dataclasses.dataclass(frozen=True)
class Target:
    """What one save is about: the form, the answers posted, and the record (if any) it changes."""

    questionnaire: dict
    posted: dict
    submission_id: str
    action: str
    base: dict | None = None
    version: str | None = None
    #: ``base`` is this form's own earlier save that the clinician was never told had landed:
    #: changing it is not, to them, amending a saved record, so no reason is asked for.
    unconfirmed: bool = False


def questionnaire_for(qid: str) -> dict:
    if qid not in FORMS:
        abort(404, description="There is no such form.")
    try:
        return shipped().get(terminology.questionnaire_url(qid))
    except ContentNotFound:
        abort(404, description="There is no such form.")


def can_write() -> bool:
    """Whether the response may be written; its Observations and Provenance follow when they may be too."""
    return ehr.can("QuestionnaireResponse", "create")


def _now() -> str:
    return dt.datetime.now(dt.timezone.utc).replace(microsecond=0).isoformat().replace("+00:00", "Z")


def _cancel_url(action: str) -> str:
    """Where Cancel leads: back to the record an edit is of, else to the dashboard."""
    path, _, query = action.partition("?")
    if path.endswith("/edit"):
        return path[: -len("/edit")] + (f"?{query}" if query else "")
    return url_for("dashboard.index")


def render_form(questionnaire, fields, *, status=200, action, submission_id, version_id=None, amending=False,
                form_errors=False, general_errors=(), duplicates=(), outcome=None, last_session=None,
                reason_error=""):
    return render_template(
        "form.html",
        questionnaire=questionnaire,
        qid=questionnaire.get("id", ""),
        fields=fields,
        action=action,
        submission_id=submission_id,
        version_id=version_id,
        amending=amending,
        # The amendment's reason is not an answer: it comes back from the post as typed.
        amend_reason=request.form.get(amendment.FIELD, "") if amending and request.method == "POST" else "",
        reason_error=reason_error,
        can_write=can_write(),
        form_errors=form_errors,
        general_errors=list(general_errors),
        duplicates=list(duplicates),
        outcome=outcome,
        cancel_url=_cancel_url(action),
        show_hidden_scores=True,
        last_session=last_session,
        launch=ehr.launch_id(),
        ctx=g.tokens.context,
        patient=banner(),
        always_banner=True,
    ), status


# --- the response ----------------------------------------------------------------------


def _author() -> dict | None:
    return user.author()


def _response(questionnaire: dict, items: list[dict], status: str, submission_id: str, base: dict | None) -> dict:
    response = {
        "resourceType": "QuestionnaireResponse",
        **({"id": base["id"]} if base and base.get("id") else {}),
        "identifier": (base or {}).get("identifier")
        or {"system": RESPONSE_IDENTIFIER_SYSTEM, "value": submission_id},
        "questionnaire": f"{questionnaire['url']}|{questionnaire['version']}",
        "status": status,
        "subject": {"reference": f"Patient/{g.tokens.patient}"},
        # An amendment corrects the answers of the same occasion: it keeps that
        # occasion's time, so charts and "latest record" logic do not move it.
        "authored": base["authored"] if status == "amended" and base.get("authored") else _now(),
    }
    if g.tokens.context.encounter:
        response["encounter"] = {"reference": f"Encounter/{g.tokens.context.encounter}"}
    elif base and base.get("encounter"):
        response["encounter"] = base["encounter"]
    author = _author() or (base or {}).get("author")
    if author:
        response["author"] = author
    if items:
        response["item"] = items
    return response


def candidate(target: Target, complete: bool) -> dict | None:
    """The record these answers would make (scores included), to compare with a stored
    one; None when the answers cannot be read (``save`` then says why)."""
    index = shipped()
    try:
        items = parse_form(target.questionnaire, target.posted, index)
    except FormError:
        return None
    response = _response(target.questionnaire, items, "completed" if complete else "in-progress",
                         target.submission_id, target.base)
    try:
        return apply_scores(response, target.questionnaire, index) if complete else response
    except ResponseError:
        return None


# --- saving ----------------------------------------------------------------------------


def save(t: Target):
    if not can_write():
        return page("Saving is not allowed", "The EHR did not give this app permission to save responses. "
                    "Nothing was saved.", 403)
    complete = request.form.get("action") == "complete"
    amending = bool(t.base) and t.base.get("status") in FINAL
    index = shipped()
    questionnaire = t.questionnaire
    reason, reason_error = amendment.read_reason(request.form) if amending and complete else ("", "")
    if t.unconfirmed and not reason:
        reason_error = ""
    # Changed answers posted from a page that did not ask for a reason (Back after Complete): say why it is asked.
    intro = [amendment.NOW_AN_AMENDMENT] if reason_error and amendment.FIELD not in request.form else []

    def again(errors: dict[str, str], general=(), status=422, version=None, **extra):
        fields = overlay_post(build_form(questionnaire, index), t.posted, errors)
        return render_form(questionnaire, fields, status=status, action=t.action, submission_id=t.submission_id,
                           version_id=version or t.version, amending=amending, form_errors=True,
                           general_errors=[*intro, *general], reason_error=reason_error, **extra)

    try:
        items = parse_form(questionnaire, t.posted, index)
    except FormError as exc:
        return again(exc.errors)
    if amending and not complete:
        return again({}, ["A completed record cannot go back to draft: save the amendment instead."])
    if foreign_references(items, g.fhir, g.tokens.patient):
        return again({}, ["This form refers to a record that is not one of this patient's. Nothing was saved."])
    status = "amended" if amending else ("completed" if complete else "in-progress")
    response = _response(questionnaire, items, status, t.submission_id, t.base)

    if status == "in-progress":
        errors, general = field_errors(validate_response(response, questionnaire, index), build_form(questionnaire, index), t.posted)
        if errors or general:
            return again(errors, general)
        return _send(t, response, lambda: _write_draft(response, t.version), again, success="Draft saved.")

    response = apply_scores(response, questionnaire, index)
    errors, general = field_errors(validate_response(response, questionnaire, index), build_form(questionnaire, index), t.posted)
    if errors or general or reason_error:
        return again(errors, general)
    try:
        result = extract(response, questionnaire, index, previous=t.base if amending else None)
    except ResponseError as exc:
        return again({}, [unextractable(getattr(exc, "problems", []), build_form(questionnaire, index))])
    if result.problems:
        return again({}, [unextractable(result.problems, build_form(questionnaire, index))])
    if status == "completed":
        duplicates = _same_event(result.response)
        if duplicates:
            return again({}, [], status=409, duplicates=duplicates)
    bundle = transaction_bundle(result.response, result, now=_now(), reason=reason or None)
    first = bundle["entry"][0]["request"]
    if t.base:
        first["ifMatch"] = f'W/"{t.version}"'
    elif "ifNoneExist" in first:
        first["ifNoneExist"] += f"&subject=Patient/{g.tokens.patient}"
    writes = write_plans.learn(g.fhir, g.tokens.issuer)
    bundle, left_out = write_plans.prepare(bundle, writes)
    lost = amendment.not_stored(reason) if reason and "Provenance" in left_out else ""
    return _send(t, result.response, lambda: saving.transaction_written(write_plans.send(g.fhir, bundle, writes)),
                 again, success=("Amendment saved." if amending else "Saved.") + write_plans.left_out_message(left_out)
                 + lost)


def _same_event(response: dict) -> list[dict]:
    """Completed records of the same occasion that the clinician has not yet said to keep beside this one."""
    try:
        found = saving.same_event(g.fhir, g.tokens.patient, response)
    except (FhirError, ValueError):
        log.warning("could not look for another record of the same occasion")
        return []
    accepted = set(request.form.get("duplicate_ok", "").split())
    return [] if all(r.get("id") in accepted for r in found) else found


def _write_draft(response: dict, version: str | None) -> saving.Written:
    if response.get("id"):
        result = g.fhir.update(response, if_match=version)
        return saving.Written(result.id or response["id"], result.version_id, False)
    ident = response["identifier"]
    result = g.fhir.create(response, if_none_exist={
        "identifier": f"{ident['system']}|{ident['value']}",
        "subject": f"Patient/{g.tokens.patient}",
    })
    return saving.Written(result.id, result.version_id, result.created)


def _send(t: Target, response: dict, write, again, *, success):
    try:
        written = write()
    except VersionConflict:
        return _settle(t, response, again, success, failure=None)
    except Unauthorized:
        raise Hold()
    except PartialWrite as exc:
        log.warning("saving stopped part-way: %s", type(exc.cause).__name__)
        # Saving again goes on from the version just written (an amendment's reason, still on the
        # page, is written then), rather than finding "already saved" and stopping short.
        return again({}, [write_plans.partial_message(exc)], status=502, outcome="partial",
                     version=write_plans.version_written(exc, t.base))
    except saving.AMBIGUOUS as exc:
        log.warning("saving may have failed: %s", type(exc).__name__)
        return _settle(t, response, again, success, failure=exc)
    except FhirError as exc:
        log.warning("saving failed: %s", type(exc).__name__)
        return again({}, ["The FHIR server refused this record, so nothing was saved. Your answers are below."],
                     status=502, outcome="not-saved")
    if t.base is None and not written.created:
        # The server already held a record with this identifier: an earlier attempt of this form.
        return _settle(t, response, again, success, failure=None, existed=True)
    return saved(t, written.rid, written.version, response["status"], success)


def saved(t: Target, rid: str | None, version: str | None, status: str, message: str):
    """The record is on the server: remember which it is, say so, go on."""
    submissions.release_held(request.path)
    if rid:
        submissions.bind(t.submission_id, rid, version, status)
    flash(message, "info")
    if status == "in-progress" and rid:
        return redirect(url_for("forms.edit", rid=rid))
    return redirect(url_for("dashboard.index"))


def _why(failure: Exception) -> tuple[str, int]:
    if isinstance(failure, Timeout):
        return "did not answer in time", 504
    if isinstance(failure, MalformedResponse):
        return "sent a reply that could not be read", 502
    return "reported a failure", 502


def _settle(t: Target, response: dict, again, success, *, failure: Exception | None, existed: bool = False):
    """After a conflict, an ambiguous failure or a create that found the record: look at
    what the server holds now and say the truth about it."""
    new = t.base is None
    ident = response["identifier"]
    record_key = ident.get("value", "")
    ours = saving.fingerprint(response)
    if failure is not None:
        submissions.remember_attempt(record_key, ours)
    try:
        stored = (saving.find(g.fhir, g.tokens.patient, ident) if new
                  else g.fhir.read("QuestionnaireResponse", t.base["id"]))
    except Unauthorized:
        raise Hold()
    except FhirError:
        stored = None
        if failure is not None or existed:
            submissions.mark_uncertain(t.submission_id)
            submissions.remember_attempt(record_key, ours)
            reason, code = _why(failure) if failure else ("did not say what it saved", 502)
            return again({}, [f"The FHIR server {reason}, and could not be asked afterwards whether this record "
                              f"was saved: it may or may not have been. Your answers are below. {SAFE_AGAIN}"],
                         status=code, outcome="unknown")
    version = ((stored or {}).get("meta") or {}).get("versionId")
    if stored and stored.get("status") == response["status"] and saving.same_answers(stored, response):
        if failure is not None:
            reason, _ = _why(failure)
            message = f"Saved. (The FHIR server {reason}, so the app checked: the record is on the server.)"
        else:
            message = "This record was already saved; nothing was written twice."
        return saved(t, stored["id"], version, stored["status"], message)
    if stored and (new or saving.fingerprint(stored) == submissions.last_attempt(record_key)):
        # The stored record is an earlier save of this very form (a first attempt that
        # landed although it seemed to fail): these answers change it, as an edit.
        submissions.bind(t.submission_id, stored["id"], version, stored.get("status", ""))
        if failure is None and stored.get("status") in EDITABLE and version and version != t.version:
            return save(dataclasses.replace(t, base=stored, version=version, unconfirmed=True,
                                            action=url_for("forms.edit", rid=stored["id"])))
    if failure is not None:
        reason, code = _why(failure)
        if not stored:
            where = "this record is not on the server"
        elif new:
            where = "an earlier version of this record is on the server, but not these answers"
        else:
            where = "the record on the server does not have these changes"
        return again({}, [f"Not saved. The FHIR server {reason}; the app checked, and {where}. Your answers are "
                          f"below: save again in a moment. {SAFE_AGAIN}"], status=code, outcome="not-saved")
    if existed and not stored:
        submissions.mark_uncertain(t.submission_id)
        submissions.remember_attempt(record_key, ours)
        return again({}, ["The FHIR server answered that this record exists, but it could not be found there. "
                          f"Your answers are below. {SAFE_AGAIN}"], status=502, outcome="unknown")
    return again({}, [CONFLICT], status=409)
