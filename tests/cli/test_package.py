"""``fhir-mbt package`` writes the archive, or nothing."""

from __future__ import annotations

import tarfile

import minicontent as mc
from fhir_mbt.cli import main


def test_package_writes_archive(tmp_path, capsys):
    folder = mc.write(tmp_path / "c")
    out = tmp_path / "dist" / "package.tgz"
    assert main(["package", "--source", str(folder), "-o", str(out)]) == 0
    assert capsys.readouterr().out.strip() == str(out)
    with tarfile.open(out) as tar:
        assert "package/.index.json" in tar.getnames()


def test_invalid_content_exits_nonzero_and_writes_nothing(tmp_path, capsys):
    def change(files):
        del files["Questionnaire-demo.json"]["item"][1]["code"]

    folder = mc.write(tmp_path / "c", mc.variant(change))
    out = tmp_path / "dist" / "package.tgz"
    assert main(["package", "--source", str(folder), "-o", str(out)]) == 1
    assert "extract-code" in capsys.readouterr().err
    assert not out.exists()


def test_shipped_content_packages(tmp_path):
    out = tmp_path / "package.tgz"
    assert main(["package", "-o", str(out)]) == 0
    with tarfile.open(out) as tar:
        names = tar.getnames()
    assert "package/package.json" in names
    assert any(n.startswith("package/Questionnaire-") for n in names)
