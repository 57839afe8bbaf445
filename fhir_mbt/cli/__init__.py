"""The ``fhir-mbt`` command line.

Each sub-command lives in its own module of this package, which exposes
``register(subparsers)``; the module adds its parser and sets ``func`` to a
function taking the parsed arguments and returning the exit code.
"""

from __future__ import annotations

import argparse
import importlib
import sys

from fhir_mbt.errors import FhirMbtError

__all__ = ["main", "build_parser"]

#: Sub-command modules, in the order ``--help`` lists them.
COMMANDS = ["validate", "package", "upload", "score", "extract", "synth", "export", "views", "outcomes"]


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="fhir-mbt",
        description="FHIR R4 content and tools for Mentalization-Based Treatment.",
    )
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    for name in COMMANDS:
        importlib.import_module(f"fhir_mbt.cli.{name}").register(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        return int(args.func(args) or 0)
    except FhirMbtError as exc:
        print(f"fhir-mbt {args.command}: {exc}", file=sys.stderr)
        return 1


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
