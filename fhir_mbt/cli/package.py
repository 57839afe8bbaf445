"""``fhir-mbt package``: write the FHIR NPM package (package.tgz)."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from fhir_mbt.content import ContentIndex, definitions_dir
from fhir_mbt.content.package import build_package


def register(sub: argparse._SubParsersAction) -> None:
    parser = sub.add_parser(
        "package",
        help="build the FHIR NPM package (package.tgz) from validated content",
        description="Validate the content, then write it as a FHIR NPM package a server can install.",
    )
    parser.add_argument("-o", "--output", type=Path, default=Path("dist/package.tgz"), help="default: %(default)s")
    parser.add_argument("--source", type=Path, default=None, help="content folder (default: the shipped content)")
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    index = ContentIndex.from_folder(args.source or definitions_dir())
    path = build_package(index, args.output)
    print(f"wrote {path} ({len(index.loaded)} resources, {path.stat().st_size} bytes)", file=sys.stderr)
    print(path)
    return 0
