"""The shipped gunicorn configuration: timeouts above the page budget, no secrets in access logs,
no version banner; Strict-Transport-Security over HTTPS."""

from __future__ import annotations

import os
import runpy
import socket
import subprocess
import sys
import time
from pathlib import Path

import requests

ROOT = Path(__file__).resolve().parents[2]
CONF = ROOT / "gunicorn.conf.py"


def test_worker_timeout_is_above_the_page_budget():
    from smart_app.config import PAGE_BUDGET

    conf = runpy.run_path(str(CONF))
    assert conf["timeout"] >= 2 * PAGE_BUDGET
    assert conf["graceful_timeout"] >= conf["timeout"]
    fmt = conf["access_log_format"]
    assert "%(U)s" in fmt
    for leaky in ("%(r)s", "%(q)s", "%(f)s"):
        assert leaky not in fmt


def test_hsts_only_over_https(client):
    assert "Strict-Transport-Security" not in client.get("/launch").headers
    secure = client.get("/launch", base_url="https://app.test")
    assert "max-age=" in secure.headers["Strict-Transport-Security"]


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_gunicorn_logs_no_codes_or_launch_ids_and_shows_no_version(tmp_path):
    port = _free_port()
    log = tmp_path / "access.log"
    env = {**os.environ, "MBT_ACCESS_LOG": str(log), "MBT_SESSION_DB": str(tmp_path / "s.sqlite3"),
           "MBT_SECRET_KEY": "test-secret", "MBT_ALLOWED_ISSUERS": "https://ehr.test/fhir", "WEB_CONCURRENCY": "1"}
    gunicorn = Path(sys.executable).with_name("gunicorn")
    proc = subprocess.Popen([str(gunicorn), "-c", str(CONF), "--bind", f"127.0.0.1:{port}", "smart_app:create_app()"],
                            cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        base = f"http://127.0.0.1:{port}"
        deadline = time.monotonic() + 60
        while True:
            try:
                requests.get(base + "/static/app.css", timeout=2)
                break
            except requests.ConnectionError:
                assert time.monotonic() < deadline, "gunicorn did not start"
                time.sleep(0.3)
        answer = requests.get(base + "/callback?code=SECRETCODE123&state=STATE456", timeout=10)
        requests.get(base + "/launch?iss=https://ehr.test/fhir&launch=LAUNCHID789", timeout=10,
                     allow_redirects=False)
        server = answer.headers.get("Server", "")
        assert not any(ch.isdigit() for ch in server), server
        time.sleep(0.5)
    finally:
        proc.terminate()
        proc.wait(20)
    text = log.read_text()
    assert "/callback" in text and "/launch" in text
    for secret in ("SECRETCODE123", "STATE456", "LAUNCHID789"):
        assert secret not in text
