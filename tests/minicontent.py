"""A small, valid content folder that tests break one rule at a time."""

from __future__ import annotations

import copy
import json
from pathlib import Path

BASE = "http://test.example/fhir"
CS = f"{BASE}/CodeSystem/demo"
META = {
    "version": "1.0.0",
    "status": "active",
    "publisher": "test",
    "date": "2026-11-23",
    "description": "A test definition.",
    "copyright": "Copyright test.",
}
EXTRACT = "http://hl7.org/fhir/uv/sdc/StructureDefinition/sdc-questionnaire-observationExtract"
OBSDEF_EXT = f"{BASE}/StructureDefinition/observation-definition"
VERSION_ALGORITHM = "http://hl7.org/fhir/5.0/StructureDefinition/extension-Questionnaire.versionAlgorithm[x]"
SEMVER = {"url": VERSION_ALGORITHM, "valueCoding": {"system": "http://hl7.org/fhir/version-algorithm", "code": "semver"}}

MANIFEST = {
    "name": "test.demo",
    "version": "1.0.0",
    "canonical": BASE,
    "fhirVersions": ["4.0.1"],
    "dependencies": {"hl7.fhir.r4.core": "4.0.1"},
}


def resources() -> dict[str, dict]:
    """File name → resource, all valid together."""
    code_system = {
        "resourceType": "CodeSystem",
        "id": "demo",
        "url": CS,
        **META,
        "name": "Demo",
        "content": "complete",
        "hierarchyMeaning": "is-a",
        "property": [{"code": "notSelectable", "type": "boolean"}],
        "concept": [
            {
                "code": "modes",
                "display": "Modes",
                "definition": "Group.",
                "property": [{"code": "notSelectable", "valueBoolean": True}],
                "concept": [
                    {"code": "pretend", "display": "Pretend mode", "definition": "Talk without feeling."},
                    {"code": "teleological", "display": "Teleological mode", "definition": "Only acts count."},
                ],
            },
            {"code": "score", "display": "Score", "definition": "A score."},
        ],
    }
    value_set = {
        "resourceType": "ValueSet",
        "id": "modes",
        "url": f"{BASE}/ValueSet/modes",
        **META,
        "name": "Modes",
        "compose": {"include": [{"system": CS, "filter": [{"property": "concept", "op": "is-a", "value": "modes"}]}]},
    }
    questionnaire = {
        "resourceType": "Questionnaire",
        "id": "demo",
        "extension": [SEMVER],
        "url": f"{BASE}/Questionnaire/demo",
        **META,
        "name": "Demo",
        "subjectType": ["Patient"],
        "item": [
            {
                "linkId": "mode",
                "text": "Mode seen",
                "type": "choice",
                "answerValueSet": f"{BASE}/ValueSet/modes",
            },
            {
                "linkId": "score",
                "text": "Score",
                "type": "integer",
                "code": [{"system": CS, "code": "score", "display": "Score"}],
                "extension": [
                    {"url": EXTRACT, "valueBoolean": True},
                    {"url": OBSDEF_EXT, "valueCanonical": f"{BASE}/ObservationDefinition/score"},
                ],
            },
        ],
    }
    extension = {
        "resourceType": "StructureDefinition",
        "id": "observation-definition",
        "url": OBSDEF_EXT,
        **META,
        "name": "ObservationDefinitionLink",
        "fhirVersion": "4.0.1",
        "kind": "complex-type",
        "abstract": False,
        "context": [{"type": "element", "expression": "Questionnaire.item"}],
        "type": "Extension",
        "baseDefinition": "http://hl7.org/fhir/StructureDefinition/Extension",
        "derivation": "constraint",
        "differential": {
            "element": [
                {"id": "Extension", "path": "Extension"},
                {"id": "Extension.url", "path": "Extension.url", "fixedUri": OBSDEF_EXT},
                {"id": "Extension.value[x]", "path": "Extension.value[x]", "type": [{"code": "canonical"}]},
            ]
        },
    }
    obsdef = {
        "resourceType": "ObservationDefinition",
        "id": "score",
        "identifier": [{"system": f"{BASE}/ObservationDefinition", "value": "score"}],
        "code": {"coding": [{"system": CS, "code": "score"}]},
        "permittedDataType": ["Quantity"],
    }
    guide = {
        "resourceType": "ImplementationGuide",
        "id": "demo",
        "url": f"{BASE}/ImplementationGuide/demo",
        **META,
        "name": "Demo",
        "packageId": "test.demo",
        "fhirVersion": ["4.0.1"],
        "definition": {
            "resource": [
                {"reference": {"reference": ref}}
                for ref in (
                    "CodeSystem/demo",
                    "ValueSet/modes",
                    "Questionnaire/demo",
                    "StructureDefinition/observation-definition",
                    "ObservationDefinition/score",
                )
            ]
        },
    }
    return {
        "CodeSystem-demo.json": code_system,
        "ValueSet-modes.json": value_set,
        "Questionnaire-demo.json": questionnaire,
        "StructureDefinition-observation-definition.json": extension,
        "ObservationDefinition-score.json": obsdef,
        "ImplementationGuide-demo.json": guide,
    }


def write(folder: Path, files: dict[str, dict] | None = None, manifest: dict | None = None) -> Path:
    """Write a content folder (the valid one unless ``files`` is given)."""
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "package.json").write_text(json.dumps(manifest or MANIFEST))
    for name, resource in (files if files is not None else resources()).items():
        path = folder / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(resource, indent=2))
    return folder


def variant(change) -> dict[str, dict]:
    """The valid files with ``change(files)`` applied to a deep copy."""
    files = copy.deepcopy(resources())
    change(files)
    return files
