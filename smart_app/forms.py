"""Forms: new, draft, resume, complete, view and amend QuestionnaireResponses.

The routes check who and what a request is about, then hand the saving to
``form_save``. Identity: a new form gets a submission id bound to this session,
the form and the patient, and kept in the page's URL (``?s=``), so Back, Refresh
or a retry show and post the same id; it becomes the record's business
identifier, so one form is one record. Once saved, the same page leads to that
record (Back after Complete shows it; a resubmission of it with changed answers
is an edit of it, with If-Match). Every later save of a record goes through the
edit path, where the version the clinician started from must still be the
server's: a conflict is shown, never overwritten.

Patient: every form carries the patient and the launch it was opened for. A post
for another patient than the one open now is refused with a page that names both
and keeps the answers (they come back when that patient is launched again); a
post from an earlier launch for the same patient shows the form again, filled in,
to be checked and saved.
"""

from __future__ import annotations

import dataclasses
import logging
import re

from flask import Blueprint, abort, flash, g, redirect, request, url_for

from fhir_mbt.client import ResourceNotFound, Unauthorized
from fhir_mbt.content import shipped, terminology
from fhir_mbt.engine import RESPONSE_IDENTIFIER_SYSTEM
from fhir_mbt.errors import FhirMbtError
from smart_app import ehr, record_page, saving, session_start, submissions
from smart_app.dashboard_data import build_view, questionnaire_id
from smart_app.errors import page
from smart_app.fhir_errors import describe
from smart_app.form_save import (
    EDITABLE,
    FINAL,
    Hold,
    Target,
    candidate,
    questionnaire_for,
    render_form,
    save,
)
from smart_app.patient_context import other_patient_page
from smart_app.patient_data import MalformedRecord, check_response_shape, read_patient_record
from smart_app.form_post import overlay_post
from smart_app.questionnaire_form import build_form, walk_fields
from smart_app.security import StaleFormRefused, stale_form
from smart_app.views import launched

bp = Blueprint("forms", __name__, url_prefix="/forms")
log = logging.getLogger(__name__)

FORMS = terminology.QUESTIONNAIRES
MAX_FIELDS = 2000
_VERSION = re.compile(r"^[A-Za-z0-9.\-]{1,64}$")
_HELD = {
    "expired": "Your answers from before the sign-in expired are back. Check them, then save.",
    "relaunched": "The app was opened again since you started this form. Your answers are below: check that "
                  "they are for this patient, then save.",
    "other-patient": "Your answers from the form you started earlier for this patient are back. Check them, "
                     "then save.",
    "unreachable": "Your answers from before the FHIR server failed are back. Check them, then save.",
    "deleted": "The record these answers were for was removed from the FHIR server; your answers are back in "
               "a new form. Check them, then save.",
}


def _posted() -> dict[str, list[str]]:
    form = request.form
    if len(form) > MAX_FIELDS:
        abort(413, description="The form sent too many fields.")
    return {k: form.getlist(k) for k in form if k.startswith("a:")}


def _restore(fields, held: dict | None):
    if held:
        flash(_HELD.get(held.get("reason", "expired"), _HELD["expired"]), "info")
        overlay_post(fields, held["form"])
    return fields


# --- showing ---------------------------------------------------------------------------


@bp.errorhandler(StaleFormRefused)
def _stale_form(exc):
    """A form whose CSRF token is not this session's: nothing is written, its answers are shown to copy."""
    qid = request.form.get("form", "")
    answers = None
    if qid in FORMS:
        answers = _answered(overlay_post(build_form(questionnaire_for(qid), shipped()), _posted()))
    return page("This form could not be saved", exc.description, 400, answers=answers)


@bp.get("/<qid>/new")
@launched
def new(qid):
    questionnaire = questionnaire_for(qid)
    if qid == terminology.SESSION_RECORD:
        return _new_form(qid, questionnaire, lambda: session_start.with_today(build_form(questionnaire, shipped())),
                         "forms.new", {"qid": qid},
                         extra=lambda: {"last_session": session_start.last_session(g.fhir, g.tokens.patient)})
    return _new_form(qid, questionnaire, lambda: build_form(questionnaire, shipped()), "forms.new", {"qid": qid})


def _new_form(qid, questionnaire, fields_of, endpoint, args, extra=None):
    """A new form at a URL that names its submission: Back and Refresh show the same one."""
    held = submissions.held(url_for("forms.new", qid=qid, _external=False).split("?", 1)[0])
    submission_id = request.args.get("s", "")
    issued = submissions.get(submission_id, qid)
    if issued is None:
        submission_id = submissions.issue(qid, (held or {}).get("submission_id"))
        return redirect(url_for(endpoint, s=submission_id, **args))
    if issued.get("rid") and not held:
        if issued.get("status") == "in-progress":
            flash("This form was saved as a draft: here it is, to go on with.", "info")
            return redirect(url_for("forms.edit", rid=issued["rid"]))
        flash("This form was already saved: here is the record. To change it, use Amend.", "info")
        return redirect(url_for("forms.view", rid=issued["rid"]))
    fields = _restore(fields_of(), held)
    return render_form(questionnaire, fields, action=url_for("forms.new", qid=qid), submission_id=submission_id,
                       **(extra() if extra else {}))


@bp.get("/mbt-formulation/revise")
@launched
def revise_formulation():
    """A new formulation that starts from the current one."""
    qid = terminology.FORMULATION
    questionnaire = questionnaire_for(qid)
    _, responses = read_patient_record(g.fhir, g.tokens.patient)
    current = [r for r in responses if questionnaire_id(r) == qid and r.get("status") in FINAL]
    if not current:
        return redirect(url_for("forms.new", qid=qid))
    latest = max(current, key=lambda r: r.get("authored", ""))

    def fields_of():
        fields = build_form(questionnaire, shipped(), latest)
        names = {f.link_id: f.name for f in walk_fields(fields)}
        return overlay_post(fields, {names["revision.is-revision"]: ["yes"],
                                     names["revision.previous"]: [f"QuestionnaireResponse/{latest['id']}"]})

    return _new_form(qid, questionnaire, fields_of, "forms.revise_formulation", {})


@bp.get("/mbt-crisis-plan/revise")
@launched
def revise_crisis_plan():
    """A crisis plan revision that starts from the newest plan (a formulation's or an earlier revision)."""
    qid = terminology.CRISIS_PLAN
    questionnaire = questionnaire_for(qid)
    patient, responses = read_patient_record(g.fhir, g.tokens.patient)
    source = build_view(responses, patient, shipped()).crisis_plan_source
    if source is None:
        return redirect(url_for("forms.new", qid=terminology.FORMULATION))

    def fields_of():
        fields = build_form(questionnaire, shipped(), source.response)
        names = {f.link_id: f.name for f in walk_fields(fields)}
        return overlay_post(fields, {names["crisis-plan.previous"]: [f"QuestionnaireResponse/{source.id}"]})

    return _new_form(qid, questionnaire, fields_of, "forms.revise_crisis_plan", {})


def _load(rid: str) -> dict:
    try:
        response = g.fhir.read("QuestionnaireResponse", rid)
    except ValueError:
        abort(404, description="There is no such record.")
    return check_record(response, rid)


def check_record(response, rid: str) -> dict:
    """``response`` (any version of ``rid``) if it is one of this app's forms for the patient open now."""
    check_response_shape(response)
    if response.get("id") != rid:
        raise MalformedRecord(f"QuestionnaireResponse/{rid} came back as another record")
    if questionnaire_id(response) not in FORMS:
        raise MalformedRecord(f"QuestionnaireResponse/{rid} is not one of this app's forms")
    subject = (response.get("subject") or {}).get("reference", "")
    if subject != f"Patient/{g.tokens.patient}":
        abort(404, description="There is no such record for this patient.")
    return response


@bp.get("/r/<rid>")
@launched
def view(rid):
    """The record as a summary (``record_page``): what was answered, scores with their meaning, printable."""
    return record_page.show(rid)


def show(response: dict, earlier=None):
    """An ``earlier`` version of a record (its place in the history), read-only, as its record page."""
    return record_page.render_record(response, {}, earlier=earlier)


@bp.get("/r/<rid>/edit")
@launched
def edit(rid):
    response = _load(rid)
    if response.get("status") not in EDITABLE:
        return page("This record cannot be changed", f"Its status is {response.get('status')}.", 409)
    questionnaire = questionnaire_for(questionnaire_id(response))
    version = (response.get("meta") or {}).get("versionId")
    held = submissions.held(request.path)
    fields = _restore(build_form(questionnaire, shipped(), response), held)
    if held:
        version = held.get("version") or version
    return render_form(questionnaire, fields, action=url_for("forms.edit", rid=rid),
                       submission_id=(response.get("identifier") or {}).get("value", ""),
                       version_id=version, amending=response.get("status") in FINAL)


# --- saving ----------------------------------------------------------------------------


def _other_context(posted, submission_id, version):
    """None when the post is for the patient and launch open now; otherwise the page
    that says so (the answers are held, nothing is written)."""
    form_patient = request.form.get("patient", "")
    if form_patient and form_patient != g.tokens.patient:
        submissions.hold(request.path, posted, patient=form_patient, submission_id=submission_id,
                         version=version, reason="other-patient")
        qid = request.form.get("form", "")
        answers = title = None
        if qid in FORMS:
            questionnaire = questionnaire_for(qid)
            answers = _answered(overlay_post(build_form(questionnaire, shipped()), posted))
            title = questionnaire.get("title")
        log.warning("a form for another patient than the one open was refused")
        return other_patient_page(form_patient, kept=True, answers=answers, title=title)
    if form_patient and not stale_form() and request.form.get("launch") == ehr.launch_id():
        return None
    # A form of an earlier launch (or one that does not say whose it is): show it
    # again, filled in, for this patient and launch; saving is one more click.
    submissions.hold(request.path, posted, patient=g.tokens.patient, submission_id=submission_id,
                     version=version, reason="relaunched")
    return redirect(request.path, code=303)


def _answered(fields) -> list[tuple[str, list[str]]]:
    """(question, answers) for every question answered in a post, in form order, as labels."""
    out = []
    for f in walk_fields(fields):
        if f.type in ("group", "display") or f.calculated:
            continue
        labels = {o.token: o.label for o in f.options} | ({"yes": "Yes", "no": "No"} if f.type == "boolean" else {})
        values = [labels.get(v, v) for v in f.values] + ([f.other_text] if f.other_text else [])
        if values:
            out.append((f.text, values))
    return out


@bp.post("/<qid>/new")
@launched
def create(qid):
    questionnaire = questionnaire_for(qid)
    posted = _posted()
    submission_id = request.form.get("submission_id", "")
    refused = _other_context(posted, submission_id, None)
    if refused is not None:
        return refused
    action = url_for("forms.new", qid=qid)
    issued = submissions.get(submission_id, qid)
    target = Target(questionnaire, posted, submission_id, action)
    if issued is None:
        fields = overlay_post(build_form(questionnaire, shipped()), posted)
        return render_form(questionnaire, fields, status=400, action=action, submission_id=submissions.issue(qid),
                           form_errors=True, general_errors=[
                               "This form had expired or was opened in another sign-in. Nothing was saved; "
                               "your answers are below: save again."])
    unconfirmed = bool(issued.get("uncertain"))
    if not issued.get("rid") and unconfirmed:
        issued = _ask_server(target, issued)
    if issued.get("rid"):
        # This page was saved once already (a second click, Back, a retry): it is that record.
        target = dataclasses.replace(target, unconfirmed=unconfirmed)
        return _guarded(lambda: _continue(target, issued), posted, submission_id, None)
    return _guarded(lambda: save(target), posted, submission_id, None)


def _ask_server(target: Target, issued: dict) -> dict:
    """After a save that may or may not have landed: is the record there? (A failed
    look-up changes nothing: the conditional create that follows is safe.)"""
    ident = {"system": RESPONSE_IDENTIFIER_SYSTEM, "value": target.submission_id}
    try:
        stored = saving.find(g.fhir, g.tokens.patient, ident)
    except Unauthorized:
        return issued
    except (FhirMbtError, ValueError):  # not known yet: the conditional create that follows is safe
        log.warning("could not look up a record after an uncertain save")
        return issued
    if stored:
        submissions.bind(target.submission_id, stored["id"], (stored.get("meta") or {}).get("versionId"),
                         stored.get("status", ""))
        return submissions.get(target.submission_id, questionnaire_id(stored)) or issued
    return issued


@bp.post("/r/<rid>/edit")
@launched
def update(rid):
    posted = _posted()
    version = request.form.get("version_id")
    refused = _other_context(posted, None, version)
    if refused is not None:
        return refused
    return _guarded(lambda: _save_existing(rid, posted), posted, None, version)


def _guarded(run, posted, submission_id, version):
    """Run a save; an expired sign-in anywhere in it keeps the answers for the next launch."""
    try:
        return run()
    except ResourceNotFound:
        # The record was removed meanwhile: the answers come back in a new form of the same kind.
        qid = request.form.get("form", "")
        if qid not in FORMS:
            raise
        new_url = url_for("forms.new", qid=qid, _external=False).split("?", 1)[0]
        submissions.hold(new_url, posted, patient=g.tokens.patient, submission_id=None, version=None,
                         reason="deleted")
        return page("This record is no longer on the FHIR server",
                    "Someone removed it after you opened it, so your changes could not be saved to it.", 404,
                    saved="they come back in a new form.", retry_url=url_for("forms.new", qid=qid))
    except (Hold, Unauthorized):
        submissions.hold(request.path, posted, patient=g.tokens.patient, submission_id=submission_id,
                         version=version, reason="expired")
        ehr.clear()
        return page("Your sign-in has expired", "Nothing was saved yet, and your answers are kept. Open MBT again "
                    "from the patient's chart and the form comes back filled in.", 401,
                    saved="they come back when you open the app again.")
    except FhirMbtError as exc:
        # A read before any write failed (the record, a look-up): nothing was written.
        submissions.hold(request.path, posted, patient=g.tokens.patient, submission_id=submission_id,
                         version=version, reason="unreachable")
        title, message, status = describe(exc)
        log.warning("saving stopped before writing: %s", type(exc).__name__)
        return page(title, message, status, saved="they come back when you press Try again.",
                    retry_url=request.path)


def _continue(target: Target, issued: dict):
    """A form whose record exists: unchanged, it is already saved; changed, it is an edit of that record."""
    try:
        base = _load(issued["rid"])
    except ResourceNotFound:
        # The server no longer has it (it lost a write it had acknowledged): save it again.
        submissions.unbind(target.submission_id)
        return save(target)
    complete = request.form.get("action") == "complete"
    same_kind = (base.get("status") in FINAL) == complete
    if same_kind:
        ours = candidate(target, complete)
        if ours is not None and saving.same_answers(base, ours):
            submissions.release_held(request.path)
            flash("This form was already saved; nothing was written twice.", "info")
            if complete:
                return redirect(url_for("dashboard.index"))
            return redirect(url_for("forms.edit", rid=base["id"]))
    return _save_existing(base["id"], target.posted, from_new=True, base=base, version=issued.get("version"),
                          unconfirmed=target.unconfirmed)


def _save_existing(rid: str, posted, *, from_new: bool = False, base: dict | None = None,
                   version: str | None = None, unconfirmed: bool = False):
    base = base or _load(rid)
    questionnaire = questionnaire_for(questionnaire_id(base))
    current = (base.get("meta") or {}).get("versionId")
    action = url_for("forms.edit", rid=rid)
    submission_id = (base.get("identifier") or {}).get("value", "")
    sent = (version or current) if from_new else request.form.get("version_id", "")

    def refuse(message, status=409):
        fields = overlay_post(build_form(questionnaire, shipped()), posted)
        return render_form(questionnaire, fields, status=status, action=action, submission_id=submission_id,
                           version_id=sent if sent and _VERSION.match(sent) else current,
                           amending=base.get("status") in FINAL, form_errors=True, general_errors=[message])

    if base.get("status") not in EDITABLE:
        return refuse(f"This record's status is {base.get('status')}: it can no longer be changed.")
    if not current:
        return refuse("The FHIR server did not say which version of this record it holds, so a change could "
                      "overwrite someone else's. Nothing was saved.", 502)
    target = Target(questionnaire, posted, submission_id, action, base=base, version=current,
                    unconfirmed=unconfirmed)
    if not sent or not _VERSION.match(sent) or sent != current:
        complete = request.form.get("action") == "complete"
        if (base.get("status") in FINAL) == complete:
            ours = candidate(target, complete)
            if ours is not None and saving.same_answers(base, ours):
                # The version after the one this page was opened at already says this (a second click).
                flash("This record was already saved; nothing was written twice.", "info")
                return redirect(url_for("dashboard.index") if complete else url_for("forms.edit", rid=rid))
        if submissions.last_attempt(submission_id) != saving.fingerprint(base):
            return refuse("Someone else saved this record after you opened it. Your answers are below and nothing "
                          "was overwritten: open the record again to see their version, then re-apply your changes.")
        # The newer version is this page's own earlier save, which seemed to fail: change it.
    return save(target)
