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
    return _uuid_text(hashlib.sha1(_NAMESPACE_BYTES + name.encode("utf-8")).digest())


#: The RFC 4122 variant digit (10xx) for each hex digit the hash gave in its place.
_VARIANT = {c: "89ab"[int(c, 16) & 3] for c in "0123456789abcdef"}


def _uuid_text(sha1: bytes) -> str:
    """The name-based (version 5) UUID, as text, whose SHA-1 is ``sha1``."""
    h = sha1.hex()
    return f"{h[:8]}-{h[8:12]}-5{h[13:16]}-{_VARIANT[h[16]]}{h[17:20]}-{h[20:32]}"


class _ObservationIds:
    """Observation identifiers of one response: ``_uuid5(f"{resp_key}#{path}#{answer_key}")``.

    A response has dozens of Observations whose names share the response
    key, so its part of the hash is computed once and copied.
    """

    __slots__ = ("_prefix",)

    def __init__(self, resp_key: str):
        self._prefix = hashlib.sha1(_NAMESPACE_BYTES + f"{resp_key}#".encode("utf-8"))

    def __call__(self, path: str, answer_key: str) -> dict:
        digest = self._prefix.copy()
        digest.update(f"{path}#{answer_key}".encode("utf-8"))
        return {"system": OBSERVATION_IDENTIFIER_SYSTEM, "value": _uuid_text(digest.digest())}


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
    if key == "valueCoding":  # the usual answer first
        concept: dict[str, Any] = {"coding": [_plain_coding(value)]}
        if value.get("display"):
            concept["text"] = value["display"]
        return "valueCodeableConcept", concept
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
    if key == "valueQuantity":
        return "valueQuantity", dict(value)
    return None


def _copy_concept(concept: dict) -> dict:
    out = dict(concept)
    if "coding" in out:
        out["coding"] = list(map(dict, out["coding"]))
    return out


def _plain_coding(coding: dict) -> dict:
    """A copy of ``coding`` without its extensions."""
    if type(coding) is not dict:
        return {k: v for k, v in coding.items() if k != "extension"}
    out = dict(coding)
    if "extension" in out:
        del out["extension"]
    return out


def _answer_at(where: str, i: int, j: int) -> str:
    """The location of answer ``j`` of item ``i`` under ``where`` (built only for a problem)."""
    return f"{where}.item[{i}].answer[{j}]"


@dataclass(frozen=True)
class _Template:
    """What every Observation of one item shares (see :meth:`_Extractor.template`)."""

    profile: ObservationProfile | None
    category: list[dict]
    code: dict
    allows: dict[str, bool]


class _Extractor:
    def __init__(self, response: dict, compiled: CompiledQuestionnaire, resp_key: str, reference: str,
                 status: str, issued: str | None, profiles: list[ObservationProfile]):
        self.response = response
        self.compiled = compiled
        self.resp_key = resp_key
        self.identifier = _ObservationIds(resp_key)
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
        # subject, encounter, effective and issued: the same in every Observation, in this order.
        self.context: dict[str, Any] = {}
        for key, value in (("subject", response.get("subject")), ("encounter", response.get("encounter")),
                           ("effectiveDateTime", response.get("authored")), ("issued", issued)):
            if value:
                self.context[key] = value
        self.performer = [author] if isinstance(author, dict) and (
            _ref_type(author) in _PERFORMER_TYPES or _ref_type(author) is None) else None
        self.derived_from = [{"reference": reference}]
        self.profiles = profiles
        # Templates are kept with the compiled Questionnaire, per list of profiles they were made for.
        cache = compiled.extraction_cache
        entry = cache.get(id(profiles))
        if entry is None or entry[0] is not profiles:
            entry = cache[id(profiles)] = (profiles, {})
        self.templates: dict[ItemDef, _Template] = entry[1]

    def walk(self, items: Any, by_link: dict[str, ItemDef], where: str, path: str):
        """Extract from sibling ``items``, whose definitions ``by_link`` holds.

        ``where`` locates the list for problems, ``path`` is the linkId path
        that goes into identifiers. Location strings are built only where
        they are needed (a problem, or items further down).
        """
        if not isinstance(items, list):
            return
        instance: dict[str, int] = {}
        for i, node in enumerate(items):
            if not isinstance(node, dict):
                continue
            link_id = node.get("linkId")
            defn = by_link.get(link_id)
            if defn is None:
                if node.get("answer"):
                    self.problems.append(_problem(f"{where}.item[{i}]",
                                                  f"answers to unknown item {link_id!r} cannot be extracted",
                                                  link_id if isinstance(link_id, str) else None))
                continue
            if defn.repeats and defn.type == "group":
                n = instance[link_id] = instance.get(link_id, -1) + 1
                step = f"{path}/{link_id}[{n}]"
            else:
                step = f"{path}/{link_id}"
            answers = node.get("answer")
            if isinstance(answers, list):
                for j, answer in enumerate(answers):
                    if not isinstance(answer, dict):
                        continue
                    if defn.extractable:
                        self.answer(answer, defn, where, i, j, step)
                    if "item" in answer:
                        self.walk(answer["item"], defn.child_by_link, _answer_at(where, i, j), step)
            if "item" in node:
                self.walk(node["item"], defn.child_by_link, f"{where}.item[{i}]", step)

    def template(self, defn: ItemDef) -> _Template:
        """What every Observation of ``defn`` shares: profile, category and code (built once per item)."""
        template = self.templates.get(defn)
        if template is None:
            code: dict[str, Any] = {"coding": [_plain_coding(c) for c in defn.extract_codes]}
            if defn.text:
                code["text"] = defn.text
            template = self.templates[defn] = _Template(_profile_for(defn, self.profiles), defn.category, code, {})
        return template

    def answer(self, answer: dict, defn: ItemDef, where: str, i: int, j: int, path: str):
        if not defn.extract_codes:
            if defn.link_id not in self.reported:
                self.reported.add(defn.link_id)
                self.problems.append(_problem(_answer_at(where, i, j), f"item {defn.link_id!r} is marked for "
                                              "extraction but has no code for the Observation", defn.link_id))
            return
        key, value = answer_value(answer)
        if key is None:
            self.problems.append(_problem(_answer_at(where, i, j), f"answer to {defn.link_id!r} has no value",
                                          defn.link_id))
            return
        template = self.templates.get(defn) or self.template(defn)
        profile = template.profile
        mapped = _value(key, value, defn, profile)
        if mapped is None:
            self.problems.append(_problem(_answer_at(where, i, j), f"a {key[5:]} answer to {defn.link_id!r} has "
                                          "no Observation value type to go into", defn.link_id))
            return
        value_key, observed = mapped
        if defn.repeats:
            answer_key = (f"{value.get('system', '')}|{value.get('code', '')}" if key == "valueCoding"
                          else str(j))
        else:
            answer_key = ""
        if profile is None:
            if self.profiles and defn.link_id not in self.reported:
                self.reported.add(defn.link_id)
                self.problems.append(_problem(_answer_at(where, i, j), "no project Observation profile covers "
                                              f"the code of {defn.link_id!r}", defn.link_id, severity="warning"))
        else:
            allowed = template.allows.get(value_key)
            if allowed is None:
                allowed = template.allows[value_key] = profile.allows(value_key)
            if not allowed:
                self.problems.append(_problem(_answer_at(where, i, j), f"{profile.url} does not allow "
                                              f"{value_key} (answer to {defn.link_id!r})", defn.link_id,
                                              severity="warning"))
        obs: dict[str, Any] = {"resourceType": "Observation"}
        if profile is not None:
            obs["meta"] = {"profile": [profile.url]}
        obs["identifier"] = [self.identifier(path, answer_key)]
        if self.common:
            obs.update(self.common)
        obs["status"] = self.status
        obs["category"] = list(map(_copy_concept, template.category))
        obs["code"] = _copy_concept(template.code)
        obs.update(self.context)
        if self.performer:
            obs["performer"] = list(self.performer)
        obs[value_key] = observed
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
    extractor.walk(stored.get("item"), compiled.root_by_link, "QuestionnaireResponse", "")
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


def _observation_entry(obs: dict, put: bool) -> dict:
    """The transaction entry writing ``obs``: a conditional PUT, or a create unless its identifier exists."""
    ident = obs.get("identifier", [None])[0]
    if not isinstance(ident, dict) or not ident.get("value"):
        raise ExtractionError("every Observation needs a business identifier to be written idempotently")
    value = ident["value"]
    if ident.get("system") == OBSERVATION_IDENTIFIER_SYSTEM and _UUID.fullmatch(value):
        url = "urn:uuid:" + value
        # What _search gives for one of our own identifiers (system and UUID need no escaping).
        search = f"identifier={OBSERVATION_IDENTIFIER_SYSTEM}|{value}"
    else:
        url = "urn:uuid:" + _uuid5("observation#" + _key(ident))
        search = _search(ident)
    if put:
        return {"fullUrl": url, "resource": obs, "request": {"method": "PUT", "url": f"Observation?{search}"}}
    return {"fullUrl": url, "resource": obs,
            "request": {"method": "POST", "url": "Observation", "ifNoneExist": search}}


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
    for group, put in ((observations, amended), (retracted or (), True)):
        for obs in group:
            entry = _observation_entry(obs, put)
            entries.append(entry)
            targets.append(entry["fullUrl"])
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
