"""The FHIR content: definitions in, checked definitions and a package out.

    questionnaires/*.json ──► index (ContentIndex: by canonical|version, ValueSet expansion)
                                 │
                                 ├─► validation (R4 schema + model, the project's rules) ──► Problems
                                 ├─► package    (FHIR NPM package, only when valid)
                                 └─► upload     (what the server lacks, in one transaction)

``terminology`` names the ids and URLs the code relies on (tested against the
JSON); ``extensions`` is the one reader of each FHIR/SDC extension. The index
is what everything else imports, so only its names are re-exported here;
validation, package and upload are imported as submodules (they pull in
heavier dependencies the app does not need at start).
"""

from fhir_mbt.content import index as _index
from fhir_mbt.content.index import *  # noqa: F403  (the names below)

__all__ = list(_index.__all__)
