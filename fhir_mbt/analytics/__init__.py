"""Programme outcomes: from a FHIR server's Bulk Data to an HTML report.

    FHIR server ──$export──▶ NDJSON ──ViewDefinitions──▶ tables ──▶ report.html
      (export, backend_auth)  (ndjson)  (views, fhirpath)  (duckdb_runner |   (metrics, charts,
                                                            pathling_runner)    report)

``export`` runs a Bulk Data ``$export`` (kick-off, polling, download;
``backend_auth`` for SMART Backend Services on real servers); ``ndjson``
reads and writes the files. ``views`` compiles the shipped SQL-on-FHIR v2
ViewDefinitions (the FHIRPath subset: ``fhirpath_parser``, ``fhirpath``) and
turns each resource into rows; ``duckdb_runner`` stores them as DuckDB
tables, Parquet and CSV (``pathling_runner`` does the same on Spark, an
optional extra). ``metrics`` asks the tables the programme's questions in
SQL, ``charts`` draws SVG, and ``report`` writes the page. ``synth`` makes a
cohort through the same engine as the app; ``example`` gives the shipped
example patient as a server holds it. No Flask here; the errors in
``errors`` derive from FhirMbtError.
"""

from fhir_mbt.analytics.errors import (
    AnalyticsError,
    BackendAuthError,
    EngineUnavailable,
    ExportError,
    ExportExpired,
    ExportFailed,
    ExportNotSupported,
    ExportTimedOut,
    ReportError,
    UnsupportedConstruct,
    ViewDefinitionInvalid,
    ViewEvaluationError,
)
from fhir_mbt.analytics.views import CompiledView, compile_view

__all__ = [
    "AnalyticsError",
    "BackendAuthError",
    "EngineUnavailable",
    "ExportError",
    "ExportExpired",
    "ExportFailed",
    "ExportNotSupported",
    "ExportTimedOut",
    "ReportError",
    "UnsupportedConstruct",
    "ViewDefinitionInvalid",
    "ViewEvaluationError",
    "CompiledView",
    "compile_view",
    "shipped_views",
]


def shipped_views() -> list[dict]:
    """The ViewDefinitions shipped with the content, by name."""
    from fhir_mbt.content.index import shipped

    return sorted(shipped().resources("ViewDefinition"), key=lambda v: v.get("name", ""))
