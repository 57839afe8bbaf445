"""The transaction Bundle: a response and its Observations written together.

A completed response is created with
``ifNoneExist`` on its identifier, its Observations likewise; replaying the
Bundle creates nothing. An amended response is a PUT (by id, or conditional on
its identifier), and its Observations conditional PUTs with status
``amended``; given the ``previous`` version of the response, answers that the
amendment removed are PUT with status ``entered-in-error``. A Provenance
(target: response and Observations, agent: the author, recorded: authored)
goes in under an id derived the same way, by PUT, so it too is written once.
An amendment's ``reason`` (why the record was changed, in the clinician's
words) is the Provenance's ``reason.text``, beside its activity ``UPDATE``.
"""

from __future__ import annotations

import datetime as _dt
import hashlib
import json
import re

from fhir_mbt.engine.errors import ExtractionError
from fhir_mbt.engine.extraction import ExtractionResult
from fhir_mbt.engine.identity import (
    OBSERVATION_IDENTIFIER_SYSTEM,
    PROVENANCE_ID_PREFIX,
    identifier_key,
    identifier_search,
    response_full_url,
    uuid5,
    with_identifier,
)
from fhir_mbt.engine.observation_values import instant, now_instant

__all__ = ["transaction_bundle", "MAX_REASON"]

#: The longest amendment reason written: a short statement, not a note.
MAX_REASON = 500
_UUID = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}")



def _observation_entry(obs: dict, put: bool) -> dict:
    """The transaction entry writing ``obs``: a conditional PUT, or a create unless its identifier exists."""
    ident = obs.get("identifier", [None])[0]
    if not isinstance(ident, dict) or not ident.get("value"):
        raise ExtractionError("every Observation needs a business identifier to be written idempotently")
    value = ident["value"]
    if ident.get("system") == OBSERVATION_IDENTIFIER_SYSTEM and _UUID.fullmatch(value):
        url = "urn:uuid:" + value
        # What identifier_search gives for one of our own identifiers (system and UUID need no escaping).
        search = f"identifier={OBSERVATION_IDENTIFIER_SYSTEM}|{value}"
    else:
        url = "urn:uuid:" + uuid5("observation#" + identifier_key(ident))
        search = identifier_search(ident)
    if put:
        return {"fullUrl": url, "resource": obs, "request": {"method": "PUT", "url": f"Observation?{search}"}}
    return {"fullUrl": url, "resource": obs,
            "request": {"method": "POST", "url": "Observation", "ifNoneExist": search}}


def _provenance(stored: dict, targets: list[str], recorded: str, amended: bool, ident: dict,
                reason: str | None) -> dict:
    author = stored.get("author")
    who = author if isinstance(author, dict) else {"display": "unknown author"}
    basis = f"{identifier_key(ident)}#{stored.get('status')}#{stored.get('authored')}#{recorded}"
    if amended:
        # Two amendments recorded in the same second are two Provenances (a replay of one is one).
        said = json.dumps([stored.get("item"), reason], sort_keys=True, separators=(",", ":"))
        basis += "#" + hashlib.sha256(said.encode("utf-8")).hexdigest()[:16]
    prov_id = PROVENANCE_ID_PREFIX + uuid5("provenance#" + basis)
    prov = {
        "resourceType": "Provenance",
        "id": prov_id,
        "target": [{"reference": t} for t in targets],
        "recorded": recorded,
        "activity": {
            "coding": [{
                "system": "http://terminology.hl7.org/CodeSystem/v3-DataOperation",
                "code": "UPDATE" if amended else "CREATE",
            }]
        },
        "agent": [{
            "type": {"coding": [{
                "system": "http://terminology.hl7.org/CodeSystem/provenance-participant-type",
                "code": "author",
            }]},
            "who": who,
        }],
    }
    if reason:
        prov["reason"] = [{"text": reason}]
    return prov


def _reason(reason: str | None) -> str | None:
    if reason is None:
        return None
    if not isinstance(reason, str):
        raise ExtractionError("an amendment's reason is text")
    text = " ".join(reason.split())
    if len(text) > MAX_REASON:
        raise ExtractionError(f"an amendment's reason is at most {MAX_REASON} characters")
    return text or None


def transaction_bundle(
    response: dict,
    observations: list[dict] | ExtractionResult,
    *,
    identifier: dict | str | None = None,
    retracted: list[dict] | None = None,
    provenance: bool = True,
    now: _dt.datetime | str | None = None,
    reason: str | None = None,
) -> dict:
    """One transaction Bundle writing ``response`` and its Observations (see the module docstring).

    ``observations`` may be an :class:`ExtractionResult`, whose stored
    response and retracted Observations are then used too. ``reason``, for
    an amended response only, says why it was amended (on the Provenance).
    """
    if isinstance(observations, ExtractionResult):
        retracted = observations.retracted if retracted is None else retracted
        response = observations.response
        observations = observations.observations
    stored = with_identifier(response, identifier)
    ident = stored["identifier"]
    amended = stored.get("status") == "amended"
    reason = _reason(reason)
    if reason and not amended:
        raise ExtractionError("a reason is given for an amendment only (status `amended`)")
    if reason and not provenance:
        raise ExtractionError("an amendment's reason is written on its Provenance: it cannot be left out")
    response_url = response_full_url(stored)
    if stored.get("id"):
        request = {"method": "PUT", "url": f"QuestionnaireResponse/{stored['id']}"}
    elif amended:
        request = {"method": "PUT", "url": f"QuestionnaireResponse?{identifier_search(ident)}"}
    else:
        request = {"method": "POST", "url": "QuestionnaireResponse", "ifNoneExist": identifier_search(ident)}
    entries = [{"fullUrl": response_url, "resource": stored, "request": request}]
    targets = [response_url]
    for group, put in ((observations, amended), (retracted or (), True)):
        for obs in group:
            entry = _observation_entry(obs, put)
            entries.append(entry)
            targets.append(entry["fullUrl"])
    if provenance:
        # An amendment is recorded when it is made (``now``), not at the occasion it corrects.
        recorded = (now_instant(now) if amended else None) or instant(stored.get("authored")) or now_instant(now)
        if recorded is None:
            raise ExtractionError("a Provenance needs `authored` as a full timestamp (or `now`) for its recorded time")
        prov = _provenance(stored, targets, recorded, amended, ident, reason)
        entries.append({
            "fullUrl": "urn:uuid:" + prov["id"][len(PROVENANCE_ID_PREFIX):],
            "resource": prov,
            "request": {"method": "PUT", "url": f"Provenance/{prov['id']}"},
        })
    return {"resourceType": "Bundle", "type": "transaction", "entry": entries}
