"""What this browser's session remembers about the forms it was given.

A *submission* is one opened form: its id (the record's business identifier once
saved) is issued here, bound to the session, the form and the patient, and put in
the page's URL (``?s=``) so that Back, Refresh or a second tab showing that page
use the same id. Once a save is confirmed the submission knows its record (id,
version, status); after an ambiguous failure it is marked ``uncertain`` so the next
save asks the server first.

A *held form* keeps posted answers that could not be saved for a reason the
clinician cannot fix on the page (the sign-in expired, the browser was launched for
another patient since): they come back on that form for that patient.
"""

from __future__ import annotations

import datetime as dt
import uuid

from flask import g, session

__all__ = ["issue", "get", "bind", "unbind", "forget", "mark_uncertain", "remember_attempt", "last_attempt", "hold", "held",
           "release_held"]

MAX_SUBMISSIONS = 50
MAX_ATTEMPTS = 20


def _now() -> str:
    return dt.datetime.now(dt.timezone.utc).replace(microsecond=0).isoformat()


def issue(qid: str, submission_id: str | None = None) -> str:
    """A submission for form ``qid`` and the current patient; an id held from before is re-used
    as it was (its record, if it has one, stays its record)."""
    issued = dict(session.get("submissions", {}))
    known = issued.get(submission_id or "")
    if known and known.get("qid") == qid and known.get("patient") == g.tokens.patient:
        return submission_id
    submission_id = submission_id or str(uuid.uuid4())
    issued[submission_id] = {"qid": qid, "patient": g.tokens.patient, "rid": None, "at": _now()}
    if len(issued) > MAX_SUBMISSIONS:
        for old in sorted(issued, key=lambda k: issued[k]["at"])[: len(issued) - MAX_SUBMISSIONS]:
            issued.pop(old)
    session["submissions"] = issued
    return submission_id


def get(submission_id: str, qid: str) -> dict | None:
    """The submission, if it was issued to this session for this form and patient."""
    found = session.get("submissions", {}).get(submission_id) if submission_id else None
    if found and found["qid"] == qid and found["patient"] == g.tokens.patient:
        return found
    return None


def _change(submission_id: str, **values) -> None:
    issued = dict(session.get("submissions", {}))
    if submission_id in issued:
        issued[submission_id] = {**issued[submission_id], **values}
        session["submissions"] = issued


def bind(submission_id: str, rid: str, version: str | None, status: str) -> None:
    """The submission's record is ``rid`` at ``version``, as this session last saw it."""
    _change(submission_id, rid=rid, version=version, status=status, uncertain=False)


def unbind(submission_id: str) -> None:
    """The submission's record is gone from the server: its next save creates it again."""
    _change(submission_id, rid=None, version=None, status=None)


def forget(submission_id: str) -> None:
    """The submission's record was discarded: its page no longer leads to it, nor saves into it."""
    issued = dict(session.get("submissions", {}))
    if issued.pop(submission_id, None) is not None:
        session["submissions"] = issued


def mark_uncertain(submission_id: str) -> None:
    """A save of this submission failed in a way that may have written it, and the server
    could not say: the next save asks it first."""
    _change(submission_id, uncertain=True)


def remember_attempt(record_key: str, fingerprint: str) -> None:
    """What a save that may have landed sent (``saving.fingerprint``), under the record's
    identifier: a newer version on the server with this fingerprint is this session's own."""
    attempts = dict(session.get("attempts", {}))
    attempts.pop(record_key, None)
    attempts[record_key] = fingerprint
    while len(attempts) > MAX_ATTEMPTS:
        attempts.pop(next(iter(attempts)))
    session["attempts"] = attempts


def last_attempt(record_key: str) -> str | None:
    """The fingerprint of this session's last uncertain write of the record, if any."""
    return session.get("attempts", {}).get(record_key)


def hold(url: str, form: dict, *, patient: str, submission_id: str | None, version: str | None,
         reason: str) -> None:
    session["held_form"] = {
        "url": url,
        "form": form,
        "submission_id": submission_id,
        "version": version,
        "patient": patient,
        "issuer": g.tokens.issuer,
        "reason": reason,
    }


def held(url: str) -> dict | None:
    """The answers held for the form at ``url`` and the current patient."""
    found = session.get("held_form")
    if found and found.get("url") == url and found.get("patient") == g.tokens.patient:
        return found
    return None


def release_held(url: str) -> None:
    found = session.get("held_form")
    if found and found.get("url") == url and found.get("patient") == g.tokens.patient:
        session.pop("held_form")
