"""Secrets at rest: the session file is private and what it holds is encrypted (with key rotation)."""

from __future__ import annotations

import os
import sqlite3
import stat

from app_helpers import launch
from smart_app.store import SqliteStore


def _mode(path) -> int:
    return stat.S_IMODE(os.stat(path).st_mode)


def test_session_files_are_private(tmp_path):
    old = os.umask(0o022)
    try:
        store = SqliteStore(tmp_path / "sessions.sqlite3", secret_keys=["k"])
        store.save("sid", {"tokens": {"access_token": "x"}}, 60)
    finally:
        os.umask(old)
    for name in ("sessions.sqlite3", "sessions.sqlite3-wal", "sessions.sqlite3-shm"):
        path = tmp_path / name
        if path.exists():
            assert _mode(path) == 0o600, name
    assert (tmp_path / "sessions.sqlite3").exists()


def test_tokens_and_held_answers_are_not_stored_in_clear(app, client, ehr, example_data, tmp_path):
    launch(client, ehr)
    token = next(iter(ehr.access_tokens))
    refresh = next(iter(ehr.refresh_tokens))
    with client.session_transaction() as s:
        s["held_form"] = {"form": {"a:session.note": ["Peter spoke about his brother"]}}
    raw = b""
    for name in ("sessions.sqlite3", "sessions.sqlite3-wal"):
        path = tmp_path / name
        if path.exists():
            raw += path.read_bytes()
    rows = sqlite3.connect(tmp_path / "sessions.sqlite3").execute("SELECT data FROM sessions").fetchall()
    raw += "".join(r[0] for r in rows).encode()
    assert token.encode() not in raw and refresh.encode() not in raw
    assert b"Peter spoke about his brother" not in raw
    assert client.get("/dashboard").status_code == 200


def test_key_rotation_old_keys_still_decrypt(tmp_path):
    path = tmp_path / "s.sqlite3"
    SqliteStore(path, secret_keys=["old"]).save("sid", {"tokens": {"access_token": "secret"}}, 60)
    assert SqliteStore(path, secret_keys=["new", "old"]).load("sid") == {"tokens": {"access_token": "secret"}}
    assert SqliteStore(path, secret_keys=["new"]).load("sid") is None


def test_one_time_keys_are_refused_while_they_live_and_welcome_after(tmp_path):
    import time as _time

    path = tmp_path / "s.sqlite3"
    one, two = SqliteStore(path), SqliteStore(path)  # two workers, one file
    assert one.first_use("iss\njti-1", _time.time() + 60) is True
    assert two.first_use("iss\njti-1", _time.time() + 60) is False
    assert one.first_use("iss\njti-2", _time.time() - 1) is True
    assert two.first_use("iss\njti-2", _time.time() + 60) is True, "an expired key may be used again"
