"""Discarding a draft: a clinician's unfinished QuestionnaireResponse of the launched patient, removed for good.

    GET  /forms/r/<rid>/discard   the confirmation page (the lists also ask, inline, in a <details>)
    POST /forms/r/<rid>/discard   confirm=yes and the version seen: PUT status entered-in-error with If-Match
                                  on that version (the check HAPI honours: it ignores If-Match on DELETE),
                                  then DELETE with If-Match on the version written; where the server will
                                  not delete, the draft stays withdrawn as entered-in-error

What may be discarded is decided from the record as the server has it now,
never from the page: only a draft (``in-progress``) of the launched patient,
written by a clinician (a patient's own draft is theirs to finish or drop),
by a clinician who may write records. A completed or amended record is part
of the patient's record and is never discarded (403). When the version posted
is no longer the server's, someone saved the draft since: nothing is done
(409). When the server fails, the draft is read again, so the page says
truthfully whether it is still there; nothing else is ever touched.
"""

from __future__ import annotations

import logging
import re

from flask import Blueprint, abort, flash, g, redirect, render_template, request, url_for

from fhir_mbt.client import (FhirError, Forbidden, InvalidResource, RequestRejected, ResourceNotFound, Unauthorized,
                             VersionConflict)
from fhir_mbt.content import shipped
from smart_app import ehr, local_time, submissions
from smart_app.dashboard_data import questionnaire_id
from smart_app.errors import page
from smart_app.form_save import can_write
from smart_app.patient_context import banner, other_patient_page
from smart_app.patient_data import check_response_shape
from smart_app.patient_record import entered_by
from smart_app.views import launched

__all__ = ["bp"]

bp = Blueprint("drafts", __name__)
log = logging.getLogger(__name__)

_ID = re.compile(r"^[A-Za-z0-9\-.]{1,64}$")
_VERSION = re.compile(r"^[A-Za-z0-9.\-]{1,64}$")
#: Where the page goes back to after a discard (the lists that offer it).
_BACK = ("dashboard.index", "dashboard.records")
QR = "QuestionnaireResponse"


class _Refused(Exception):
    """Stop with this page; nothing was written."""

    def __init__(self, answer):
        super().__init__("refused")
        self.answer = answer


def _back() -> str:
    wanted = request.values.get("next", "")
    return url_for(wanted if wanted in _BACK else "dashboard.index")


def _title(response: dict) -> str:
    qid = questionnaire_id(response)
    found = [q.get("title") for q in shipped().resources("Questionnaire") if q.get("id") == qid]
    return found[0] if found and found[0] else qid or "Form"


def _refuse(title: str, message: str, status: int, **extra):
    raise _Refused(page(title, message, status, back_url=_back(), back_label="Back to the patient's records",
                        **extra))


def _may_discard() -> None:
    if not can_write() or not (ehr.can(QR, "delete") or ehr.can(QR, "update")):
        _refuse("Not allowed", "The EHR did not give this app permission to change records for this patient, "
                "so drafts cannot be discarded here. Nothing was changed.", 403)


def _load(rid: str) -> dict:
    """The draft as the server has it now, if it may be discarded; else the page that says why not."""
    if not _ID.match(rid):
        abort(404, description="There is no such record.")
    try:
        response = check_response_shape(g.fhir.read(QR, rid))
    except ResourceNotFound:
        _refuse("This draft is no longer on the FHIR server",
                "It was discarded or removed already. Nothing was changed.", 404)
    if (response.get("subject") or {}).get("reference", "") != f"Patient/{g.tokens.patient}":
        abort(404, description="There is no such record for this patient.")
    status = response.get("status", "")
    if status != "in-progress":
        words = {"completed": "completed", "amended": "completed (and amended)",
                 "entered-in-error": "already withdrawn as entered in error"}.get(status, status or "without a status")
        _refuse("A completed record cannot be discarded",
                f"This record is {words}: it is part of the patient's record and is never discarded. To correct "
                "it, open it and use Amend. Nothing was changed.", 403,
                retry_url=None)
    if entered_by(response) == "patient":
        _refuse("This is the patient's own draft",
                "The patient started this draft in their portal and has not sent it yet: it is theirs to finish "
                "or drop, and a clinician cannot discard it. Nothing was changed.", 403)
    return response


def _confirm_page(response: dict, version: str, status: int = 200):
    return render_template("discard.html", draft=response, title=_title(response), version=version,
                           back=_back(), next_endpoint=request.values.get("next", ""), ctx=g.tokens.context,
                           patient=banner(), always_banner=True), status


@bp.get("/forms/r/<rid>/discard")
@launched
def confirm(rid):
    try:
        _may_discard()
        response = _load(rid)
    except _Refused as stop:
        return stop.answer
    return _confirm_page(response, (response.get("meta") or {}).get("versionId", ""))


@bp.post("/forms/r/<rid>/discard")
@launched
def discard(rid):
    posted_patient = request.form.get("patient") or request.args.get("patient")
    if posted_patient and posted_patient != g.tokens.patient:
        return other_patient_page(posted_patient)
    try:
        _may_discard()
        response = _load(rid)
        seen = request.form.get("version_id", "")
        current = (response.get("meta") or {}).get("versionId", "")
        if not _VERSION.match(seen):
            _refuse("This draft was not discarded", "The page did not say which version of the draft it showed, so "
                    "it cannot be sure it is discarding what you saw. Nothing was changed.", 400)
        if request.form.get("confirm") != "yes":
            return _confirm_page(response, seen)
        if not current or seen != current:
            _refuse("This draft was saved again after you looked at it",
                    "Someone saved this draft after the page you used was shown, so it was not discarded: nothing "
                    "was changed. Open it to see what it holds now, then decide.", 409,
                    retry_url=url_for("forms.view", rid=rid))
        outcome = _remove(response, seen)
    except _Refused as stop:
        return stop.answer
    submissions.forget(str((response.get("identifier") or {}).get("value", "")))
    when = local_time.local_datetime(response.get("authored", ""))
    if outcome == "deleted":
        flash(f"The draft “{_title(response)}” (last saved {when}) was deleted from the FHIR server.", "info")
    else:
        flash(f"The draft “{_title(response)}” (last saved {when}) was withdrawn: the FHIR server did not delete it, "
              "so it keeps it marked as entered in error (not valid). It is no longer a draft.", "info")
    log.info("a draft was discarded (%s)", outcome)
    return redirect(_back(), code=303)


def _remove(response: dict, version: str) -> str:
    """Withdraw the draft at ``version`` (PUT entered-in-error, If-Match), then DELETE it where the server will.

    The withdrawal is the version check that holds everywhere: HAPI, for one,
    ignores If-Match on DELETE, and a save made after the page was shown must
    never be deleted unseen. A server that refuses the DELETE (or fails at it)
    keeps the draft withdrawn: "entered-in-error". Returns "deleted" or
    "entered-in-error"; anything else stops with the page that says why.
    """
    rid = response["id"]
    withdrawn = _withdraw(response, version) if ehr.can(QR, "update") else None
    if withdrawn == "gone":
        return "deleted"
    if not ehr.can(QR, "delete"):
        return "entered-in-error"
    try:
        g.fhir.delete(QR, rid, if_match=withdrawn or version)
        return "deleted"
    except ResourceNotFound:
        return "deleted"
    except Unauthorized:
        raise
    except (Forbidden, RequestRejected, InvalidResource, VersionConflict) as exc:
        if withdrawn:
            return "entered-in-error"
        if isinstance(exc, VersionConflict):
            _conflict(rid)
        _refuse("This draft was not discarded", "The FHIR server refused to delete it, and this app may not change "
                "it otherwise. Nothing was changed; the draft is still there.", 502)
    except FhirError:
        log.warning("deleting a draft failed at the server; reading it again")
        now = _reread(rid)
        if now is None:
            return "deleted"
        if withdrawn or now.get("status") == "entered-in-error":
            return "entered-in-error"
        _unchanged_or_conflict(rid, now, version)
    return "entered-in-error"


def _withdraw(response: dict, version: str) -> str | None:
    """PUT the draft as entered-in-error over ``version``: its new version id ("" when not said), "gone" when
    it was removed meanwhile, None when the server refuses updates but the app may still try DELETE."""
    rid = response["id"]
    try:
        written = g.fhir.update({**response, "status": "entered-in-error"}, if_match=version)
        return written.version_id or ""
    except VersionConflict:
        _conflict(rid)
    except (Unauthorized, ResourceNotFound):
        raise
    except (Forbidden, RequestRejected, InvalidResource) as exc:
        log.warning("withdrawing a draft was refused: %s", type(exc).__name__)
        if ehr.can(QR, "delete"):
            return None
        _refuse("This draft was not discarded", "The FHIR server refused to mark the draft as entered in error. "
                "Nothing was changed; the draft is still there.", 502)
    except FhirError:
        log.warning("withdrawing a draft failed at the server; reading it again")
        now = _reread(rid)
        if now is None:
            return "gone"
        if now.get("status") == "entered-in-error":
            return (now.get("meta") or {}).get("versionId") or ""
        _unchanged_or_conflict(rid, now, version)
    return None


def _conflict(rid: str) -> None:
    _refuse("This draft was saved again after you looked at it",
            "Someone saved this draft while it was being discarded, so it was left as they saved it: nothing was "
            "discarded or overwritten. Open it to see what it holds now, then decide.", 409,
            retry_url=url_for("forms.view", rid=rid))


def _reread(rid: str) -> dict | None:
    """The draft as the server has it now; None when it is gone. A failure here is said as such."""
    try:
        return g.fhir.read(QR, rid)
    except ResourceNotFound:
        return None
    except FhirError:
        _refuse("The FHIR server failed", "The FHIR server failed while the draft was being discarded, and it "
                "could not be checked afterwards whether the draft is gone. Nothing else was changed. Open the "
                "patient's records to see whether it is still listed as a draft.", 502)


def _unchanged_or_conflict(rid: str, now: dict, version: str) -> None:
    """After a failed write: the draft as it was (say so, nothing lost), or someone else's newer save."""
    if (now.get("meta") or {}).get("versionId") == version and now.get("status") == "in-progress":
        _refuse("The FHIR server failed", "The FHIR server failed while the draft was being discarded. The draft is "
                "still there, unchanged: nothing was lost. Try again in a moment.", 502,
                retry_url=url_for("drafts.confirm", rid=rid, next=request.values.get("next") or None))
    _conflict(rid)
