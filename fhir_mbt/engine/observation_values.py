"""What an answer becomes in an Observation: profile, value, times, references.

An answer's value maps to an Observation value (integer and decimal to a
UCUM ``valueQuantity``, in the item's ``questionnaire-unit`` when it has one;
an integer without a unit stays ``valueInteger`` where the profile wants it), Coding to
``valueCodeableConcept``, and so on); the project profile an Observation
claims is the one whose code ValueSet holds the item's code.
"""

from __future__ import annotations

import datetime as _dt
import re
from dataclasses import dataclass
from typing import Any

from fhir_mbt.content.index import ContentIndex
from fhir_mbt.engine.compiled import ItemDef
from fhir_mbt.errors import ContentError

__all__ = [
    "ObservationProfile",
    "copy_concept",
    "instant",
    "now_instant",
    "observation_profiles",
    "observation_value",
    "plain_coding",
    "profile_for",
    "ref_type",
    "refs_of_type",
]

_INSTANT = re.compile(r"\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d+)?(Z|[+-]\d{2}:\d{2})")


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


def profile_for(defn: ItemDef, profiles: list[ObservationProfile]) -> ObservationProfile | None:
    keys = {(c.get("system"), c.get("code")) for c in defn.extract_codes}
    return next((p for p in profiles if keys & p.codes), None)


def ref_type(ref: dict) -> str | None:
    if isinstance(ref.get("type"), str):
        return ref["type"]
    text = ref.get("reference")
    if isinstance(text, str) and "/" in text and not text.startswith("urn:"):
        parts = text.rstrip("/").split("/")
        return parts[-2] if len(parts) >= 2 else None
    return None


def refs_of_type(refs: Any, allowed: frozenset[str]) -> list[dict]:
    return [r for r in refs or () if isinstance(r, dict) and ref_type(r) in allowed]


def instant(value: Any) -> str | None:
    return value if isinstance(value, str) and _INSTANT.fullmatch(value) else None


def now_instant(now: _dt.datetime | str | None) -> str | None:
    if now is None:
        return None
    if isinstance(now, str):
        return instant(now)
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


def observation_value(key: str, value: Any, defn: ItemDef, profile: ObservationProfile | None) -> tuple[str, Any] | None:
    if key == "valueCoding":  # the usual answer first
        concept: dict[str, Any] = {"coding": [plain_coding(value)]}
        if value.get("display"):
            concept["text"] = value["display"]
        return "valueCodeableConcept", concept
    if key == "valueInteger" and not defn.unit and profile is not None and not profile.allows("valueQuantity"):
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


def copy_concept(concept: dict) -> dict:
    out = dict(concept)
    if "coding" in out:
        out["coding"] = list(map(dict, out["coding"]))
    return out


def plain_coding(coding: dict) -> dict:
    """A copy of ``coding`` without its extensions."""
    if type(coding) is not dict:
        return {k: v for k, v in coding.items() if k != "extension"}
    out = dict(coding)
    if "extension" in out:
        del out["extension"]
    return out
