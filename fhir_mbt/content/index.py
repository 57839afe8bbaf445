"""Load, index and look up FHIR definitions by canonical URL and version.

The shipped definitions live in the ``questionnaires/`` folder of the source
tree, installed as the ``fhir_mbt.definitions`` package. A :class:`ContentIndex`
can also be built from any folder or list of files, which is how the
validator checks content that is not (yet) shipped.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from functools import lru_cache
from importlib import resources
from pathlib import Path
from typing import Iterable, Iterator

from fhir_mbt.content import extensions as ext
from fhir_mbt.errors import ContentError, ContentNotFound

__all__ = [
    "ContentIndex",
    "LoadedResource",
    "Manifest",
    "definitions_dir",
    "load_manifest",
    "resource_files",
    "shipped",
    "split_canonical",
]

MANIFEST_NAME = "package.json"
EXAMPLES_DIR = "examples"


def definitions_dir() -> Path:
    """The folder the shipped definitions are installed in."""
    return Path(str(resources.files("fhir_mbt.definitions")))


def split_canonical(canonical: str) -> tuple[str, str | None]:
    """Split ``url|version`` into its parts (version None when absent)."""
    url, sep, version = canonical.partition("|")
    return url, (version if sep and version else None)


@dataclass(frozen=True)
class Manifest:
    """The package manifest: the one place the canonical base and version are declared."""

    name: str
    version: str
    canonical: str
    fhir_versions: tuple[str, ...]
    raw: dict = field(repr=False, compare=False)

    @classmethod
    def from_dict(cls, data: dict) -> "Manifest":
        try:
            return cls(
                name=data["name"],
                version=data["version"],
                canonical=data["canonical"].rstrip("/"),
                fhir_versions=tuple(data["fhirVersions"]),
                raw=data,
            )
        except (KeyError, TypeError, AttributeError) as exc:
            raise ContentError(f"package manifest is missing or malformed: {exc}") from exc

    def canonical_for(self, resource_type: str, resource_id: str) -> str:
        return f"{self.canonical}/{resource_type}/{resource_id}"


def load_manifest(folder: Path | None = None) -> Manifest:
    path = (folder or definitions_dir()) / MANIFEST_NAME
    try:
        return Manifest.from_dict(json.loads(path.read_text(encoding="utf-8")))
    except FileNotFoundError as exc:
        raise ContentError(f"{path}: package manifest not found") from exc
    except json.JSONDecodeError as exc:
        raise ContentError(f"{path}: not valid JSON: {exc}") from exc


@dataclass(frozen=True)
class LoadedResource:
    """A resource as read from disk, with where it came from."""

    path: Path
    resource: dict
    example: bool = False

    @property
    def resource_type(self) -> str:
        return self.resource.get("resourceType", "")

    @property
    def id(self) -> str:
        return self.resource.get("id", "")


def _read_json(path: Path) -> dict:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except json.JSONDecodeError as exc:
        raise ContentError(f"{path}: not valid JSON: {exc}") from exc
    except OSError as exc:
        raise ContentError(f"{path}: cannot be read: {exc}") from exc
    if not isinstance(data, dict) or "resourceType" not in data:
        raise ContentError(f"{path}: not a FHIR resource (no resourceType)")
    return data


def resource_files(folder: Path) -> Iterator[tuple[Path, bool]]:
    """Every resource file of a content folder, definitions first, then examples."""
    for path in sorted(folder.glob("*.json")):
        if path.name != MANIFEST_NAME:
            yield path, False
    for path in sorted((folder / EXAMPLES_DIR).glob("*.json")):
        yield path, True


class ContentIndex:
    """An index of FHIR resources by canonical URL (and version), type and id.

    Lookups never touch the disk again; the index is read-only once built.
    """

    def __init__(self, loaded: Iterable[LoadedResource], manifest: Manifest | None = None):
        self.manifest = manifest
        self.loaded: list[LoadedResource] = list(loaded)
        self._by_url: dict[str, dict[str | None, dict]] = {}
        self._by_key: dict[tuple[str, str], dict] = {}
        self._concepts: dict[str, dict[str, dict]] = {}
        self._expansions: dict[str, list[dict]] = {}  # the index is read-only, so expansions keep
        for item in self.loaded:
            res = item.resource
            self._by_key.setdefault((item.resource_type, item.id), res)
            url = res.get("url")
            if isinstance(url, str):
                versions = self._by_url.setdefault(url, {})
                versions.setdefault(res.get("version"), res)
                versions.setdefault(None, res)
            if item.resource_type == "CodeSystem" and isinstance(url, str):
                self._concepts[url] = dict(_flatten_concepts(res.get("concept", [])))

    # construction -----------------------------------------------------------
    @classmethod
    def from_folder(cls, folder: Path) -> "ContentIndex":
        folder = Path(folder)
        manifest = load_manifest(folder) if (folder / MANIFEST_NAME).exists() else None
        loaded = [LoadedResource(p, _read_json(p), ex) for p, ex in resource_files(folder)]
        return cls(loaded, manifest)

    @classmethod
    def from_files(cls, paths: Iterable[Path], manifest: Manifest | None = None) -> "ContentIndex":
        loaded = [LoadedResource(Path(p), _read_json(Path(p)), EXAMPLES_DIR in Path(p).parts) for p in paths]
        return cls(loaded, manifest)

    # lookups ----------------------------------------------------------------
    def get(self, url: str, version: str | None = None) -> dict:
        """The resource with this canonical URL (``url|version`` accepted too)."""
        if version is None:
            url, version = split_canonical(url)
        try:
            return self._by_url[url][version]
        except KeyError:
            raise ContentNotFound(url, version) from None

    def find(self, url: str, version: str | None = None) -> dict | None:
        try:
            return self.get(url, version)
        except ContentNotFound:
            return None

    def by_id(self, resource_type: str, resource_id: str) -> dict:
        try:
            return self._by_key[(resource_type, resource_id)]
        except KeyError:
            raise ContentNotFound(f"{resource_type}/{resource_id}") from None

    def resources(self, resource_type: str | None = None, *, examples: bool = False) -> list[dict]:
        """Definitions (and, when asked, examples), optionally of one type."""
        return [
            item.resource
            for item in self.loaded
            if (examples or not item.example)
            and (resource_type is None or item.resource_type == resource_type)
        ]

    def urls(self) -> set[str]:
        return set(self._by_url)

    # terminology ------------------------------------------------------------
    def concept(self, system: str, code: str) -> dict | None:
        """The concept of one of the indexed CodeSystems, or None."""
        return self._concepts.get(system, {}).get(code)

    def knows_system(self, system: str) -> bool:
        return system in self._concepts

    def expand(self, valueset_url: str) -> list[dict]:
        """Expand a ValueSet whose includes name our indexed CodeSystems.

        Supports explicit concept lists, whole systems, ``is-a`` and
        ``descendent-of`` filters, and includes of other ValueSets. Includes of
        systems that are not indexed (ICD-10-CM, say) must list their concepts.
        Returns codings ``{"system", "code", "display"}`` plus the ordinal
        weight as ``"weight"`` when the ValueSet or CodeSystem declares one.
        """
        expansion = self._expansions.get(valueset_url)
        if expansion is None:
            expansion = self._expansions[valueset_url] = _expand(self, valueset_url, frozenset())
        return [dict(c) for c in expansion]


def _flatten_concepts(concepts: list[dict], parent: str | None = None) -> Iterator[tuple[str, dict]]:
    for concept in concepts:
        code = concept.get("code")
        if isinstance(code, str):
            yield code, {**concept, "_parent": parent}
        yield from _flatten_concepts(concept.get("concept", []), code)


def _descendants(index: ContentIndex, system: str, code: str, include_self: bool) -> list[str]:
    concepts = index._concepts.get(system, {})
    out = [code] if include_self and code in concepts else []
    frontier = [code]
    while frontier:
        current = frontier.pop()
        children = [c for c, v in concepts.items() if v["_parent"] == current]
        out.extend(children)
        frontier.extend(children)
    return out


def _is_abstract(concept: dict) -> bool:
    for prop in concept.get("property", ()):
        if prop.get("code") in ("notSelectable", "abstract") and prop.get("valueBoolean") is True:
            return True
    return False


def _expand(index: ContentIndex, valueset_url: str, seen: frozenset) -> list[dict]:
    if valueset_url in seen:
        raise ContentError(f"ValueSet {valueset_url} includes itself")
    vs = index.get(valueset_url)
    out: list[dict] = []
    for include in vs.get("compose", {}).get("include", []):
        for nested in include.get("valueSet", []):
            out.extend(_expand(index, nested, seen | {valueset_url}))
        system = include.get("system")
        if not system:
            continue
        concepts = index._concepts.get(system, {})
        if include.get("concept"):
            for c in include["concept"]:
                known = concepts.get(c["code"], {})
                weight = ext.weight(c)
                if weight is None:
                    weight = ext.weight(known) if known else None
                entry = {"system": system, "code": c["code"], "display": c.get("display") or known.get("display")}
                if weight is not None:
                    entry["weight"] = weight
                out.append(entry)
            continue
        if not index.knows_system(system):
            raise ContentError(
                f"ValueSet {valueset_url} includes all or part of {system}, which is not available to expand"
            )
        codes: list[str] | None = None
        for flt in include.get("filter", []):
            op, value = flt.get("op"), flt.get("value")
            if flt.get("property") != "concept" or op not in ("is-a", "descendent-of"):
                raise ContentError(f"ValueSet {valueset_url}: unsupported filter {flt}")
            picked = _descendants(index, system, value, include_self=(op == "is-a"))
            codes = picked if codes is None else [c for c in codes if c in picked]
        if codes is None:
            codes = list(concepts)
        for code in codes:
            concept = concepts[code]
            if _is_abstract(concept):
                continue
            entry = {"system": system, "code": code, "display": concept.get("display")}
            weight = ext.weight(concept)
            if weight is not None:
                entry["weight"] = weight
            out.append(entry)
    excluded = {
        (ex.get("system"), c["code"])
        for ex in vs.get("compose", {}).get("exclude", [])
        for c in ex.get("concept", [])
    }
    return [c for c in out if (c["system"], c["code"]) not in excluded]


@lru_cache(maxsize=1)
def shipped() -> ContentIndex:
    """The definitions installed with the library (read once, then cached)."""
    return ContentIndex.from_folder(definitions_dir())
