"""Forms: new, draft, resume, complete, view and amend QuestionnaireResponses.

The path of a completed form is straight: read the post → check the answers
against the Questionnaire → score → extract Observations → one transaction
(response + Observations + Provenance). Nothing is written unless every step
succeeded. A draft is one conditional update keyed on the form's submission
id, so saving twice keeps one draft. Amending uses If-Match: a conflict is
shown with the clinician's answers kept, never overwritten.
"""

from __future__ import annotations

import datetime as dt
import logging
import uuid

from flask import Blueprint, abort, flash, g, redirect, render_template, request, session, url_for

from fhir_mbt import terminology
from fhir_mbt.client import FhirError, Unauthorized, VersionConflict
from fhir_mbt.content import shipped
from fhir_mbt.errors import ContentNotFound
from fhir_mbt.extraction import RESPONSE_IDENTIFIER_SYSTEM, extract, transaction_bundle
from fhir_mbt.response_errors import ResponseError
from fhir_mbt.responses import issue_link_id, validate_response
from fhir_mbt.scoring import apply_scores
from smart_app import ehr
from smart_app.dashboard_data import questionnaire_id
from smart_app.errors import page
from smart_app.patient_data import MalformedRecord, read_patient_record
from smart_app.questionnaire_form import FormError, build_form, overlay_post, parse_form, walk_fields
from smart_app.views import launched

bp = Blueprint("forms", __name__, url_prefix="/forms")
log = logging.getLogger(__name__)

FORMS = terminology.QUESTIONNAIRES
MAX_FIELDS = 2000


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


def _author() -> dict | None:
    user = g.tokens.fhir_user
    if not user:
        return None
    ref = user.rsplit("/", 2)
    return {"reference": "/".join(ref[-2:])} if len(ref) >= 2 else None


def _response(questionnaire: dict, items: list[dict], status: str, submission_id: str, base: dict | None = None) -> dict:
    response = {
        "resourceType": "QuestionnaireResponse",
        **({"id": base["id"]} if base and base.get("id") else {}),
        "identifier": (base or {}).get("identifier")
        or {"system": RESPONSE_IDENTIFIER_SYSTEM, "value": submission_id},
        "questionnaire": f"{questionnaire['url']}|{questionnaire['version']}",
        "status": status,
        "subject": {"reference": f"Patient/{g.tokens.patient}"},
        "authored": _now(),
    }
    if g.tokens.context.encounter:
        response["encounter"] = {"reference": f"Encounter/{g.tokens.context.encounter}"}
    author = _author()
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


def _restore_held(fields, url: str):
    held = session.get("held_form")
    if held and held.get("url") == url:
        session.pop("held_form")
        flash("Your answers from before the sign-in expired are back. Check them, then save.", "info")
        return overlay_post(fields, held["form"]), held.get("submission_id")
    return fields, None


@bp.get("/<qid>/new")
@launched
def new(qid):
    questionnaire = _questionnaire(qid)
    fields, held_id = _restore_held(build_form(questionnaire, shipped()), request.path)
    return _render(questionnaire, fields, action=url_for("forms.new", qid=qid),
                   submission_id=held_id or str(uuid.uuid4()))


@bp.get("/mbt-formulation/revise")
@launched
def revise_formulation():
    """A new formulation that starts from the current one."""
    questionnaire = _questionnaire("mbt-formulation")
    _, responses = read_patient_record(g.fhir, g.tokens.patient)
    current = [r for r in responses if questionnaire_id(r) == "mbt-formulation" and r.get("status") in ("completed", "amended")]
    if not current:
        return redirect(url_for("forms.new", qid="mbt-formulation"))
    latest = max(current, key=lambda r: r.get("authored", ""))
    fields = build_form(questionnaire, shipped(), latest)
    overlay_post(fields, {"a:revision/revision.is-revision": ["yes"],
                          "a:revision/revision.previous": [f"QuestionnaireResponse/{latest['id']}"]})
    return _render(questionnaire, fields, action=url_for("forms.new", qid="mbt-formulation"),
                   submission_id=str(uuid.uuid4()))


@bp.post("/<qid>/new")
@launched
def create(qid):
    questionnaire = _questionnaire(qid)
    submission_id = request.form.get("submission_id", "")
    try:
        uuid.UUID(submission_id)
    except ValueError:
        abort(400, description="The form is missing its submission id. Reload the page and try again.")
    return _save(questionnaire, base=None, submission_id=submission_id, action=url_for("forms.new", qid=qid))


def _load(rid: str) -> dict:
    try:
        response = g.fhir.read("QuestionnaireResponse", rid)
    except ValueError:
        abort(404, description="There is no such record.")
    if not isinstance(response.get("item", []), list) or questionnaire_id(response) not in FORMS:
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
    return render_template("response.html", questionnaire=questionnaire, fields=fields, response=response,
                           can_write=_can_write(), ctx=g.tokens.context, patient=None)


@bp.get("/r/<rid>/edit")
@launched
def edit(rid):
    response = _load(rid)
    questionnaire = _questionnaire(questionnaire_id(response))
    fields, _ = _restore_held(build_form(questionnaire, shipped(), response), request.path)
    return _render(questionnaire, fields, action=url_for("forms.edit", rid=rid),
                   submission_id=(response.get("identifier") or {}).get("value", ""),
                   version_id=(response.get("meta") or {}).get("versionId"),
                   amending=response.get("status") in ("completed", "amended"))


@bp.post("/r/<rid>/edit")
@launched
def update(rid):
    base = _load(rid)
    questionnaire = _questionnaire(questionnaire_id(base))
    version = request.form.get("version_id") or None
    return _save(questionnaire, base=base, submission_id=(base.get("identifier") or {}).get("value", ""),
                 action=url_for("forms.edit", rid=rid), version=version)


def _save(questionnaire, *, base, submission_id, action, version=None):
    if not _can_write():
        return page("Saving is not allowed", "The EHR did not give this app permission to save responses. "
                    "Nothing was saved.", 403)
    posted = _posted()
    complete = request.form.get("action") == "complete"
    amending = bool(base) and base.get("status") in ("completed", "amended")
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
        outcome = validate_response(response, questionnaire, index)
        errors = _field_errors(outcome, questionnaire, posted)
        if errors[0] or errors[1]:
            return again(*errors)
        return _write(lambda: _write_draft(response, version), posted, submission_id,
                      success="Draft saved.", again=again)

    response = apply_scores(response, questionnaire, index)
    outcome = validate_response(response, questionnaire, index)
    errors = _field_errors(outcome, questionnaire, posted)
    if errors[0] or errors[1]:
        return again(*errors)
    try:
        result = extract(response, questionnaire, index, previous=base if amending else None)
    except ResponseError as exc:
        return again({}, [str(exc)])
    if result.problems:
        return again({}, ["Some answers could not be turned into clinical data: "
                          + "; ".join(p.get("diagnostics", "") for p in result.problems)])
    bundle = transaction_bundle(result.response, result)
    if base and version:
        bundle["entry"][0]["request"]["ifMatch"] = f'W/"{version}"'
    return _write(lambda: g.fhir.transaction(bundle), posted, submission_id,
                  success="Saved." if not amending else "Amendment saved.", again=again)


def _write_draft(response: dict, version: str | None):
    if response.get("id"):
        return g.fhir.update(response, if_match=version)
    ident = response["identifier"]
    bundle = {
        "resourceType": "Bundle",
        "type": "transaction",
        "entry": [{
            "resource": response,
            "request": {"method": "PUT", "url": f"QuestionnaireResponse?identifier={ident['system']}|{ident['value']}"},
        }],
    }
    return g.fhir.transaction(bundle)


def _write(send, posted, submission_id, *, success, again):
    try:
        send()
    except VersionConflict:
        return again({}, ["Someone else saved this record after you opened it. Your answers are below and "
                          "nothing was overwritten: open the record again to see their version, then re-apply "
                          "your changes."], status=409)
    except Unauthorized:
        session["held_form"] = {
            "url": request.path,
            "form": posted,
            "submission_id": submission_id,
            "patient": g.tokens.patient,
            "issuer": g.tokens.issuer,
        }
        ehr.clear()
        return page("Your sign-in has expired", "Nothing was saved yet, and your answers are kept. Open MBT again "
                    "from the patient's chart and the form comes back filled in.", 401,
                    saved="they come back when you open the app again.")
    except FhirError:
        log.warning("saving failed", exc_info=False)
        raise
    flash(success, "info")
    return redirect(url_for("dashboard.index"))


def _field_errors(outcome: dict, questionnaire: dict, posted) -> tuple[dict[str, str], list[str]]:
    """Issues of an OperationOutcome put beside their questions (by linkId)."""
    by_link: dict[str, list[str]] = {}
    for f in walk_fields(build_form(questionnaire, shipped())):
        by_link.setdefault(f.link_id, []).append(f.name)
    names = {n for n in posted}
    errors: dict[str, str] = {}
    general: list[str] = []
    for issue in outcome.get("issue", []):
        if issue.get("severity") not in ("error", "fatal"):
            continue
        message = issue.get("diagnostics", "invalid answer")
        link = issue_link_id(issue)
        candidates = by_link.get(link or "", [])
        if candidates:
            target = next((n for n in candidates if n in names), candidates[0])
            errors.setdefault(target, message)
        else:
            general.append(message)
    return errors, general
