"""Server-side sessions: the cookie carries an opaque random id, nothing else.

Access tokens, refresh tokens, PKCE verifiers and drafts stay in the store
(SQLite by default, one file per deployment), never in the cookie, a URL or a
log line. At rest the file and its ``-wal``/``-shm`` companions are readable by
their owner only, and each session's data is encrypted (Fernet, a key derived
from ``MBT_SECRET_KEY``; keys listed after the first still decrypt, so a key
can be rotated without ending every session). The cookie is ``Secure; HttpOnly; SameSite=None`` so that it still
works when the EHR shows the app in an iframe.
"""

from __future__ import annotations

import base64
import contextlib
import json
import os
import secrets
import sqlite3
import threading
import time
from pathlib import Path
from typing import Iterator

from cryptography.fernet import Fernet, InvalidToken, MultiFernet
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.kdf.hkdf import HKDF
from flask.sessions import SessionInterface, SessionMixin
from werkzeug.datastructures import CallbackDict

__all__ = ["SqliteStore", "ServerSideSession", "ServerSideSessionInterface", "derive_key"]

_SEALED = "f1:"


def derive_key(secret: str | bytes) -> bytes:
    """The Fernet key for the session store, derived from an app secret (never the secret itself)."""
    raw = secret.encode() if isinstance(secret, str) else secret
    key = HKDF(algorithm=hashes.SHA256(), length=32, salt=b"fhir-mbt session store",
               info=b"fernet v1").derive(raw)
    return base64.urlsafe_b64encode(key)


def _private(path: str) -> None:
    """Create ``path`` readable by its owner only (SQLite gives the -wal and -shm files its mode)."""
    if path == ":memory:" or path.startswith("file:"):
        return
    fd = os.open(path, os.O_CREAT | os.O_RDWR, 0o600)
    os.close(fd)
    for name in (path, path + "-wal", path + "-shm"):
        if os.path.exists(name):
            os.chmod(name, 0o600)


class SqliteStore:
    """A small key → JSON store with expiry, safe across threads and processes."""

    #: Expired sessions are swept at most this often (seconds), on a save.
    PURGE_EVERY = 600

    def __init__(self, path: str | Path, secret_keys: list[str | bytes] | None = None):
        self.path = str(path)
        self._local = threading.local()
        self._last_purge = 0.0
        self._fernet = MultiFernet([Fernet(derive_key(k)) for k in secret_keys]) if secret_keys else None
        _private(self.path)
        with self._connect() as db:
            db.execute(
                "CREATE TABLE IF NOT EXISTS sessions (sid TEXT PRIMARY KEY, data TEXT NOT NULL, expires REAL NOT NULL)"
            )
            db.execute("CREATE TABLE IF NOT EXISTS locks (name TEXT PRIMARY KEY, owner TEXT NOT NULL, "
                       "expires REAL NOT NULL)")
            db.execute("CREATE TABLE IF NOT EXISTS used_once (key TEXT PRIMARY KEY, expires REAL NOT NULL)")

    def _connect(self) -> sqlite3.Connection:
        conn = getattr(self._local, "conn", None)
        if conn is None:
            conn = sqlite3.connect(self.path, timeout=10, isolation_level=None, check_same_thread=True)
            conn.execute("PRAGMA journal_mode=WAL")
            _private(self.path)
            self._local.conn = conn
        return conn

    def _seal(self, data: dict) -> str:
        text = json.dumps(data, separators=(",", ":"))
        if self._fernet is None:
            return text
        return _SEALED + self._fernet.encrypt(text.encode()).decode()

    def _open(self, stored: str) -> dict | None:
        if not stored.startswith(_SEALED):
            return json.loads(stored) if self._fernet is None else None
        if self._fernet is None:
            return None
        try:
            return json.loads(self._fernet.decrypt(stored[len(_SEALED):].encode()))
        except InvalidToken:
            return None

    def load(self, sid: str) -> dict | None:
        row = self._connect().execute(
            "SELECT data, expires FROM sessions WHERE sid = ?", (sid,)
        ).fetchone()
        if row is None or row[1] < time.time():
            return None
        return self._open(row[0])

    def save(self, sid: str, data: dict, lifetime: float) -> None:
        now = time.time()
        if now - self._last_purge > self.PURGE_EVERY:
            self._last_purge = now
            self.purge_expired()
        self._connect().execute(
            "INSERT INTO sessions (sid, data, expires) VALUES (?, ?, ?) "
            "ON CONFLICT(sid) DO UPDATE SET data = excluded.data, expires = excluded.expires",
            (sid, self._seal(data), time.time() + lifetime),
        )

    @contextlib.contextmanager
    def lock(self, name: str, *, wait: float = 10.0, hold: float = 30.0) -> Iterator[bool]:
        """A lock shared by every worker on this file: yields True once held, False after ``wait`` seconds.

        A lock row whose holder died is taken over after ``hold`` seconds.
        """
        owner = secrets.token_hex(8)
        db = self._connect()
        deadline = time.monotonic() + wait
        held = False
        while True:
            now = time.time()
            held = db.execute(
                "INSERT INTO locks (name, owner, expires) VALUES (?, ?, ?) ON CONFLICT(name) DO UPDATE SET "
                "owner = excluded.owner, expires = excluded.expires WHERE locks.expires < ?",
                (name, owner, now + hold, now),
            ).rowcount == 1
            if held or time.monotonic() >= deadline:
                break
            time.sleep(0.05)
        try:
            yield held
        finally:
            if held:
                db.execute("DELETE FROM locks WHERE name = ? AND owner = ?", (name, owner))

    #: Most one-time keys kept; beyond it new ones are refused rather than old ones forgotten.
    MAX_USED_ONCE = 100_000

    def first_use(self, key: str, expires: float) -> bool:
        """Record ``key`` (e.g. a JWT's jti) until ``expires``; True only the first time, in any worker."""
        db = self._connect()
        now = time.time()
        if db.execute("INSERT INTO used_once (key, expires) VALUES (?, ?) ON CONFLICT(key) DO UPDATE SET "
                      "expires = excluded.expires WHERE used_once.expires < ?", (key, expires, now)).rowcount != 1:
            return False
        if db.execute("SELECT COUNT(*) FROM used_once").fetchone()[0] > self.MAX_USED_ONCE:
            db.execute("DELETE FROM used_once WHERE expires < ?", (now,))
            if db.execute("SELECT COUNT(*) FROM used_once").fetchone()[0] > self.MAX_USED_ONCE:
                db.execute("DELETE FROM used_once WHERE key = ?", (key,))
                return False  # flooded: refuse rather than forget what was seen
        return True

    def delete(self, sid: str) -> None:
        self._connect().execute("DELETE FROM sessions WHERE sid = ?", (sid,))

    def purge_expired(self) -> int:
        return self._connect().execute("DELETE FROM sessions WHERE expires < ?", (time.time(),)).rowcount


class ServerSideSession(CallbackDict, SessionMixin):
    def __init__(self, initial=None, sid: str | None = None, new: bool = False):
        def on_update(_):
            self.modified = True

        super().__init__(initial, on_update)
        self.sid = sid or secrets.token_urlsafe(32)
        self.new = new
        self.modified = False

    def regenerate(self) -> None:
        """A new id for the same data (after login, against session fixation)."""
        self.previous_sid = self.sid
        self.sid = secrets.token_urlsafe(32)
        self.modified = True


class ServerSideSessionInterface(SessionInterface):
    def __init__(self, store: SqliteStore):
        self.store = store

    def open_session(self, app, request):
        sid = request.cookies.get(self.get_cookie_name(app))
        if sid and len(sid) < 100:
            data = self.store.load(sid)
            if data is not None:
                return ServerSideSession(data, sid=sid)
        return ServerSideSession(new=True)

    def save_session(self, app, session, response):
        name = self.get_cookie_name(app)
        domain = self.get_cookie_domain(app)
        path = self.get_cookie_path(app)
        previous = getattr(session, "previous_sid", None)
        if previous:
            self.store.delete(previous)
        if not session:
            if not session.new:
                self.store.delete(session.sid)
                response.delete_cookie(name, domain=domain, path=path, secure=True, samesite="None",
                                       partitioned=True)
            return
        lifetime = app.config["MBT_SESSION_LIFETIME"]
        if session.modified or session.new or previous:
            self.store.save(session.sid, dict(session), lifetime)
        response.vary.add("Cookie")
        response.set_cookie(
            name,
            session.sid,
            max_age=lifetime,
            httponly=True,
            secure=True,
            samesite="None",
            # CHIPS: a browser blocking third-party cookies still keeps it inside the EHR's iframe.
            partitioned=True,
            domain=domain,
            path=path,
        )
