"""Write the table of R5 elements that defines R5 cross-version extensions in R4.

    npm pack hl7.fhir.r5.core@5.0.0
    .venv/bin/python scripts/xver_paths.py hl7.fhir.r5.core-5.0.0.tgz \\
        -o hapi_server/src/main/resources/fhir-packages/xver-paths-5.0.json
    (cd hapi_server/src/main/resources/fhir-packages && sha256sum *.tgz *.json > SHA256SUMS)

An R4 resource may carry an element that only R5 has as the extension
``http://hl7.org/fhir/5.0/StructureDefinition/extension-<R5 path>`` (FHIR's
cross-version extensions). No package defines them: the FHIR validator makes
each definition on the fly from a table of R5 paths, ``xver-paths-5.0.json``,
which the HL7 validator finds in the core packages and HAPI does not. HL7 SDC
4.0.0-ballot's profiles slice on three of them (``versionAlgorithm[x]``,
``copyrightLabel``, ``item.answerConstraint``), so the project's HAPI server
gets this table (``hapi_server/.../ValidationPackages.java``).

The table has one entry per element of the R5 resources and data types:
``{"types": [...]}`` for an element with a value (``Reference(A|B)`` with its
targets; a type R4 does not have is written ``!type`` and left out of the
extension), ``{"elements": [...]}`` for a backbone element (its children),
``{"ref": path}`` for an element defined by another one, and
``"modifier": true`` for a modifier. ``id``, ``extension`` and
``modifierExtension`` are left out: R4 has them everywhere.
"""

from __future__ import annotations

import argparse
import gzip
import json
import sys
import tarfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
R4_SCHEMA = ROOT / "fhir_mbt" / "content" / "schema" / "fhir.r4.schema.json.gz"
SKIPPED = {"id", "extension", "modifierExtension"}
TARGETED = {"Reference", "canonical", "CodeableReference"}
BACKBONE = {"BackboneElement", "Element"}


def r4_type_names() -> set[str]:
    """The R4 resources and data types, from the R4 JSON schema the library ships."""
    with gzip.open(R4_SCHEMA, "rt", encoding="utf-8") as fh:
        schema = json.load(fh)
    return {name for name in schema["definitions"] if "_" not in name}


def _type_text(type_ref: dict, r4_types: set[str]) -> str:
    code = type_ref["code"]
    text = code
    targets = [t.rsplit("/", 1)[-1] for t in type_ref.get("targetProfile", [])]
    if code in TARGETED and targets:
        text = f"{code}({'|'.join(targets)})"
    return text if code in r4_types else "!" + text


def paths_of(definition: dict, r4_types: set[str]) -> dict[str, dict]:
    """The table's entries for one R5 StructureDefinition (a resource or a data type)."""
    elements = definition["snapshot"]["element"]
    children: dict[str, list[str]] = {}
    for element in elements:
        parent, _, name = element["path"].rpartition(".")
        if parent and name not in SKIPPED:
            children.setdefault(parent, []).append(name)
    table: dict[str, dict] = {}
    for element in elements:
        path = element["path"]
        if "." not in path or path.rsplit(".", 1)[1] in SKIPPED:
            continue
        entry: dict = {}
        codes = {t.get("code") for t in element.get("type", [])}
        if "contentReference" in element:
            entry["ref"] = element["contentReference"].lstrip("#").split("#")[-1]
        elif codes & BACKBONE and path in children:
            entry["elements"] = children[path]
        elif element.get("type"):
            entry["types"] = [_type_text(t, r4_types) for t in element["type"]]
        else:
            continue
        if element.get("isModifier"):
            entry["modifier"] = True
        table[path] = entry
    return table


def build(core_tgz: Path) -> dict[str, dict]:
    """The whole table from the ``hl7.fhir.r5.core`` package."""
    r4_types = r4_type_names()
    table: dict[str, dict] = {}
    with tarfile.open(core_tgz, "r:gz") as archive:
        for member in archive.getmembers():
            name = member.name
            if not (name.startswith("package/StructureDefinition-") and name.endswith(".json")):
                continue
            definition = json.load(archive.extractfile(member))
            if definition.get("derivation") != "specialization" or definition.get("kind") not in (
                "resource",
                "complex-type",
            ):
                continue
            table.update(paths_of(definition, r4_types))
    if "Questionnaire.versionAlgorithm[x]" not in table:
        raise SystemExit(f"{core_tgz} is not the R5 core package (no Questionnaire.versionAlgorithm[x])")
    return dict(sorted(table.items()))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("core_tgz", type=Path, help="hl7.fhir.r5.core-5.0.0.tgz (npm pack hl7.fhir.r5.core@5.0.0)")
    parser.add_argument("-o", "--out", type=Path, required=True)
    args = parser.parse_args(argv)
    table = build(args.core_tgz)
    args.out.write_text(json.dumps(table, separators=(",", ":"), ensure_ascii=False) + "\n", encoding="utf-8")
    print(f"{len(table)} paths written to {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
