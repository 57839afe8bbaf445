"""The installable distribution: every Python package is listed, content is included."""

from __future__ import annotations

import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def test_every_python_package_is_in_pyproject():
    config = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))["tool"]["setuptools"]
    listed = set(config["packages"])
    mapped = {name: ROOT / path for name, path in config.get("package-dir", {}).items()}
    found = set()
    for top in ("fhir_mbt", "smart_app"):
        for init in (ROOT / top).rglob("__init__.py"):
            found.add(".".join(init.parent.relative_to(ROOT).parts))
    for name, folder in mapped.items():
        if (folder / "__init__.py").exists():
            found.add(name)
    assert found - listed == set(), "add these to [tool.setuptools] packages"
    assert listed - found == set(), "these listed packages do not exist"


def test_console_script_and_content_are_declared():
    config = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))
    assert config["project"]["scripts"]["fhir-mbt"] == "fhir_mbt.cli:main"
    data = config["tool"]["setuptools"]["package-data"]["fhir_mbt.definitions"]
    assert "*.json" in data and "examples/*.json" in data
