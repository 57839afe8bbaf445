"""The tree shows the architecture, and keeps showing it.

Layers, lowest first: ``fhir_mbt.errors`` → ``content`` → ``engine``;
``client`` and ``smart`` beside them; ``cds`` (record reading, risk,
CDS Hooks cards) and ``analytics`` (export, views, report) above engine and
client; ``cli`` on top; the Flask app
(``smart_app``) above the library. A module imports only its own layer or
lower ones, the library never imports Flask, no module grows past 500
lines, and the FHIR/SDC extension URLs are written in one module.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
MAX_LINES = 500

#: package → the project packages it may import (besides itself and fhir_mbt.errors).
ALLOWED = {
    "fhir_mbt.content": {"fhir_mbt.client"},  # upload writes through the FHIR client
    "fhir_mbt.engine": {"fhir_mbt.content"},
    "fhir_mbt.client": set(),
    "fhir_mbt.smart": set(),
    "fhir_mbt.cds": {"fhir_mbt.content", "fhir_mbt.engine", "fhir_mbt.client"},  # reads records, judges risk
    "fhir_mbt.analytics": {"fhir_mbt.content", "fhir_mbt.engine", "fhir_mbt.client", "fhir_mbt.smart"},
    "fhir_mbt.cli": {"fhir_mbt.content", "fhir_mbt.engine", "fhir_mbt.client", "fhir_mbt.smart",
                     "fhir_mbt.analytics"},
}


def _modules(top: str) -> list[Path]:
    return sorted(p for p in (ROOT / top).rglob("*.py") if "__pycache__" not in p.parts)


def _package_of(path: Path) -> str:
    parts = path.relative_to(ROOT).with_suffix("").parts
    return ".".join(parts[:2]) if parts[0] == "fhir_mbt" and len(parts) > 2 else parts[0]


def _imports(path: Path) -> set[str]:
    tree = ast.parse(path.read_text(encoding="utf-8"))
    found: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            found.add(node.module)
            found.update(f"{node.module}.{alias.name}" for alias in node.names)
    return found


LIBRARY = _modules("fhir_mbt")
APP = _modules("smart_app")


@pytest.mark.parametrize("path", LIBRARY + APP, ids=lambda p: str(p.relative_to(ROOT)))
def test_no_module_is_over_500_lines(path):
    lines = len(path.read_text(encoding="utf-8").splitlines())
    assert lines <= MAX_LINES, f"{path.relative_to(ROOT)} has {lines} lines: split it by job"


@pytest.mark.parametrize("path", [p for p in LIBRARY if _package_of(p) in ALLOWED],
                         ids=lambda p: str(p.relative_to(ROOT)))
def test_library_modules_import_only_their_layer_or_lower(path):
    own = _package_of(path)
    allowed = ALLOWED[own] | {own, "fhir_mbt.errors", "fhir_mbt.definitions"}
    for name in _imports(path):
        if name == "flask" or name.startswith("flask."):
            pytest.fail(f"{path.relative_to(ROOT)} imports Flask: the library knows nothing of the app")
        if not name.startswith("fhir_mbt."):
            continue
        package = ".".join(name.split(".")[:2])
        assert package in allowed, f"{path.relative_to(ROOT)} imports {name}, above or beside its layer ({own})"


def test_the_library_never_imports_the_app():
    for path in LIBRARY:
        assert not any(n == "smart_app" or n.startswith("smart_app.") for n in _imports(path)), path


def test_extension_urls_are_written_in_one_module():
    home = ROOT / "fhir_mbt" / "content" / "extensions.py"
    markers = ("hl7.org/fhir/StructureDefinition/", "hl7.org/fhir/uv/sdc/StructureDefinition/")
    offenders = [str(p.relative_to(ROOT)) for p in LIBRARY + APP
                 if p != home and any(m in p.read_text(encoding="utf-8") for m in markers)]
    assert offenders == [], "read extensions through fhir_mbt.content.extensions"


def test_the_app_form_pair_talks_one_way():
    renderer = ROOT / "smart_app" / "questionnaire_form.py"
    routes = ROOT / "smart_app" / "forms.py"
    assert "smart_app.questionnaire_form" in {n.rsplit(".", 1)[0] for n in _imports(routes)} | _imports(routes)
    assert not any(n.startswith("smart_app") or n == "flask" or n.startswith("flask.")
                   for n in _imports(renderer)), "the renderer knows nothing of routes or Flask"


def test_the_response_view_never_calls_scoring():
    view = ROOT / "fhir_mbt" / "engine" / "view.py"
    assert not any("scoring" in n for n in _imports(view))
    scoring = (ROOT / "fhir_mbt" / "engine" / "scoring.py").read_text(encoding="utf-8")
    assert "view._" not in scoring, "scoring asks the view through its public methods only"
