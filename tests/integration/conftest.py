"""Integration tests against a real HAPI FHIR JPA server (R4, embedded H2).

One server is started for the whole test session by ``hapi_server/harness.py`` (built
with Maven on first use, then cached). Every test in this folder is marked
``integration``. If Java or Maven is missing, or the server does not come up, the
tests ERROR with the reason; they are never skipped.

Set ``HAPI_BASE_URL`` (e.g. http://127.0.0.1:8080/fhir) to run against a server that
is already running instead of starting one.
"""

from __future__ import annotations

import importlib.util
import os
import sys
import time
from pathlib import Path

import pytest

from demo.stack import load_harness

ROOT = Path(__file__).resolve().parents[2]
HERE = Path(__file__).resolve().parent


harness = load_harness()


def load_faults():
    """``hapi_server/faults.py`` (the fault-injection proxy), loaded by path like the harness."""
    name = "hapi_server_faults"
    if name not in sys.modules:
        spec = importlib.util.spec_from_file_location(name, ROOT / "hapi_server" / "faults.py")
        module = importlib.util.module_from_spec(spec)
        sys.modules[name] = module
        spec.loader.exec_module(module)
    return sys.modules[name]


faults = load_faults()

_STATS: dict[str, object] = {}


def pytest_collection_modifyitems(config, items):
    for item in items:
        if HERE in Path(str(item.fspath)).resolve().parents:
            item.add_marker(pytest.mark.integration)


@pytest.fixture(scope="session")
def hapi_server():
    """The running HarnessServer (None when HAPI_BASE_URL points at an external one)."""
    external = os.environ.get("HAPI_BASE_URL")
    if external:
        _STATS["base_url"] = external.rstrip("/")
        yield None
        return
    log_dir = ROOT / "hapi_server" / "target"
    server = harness.HapiServer(log_path=log_dir / "hapi-server-test.log")
    started = time.monotonic()
    server.start()  # builds the jar if needed; raises HapiServerError loudly on any failure
    _STATS.update(
        base_url=server.base_url,
        startup_s=server.startup_seconds,
        total_s=time.monotonic() - started,
        rss_start_mb=(server.rss_kb() or 0) / 1024,
        log=str(server.log_path),
    )
    try:
        yield server
    finally:
        _STATS["rss_end_mb"] = (server.rss_kb() or 0) / 1024
        server.stop()


@pytest.fixture(scope="session")
def hapi_base_url(hapi_server) -> str:
    """Base URL of the HAPI FHIR R4 server, e.g. http://127.0.0.1:41234/fhir."""
    return _STATS["base_url"]


def pytest_terminal_summary(terminalreporter):
    if "startup_s" not in _STATS:
        return
    terminalreporter.write_line(
        "HAPI FHIR server: started in {startup_s:.1f} s (build check + start {total_s:.1f} s), "
        "RSS {rss_start_mb:.0f} MB after start, {rss_end:.0f} MB at end; log {log}".format(
            rss_end=_STATS.get("rss_end_mb") or 0.0, **_STATS
        )
    )


@pytest.fixture(scope="session")
def hapi_faults():
    """The ``hapi_server/faults.py`` module (FaultProxy, ACTIONS, ...)."""
    return faults


@pytest.fixture
def fault_proxy(hapi_base_url):
    """A FaultProxy (hapi_server/faults.py) in front of the session's HAPI, stopped after the test.
    Point a client at ``fault_proxy.base_url`` and add rules with ``fault_proxy.add_rule(...)``."""
    proxy = faults.FaultProxy(hapi_base_url, upstream_timeout=120)
    proxy.start()
    try:
        yield proxy
    finally:
        proxy.stop()


@pytest.fixture(scope="module")
def own_hapi(tmp_path_factory, request):
    """A HAPI server of the test module's own, on its own H2 data directory, for tests that
    freeze, kill or restart it (``freeze()``, ``thaw()``, ``kill()``, ``restart()``) without
    disturbing the session's shared server."""
    name = Path(str(request.fspath)).stem
    data_dir = tmp_path_factory.mktemp(f"{name}-h2")
    server = harness.HapiServer(
        data_dir=data_dir, log_path=ROOT / "hapi_server" / "target" / f"hapi-server-{name}.log"
    )
    server.start()
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture(scope="session")
def stack(hapi_base_url):
    """The whole product on loopback against the session's HAPI: definitions and the
    example patient loaded, the EHR sandbox and the app served (see demo/stack.py)."""
    from demo.stack import Stack

    running = Stack(fhir_base=hapi_base_url).start()
    try:
        yield running
    finally:
        running.stop()
