"""Run ViewDefinitions over an NDJSON folder into DuckDB tables; write Parquet and CSV.

One pass per resource type: each resource is parsed once and handed to every
view over that type (:class:`~fhir_mbt.analytics.views.CompiledView`). Rows
are staged as JSON lines and loaded by DuckDB's reader with the column types
the views declare, so a table's types do not depend on the data it happened
to hold. Two worker processes share the resource files when there are
several (the target machine has two cores).
"""

from __future__ import annotations

import json
import os
import re
import shutil
import tempfile
import time
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterable

import duckdb

from fhir_mbt.analytics.ndjson import ndjson_files, read_resources
from fhir_mbt.analytics.views import Column, CompiledView, compile_view

__all__ = ["RunResult", "run_views", "duckdb_type", "open_tables"]

_TYPES = {
    "boolean": "BOOLEAN", "integer": "BIGINT", "positiveInt": "BIGINT", "unsignedInt": "BIGINT",
    "integer64": "BIGINT", "decimal": "DOUBLE",
}


def duckdb_type(column: Column) -> str:
    """The DuckDB type of a view column: FHIR numbers and booleans typed, the rest text (lists as JSON)."""
    if column.collection:
        return "JSON"
    return _TYPES.get(column.type or "", "VARCHAR")


@dataclass
class RunResult:
    """What a run produced: rows per view, resources read, seconds, and where the files went."""

    rows: dict[str, int] = field(default_factory=dict)
    resources: int = 0
    seconds: float = 0.0
    outputs: dict[str, list[Path]] = field(default_factory=dict)

    @property
    def rows_per_second(self) -> float:
        return sum(self.rows.values()) / self.seconds if self.seconds else 0.0


class _Router:
    """Which views a resource can reach, decided by its codes where every view filters by code.

    When every view over the type keeps only resources with certain codings
    (:attr:`CompiledView.codes`), a line that does not even contain one of
    those codes as a ``"code"`` value is skipped unparsed, and a parsed
    resource goes only to the views whose codes it has. Otherwise every
    resource goes to every view.
    """

    def __init__(self, compiled: list[CompiledView]):
        self.compiled = compiled
        self.by_code: dict[tuple[str, str], list[CompiledView]] | None = None
        self.pattern = None
        if compiled and all(v.codes for v in compiled):
            self.by_code = {}
            for v in compiled:
                system, codes = v.codes
                for code in codes:
                    self.by_code.setdefault((system, code), []).append(v)
            alts = "|".join(re.escape(c) for _, c in sorted(self.by_code))
            self.pattern = re.compile((r'"code"\s*:\s*"(?:' + alts + r')"').encode())

    def wanted(self, line: bytes) -> bool:
        """False only when ``line`` cannot reach any view (a line with escapes is always parsed)."""
        return self.pattern is None or b"\\" in line or self.pattern.search(line) is not None

    def views(self, resource: dict) -> list[tuple[CompiledView, bool]]:
        if self.by_code is None:
            return [(v, False) for v in self.compiled]
        seen: list[tuple[CompiledView, bool]] = []
        code = resource.get("code")
        for coding in (code.get("coding") or ()) if isinstance(code, dict) else ():
            if isinstance(coding, dict):
                for v in self.by_code.get((coding.get("system"), coding.get("code")), ()):
                    if (v, True) not in seen:
                        seen.append((v, True))
        return seen


def _stage(views: list[dict], paths: list[str], rtype: str, stage: str, tag: str) -> tuple[int, dict]:
    """Worker: evaluate ``views`` over ``paths``; write rows to ``stage/<view>.<tag>.jsonl``."""
    compiled = [compile_view(v) for v in views]
    router = _Router(compiled)
    dumps = json.JSONEncoder(ensure_ascii=False, separators=(",", ":"), default=str).encode
    handles = {v.name: open(os.path.join(stage, f"{v.name}.{tag}.jsonl"), "w", encoding="utf-8")
               for v in compiled}
    counts = {v.name: 0 for v in compiled}
    n = 0
    try:
        for resource in read_resources([Path(p) for p in paths], rtype, keep=router.wanted):
            n += 1
            for v, routed in router.views(resource):
                rows = v.rows(resource, routed)
                if rows:
                    fh = handles[v.name]
                    for row in rows:
                        fh.write(dumps(row))
                        fh.write("\n")
                    counts[v.name] += len(rows)
    finally:
        for fh in handles.values():
            fh.close()
    return n, counts


def _chunks(paths: list[Path], workers: int) -> list[list[str]]:
    """Split files between workers by size."""
    buckets: list[list[str]] = [[] for _ in range(workers)]
    sizes = [0] * workers
    for p in sorted(paths, key=lambda p: -p.stat().st_size):
        i = sizes.index(min(sizes))
        buckets[i].append(str(p))
        sizes[i] += p.stat().st_size
    return [b for b in buckets if b]


def run_views(
    source: str | Path,
    views: Iterable[dict],
    database: str | Path = ":memory:",
    out_dir: str | Path | None = None,
    formats: tuple[str, ...] = ("parquet", "csv"),
    workers: int | None = None,
    connection: duckdb.DuckDBPyConnection | None = None,
) -> tuple[duckdb.DuckDBPyConnection, RunResult]:
    """Run ``views`` over the NDJSON in ``source``; tables named for the views.

    Returns the DuckDB connection (holding one table per view) and a
    :class:`RunResult`. With ``out_dir``, each table is also written there as
    ``<view>.parquet`` and ``<view>.csv`` (as ``formats`` asks).
    """
    started = time.perf_counter()
    views = list(views)
    compiled = [compile_view(v) for v in views]  # shape errors before any work
    files = ndjson_files(source)
    con = connection or duckdb.connect(str(database))
    result = RunResult()
    workers = workers or min(2, os.cpu_count() or 1)
    stage = tempfile.mkdtemp(prefix="fhir-mbt-views-")
    try:
        jobs = []
        for rtype in sorted({v.resource for v in compiled}):
            mine = [v for v, c in zip(views, compiled) if c.resource == rtype]
            for i, chunk in enumerate(_chunks(files.get(rtype, []), workers)):
                jobs.append((mine, chunk, rtype, stage, f"{rtype}{i}"))
        if workers > 1 and len(jobs) > 1:
            with ProcessPoolExecutor(workers) as pool:
                done = list(pool.map(_stage, *zip(*jobs)))
        else:
            done = [_stage(*job) for job in jobs]
        for n, counts in done:
            result.resources += n
            for name, k in counts.items():
                result.rows[name] = result.rows.get(name, 0) + k
        for view in compiled:
            _load(con, view, stage)
            result.rows.setdefault(view.name, 0)
        if out_dir is not None:
            result.outputs = write_tables(con, [v.name for v in compiled], out_dir, formats)
    finally:
        shutil.rmtree(stage, ignore_errors=True)
    result.seconds = time.perf_counter() - started
    return con, result


def _quote(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def _load(con: duckdb.DuckDBPyConnection, view: CompiledView, stage: str) -> None:
    cols = ", ".join(f"{_quote(c.name)} {duckdb_type(c)}" for c in view.columns)
    con.execute(f"DROP TABLE IF EXISTS {_quote(view.name)}")
    con.execute(f"CREATE TABLE {_quote(view.name)} ({cols})")
    staged = sorted(Path(stage).glob(f"{view.name}.*.jsonl"))
    staged = [p for p in staged if p.stat().st_size]
    if not staged:
        return
    spec = "{" + ", ".join(f"'{c.name}': '{duckdb_type(c)}'" for c in view.columns) + "}"
    listing = "[" + ", ".join("'" + str(p).replace("'", "''") + "'" for p in staged) + "]"
    con.execute(f"INSERT INTO {_quote(view.name)} SELECT * FROM read_json({listing}, "
                f"format='newline_delimited', columns={spec})")


def write_tables(con: duckdb.DuckDBPyConnection, names: list[str], out_dir: str | Path,
                 formats: tuple[str, ...] = ("parquet", "csv")) -> dict[str, list[Path]]:
    """Write each table to ``out_dir/<name>.<format>``."""
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    written: dict[str, list[Path]] = {}
    for name in names:
        for fmt in formats:
            if fmt not in ("parquet", "csv"):
                raise ValueError(f"unknown output format {fmt!r}")
            path = out / f"{name}.{fmt}"
            options = "FORMAT parquet" if fmt == "parquet" else "FORMAT csv, HEADER true"
            target = str(path).replace("'", "''")
            con.execute(f"COPY (SELECT * FROM {_quote(name)}) TO '{target}' ({options})")
            written.setdefault(name, []).append(path)
    return written


def open_tables(folder: str | Path) -> duckdb.DuckDBPyConnection:
    """A DuckDB connection with a view over each ``<name>.parquet`` in ``folder``."""
    con = duckdb.connect()
    for path in sorted(Path(folder).glob("*.parquet")):
        target = str(path).replace("'", "''")
        con.execute(f"CREATE VIEW {_quote(path.stem)} AS SELECT * FROM read_parquet('{target}')")
    return con
