"""The shipped example patient as a server would export it: NDJSON after extraction.

The example Bundle holds the patient, the clinician and the responses; on a
server the app (or ``$extract``) adds each response's Observations. This
resolves the Bundle's ``urn:uuid`` references to ``Type/id`` as the server
does, runs every response through :func:`fhir_mbt.engine.process_response`
and writes what the server would hold, so views and engines can be compared
on a known patient.
"""

from __future__ import annotations

from pathlib import Path

from fhir_mbt.analytics.ndjson import write_ndjson
from fhir_mbt.analytics.synth import stored_resources
from fhir_mbt.content.index import ContentIndex, shipped
from fhir_mbt.content.upload import resolved_in_bundle
from fhir_mbt.engine import process_response

__all__ = ["example_resources", "write_example_ndjson"]


def example_resources(index: ContentIndex | None = None) -> list[dict]:
    index = index or shipped()
    out: list[dict] = []
    for bundle in index.resources("Bundle", examples=True):
        entries = bundle.get("entry") or []
        for entry in entries:
            resource = resolved_in_bundle(entry["resource"], entries)
            if resource["resourceType"] != "QuestionnaireResponse":
                out.append(resource)
                continue
            processed = process_response(resource, index=index, now=resource.get("authored"))
            stored = stored_resources(processed.bundle)
            out.extend(stored)
    return out


def write_example_ndjson(folder: str | Path, index: ContentIndex | None = None) -> dict[str, int]:
    """Write the example patient's resources to ``folder/<Type>.ndjson``; counts per type."""
    return write_ndjson(folder, example_resources(index))
