"""Forms: new, draft, resume, complete, view and amend QuestionnaireResponses.

The path of a completed form is straight: read the post → check the answers
against the Questionnaire → score → extract Observations → one transaction
(response + Observations + Provenance). Nothing is written unless every step
succeeded, and whatever goes wrong the clinician's answers come back on the
page (or, when the sign-in expired, after the next launch).

Identity and versions: each new form gets a submission id from the server,
bound to this session and patient; it becomes the response's business
identifier, so a double submit writes once. The first save of a new form
(draft or complete) fixes which record the form is; every later save of that
record goes through the edit path, where the version the clinician started
from must still be the server's (If-Match): a conflict is shown, never
overwritten.
"""

from __future__ import annotations

import datetime as dt
import logging
import re
import uuid

from flask import Blueprint, abort, flash, g, redirect, render_template, request, session, url_for

from fhir_mbt.content import terminology
from fhir_mbt.client import FhirError, Timeout, Unauthorized, VersionConflict
from fhir_mbt.content import shipped
from fhir_mbt.errors import ContentNotFound
from fhir_mbt.engine import RESPONSE_IDENTIFIER_SYSTEM, ResponseError, apply_scores, extract, transaction_bundle
from fhir_mbt.engine.validate import validate_response
from smart_app import ehr
from smart_app.dashboard_data import build_view, questionnaire_id
from smart_app.errors import page
from smart_app.patient_data import MalformedRecord, check_response_shape, read_patient_record
from smart_app.questionnaire_form import FormError, build_form, field_errors, overlay_post, parse_form, walk_fields
from smart_app.views import launched

bp = Blueprint("forms", __name__, url_prefix="/forms")
log = logging.getLogger(__name__)

FORMS = terminology.QUESTIONNAIRES
EDITABLE = ("in-progress", "completed", "amended")
FINAL = ("completed", "amended")
MAX_FIELDS = 2000
MAX_SUBMISSIONS = 50
_VERSION = re.compile(r"^[A-Za-z0-9.\-]{1,64}$")


class _Hold(Exception):
    """The sign-in expired while saving: keep the answers for the next launch."""


def _questionnaire(qid: str) -> dict:
    if qid not in FORMS:
        abort(404, description="There is no such form.")
    try:
        return shipped().get(terminology.questionnaire_url(qid))
    except ContentNotFound:
        abort(404, description="There is no such form.")


def _can_write() -> bool:
    return ehr.can("QuestionnaireResponse", "create") and ehr.can("Observation", "create")


def _now() -> str:
    return dt.datetime.now(dt.timezone.utc).replace(microsecond=0).isoformat().replace("+00:00", "Z")


def _posted() -> dict[str, list[str]]:
    form = request.form
    if len(form) > MAX_FIELDS:
        abort(413, description="The form sent too many fields.")
    return {k: form.getlist(k) for k in form if k.startswith("a:")}


# --- submission ids: issued here, bound to the session and the patient ---------------


def _issue_submission(qid: str, submission_id: str | None = None, rid: str | None = None) -> str:
    submission_id = submission_id or str(uuid.uuid4())
    issued = dict(session.get("submissions", {}))
    issued[submission_id] = {"qid": qid, "patient": g.tokens.patient, "rid": rid, "at": _now()}
    if len(issued) > MAX_SUBMISSIONS:
        for old in sorted(issued, key=lambda k: issued[k]["at"])[: len(issued) - MAX_SUBMISSIONS]:
            issued.pop(old)
    session["submissions"] = issued
    return submission_id


def _submission(submission_id: str, qid: str) -> dict | None:
    found = session.get("submissions", {}).get(submission_id)
    if found and found["qid"] == qid and found["patient"] == g.tokens.patient:
        return found
    return None


def _bind_submission(submission_id: str, rid: str) -> None:
    issued = dict(session.get("submissions", {}))
    if submission_id in issued:
        issued[submission_id] = {**issued[submission_id], "rid": rid}
        session["submissions"] = issued


# --- building and showing -------------------------------------------------------------


def _author() -> dict | None:
    user = g.tokens.fhir_user
    if not user:
        return None
    parts = user.rstrip("/").split("/")
    return {"reference": "/".join(parts[-2:])} if len(parts) >= 2 else None


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


def _render(questionnaire, fields, *, status=200, action, submission_id, version_id=None, amending=False,
            form_errors=False, general_errors=()):
    return render_template(
        "form.html",
        questionnaire=questionnaire,
        fields=fields,
        action=action,
        submission_id=submission_id,
        version_id=version_id,
        amending=amending,
        can_write=_can_write(),
        form_errors=form_errors,
        general_errors=list(general_errors),
        ctx=g.tokens.context,
        patient=None,
    ), status


def _held(url: str) -> dict | None:
    held = session.get("held_form")
    if held and held.get("url") == url and held.get("patient") == g.tokens.patient:
        return held
    return None


def _release_held(url: str) -> None:
    held = session.get("held_form")
    if held and held.get("url") == url:
        session.pop("held_form")


@bp.get("/<qid>/new")
@launched
def new(qid):
    questionnaire = _questionnaire(qid)
    fields = build_form(questionnaire, shipped())
    held = _held(request.path)
    if held:
        flash("Your answers from before the sign-in expired are back. Check them, then save.", "info")
        fields = overlay_post(fields, held["form"])
    submission_id = _issue_submission(qid, held.get("submission_id") if held else None)
    return _render(questionnaire, fields, action=url_for("forms.new", qid=qid), submission_id=submission_id)


@bp.get("/mbt-formulation/revise")
@launched
def revise_formulation():
    """A new formulation that starts from the current one."""
    qid = terminology.FORMULATION
    questionnaire = _questionnaire(qid)
    _, responses = read_patient_record(g.fhir, g.tokens.patient)
    current = [r for r in responses if questionnaire_id(r) == qid and r.get("status") in FINAL]
    if not current:
        return redirect(url_for("forms.new", qid=qid))
    latest = max(current, key=lambda r: r.get("authored", ""))
    fields = build_form(questionnaire, shipped(), latest)
    names = {f.link_id: f.name for f in walk_fields(fields)}
    overlay_post(fields, {names["revision.is-revision"]: ["yes"],
                          names["revision.previous"]: [f"QuestionnaireResponse/{latest['id']}"]})
    return _render(questionnaire, fields, action=url_for("forms.new", qid=qid),
                   submission_id=_issue_submission(qid))


@bp.get("/mbt-crisis-plan/revise")
@launched
def revise_crisis_plan():
    """A crisis plan revision that starts from the newest plan (a formulation's or an earlier revision)."""
    qid = terminology.CRISIS_PLAN
    questionnaire = _questionnaire(qid)
    patient, responses = read_patient_record(g.fhir, g.tokens.patient)
    source = build_view(responses, patient, shipped()).crisis_plan_source
    if source is None:
        return redirect(url_for("forms.new", qid=terminology.FORMULATION))
    fields = build_form(questionnaire, shipped(), source.response)
    names = {f.link_id: f.name for f in walk_fields(fields)}
    overlay_post(fields, {names["crisis-plan.previous"]: [f"QuestionnaireResponse/{source.id}"]})
    return _render(questionnaire, fields, action=url_for("forms.new", qid=qid),
                   submission_id=_issue_submission(qid))


def _load(rid: str) -> dict:
    try:
        response = g.fhir.read("QuestionnaireResponse", rid)
    except ValueError:
        abort(404, description="There is no such record.")
    check_response_shape(response)
    if questionnaire_id(response) not in FORMS:
        raise MalformedRecord(f"QuestionnaireResponse/{rid} is not one of this app's forms")
    subject = (response.get("subject") or {}).get("reference", "")
    if subject != f"Patient/{g.tokens.patient}":
        abort(404, description="There is no such record for this patient.")
    return response


@bp.get("/r/<rid>")
@launched
def view(rid):
    response = _load(rid)
    questionnaire = _questionnaire(questionnaire_id(response))
    fields = build_form(questionnaire, shipped(), response)
    # Scores hidden from patients (questionnaire-hidden) are still the clinician's to read here.
    return render_template("response.html", questionnaire=questionnaire, fields=fields, response=response,
                           all_fields=list(walk_fields(fields)),
                           can_write=_can_write() and response.get("status") in EDITABLE,
                           ctx=g.tokens.context, patient=None)


@bp.get("/r/<rid>/edit")
@launched
def edit(rid):
    response = _load(rid)
    if response.get("status") not in EDITABLE:
        return page("This record cannot be changed", f"Its status is {response.get('status')}.", 409)
    questionnaire = _questionnaire(questionnaire_id(response))
    fields = build_form(questionnaire, shipped(), response)
    version = (response.get("meta") or {}).get("versionId")
    held = _held(request.path)
    if held:
        flash("Your answers from before the sign-in expired are back. Check them, then save.", "info")
        fields = overlay_post(fields, held["form"])
        version = held.get("version") or version
    return _render(questionnaire, fields, action=url_for("forms.edit", rid=rid),
                   submission_id=(response.get("identifier") or {}).get("value", ""),
                   version_id=version, amending=response.get("status") in FINAL)


# --- saving ----------------------------------------------------------------------------


@bp.post("/<qid>/new")
@launched
def create(qid):
    questionnaire = _questionnaire(qid)
    posted = _posted()
    submission_id = request.form.get("submission_id", "")
    action = url_for("forms.new", qid=qid)
    issued = _submission(submission_id, qid)
    if issued is None:
        fields = overlay_post(build_form(questionnaire, shipped()), posted)
        return _render(questionnaire, fields, status=400, action=action, submission_id=_issue_submission(qid),
                       form_errors=True, general_errors=[
                           "This form had expired or was opened in another sign-in. Nothing was saved; "
                           "your answers are below: save again."])
    if issued.get("rid"):
        # This page was already saved once (a second click, the back button): continue that
        # record; completing it again is the same submission, so nothing is written twice.
        return _guarded(lambda: _continue(issued["rid"], posted), posted, submission_id, None)
    return _guarded(lambda: _save(questionnaire, posted, base=None, submission_id=submission_id, action=action),
                    posted, submission_id, None)


@bp.post("/r/<rid>/edit")
@launched
def update(rid):
    posted = _posted()
    return _guarded(lambda: _save_existing(rid, posted), posted, None, request.form.get("version_id"))


def _guarded(run, posted, submission_id, version):
    """Run a save; an expired sign-in anywhere in it keeps the answers for the next launch."""
    try:
        return run()
    except (_Hold, Unauthorized):
        session["held_form"] = {
            "url": request.path,
            "form": posted,
            "submission_id": submission_id,
            "version": version,
            "patient": g.tokens.patient,
            "issuer": g.tokens.issuer,
        }
        ehr.clear()
        return page("Your sign-in has expired", "Nothing was saved yet, and your answers are kept. Open MBT again "
                    "from the patient's chart and the form comes back filled in.", 401,
                    saved="they come back when you open the app again.")


def _continue(rid: str, posted):
    base = _load(rid)
    if base.get("status") in FINAL and request.form.get("action") == "complete":
        flash("This form was already saved.", "info")
        return redirect(url_for("dashboard.index"))
    return _save_existing(rid, posted, from_new=True, base=base)


def _save_existing(rid: str, posted, *, from_new: bool = False, base: dict | None = None):
    base = base or _load(rid)
    questionnaire = _questionnaire(questionnaire_id(base))
    current = (base.get("meta") or {}).get("versionId")
    action = url_for("forms.edit", rid=rid)
    submission_id = (base.get("identifier") or {}).get("value", "")
    sent = current if from_new else request.form.get("version_id", "")

    def refuse(message, status=409):
        fields = overlay_post(build_form(questionnaire, shipped()), posted)
        return _render(questionnaire, fields, status=status, action=action, submission_id=submission_id,
                       version_id=sent if sent and _VERSION.match(sent) else current,
                       amending=base.get("status") in FINAL, form_errors=True, general_errors=[message])

    if base.get("status") not in EDITABLE:
        return refuse(f"This record's status is {base.get('status')}: it can no longer be changed.")
    if not current:
        return refuse("The FHIR server did not say which version of this record it holds, so a change could "
                      "overwrite someone else's. Nothing was saved.", 502)
    if not sent or not _VERSION.match(sent) or sent != current:
        return refuse("Someone else saved this record after you opened it. Your answers are below and nothing "
                      "was overwritten: open the record again to see their version, then re-apply your changes.")
    return _save(questionnaire, posted, base=base, submission_id=submission_id, action=action, version=current)


def _save(questionnaire, posted, *, base, submission_id, action, version=None):
    if not _can_write():
        return page("Saving is not allowed", "The EHR did not give this app permission to save responses. "
                    "Nothing was saved.", 403)
    complete = request.form.get("action") == "complete"
    amending = bool(base) and base.get("status") in FINAL
    index = shipped()

    def again(errors: dict[str, str], general=(), status=422):
        fields = overlay_post(build_form(questionnaire, index), posted, errors)
        return _render(questionnaire, fields, status=status, action=action, submission_id=submission_id,
                       version_id=version, amending=amending, form_errors=True, general_errors=general)

    try:
        items = parse_form(questionnaire, posted, index)
    except FormError as exc:
        return again(exc.errors)
    if amending and not complete:
        return again({}, ["A completed record cannot go back to draft: save the amendment instead."])
    status = "amended" if amending else ("completed" if complete else "in-progress")
    response = _response(questionnaire, items, status, submission_id, base)

    if status == "in-progress":
        errors, general = field_errors(validate_response(response, questionnaire, index), build_form(questionnaire, index), posted)
        if errors or general:
            return again(errors, general)
        return _send(lambda: _write_draft(response, version), again, success="Draft saved.")

    response = apply_scores(response, questionnaire, index)
    errors, general = field_errors(validate_response(response, questionnaire, index), build_form(questionnaire, index), posted)
    if errors or general:
        return again(errors, general)
    try:
        result = extract(response, questionnaire, index, previous=base if amending else None)
    except ResponseError as exc:
        return again({}, [str(exc)])
    if result.problems:
        return again({}, ["Some answers could not be turned into clinical data, so nothing was saved: "
                          + "; ".join(p.get("diagnostics", "") for p in result.problems)])
    bundle = transaction_bundle(result.response, result, now=_now())
    first = bundle["entry"][0]["request"]
    if base:
        first["ifMatch"] = f'W/"{version}"'
    elif "ifNoneExist" in first:
        first["ifNoneExist"] += f"&subject=Patient/{g.tokens.patient}"
    return _send(lambda: _transaction_rid(g.fhir.transaction(bundle)), again,
                 success="Amendment saved." if amending else "Saved.")


def _transaction_rid(answer: dict) -> str | None:
    entries = answer.get("entry") or []
    location = (entries[0].get("response") or {}).get("location", "") if entries else ""
    match = re.search(r"QuestionnaireResponse/([A-Za-z0-9\-.]{1,64})", location)
    return match.group(1) if match else None


def _write_draft(response: dict, version: str | None) -> str | None:
    if response.get("id"):
        return g.fhir.update(response, if_match=version).id or response["id"]
    ident = response["identifier"]
    result = g.fhir.create(response, if_none_exist={
        "identifier": f"{ident['system']}|{ident['value']}",
        "subject": f"Patient/{g.tokens.patient}",
    })
    return result.id


def _send(write, again, *, success):
    submission_id = request.form.get("submission_id", "")
    try:
        rid = write()
    except VersionConflict:
        return again({}, ["Someone else saved this record after you opened it. Your answers are below and "
                          "nothing was overwritten: open the record again to see their version, then re-apply "
                          "your changes."], status=409)
    except Unauthorized:
        raise _Hold()
    except FhirError as exc:
        log.warning("saving failed: %s", type(exc).__name__)
        reason = "did not answer in time" if isinstance(exc, Timeout) else "could not save it"
        return again({}, [f"The FHIR server {reason}. Nothing was saved; your answers are below. Try again in a "
                          "moment."], status=504 if isinstance(exc, Timeout) else 502)
    _release_held(request.path)
    if rid:
        _bind_submission(submission_id, rid)
    flash(success, "info")
    if request.form.get("action") != "complete" and rid:
        return redirect(url_for("forms.edit", rid=rid))
    return redirect(url_for("dashboard.index"))
