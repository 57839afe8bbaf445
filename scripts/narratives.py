"""Write the generated narrative (``text``) into every definitional resource of questionnaires/.

    .venv/bin/python scripts/narratives.py

Run after changing the content; tests/content/test_narratives.py fails until it is run.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from fhir_mbt.content.narrative import NARRATED_TYPES, with_narrative  # noqa: E402


def main() -> int:
    changed = 0
    for path in sorted((ROOT / "questionnaires").glob("*.json")):
        if path.name == "package.json":
            continue
        resource = json.loads(path.read_text(encoding="utf-8"))
        if resource.get("resourceType") not in NARRATED_TYPES:
            continue
        updated = with_narrative(resource)
        if updated != resource or list(updated) != list(resource):
            path.write_text(json.dumps(updated, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
            changed += 1
    print(f"{changed} file(s) updated")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
