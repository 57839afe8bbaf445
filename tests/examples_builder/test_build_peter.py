"""The shipped example Bundle is exactly what the builder makes from the shipped content."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def test_example_bundle_is_rebuilt_byte_for_byte(tmp_path):
    out = tmp_path / "Bundle.json"
    subprocess.run(
        [sys.executable, str(ROOT / "examples_builder" / "build_peter.py"), "--out", str(out)],
        check=True,
        capture_output=True,
        timeout=120,
    )
    shipped = ROOT / "questionnaires" / "examples" / "Bundle-mbt-example-peter.json"
    assert out.read_bytes() == shipped.read_bytes(), "run examples_builder/build_peter.py and commit the result"
