"""NDJSON as Bulk Data writes it: one resource per line, files named for their type.

:func:`ndjson_files` maps a resource type to its files in a folder
(``Observation.ndjson``, ``Observation.002.ndjson``, ``Observation-1.ndjson``,
gzip too); :func:`read_resources` yields the resources of one type. A line
that is not a JSON object of that type is an error naming file and line.
"""

from __future__ import annotations

import gzip
import json
import re
from pathlib import Path
from typing import IO, Callable, Iterable, Iterator

from fhir_mbt.analytics.errors import AnalyticsError

__all__ = ["ndjson_files", "read_resources", "write_ndjson", "write_ndjson_part", "NdjsonError"]

_TYPE = re.compile(r"^([A-Z][A-Za-z]+)")


class NdjsonError(AnalyticsError, ValueError):
    """An NDJSON file holds something other than one resource per line."""


def ndjson_files(folder: str | Path) -> dict[str, list[Path]]:
    """Resource type -> its NDJSON files in ``folder``, sorted by name."""
    folder = Path(folder)
    if not folder.is_dir():
        raise NdjsonError(f"{folder} is not a folder")
    out: dict[str, list[Path]] = {}
    for path in sorted(folder.iterdir()):
        if not (path.name.endswith(".ndjson") or path.name.endswith(".ndjson.gz")):
            continue
        m = _TYPE.match(path.name)
        if m is None:
            raise NdjsonError(f"{path.name}: the file name must start with its resource type")
        out.setdefault(m.group(1), []).append(path)
    return out


def read_resources(paths: Iterable[Path], resource_type: str | None = None,
                   keep: Callable[[bytes], bool] | None = None) -> Iterator[dict]:
    """Every resource in ``paths``, one JSON object per non-empty line.

    Lines are read as bytes (JSON is UTF-8) and parsed only when ``keep`` (a
    prefilter on the raw line) lets them through.
    """
    loads = json.loads
    for path in paths:
        path = Path(path)
        with (gzip.open(path, "rb") if path.suffix == ".gz" else path.open("rb")) as fh:
            for n, line in enumerate(fh, 1):
                if len(line) < 3 and not line.strip():
                    continue
                if keep is not None and not keep(line):
                    continue
                try:
                    resource = loads(line)
                except ValueError as exc:
                    raise NdjsonError(f"{path.name} line {n}: not JSON ({exc})") from None
                if not isinstance(resource, dict) or (
                        resource_type and resource.get("resourceType") != resource_type):
                    raise NdjsonError(f"{path.name} line {n}: not a {resource_type or 'FHIR'} resource")
                yield resource


def write_ndjson(folder: str | Path, resources: Iterable[dict]) -> dict[str, int]:
    """Write resources to ``folder/<Type>.ndjson`` (appending); return the count per type."""
    return write_ndjson_part(folder, resources, None)


def write_ndjson_part(folder: str | Path, resources: Iterable[dict], part: int | None) -> dict[str, int]:
    """Write resources to ``folder/<Type>.<part>.ndjson`` (or ``<Type>.ndjson``), appending."""
    suffix = ".ndjson" if part is None else f".{part:03d}.ndjson"
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    handles: dict[str, IO[str]] = {}
    counts: dict[str, int] = {}
    dumps = json.JSONEncoder(ensure_ascii=False, separators=(",", ":")).encode
    try:
        for resource in resources:
            rtype = resource["resourceType"]
            fh = handles.get(rtype)
            if fh is None:
                fh = handles[rtype] = (folder / f"{rtype}{suffix}").open("a", encoding="utf-8")
            fh.write(dumps(resource))
            fh.write("\n")
            counts[rtype] = counts.get(rtype, 0) + 1
    finally:
        for fh in handles.values():
            fh.close()
    return counts
