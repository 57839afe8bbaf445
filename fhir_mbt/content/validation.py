"""Check FHIR content: R4 structure plus the project's own content rules.

Each rule is a small function that yields :class:`Problem` records; a problem
names the file, a FHIRPath-style location inside the resource and a message,
so a person can go straight to it. ``validate_index`` runs every rule over a
:class:`~fhir_mbt.content.ContentIndex`.

The rules:

- ``json-schema``    the resource conforms to the FHIR R4 JSON schema
- ``r4-model``       the resource parses with the fhir.resources R4B models
- ``view-shape``     instead of the two above, for the logical-model types
                     R4 does not know (SQL-on-FHIR v2 ViewDefinition): the
                     specification's ViewDefinition shape
- ``file-name``      the file is named ``Type-id.json`` and matches the resource
- ``canonical``      ``url`` is ``{base}/{Type}/{id}`` for the manifest's base
- ``metadata``       version (the package's), status, publisher, date,
                     description and copyright are present; a Questionnaire's
                     version comes with its versionAlgorithm (SDC's sdc-2), semver
- ``duplicate``      no two resources share a canonical URL or Type/id
- ``link-id``        linkIds are unique within a Questionnaire
- ``code``           every code of a project CodeSystem used anywhere exists
                     there (and its display, if given, matches)
- ``value-set``      every answerValueSet resolves and can be expanded
- ``extract-code``   every item marked for observation extraction has a code
- ``reference``      every canonical under the project's base resolves
                     (profiles, ObservationDefinitions, extensions, ValueSets)
- ``guide``          the ImplementationGuide lists every shipped resource,
                     and nothing else
"""

from __future__ import annotations

import gzip
import json
import re
from dataclasses import dataclass
from functools import lru_cache
from importlib import resources
from typing import Callable, Iterable, Iterator

from fhir_mbt.content import extensions as ext
from fhir_mbt.content.index import ContentIndex, LoadedResource, Manifest, split_canonical
from fhir_mbt.content.view_shape import LOGICAL_TYPES, view_definition_problems
from fhir_mbt.errors import ContentInvalid

__all__ = ["Problem", "RULES", "validate_index", "check_index", "validate_resource_structure"]


#: Resource types whose instances carry a canonical ``url``.
CANONICAL_TYPES = frozenset(
    {
        "CodeSystem",
        "ValueSet",
        "ConceptMap",
        "Questionnaire",
        "StructureDefinition",
        "ImplementationGuide",
        "SearchParameter",
        "OperationDefinition",
        "CapabilityStatement",
        "NamingSystem",
        "StructureMap",
        "Library",
        "PlanDefinition",
        "ActivityDefinition",
        "ViewDefinition",
    }
)
METADATA_FIELDS = ("version", "status", "publisher", "date", "description", "copyright")


@dataclass(frozen=True)
class Problem:
    """One thing wrong with one resource."""

    file: str
    location: str
    message: str
    rule: str
    severity: str = "error"

    def __str__(self) -> str:
        return f"{self.file}: {self.location}: {self.message} [{self.rule}]"

    def as_dict(self) -> dict:
        return {
            "file": self.file,
            "location": self.location,
            "message": self.message,
            "rule": self.rule,
            "severity": self.severity,
        }


Rule = Callable[[ContentIndex, LoadedResource], Iterable[Problem]]


def _problem(item: LoadedResource, location: str, message: str, rule: str) -> Problem:
    return Problem(str(item.path), location, message, rule)


def _path(resource_type: str, parts: Iterable) -> str:
    out = resource_type or "Resource"
    for part in parts:
        out += f"[{part}]" if isinstance(part, int) else f".{part}"
    return out


def walk(node, path: tuple = ()) -> Iterator[tuple[tuple, object]]:
    """Every (path, value) pair of a JSON tree, depth first."""
    yield path, node
    if isinstance(node, dict):
        for key, value in node.items():
            yield from walk(value, path + (key,))
    elif isinstance(node, list):
        for i, value in enumerate(node):
            yield from walk(value, path + (i,))


# structure -------------------------------------------------------------------
@lru_cache(maxsize=1)
def _schema_definitions() -> dict:
    data = resources.files("fhir_mbt.content.schema").joinpath("fhir.r4.schema.json.gz").read_bytes()
    return json.loads(gzip.decompress(data))["definitions"]


@lru_cache(maxsize=None)
def _schema_validator(resource_type: str):
    import jsonschema

    definitions = _schema_definitions()
    if resource_type not in definitions:
        return None
    schema = {"$ref": f"#/definitions/{resource_type}", "definitions": definitions}
    return jsonschema.Draft6Validator(schema)


def validate_resource_structure(resource: dict) -> list[tuple[str, str, str]]:
    """R4 structural problems of one resource as (rule, location, message)."""
    rtype = resource.get("resourceType", "")
    out: list[tuple[str, str, str]] = []
    validator = _schema_validator(rtype)
    if validator is None:
        return [("json-schema", _path(rtype, ()), f"unknown resourceType {rtype!r}")]
    for err in sorted(validator.iter_errors(resource), key=lambda e: list(map(str, e.absolute_path))):
        message = err.message if len(err.message) < 300 else err.message[:297] + "..."
        out.append(("json-schema", _path(rtype, err.absolute_path), message))
    if not out:
        out.extend(_model_problems(resource))
    return out


def _model_view(value, aside: list, where: tuple = (), in_extension: bool = False):
    """``value`` as the fhir.resources models can read it; what they cannot goes to ``aside``.

    Those models leave out the extensions of an extension's own primitive
    value (``_valueDate`` on an Extension, where SDC puts the
    ``cqf-calculatedValue`` of a computed minValue/maxValue), which is valid
    R4 JSON. They see the resource without them, and each one is checked on
    its own as an Element: ``(location, element)`` pairs in ``aside``.
    """
    if isinstance(value, list):
        return [_model_view(v, aside, (*where, i), in_extension) for i, v in enumerate(value)]
    if isinstance(value, dict):
        out = {}
        for key, found in value.items():
            if in_extension and key.startswith("_value"):
                aside.append(((*where, key), found))
            else:
                out[key] = _model_view(found, aside, (*where, key), key in ("extension", "modifierExtension"))
        return out
    return value


def _model_problems(resource: dict) -> list[tuple[str, str, str]]:
    from fhir.resources.R4B import get_fhir_model_class
    from fhir.resources.R4B.element import Element
    from pydantic import ValidationError

    rtype = resource["resourceType"]
    aside: list = []
    problems = []
    checks = [((), get_fhir_model_class(rtype), _model_view(resource, aside))]
    checks += [(where, Element, element) for where, element in aside]
    for where, model, data in checks:
        try:
            model.model_validate(data)
        except ValidationError as exc:
            problems += [("r4-model", _path(rtype, (*where, *e["loc"])), e["msg"]) for e in exc.errors()]
    return problems


def rule_structure(index: ContentIndex, item: LoadedResource) -> Iterator[Problem]:
    if item.resource_type in LOGICAL_TYPES:  # not R4: its own shape, not the R4 schema and models
        for location, message in view_definition_problems(item.resource):
            yield _problem(item, location, message, "view-shape")
        return
    for rule, location, message in validate_resource_structure(item.resource):
        yield _problem(item, location, message, rule)


# naming and metadata ---------------------------------------------------------
def rule_file_name(index: ContentIndex, item: LoadedResource) -> Iterator[Problem]:
    rtype, rid = item.resource_type, item.id
    expected = f"{rtype}-{rid}.json"
    if not rid:
        yield _problem(item, rtype, "resource has no id", "file-name")
    elif item.path.name != expected:
        yield _problem(item, f"{rtype}.id", f"file should be named {expected} (Type-id.json)", "file-name")


def _manifest(index: ContentIndex) -> Manifest | None:
    return index.manifest


def rule_canonical(index: ContentIndex, item: LoadedResource) -> Iterator[Problem]:
    manifest = _manifest(index)
    if manifest is None or item.example:
        return
    res, rtype = item.resource, item.resource_type
    expected = manifest.canonical_for(rtype, item.id)
    if rtype in CANONICAL_TYPES:
        if res.get("url") != expected:
            yield _problem(item, f"{rtype}.url", f"url must be {expected}, found {res.get('url')!r}", "canonical")
    elif rtype == "ObservationDefinition":
        system = f"{manifest.canonical}/{rtype}"
        ids = [i for i in res.get("identifier", []) if i.get("system") == system]
        if not ids or ids[0].get("value") != item.id:
            yield _problem(
                item, f"{rtype}.identifier", f"needs identifier system {system} with value {item.id!r}", "canonical"
            )


def rule_metadata(index: ContentIndex, item: LoadedResource) -> Iterator[Problem]:
    manifest = _manifest(index)
    res, rtype = item.resource, item.resource_type
    if item.example or rtype not in CANONICAL_TYPES:
        return
    for name in METADATA_FIELDS:
        value = res.get(name)
        if not isinstance(value, str) or not value.strip():
            yield _problem(item, f"{rtype}.{name}", f"{name} is required for every definition", "metadata")
    if manifest and res.get("version") and res["version"] != manifest.version:
        yield _problem(
            item,
            f"{rtype}.version",
            f"version {res['version']!r} differs from the package version {manifest.version!r}",
            "metadata",
        )
    if rtype == "Questionnaire" and res.get("version") and ext.version_algorithm(res) != "semver":
        yield _problem(
            item,
            f"{rtype}.extension",
            "a Questionnaire with a version needs the versionAlgorithm extension (R5 cross-version) "
            "with the code semver: the package's versions are semantic versions (SDC rule sdc-2)",
            "metadata",
        )


def rule_duplicates(index: ContentIndex, item: LoadedResource) -> Iterator[Problem]:
    for other in index.loaded:
        if other is item:
            break
        if other.resource_type == item.resource_type and other.id == item.id and item.id:
            yield _problem(item, f"{item.resource_type}.id", f"same Type/id as {other.path}", "duplicate")
        url = item.resource.get("url")
        if url and other.resource.get("url") == url and other.resource.get("version") == item.resource.get("version"):
            yield _problem(item, f"{item.resource_type}.url", f"same canonical URL as {other.path}", "duplicate")


# Questionnaire rules ---------------------------------------------------------
def _items(items: list, path: tuple) -> Iterator[tuple[tuple, dict, tuple]]:
    """(path, item, ancestors) for every item, depth first."""
    for i, item in enumerate(items or []):
        here = path + ("item", i)
        yield here, item, ()
        for sub_path, sub, ancestors in _items(item.get("item", []), here):
            yield sub_path, sub, (item,) + ancestors


def rule_link_ids(index: ContentIndex, item: LoadedResource) -> Iterator[Problem]:
    if item.resource_type != "Questionnaire":
        return
    seen: dict[str, tuple] = {}
    for path, q_item, _ in _items(item.resource.get("item", []), ()):
        link_id = q_item.get("linkId")
        location = _path("Questionnaire", path + ("linkId",))
        if not link_id:
            yield _problem(item, location, "item has no linkId", "link-id")
        elif link_id in seen:
            first = _path("Questionnaire", seen[link_id])
            yield _problem(item, location, f"linkId {link_id!r} already used at {first}", "link-id")
        else:
            seen[link_id] = path


def rule_extract_code(index: ContentIndex, item: LoadedResource) -> Iterator[Problem]:
    if item.resource_type != "Questionnaire":
        return
    root = ext.observation_extract(item.resource)
    for path, q_item, _ in _extractable_items(item.resource.get("item", []), (), root):
        if q_item.get("type") in ("group", "display"):
            continue
        if not q_item.get("code"):
            yield _problem(
                item,
                _path("Questionnaire", path),
                f"item {q_item.get('linkId')!r} is marked for observation extraction but has no code",
                "extract-code",
            )


def _extractable_items(items: list, path: tuple, inherited: bool | None) -> Iterator[tuple[tuple, dict, bool]]:
    for i, q_item in enumerate(items or []):
        here = path + ("item", i)
        own = ext.observation_extract(q_item)
        flag = inherited if own is None else own
        if flag:
            yield here, q_item, True
        yield from _extractable_items(q_item.get("item", []), here, flag)


def rule_value_sets(index: ContentIndex, item: LoadedResource) -> Iterator[Problem]:
    if item.resource_type != "Questionnaire":
        return
    for path, q_item, _ in _items(item.resource.get("item", []), ()):
        canonical = q_item.get("answerValueSet")
        if not canonical:
            continue
        location = _path("Questionnaire", path + ("answerValueSet",))
        if index.find(canonical) is None:
            yield _problem(item, location, f"answerValueSet {canonical} does not resolve", "value-set")
            continue
        try:
            expansion = index.expand(split_canonical(canonical)[0])
        except Exception as exc:  # any expansion failure is a content problem
            yield _problem(item, location, f"answerValueSet {canonical} cannot be expanded: {exc}", "value-set")
            continue
        if not expansion:
            yield _problem(item, location, f"answerValueSet {canonical} expands to nothing", "value-set")


# codes and references --------------------------------------------------------
def _codings(resource: dict) -> Iterator[tuple[tuple, dict]]:
    for path, node in walk(resource):
        if isinstance(node, dict) and isinstance(node.get("system"), str) and isinstance(node.get("code"), str):
            yield path, node


def rule_codes(index: ContentIndex, item: LoadedResource) -> Iterator[Problem]:
    rtype = item.resource_type
    for path, coding in _codings(item.resource):
        system = coding["system"]
        if not index.knows_system(system):
            continue
        concept = index.concept(system, coding["code"])
        location = _path(rtype, path + ("code",))
        if concept is None:
            yield _problem(item, location, f"code {coding['code']!r} is not in {system}", "code")
        elif coding.get("display") and coding["display"] != concept.get("display"):
            yield _problem(
                item,
                _path(rtype, path + ("display",)),
                f"display {coding['display']!r} differs from the CodeSystem's {concept.get('display')!r}",
                "code",
            )
    if rtype == "ValueSet":
        for i, include in enumerate(item.resource.get("compose", {}).get("include", [])):
            system = include.get("system")
            if not system or not index.knows_system(system):
                continue
            for j, concept in enumerate(include.get("concept", [])):
                if index.concept(system, concept.get("code", "")) is None:
                    location = _path(rtype, ("compose", "include", i, "concept", j, "code"))
                    yield _problem(item, location, f"code {concept.get('code')!r} is not in {system}", "code")
            for j, flt in enumerate(include.get("filter", [])):
                if flt.get("property") == "concept" and index.concept(system, flt.get("value", "")) is None:
                    location = _path(rtype, ("compose", "include", i, "filter", j, "value"))
                    yield _problem(item, location, f"filter value {flt.get('value')!r} is not in {system}", "code")


_TYPE_PATTERN = r"[A-Z][A-Za-z]+"


def _canonical_pattern(base: str) -> re.Pattern:
    return re.compile(rf"^{re.escape(base)}/({_TYPE_PATTERN})/([A-Za-z0-9\-.]+)(?:\|(.+))?$")


def rule_references(index: ContentIndex, item: LoadedResource) -> Iterator[Problem]:
    manifest = _manifest(index)
    if manifest is None:
        return
    pattern = _canonical_pattern(manifest.canonical)
    rtype = item.resource_type
    for path, node in walk(item.resource):
        if not isinstance(node, str):
            continue
        match = pattern.match(node)
        if not match:
            continue
        ref_type, ref_id, version = match.groups()
        url = node.split("|", 1)[0]
        location = _path(rtype, path)
        if ref_type == "ObservationDefinition":
            target = index._by_key.get((ref_type, ref_id))
        else:
            target = index.find(url, version)
        if target is None:
            what = f"{url} version {version}" if version else url
            yield _problem(item, location, f"{what} does not resolve to a shipped {ref_type}", "reference")
        elif target.get("resourceType") != ref_type:
            yield _problem(item, location, f"{node} is a {target.get('resourceType')}, not a {ref_type}", "reference")


def rule_guide(index: ContentIndex, item: LoadedResource) -> Iterator[Problem]:
    if item.resource_type != "ImplementationGuide":
        return
    listed: dict[str, int] = {}
    for i, entry in enumerate(item.resource.get("definition", {}).get("resource", [])):
        ref = entry.get("reference", {}).get("reference", "")
        listed[ref] = i
        rtype, _, rid = ref.partition("/")
        if (rtype, rid) not in index._by_key:
            location = _path("ImplementationGuide", ("definition", "resource", i, "reference", "reference"))
            yield _problem(item, location, f"{ref} is not a shipped resource", "guide")
    for other in index.loaded:
        key = f"{other.resource_type}/{other.id}"
        if other is not item and key not in listed:
            yield _problem(item, "ImplementationGuide.definition.resource", f"{key} ({other.path.name}) is not listed", "guide")


RULES: dict[str, Rule] = {
    "structure": rule_structure,
    "file-name": rule_file_name,
    "canonical": rule_canonical,
    "metadata": rule_metadata,
    "duplicate": rule_duplicates,
    "link-id": rule_link_ids,
    "code": rule_codes,
    "value-set": rule_value_sets,
    "extract-code": rule_extract_code,
    "reference": rule_references,
    "guide": rule_guide,
}


def validate_index(index: ContentIndex, only: Iterable[LoadedResource] | None = None) -> list[Problem]:
    """Every problem in the indexed content (or in ``only`` of its resources)."""
    targets = list(only) if only is not None else index.loaded
    problems: list[Problem] = []
    for item in targets:
        for rule in RULES.values():
            problems.extend(rule(index, item))
    return problems


def check_index(index: ContentIndex) -> None:
    """Raise :class:`~fhir_mbt.errors.ContentInvalid` if the content has any problem."""
    problems = validate_index(index)
    if problems:
        raise ContentInvalid(problems)
