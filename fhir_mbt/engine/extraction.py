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
Zero is a value like any other (the mapping: :mod:`fhir_mbt.engine.observation_values`).

Repeats: one Observation per answer (not a hasMember panel), so that every
Observation has a single value a chart can plot and a single identity (see
:mod:`fhir_mbt.engine.identity`); :mod:`fhir_mbt.engine.bundle` writes them.
"""

from __future__ import annotations

import datetime as _dt
from dataclasses import dataclass, field
from typing import Any

from fhir_mbt.content.index import ContentIndex, shipped
from fhir_mbt.engine.compiled import CompiledQuestionnaire, ItemDef, compile_questionnaire, questionnaire_for
from fhir_mbt.engine.errors import ExtractionError
from fhir_mbt.engine.identity import ObservationIds, identifier_key, response_full_url, with_identifier
from fhir_mbt.engine.observation_values import (
    ObservationProfile,
    copy_concept,
    instant,
    now_instant,
    observation_profiles,
    observation_value,
    plain_coding,
    profile_for,
    ref_type,
    refs_of_type,
)
from fhir_mbt.engine.outcome import LINK_ID_EXTENSION
from fhir_mbt.engine.view import answer_value

__all__ = ["ExtractionResult", "extract"]

_PERFORMER_TYPES = frozenset({"Practitioner", "PractitionerRole", "Organization", "CareTeam", "Patient",
                              "RelatedPerson"})
_BASED_ON_TYPES = frozenset({"CarePlan", "DeviceRequest", "ImmunizationRecommendation", "MedicationRequest",
                             "NutritionOrder", "ServiceRequest"})
_PART_OF_TYPES = frozenset({"MedicationAdministration", "MedicationDispense", "MedicationStatement", "Procedure",
                            "Immunization", "ImagingStudy"})
_EXTRACTABLE_STATUSES = frozenset({"completed", "amended"})


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
        self.identifier = ObservationIds(resp_key)
        self.status = status
        self.observations: list[dict] = []
        self.problems: list[dict] = []
        self.reported: set[str] = set()
        author = response.get("author")
        self.common: dict[str, Any] = {}
        based_on = refs_of_type(response.get("basedOn"), _BASED_ON_TYPES)
        part_of = refs_of_type(response.get("partOf"), _PART_OF_TYPES)
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
            ref_type(author) in _PERFORMER_TYPES or ref_type(author) is None) else None
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
            code: dict[str, Any] = {"coding": [plain_coding(c) for c in defn.extract_codes]}
            if defn.text:
                code["text"] = defn.text
            template = self.templates[defn] = _Template(profile_for(defn, self.profiles), defn.category, code, {})
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
        mapped = observation_value(key, value, defn, profile)
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
        obs["category"] = list(map(copy_concept, template.category))
        obs["code"] = copy_concept(template.code)
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
    The response is expected to be valid (see :func:`fhir_mbt.engine.validate.check_response`).
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
    issued = instant(response.get("authored")) or now_instant(now)
    extractor = _Extractor(
        stored, compiled, identifier_key(ident), reference or response_full_url(stored),
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
        current = {identifier_key(o["identifier"][0]) for o in extractor.observations}
        for obs in earlier.observations:
            if identifier_key(obs["identifier"][0]) not in current:
                retracted.append({**obs, "status": "entered-in-error"})
    return ExtractionResult(extractor.observations, extractor.problems, stored, retracted)


