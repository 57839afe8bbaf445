"""A loopback HTTP proxy that injects faults in front of the HAPI FHIR server, for tests.

Python standard library plus ``requests``; no project imports, so it can be loaded by
path like ``harness.py``. It listens on 127.0.0.1 only.

    from hapi_server.faults import FaultProxy

    with FaultProxy(hapi_base_url) as proxy:          # proxy.base_url: http://127.0.0.1:PORT/fhir
        proxy.add_rule("fail_after_write", method="POST", path=r"^/fhir/?$")
        resp = requests.post(proxy.base_url, json=bundle)   # HAPI stored it; the client sees 500
        assert proxy.hits[-1].upstream_status == 200

Every request is forwarded to the upstream server unchanged (same method, path, query,
headers and body; the ``Host`` header too, so the URLs HAPI writes into its replies, such
as ``Location`` and Bundle links, point at the proxy) unless a rule matches it. A rule
matches on method, a regular expression searched in the path with its query, and/or a
predicate on the request; it applies ``times`` times (``None``: until removed). Actions:

``fail_before``       answer ``status`` (default 503) without forwarding: nothing is written.
``fail_after_write``  forward, wait for the upstream reply, then answer ``status`` (default 500)
                      with an OperationOutcome: the write happened, the client is told it failed.
``hang_after_write``  forward, then send nothing for ``hang_seconds`` (default 30, bounded by
                      ``max_hang_seconds``) and close the connection: the client times out.
``garble_after_write`` forward, then answer the upstream status and headers with a body that
                      is not JSON (truncated and with invalid bytes): the client cannot read it.
``drop_before``       close the connection without forwarding or answering anything.

Bounds: at most ``max_connections`` requests are served at once (more are answered 503 at
once); every socket has a timeout; ``stop()`` ends any hang, stops accepting and joins the
worker threads within a few seconds.
"""

from __future__ import annotations

import itertools
import json
import re
import threading
import time
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Callable
from urllib.parse import urlsplit

import requests

ACTIONS = ("fail_before", "fail_after_write", "hang_after_write", "garble_after_write", "drop_before")

#: Headers that belong to one connection and are not passed on (RFC 9110 section 7.6.1).
HOP_BY_HOP = {
    "connection",
    "keep-alive",
    "proxy-authenticate",
    "proxy-authorization",
    "te",
    "trailer",
    "transfer-encoding",
    "upgrade",
    "proxy-connection",
}


@dataclass
class ProxiedRequest:
    """What a rule's predicate sees, and what ``FaultProxy.hits`` records."""

    method: str
    path: str  # path with query string, e.g. /fhir/Patient?identifier=x
    headers: dict[str, str]
    body: bytes
    action: str | None = None  # the fault applied, None when passed through
    upstream_status: int | None = None  # None when not forwarded (or the upstream failed)
    client_status: int | None = None  # what the client was sent; None when nothing was sent
    error: str | None = None

    def json(self):
        return json.loads(self.body.decode("utf-8")) if self.body else None


@dataclass
class Rule:
    action: str
    method: str | None = None
    path: str | None = None  # regular expression, searched in path + query
    predicate: Callable[[ProxiedRequest], bool] | None = None
    times: int | None = 1  # None: every matching request until removed
    status: int | None = None
    hang_seconds: float = 30.0
    id: int = 0
    applied: int = 0
    _path_re: re.Pattern | None = field(default=None, repr=False)

    def matches(self, request: ProxiedRequest) -> bool:
        if self.times is not None and self.applied >= self.times:
            return False
        if self.method is not None and request.method.upper() != self.method.upper():
            return False
        if self._path_re is not None and not self._path_re.search(request.path):
            return False
        if self.predicate is not None and not self.predicate(request):
            return False
        return True


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    block_on_close = False
    allow_reuse_address = True
    request_queue_size = 64

    def __init__(self, proxy: "FaultProxy"):
        self.proxy = proxy
        super().__init__(("127.0.0.1", proxy.port), _Handler)

    def process_request(self, request, client_address):
        # Bounded: refuse work beyond max_connections instead of starting more threads.
        if not self.proxy._slots.acquire(blocking=False):
            try:
                request.sendall(
                    b"HTTP/1.0 503 Service Unavailable\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"
                )
            except OSError:
                pass
            self.shutdown_request(request)
            return
        thread = threading.Thread(
            target=self._serve_one, args=(request, client_address), daemon=True, name="fault-proxy-worker"
        )
        with self.proxy._lock:
            self.proxy._workers.add(thread)
        thread.start()

    def _serve_one(self, request, client_address):
        try:
            self.process_request_thread(request, client_address)
        finally:
            self.proxy._slots.release()
            with self.proxy._lock:
                self.proxy._workers.discard(threading.current_thread())


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.0"  # one request per connection: nothing lingers between requests
    server: _Server

    def setup(self):
        self.timeout = self.server.proxy.socket_timeout
        super().setup()

    def log_message(self, format, *args):  # noqa: A002 - quiet; FaultProxy.hits records requests
        pass

    def _handle(self):
        proxy = self.server.proxy
        length = self.headers.get("Content-Length")
        if self.headers.get("Transfer-Encoding", "").lower() == "chunked":
            self._send(411, b"", {})
            return
        body = self.rfile.read(int(length)) if length else b""
        request = ProxiedRequest(
            method=self.command,
            path=self.path,
            headers={k: v for k, v in self.headers.items()},
            body=body,
        )
        rule = proxy._take_rule(request)
        request.action = rule.action if rule else None
        proxy._record(request)
        if rule is not None and rule.action == "drop_before":
            self.close_connection = True
            return
        if rule is not None and rule.action == "fail_before":
            status = rule.status or 503
            request.client_status = status
            self._send_outcome(status, "fault proxy: failed before forwarding (nothing was sent to the server)")
            return

        try:
            upstream = proxy._forward(request)
        except requests.RequestException as exc:
            request.error = f"upstream: {exc.__class__.__name__}: {exc}"
            request.client_status = 502
            self._send_outcome(502, f"fault proxy: upstream request failed: {exc.__class__.__name__}")
            return
        request.upstream_status = upstream.status_code
        headers = {
            k: v
            for k, v in upstream.headers.items()
            if k.lower() not in HOP_BY_HOP and k.lower() not in ("content-length", "content-encoding")
        }

        if rule is None:
            request.client_status = upstream.status_code
            self._send(upstream.status_code, upstream.content, headers)
        elif rule.action == "fail_after_write":
            status = rule.status or 500
            request.client_status = status
            self._send_outcome(status, "fault proxy: failed after the server had answered")
        elif rule.action == "hang_after_write":
            # Say nothing until the client has given up (or the proxy stops), then hang up.
            proxy._stopping.wait(min(rule.hang_seconds, proxy.max_hang_seconds))
            self.close_connection = True
        elif rule.action == "garble_after_write":
            content = upstream.content
            garbled = content[: max(1, len(content) // 2)] + b"\xff\xfe<<garbled>>\x00"
            request.client_status = upstream.status_code
            self._send(upstream.status_code, garbled, headers)

    def _send_outcome(self, status: int, text: str):
        body = json.dumps(
            {
                "resourceType": "OperationOutcome",
                "issue": [{"severity": "error", "code": "transient", "diagnostics": text}],
            }
        ).encode()
        self._send(status, body, {"Content-Type": "application/fhir+json;charset=utf-8"})

    def _send(self, status: int, body: bytes, headers: dict[str, str]):
        try:
            self.send_response(status)
            for key, value in headers.items():
                self.send_header(key, value)
            self.send_header("Content-Length", str(len(body)))
            self.send_header("Connection", "close")
            self.end_headers()
            if self.command != "HEAD":
                self.wfile.write(body)
        except OSError:  # the client went away
            pass

    do_GET = do_POST = do_PUT = do_DELETE = do_PATCH = do_HEAD = do_OPTIONS = _handle


class FaultProxy:
    """A threaded loopback HTTP proxy to ``upstream_base_url`` that applies fault rules.

    upstream_base_url: the server's base, e.g. ``http://127.0.0.1:41234/fhir``; the proxy's
                       ``base_url`` has the same path on its own port.
    port:              0 (default) picks a free port.
    upstream_timeout:  seconds for each forwarded request (connect and read).
    socket_timeout:    seconds a client socket may sit idle while its request is read.
    max_connections:   requests served at once; more are answered 503.
    max_hang_seconds:  upper bound for ``hang_after_write``.
    """

    def __init__(
        self,
        upstream_base_url: str,
        port: int = 0,
        upstream_timeout: float = 60.0,
        socket_timeout: float = 30.0,
        max_connections: int = 16,
        max_hang_seconds: float = 120.0,
    ) -> None:
        parts = urlsplit(upstream_base_url.rstrip("/"))
        if parts.scheme != "http" or not parts.hostname:
            raise ValueError(f"expected an http:// base URL, got {upstream_base_url!r}")
        self.upstream_base_url = upstream_base_url.rstrip("/")
        self._upstream_origin = f"{parts.scheme}://{parts.netloc}"
        self._base_path = parts.path
        self.port = port
        self.upstream_timeout = upstream_timeout
        self.socket_timeout = socket_timeout
        self.max_hang_seconds = max_hang_seconds
        self.hits: list[ProxiedRequest] = []
        self._rules: list[Rule] = []
        self._ids = itertools.count(1)
        self._lock = threading.Lock()
        self._slots = threading.BoundedSemaphore(max_connections)
        self._workers: set[threading.Thread] = set()
        self._stopping = threading.Event()
        self._server: _Server | None = None
        self._thread: threading.Thread | None = None

    # -- lifecycle -----------------------------------------------------------------
    def start(self) -> str:
        if self._server is not None:
            raise RuntimeError("proxy already started")
        self._stopping.clear()
        self._server = _Server(self)
        self.port = self._server.server_address[1]
        self._thread = threading.Thread(
            target=self._server.serve_forever, kwargs={"poll_interval": 0.1}, daemon=True, name="fault-proxy"
        )
        self._thread.start()
        return self.base_url

    def stop(self, timeout: float = 5.0) -> None:
        """Stop accepting, end any hang, and wait up to ``timeout`` s for the workers."""
        server, self._server = self._server, None
        if server is None:
            return
        self._stopping.set()
        server.shutdown()
        server.server_close()
        if self._thread is not None:
            self._thread.join(timeout)
            self._thread = None
        deadline = time.monotonic() + timeout
        with self._lock:
            workers = list(self._workers)
        for worker in workers:
            worker.join(max(0.0, deadline - time.monotonic()))

    def __enter__(self) -> "FaultProxy":
        self.start()
        return self

    def __exit__(self, *exc) -> None:
        self.stop()

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}{self._base_path}"

    # -- rules -----------------------------------------------------------------------
    def add_rule(
        self,
        action: str,
        method: str | None = None,
        path: str | None = None,
        predicate: Callable[[ProxiedRequest], bool] | None = None,
        times: int | None = 1,
        status: int | None = None,
        hang_seconds: float = 30.0,
    ) -> Rule:
        """Apply ``action`` to the next ``times`` requests that match (see the module doc).

        ``path`` is a regular expression searched in the request path with its query
        (``/fhir/Patient/x?_format=json``); a transaction or batch is ``POST`` to ``^/fhir/?$``
        (or ``^/fhir/?(\\?|$)``). Rules are tried in the order they were added."""
        if action not in ACTIONS:
            raise ValueError(f"unknown action {action!r}; one of {', '.join(ACTIONS)}")
        rule = Rule(
            action=action,
            method=method,
            path=path,
            predicate=predicate,
            times=times,
            status=status,
            hang_seconds=hang_seconds,
            id=next(self._ids),
            _path_re=re.compile(path) if path is not None else None,
        )
        with self._lock:
            self._rules.append(rule)
        return rule

    def remove_rule(self, rule: Rule) -> None:
        with self._lock:
            if rule in self._rules:
                self._rules.remove(rule)

    def clear(self) -> None:
        """Remove every rule and forget the recorded hits."""
        with self._lock:
            self._rules.clear()
            self.hits.clear()

    def _take_rule(self, request: ProxiedRequest) -> Rule | None:
        with self._lock:
            for rule in self._rules:
                if rule.matches(request):
                    rule.applied += 1
                    return rule
        return None

    def _record(self, request: ProxiedRequest) -> None:
        with self._lock:
            self.hits.append(request)
            del self.hits[:-1000]  # bounded

    # -- forwarding ----------------------------------------------------------------
    def _forward(self, request: ProxiedRequest) -> requests.Response:
        headers = {k: v for k, v in request.headers.items() if k.lower() not in HOP_BY_HOP}
        headers["Accept-Encoding"] = "identity"
        session = requests.Session()
        session.trust_env = False
        try:
            return session.request(
                request.method,
                self._upstream_origin + request.path,
                data=request.body or None,
                headers=headers,
                timeout=self.upstream_timeout,
                allow_redirects=False,
            )
        finally:
            session.close()

