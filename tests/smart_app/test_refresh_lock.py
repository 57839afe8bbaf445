"""Two requests of one session refreshing at once: the rotating refresh token is used once."""

from __future__ import annotations

import threading

from app_helpers import launch


def test_concurrent_requests_refresh_once(app, client, ehr, example_data):
    launch(client, ehr)
    ehr.rotate_refresh = True
    ehr.refresh_delay = 0.3
    ehr.expire_all_tokens()
    cookie = client.get_cookie("mbt_session")
    other = app.test_client()
    other.set_cookie("mbt_session", cookie.value, domain=cookie.domain or "localhost")
    results = {}

    def load(name, c):
        results[name] = c.get("/dashboard").status_code

    threads = [threading.Thread(target=load, args=(n, c)) for n, c in (("a", client), ("b", other))]
    for t in threads:
        t.start()
    for t in threads:
        t.join(30)
    assert results == {"a": 200, "b": 200}
    assert ehr.refresh_reused == 0
    assert ehr.refreshes == 1
    assert client.get("/dashboard").status_code == 200


def test_store_lock_is_exclusive(tmp_path):
    from smart_app.store import SqliteStore

    store = SqliteStore(tmp_path / "s.sqlite3")
    with store.lock("refresh:x", wait=1.0) as first:
        assert first
        with store.lock("refresh:x", wait=0.2) as second:
            assert not second
    with store.lock("refresh:x", wait=0.2) as third:
        assert third
