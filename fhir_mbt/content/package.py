"""Build the FHIR NPM package (``package.tgz``) that a FHIR server can install.

Layout, as FHIR package tools expect it::

    package/package.json      the manifest (name, version, canonical, fhirVersions 4.0.1)
    package/.index.json       one entry per resource: filename, resourceType, id, url, version, kind, type
    package/Type-id.json      the definitions
    package/example/...       the examples, with their own .index.json

The archive is reproducible: same content in, same bytes out (sorted entries,
fixed timestamps), so a build can be checked and cached. It is written to a
temporary file next to the target and renamed into place only when complete,
and only from content that passes every validation rule.
"""

from __future__ import annotations

import gzip
import io
import json
import os
import tarfile
import tempfile
from pathlib import Path

from fhir_mbt.content.index import ContentIndex, LoadedResource, Manifest
from fhir_mbt.errors import PackageError
from fhir_mbt.content.validation import check_index

__all__ = ["build_package", "package_files", "index_entry"]

#: 2026-01-01T00:00:00Z: a fixed timestamp keeps the archive reproducible.
FIXED_MTIME = 1767225600


def index_entry(item: LoadedResource) -> dict:
    """The ``.index.json`` entry of one resource."""
    res = item.resource
    entry = {"filename": item.path.name, "resourceType": item.resource_type, "id": item.id}
    for key in ("url", "version", "kind", "type"):
        if isinstance(res.get(key), str):
            entry[key] = res[key]
    return entry


def _manifest_json(manifest: Manifest, index: ContentIndex) -> dict:
    data = dict(manifest.raw)
    data["fhirVersions"] = list(manifest.fhir_versions)
    data.setdefault("type", "fhir.ig")
    data.setdefault("jurisdiction", "urn:iso:std:iso:3166#001")
    guides = index.resources("ImplementationGuide")
    if guides:
        data.setdefault("url", guides[0].get("url", manifest.canonical))
    return data


def _dump(data) -> bytes:
    return (json.dumps(data, indent=2, ensure_ascii=False) + "\n").encode("utf-8")


def package_files(index: ContentIndex) -> dict[str, bytes]:
    """Archive member name → bytes, for every file of the package."""
    if index.manifest is None:
        raise PackageError("the content has no package.json manifest")
    if "4.0.1" not in index.manifest.fhir_versions:
        raise PackageError("the manifest must name FHIR 4.0.1 in fhirVersions")
    files: dict[str, bytes] = {"package/package.json": _dump(_manifest_json(index.manifest, index))}
    for folder, examples in (("package", False), ("package/example", True)):
        chosen = [item for item in index.loaded if item.example == examples]
        if not chosen:
            continue
        entries = []
        for item in chosen:
            name = f"{folder}/{item.path.name}"
            if name in files:
                raise PackageError(f"two resources would be written as {name}")
            files[name] = _dump(item.resource)
            entries.append(index_entry(item))
        files[f"{folder}/.index.json"] = _dump({"index-version": 1, "files": entries})
    return files


def _archive(files: dict[str, bytes]) -> bytes:
    raw = io.BytesIO()
    with tarfile.open(fileobj=raw, mode="w", format=tarfile.PAX_FORMAT) as tar:
        for name in sorted(files):
            info = tarfile.TarInfo(name)
            info.size = len(files[name])
            info.mtime = FIXED_MTIME
            info.mode = 0o644
            info.uname = info.gname = ""
            tar.addfile(info, io.BytesIO(files[name]))
    out = io.BytesIO()
    with gzip.GzipFile(fileobj=out, mode="wb", mtime=0, filename="") as gz:
        gz.write(raw.getvalue())
    return out.getvalue()


def build_package(index: ContentIndex, output: Path, *, validate: bool = True) -> Path:
    """Validate the content and write the package archive to ``output``.

    Raises :class:`~fhir_mbt.errors.ContentInvalid` (nothing is written) when the
    content breaks a rule, :class:`~fhir_mbt.errors.PackageError` when the
    archive cannot be made.
    """
    if validate:
        check_index(index)
    data = _archive(package_files(index))
    output = Path(output)
    try:
        output.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix=".package-", suffix=".tgz", dir=output.parent)
        try:
            with os.fdopen(fd, "wb") as fh:
                fh.write(data)
            os.replace(tmp, output)
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise
    except OSError as exc:
        raise PackageError(f"cannot write {output}: {exc}") from exc
    return output
