"""``fhir-mbt validate [PATH...]``: check FHIR content against every rule."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from fhir_mbt.content import ContentIndex, definitions_dir, load_manifest, resource_files
from fhir_mbt.errors import ContentError
from fhir_mbt.content.validation import Problem, validate_index


def register(sub: argparse._SubParsersAction) -> None:
    parser = sub.add_parser(
        "validate",
        help="check the shipped content, a content folder, or single resource files",
        description=(
            "Check FHIR content: R4 structure, naming, canonical URLs, metadata, linkIds, "
            "codes, ValueSets, extraction codes and references. With no PATH, checks the "
            "shipped content. A folder is checked as a whole content folder (with its "
            "package.json); single files are checked against the shipped content."
        ),
    )
    parser.add_argument("paths", nargs="*", type=Path, metavar="PATH")
    parser.add_argument("--format", choices=("text", "json"), default="text")
    parser.set_defaults(func=run)


def _load(paths: list[Path]) -> tuple[ContentIndex, list | None]:
    """The index to check against, and the resources to report on (None = all)."""
    if not paths:
        return ContentIndex.from_folder(definitions_dir()), None
    folders = [p for p in paths if p.is_dir()]
    files = [p for p in paths if not p.is_dir()]
    missing = [p for p in files if not p.exists()]
    if missing:
        raise ContentError(f"no such file: {', '.join(map(str, missing))}")
    if folders and files:
        raise ContentError("give either content folders or resource files, not both")
    if len(folders) > 1:
        raise ContentError("give one content folder at a time")
    if folders:
        return ContentIndex.from_folder(folders[0]), None
    shipped = definitions_dir()
    given = {p.resolve() for p in files}
    others = [p for p, _ in resource_files(shipped) if p.resolve() not in given]
    targets = ContentIndex.from_files(files)
    index = ContentIndex(targets.loaded + ContentIndex.from_files(others).loaded, load_manifest(shipped))
    return index, targets.loaded


def run(args: argparse.Namespace) -> int:
    index, only = _load(args.paths)
    problems: list[Problem] = validate_index(index, only)
    checked = len(only) if only is not None else len(index.loaded)
    if checked == 0:
        raise ContentError("no FHIR resources found to check")
    if args.format == "json":
        json.dump({"checked": checked, "problems": [p.as_dict() for p in problems]}, sys.stdout, indent=2)
        sys.stdout.write("\n")
    else:
        for problem in problems:
            print(problem)
        status = "ok" if not problems else f"{len(problems)} problem(s)"
        print(f"{checked} resource(s) checked: {status}", file=sys.stderr)
    return 1 if problems else 0
