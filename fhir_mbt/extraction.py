"""SDC observation-based extraction: a QuestionnaireResponse becomes Observations.

Which answers: every answer of an item marked with
``sdc-questionnaire-observationExtract`` (on the item, an ancestor or the
Questionnaire; the nearest flag wins) or whose ``item.code`` carries the flag,
in which case only the flagged codes go into ``Observation.code``. An
extractable item without a code, an answer whose type no Observation value
can hold (attachment, reference), an answer to an unknown linkId: each is
reported in ``problems``, never skipped in silence.

What each Observation says, in SDC's terms: code from the item, category from
``sdc-questionnaire-observation-extract-category`` (nearest wins, default
``survey``), subject/encounter/basedOn/partOf from the response (basedOn and
partOf only where R4 allows the target type), effective and issued from
``authored``, performer from ``author``, derivedFrom the response. Values:
integer and decimal become ``valueQuantity`` (with the ``questionnaire-unit``
as a UCUM quantity when declared), boolean ``valueBoolean`` (``false`` kept),
string/text/url ``valueString``, date/dateTime ``valueDateTime``, time
``valueTime``, Coding ``valueCodeableConcept``, Quantity ``valueQuantity``.
Zero is a value like any other.

Repeats: one Observation per answer (not a hasMember panel), so that every
Observation has a single value a chart can plot and a single identity.

Identity, so that writing twice writes once. The response carries a business
identifier (its own, a caller's, or one derived from questionnaire, subject
and authored time, in :data:`RESPONSE_IDENTIFIER_SYSTEM`). Each Observation's
identifier (:data:`OBSERVATION_IDENTIFIER_SYSTEM`) is a UUIDv5 of the response
identifier, the linkId path to the item (with the instance number of each
repeating group) and, for repeating questions, the answer's code (or its
position when the answer is not coded). A non-repeating item keeps its
identity whatever its value, which is what lets an ``amended`` response update
its earlier Observations instead of adding new ones.

The transaction (:func:`transaction_bundle`): the response and its
Observations written together. A completed response is created with
``ifNoneExist`` on its identifier, its Observations likewise; replaying the
Bundle creates nothing. An amended response is a PUT (by id, or conditional on
its identifier), and its Observations conditional PUTs with status
``amended``; given the ``previous`` version of the response, answers that the
amendment removed are PUT with status ``entered-in-error``. A Provenance
(target: response and Observations, agent: the author, recorded: authored)
goes in under an id derived the same way, by PUT, so it too is written once.
"""

from __future__ import annotations

import datetime as _dt
import hashlib
import re
import uuid
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import quote

from fhir_mbt.compiled_questionnaire import CompiledQuestionnaire, ItemDef, compile_questionnaire, questionnaire_for
from fhir_mbt.content import ContentIndex, shipped
from fhir_mbt.errors import ContentError
from fhir_mbt.response_errors import ExtractionError
from fhir_mbt.response_view import answer_value
from fhir_mbt.responses import LINK_ID_EXTENSION

__all__ = [
    "OBSERVATION_IDENTIFIER_SYSTEM",
    "RESPONSE_IDENTIFIER_SYSTEM",
    "PROVENANCE_ID_PREFIX",
    "ExtractionResult",
    "extract",
    "transaction_bundle",
    "response_identifier",
    "response_full_url",
    "with_identifier",
    "observation_profiles",
    "ObservationProfile",
]

OBSERVATION_IDENTIFIER_SYSTEM = "http://fhir-mbt.org/fhir/identifier/observation"
RESPONSE_IDENTIFIER_SYSTEM = "http://fhir-mbt.org/fhir/identifier/response"
PROVENANCE_ID_PREFIX = "mbt-prov-"
_NAMESPACE = uuid.uuid5(uuid.NAMESPACE_URL, "http://fhir-mbt.org/fhir")
_NAMESPACE_BYTES = _NAMESPACE.bytes
_INSTANT = re.compile(r"\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d+)?(Z|[+-]\d{2}:\d{2})")
_PERFORMER_TYPES = frozenset({"Practitioner", "PractitionerRole", "Organization", "CareTeam", "Patient",
                              "RelatedPerson"})
_BASED_ON_TYPES = frozenset({"CarePlan", "DeviceRequest", "ImmunizationRecommendation", "MedicationRequest",
                             "NutritionOrder", "ServiceRequest"})
_PART_OF_TYPES = frozenset({"MedicationAdministration", "MedicationDispense", "MedicationStatement", "Procedure",
                            "Immunization", "ImagingStudy"})
_EXTRACTABLE_STATUSES = frozenset({"completed", "amended"})
_UCUM = "http://unitsofmeasure.org"


@dataclass(frozen=True)
class ExtractionResult:
    """What :func:`extract` found.

    ``observations`` to write; ``retracted``, earlier Observations an amended
    response no longer supports (status ``entered-in-error``); ``problems``,
    OperationOutcome issues for every answer that could not be extracted;
    ``response``, the response as it should be stored (with its identifier).
    """

    observations: list[dict]
    problems: list[dict]
    response: dict
    retracted: list[dict] = field(default_factory=list)

    @property
    def complete(self) -> bool:
        """True when every extractable answer became an Observation."""
        return not self.problems


def _problem(where: str, message: str, link_id: str | None = None, severity: str = "error") -> dict:
    issue = {"severity": severity, "code": "processing", "diagnostics": message, "expression": [where]}
    if link_id:
        issue["extension"] = [{"url": LINK_ID_EXTENSION, "valueString": link_id}]
    return issue


# ------------------------------------------------------------------ identity
def response_identifier(response: dict, identifier: dict | str | None = None) -> dict:
    """The response's business identifier: its own, the caller's, or derived."""
    own = response.get("identifier")
    if isinstance(own, list):
        own = own[0] if own else None
    if isinstance(own, dict) and own.get("value"):
        return own
    if isinstance(identifier, str):
        return {"system": RESPONSE_IDENTIFIER_SYSTEM, "value": identifier}
    if isinstance(identifier, dict) and identifier.get("value"):
        return identifier
    basis = "|".join(
        str(x)
        for x in (
            response.get("questionnaire"),
            (response.get("subject") or {}).get("reference"),
            response.get("authored"),
            response.get("id"),
        )
    )
    if basis == "None|None|None|None":
        raise ExtractionError("the response has no identifier, id, subject or authored time to identify it by")
    return {"system": RESPONSE_IDENTIFIER_SYSTEM, "value": _uuid5(basis)}


def with_identifier(response: dict, identifier: dict | str | None = None) -> dict:
    """A shallow copy of ``response`` that carries its business identifier."""
    ident = response_identifier(response, identifier)
    if response.get("identifier") == ident:
        return response
    return {**response, "identifier": ident}


def _key(identifier: dict) -> str:
    return f"{identifier.get('system', '')}|{identifier['value']}"


def response_full_url(response: dict, identifier: dict | str | None = None) -> str:
    """The ``urn:uuid`` the response has inside a transaction (stable per identifier)."""
    return "urn:uuid:" + _uuid5("response#" + _key(response_identifier(response, identifier)))


def _uuid5(name: str) -> str:
    """``str(uuid.uuid5(_NAMESPACE, name))``, without the cost of a UUID object."""
    d = bytearray(hashlib.sha1(_NAMESPACE_BYTES + name.encode("utf-8")).digest()[:16])
    d[6] = (d[6] & 0x0F) | 0x50
    d[8] = (d[8] & 0x3F) | 0x80
    h = d.hex()
    return f"{h[:8]}-{h[8:12]}-{h[12:16]}-{h[16:20]}-{h[20:]}"


def _observation_identifier(resp_key: str, path: str, answer_key: str) -> dict:
    return {"system": OBSERVATION_IDENTIFIER_SYSTEM, "value": _uuid5(f"{resp_key}#{path}#{answer_key}")}


# ------------------------------------------------------------------ profiles
@dataclass(frozen=True)
class ObservationProfile:
    """A project Observation profile: which codes it is for, which value types it allows."""

    url: str
    codes: frozenset
    value_types: frozenset

    def allows(self, value_key: str) -> bool:
        return not self.value_types or value_key[5:] in self.value_types


_PROFILE_CACHE: dict[int, tuple[ContentIndex, list[ObservationProfile]]] = {}


def observation_profiles(index: ContentIndex) -> list[ObservationProfile]:
    """The content's Observation profiles, each with the codes its ``code`` binding admits.

    An Observation takes the profile whose code ValueSet holds its code, so
    the content decides (scores vs findings) and Python only follows.
    """
    hit = _PROFILE_CACHE.get(id(index))
    if hit is not None and hit[0] is index:
        return hit[1]
    found = []
    for sd in index.resources("StructureDefinition"):
        if sd.get("type") != "Observation" or sd.get("derivation") != "constraint" or not sd.get("url"):
            continue
        codes: set = set()
        types: set = set()
        for element in sd.get("differential", {}).get("element", ()):
            if element.get("path") == "Observation.code" and element.get("binding", {}).get("valueSet"):
                try:
                    codes |= {(c["system"], c["code"]) for c in index.expand(element["binding"]["valueSet"])}
                except ContentError:
                    continue
            if element.get("path") == "Observation.value[x]":
                types |= {t.get("code", "")[:1].upper() + t.get("code", "")[1:] for t in element.get("type", ())}
        found.append(ObservationProfile(sd["url"], frozenset(codes), frozenset(types)))
    _PROFILE_CACHE[id(index)] = (index, found)
    return found


def _profile_for(defn: ItemDef, profiles: list[ObservationProfile]) -> ObservationProfile | None:
    keys = {(c.get("system"), c.get("code")) for c in defn.extract_codes}
    return next((p for p in profiles if keys & p.codes), None)


# ---------------------------------------------------------------- extraction
def _ref_type(ref: dict) -> str | None:
    if isinstance(ref.get("type"), str):
        return ref["type"]
    text = ref.get("reference")
    if isinstance(text, str) and "/" in text and not text.startswith("urn:"):
        parts = text.rstrip("/").split("/")
        return parts[-2] if len(parts) >= 2 else None
    return None


def _refs(refs: Any, allowed: frozenset[str]) -> list[dict]:
    return [r for r in refs or () if isinstance(r, dict) and _ref_type(r) in allowed]


def _instant(value: Any) -> str | None:
    return value if isinstance(value, str) and _INSTANT.fullmatch(value) else None


def _now(now: _dt.datetime | str | None) -> str | None:
    if now is None:
        return None
    if isinstance(now, str):
        return _instant(now)
    if now.tzinfo is None:
        now = now.replace(tzinfo=_dt.timezone.utc)
    return now.isoformat(timespec="seconds")


def _quantity(number: Any, defn: ItemDef) -> dict:
    quantity: dict[str, Any] = {"value": number}
    unit = defn.unit
    if unit:
        if unit.get("display") or unit.get("code"):
            quantity["unit"] = unit.get("display") or unit.get("code")
        if unit.get("system") and unit.get("code"):
            quantity["system"] = unit["system"]
            quantity["code"] = unit["code"]
    return quantity


def _value(key: str, value: Any, defn: ItemDef, profile: ObservationProfile | None) -> tuple[str, Any] | None:
    if key == "valueInteger" and profile is not None and not profile.allows("valueQuantity"):
        return "valueInteger", value
    if key in ("valueInteger", "valueDecimal"):
        return "valueQuantity", _quantity(value, defn)
    if key == "valueBoolean":
        return "valueBoolean", value
    if key in ("valueString", "valueUri"):
        return "valueString", value
    if key in ("valueDate", "valueDateTime"):
        return "valueDateTime", value
    if key == "valueTime":
        return "valueTime", value
    if key == "valueCoding":
        concept: dict[str, Any] = {"coding": [{k: v for k, v in value.items() if k != "extension"}]}
        if value.get("display"):
            concept["text"] = value["display"]
        return "valueCodeableConcept", concept
    if key == "valueQuantity":
        return "valueQuantity", dict(value)
    return None


def _copy_concept(concept: dict) -> dict:
    out = dict(concept)
    if "coding" in out:
        out["coding"] = [dict(c) for c in out["coding"]]
    return out


def _plain_coding(coding: dict) -> dict:
    return {k: v for k, v in coding.items() if k != "extension"}


class _Extractor:
    def __init__(self, response: dict, compiled: CompiledQuestionnaire, resp_key: str, reference: str,
                 status: str, issued: str | None, profiles: list[ObservationProfile]):
        self.response = response
        self.compiled = compiled
        self.resp_key = resp_key
        self.status = status
        self.observations: list[dict] = []
        self.problems: list[dict] = []
        self.reported: set[str] = set()
        author = response.get("author")
        self.common: dict[str, Any] = {}
        based_on = _refs(response.get("basedOn"), _BASED_ON_TYPES)
        part_of = _refs(response.get("partOf"), _PART_OF_TYPES)
        if based_on:
            self.common["basedOn"] = based_on
        if part_of:
            self.common["partOf"] = part_of
        self.subject = response.get("subject")
        self.encounter = response.get("encounter")
        self.authored = response.get("authored")
        self.issued = issued
        self.performer = [author] if isinstance(author, dict) and (
            _ref_type(author) in _PERFORMER_TYPES or _ref_type(author) is None) else None
        self.derived_from = [{"reference": reference}]
        self.profiles = profiles

    def walk(self, items: Any, defs: tuple[ItemDef, ...], where: str, path: str):
        if not isinstance(items, list):
            return
        by_link = {d.link_id: d for d in reversed(defs)}
        instance: dict[str, int] = {}
        for i, node in enumerate(items):
            if not isinstance(node, dict):
                continue
            loc = f"{where}.item[{i}]"
            link_id = node.get("linkId")
            defn = by_link.get(link_id)
            n = instance[link_id] = instance.get(link_id, -1) + 1
            if defn is None:
                if node.get("answer"):
                    self.problems.append(_problem(loc, f"answers to unknown item {link_id!r} cannot be extracted",
                                                  link_id if isinstance(link_id, str) else None))
                continue
            step = f"{path}/{link_id}" + (f"[{n}]" if defn.repeats and defn.type == "group" else "")
            answers = node.get("answer") if isinstance(node.get("answer"), list) else []
            for j, answer in enumerate(answers):
                if not isinstance(answer, dict):
                    continue
                aloc = f"{loc}.answer[{j}]"
                if defn.extractable:
                    self.answer(answer, defn, aloc, step, j)
                self.walk(answer.get("item"), defn.children, aloc, step)
            self.walk(node.get("item"), defn.children, loc, step)

    def template(self, defn: ItemDef) -> tuple[ObservationProfile | None, dict, dict]:
        """What every Observation of ``defn`` shares: profile, category and code (built once)."""
        cache = self.compiled.extraction_cache
        key = (id(defn), id(self.profiles))
        hit = cache.get(key)
        if hit is None or hit[0] is not self.profiles:
            profile = _profile_for(defn, self.profiles)
            code: dict[str, Any] = {"coding": [_plain_coding(c) for c in defn.extract_codes]}
            if defn.text:
                code["text"] = defn.text
            hit = cache[key] = (self.profiles, profile, {"category": defn.category, "code": code})
        return hit[1], [_copy_concept(c) for c in hit[2]["category"]], _copy_concept(hit[2]["code"])

    def answer(self, answer: dict, defn: ItemDef, where: str, path: str, position: int):
        if not defn.extract_codes:
            if defn.link_id not in self.reported:
                self.reported.add(defn.link_id)
                self.problems.append(_problem(where, f"item {defn.link_id!r} is marked for extraction "
                                                     "but has no code for the Observation", defn.link_id))
            return
        key, value = answer_value(answer)
        if key is None:
            self.problems.append(_problem(where, f"answer to {defn.link_id!r} has no value", defn.link_id))
            return
        profile, category, code = self.template(defn)
        mapped = _value(key, value, defn, profile)
        if mapped is None:
            self.problems.append(_problem(where, f"a {key[5:]} answer to {defn.link_id!r} has no Observation "
                                                 "value type to go into", defn.link_id))
            return
        if defn.repeats:
            answer_key = (f"{value.get('system', '')}|{value.get('code', '')}" if key == "valueCoding"
                          else str(position))
        else:
            answer_key = ""
        if self.profiles and profile is None and defn.link_id not in self.reported:
            self.reported.add(defn.link_id)
            self.problems.append(_problem(where, f"no project Observation profile covers the code of "
                                                 f"{defn.link_id!r}", defn.link_id, severity="warning"))
        elif profile is not None and not profile.allows(mapped[0]):
            self.problems.append(_problem(where, f"{profile.url} does not allow {mapped[0]} "
                                                 f"(answer to {defn.link_id!r})", defn.link_id, severity="warning"))
        obs: dict[str, Any] = {"resourceType": "Observation"}
        if profile is not None:
            obs["meta"] = {"profile": [profile.url]}
        obs["identifier"] = [_observation_identifier(self.resp_key, path, answer_key)]
        obs.update(self.common)
        obs["status"] = self.status
        obs["category"] = category
        obs["code"] = code
        if self.subject:
            obs["subject"] = self.subject
        if self.encounter:
            obs["encounter"] = self.encounter
        if self.authored:
            obs["effectiveDateTime"] = self.authored
        if self.issued:
            obs["issued"] = self.issued
        if self.performer:
            obs["performer"] = list(self.performer)
        obs[mapped[0]] = mapped[1]
        obs["derivedFrom"] = list(self.derived_from)
        self.observations.append(obs)


def extract(
    response: dict,
    questionnaire: dict | None = None,
    index: ContentIndex | None = None,
    *,
    now: _dt.datetime | str | None = None,
    identifier: dict | str | None = None,
    reference: str | None = None,
    previous: dict | None = None,
    profiles: list[ObservationProfile] | None = None,
) -> ExtractionResult:
    """Extract Observations from a completed or amended ``response``.

    ``now`` stands in for ``issued`` when ``authored`` is not a full instant.
    ``identifier`` names the response when it has no identifier of its own.
    ``reference`` is how Observations point at the response (default: its
    transaction ``urn:uuid``, see :func:`response_full_url`). ``previous`` is
    the earlier version of an amended response. ``profiles`` are the
    Observation profiles to apply (default: those in the content).
    The response is expected to be valid (see :func:`fhir_mbt.responses.check_response`).
    """
    index = index if index is not None else shipped()
    status = response.get("status")
    if status not in _EXTRACTABLE_STATUSES:
        raise ExtractionError(f"Observations come only from a completed or amended response, not {status!r}")
    if questionnaire is None:
        questionnaire = questionnaire_for(response, index)
    compiled = compile_questionnaire(questionnaire, index)
    stored = with_identifier(response, identifier)
    ident = stored["identifier"]
    if profiles is None:
        profiles = observation_profiles(index)
    issued = _instant(response.get("authored")) or _now(now)
    extractor = _Extractor(
        stored, compiled, _key(ident), reference or response_full_url(stored),
        "amended" if status == "amended" else "final", issued, profiles,
    )
    extractor.walk(stored.get("item"), compiled.items, "QuestionnaireResponse", "")
    if extractor.observations:
        for key in ("subject", "authored"):
            if not response.get(key):
                extractor.problems.append(_problem(
                    f"QuestionnaireResponse.{key}",
                    f"the response has no {key}, so its Observations lack "
                    f"{'a subject' if key == 'subject' else 'an effective time'}"))
    retracted: list[dict] = []
    if previous is not None:
        earlier = extract(
            {**previous, "status": "completed", "identifier": ident}, questionnaire, index,
            now=now, reference=reference or response_full_url(stored), profiles=profiles,
        )
        current = {_key(o["identifier"][0]) for o in extractor.observations}
        for obs in earlier.observations:
            if _key(obs["identifier"][0]) not in current:
                retracted.append({**obs, "status": "entered-in-error"})
    return ExtractionResult(extractor.observations, extractor.problems, stored, retracted)


# --------------------------------------------------------------- transaction
_UUID = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}")
_URL_SAFE = re.compile(r"[A-Za-z0-9:/._~|-]*")


def _search(identifier: dict) -> str:
    key = _key(identifier)
    return "identifier=" + (key if _URL_SAFE.fullmatch(key) else quote(key, safe=":/|"))


def _provenance(stored: dict, targets: list[str], recorded: str, amended: bool, ident: dict) -> dict:
    author = stored.get("author")
    who = author if isinstance(author, dict) else {"display": "unknown author"}
    basis = f"{_key(ident)}#{stored.get('status')}#{stored.get('authored')}#{recorded}"
    prov_id = PROVENANCE_ID_PREFIX + _uuid5("provenance#" + basis)
    return {
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


def transaction_bundle(
    response: dict,
    observations: list[dict] | ExtractionResult,
    *,
    identifier: dict | str | None = None,
    retracted: list[dict] | None = None,
    provenance: bool = True,
    now: _dt.datetime | str | None = None,
) -> dict:
    """One transaction Bundle writing ``response`` and its Observations (see the module docstring).

    ``observations`` may be an :class:`ExtractionResult`, whose stored
    response and retracted Observations are then used too.
    """
    if isinstance(observations, ExtractionResult):
        retracted = observations.retracted if retracted is None else retracted
        response = observations.response
        observations = observations.observations
    stored = with_identifier(response, identifier)
    ident = stored["identifier"]
    amended = stored.get("status") == "amended"
    response_url = response_full_url(stored)
    if stored.get("id"):
        request = {"method": "PUT", "url": f"QuestionnaireResponse/{stored['id']}"}
    elif amended:
        request = {"method": "PUT", "url": f"QuestionnaireResponse?{_search(ident)}"}
    else:
        request = {"method": "POST", "url": "QuestionnaireResponse", "ifNoneExist": _search(ident)}
    entries = [{"fullUrl": response_url, "resource": stored, "request": request}]
    targets = [response_url]
    for obs, how in [(o, "write") for o in observations] + [(o, "retract") for o in retracted or ()]:
        obs_ident = obs.get("identifier", [None])[0]
        if not isinstance(obs_ident, dict) or not obs_ident.get("value"):
            raise ExtractionError("every Observation needs a business identifier to be written idempotently")
        if obs_ident.get("system") == OBSERVATION_IDENTIFIER_SYSTEM and _UUID.fullmatch(obs_ident["value"]):
            url = "urn:uuid:" + obs_ident["value"]
        else:
            url = "urn:uuid:" + _uuid5("observation#" + _key(obs_ident))
        if amended or how == "retract":
            req = {"method": "PUT", "url": f"Observation?{_search(obs_ident)}"}
        else:
            req = {"method": "POST", "url": "Observation", "ifNoneExist": _search(obs_ident)}
        entries.append({"fullUrl": url, "resource": obs, "request": req})
        targets.append(url)
    if provenance:
        # An amendment is recorded when it is made (``now``), not at the occasion it corrects.
        recorded = (_now(now) if amended else None) or _instant(stored.get("authored")) or _now(now)
        if recorded is None:
            raise ExtractionError("a Provenance needs `authored` as a full timestamp (or `now`) for its recorded time")
        prov = _provenance(stored, targets, recorded, amended, ident)
        entries.append({
            "fullUrl": "urn:uuid:" + prov["id"][len(PROVENANCE_ID_PREFIX):],
            "resource": prov,
            "request": {"method": "PUT", "url": f"Provenance/{prov['id']}"},
        })
    return {"resourceType": "Bundle", "type": "transaction", "entry": entries}
