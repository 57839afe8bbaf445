"""The one FHIR REST client of the project.

Every FHIR call goes through :meth:`FhirClient._send`, so signing, timeouts,
the one refresh on 401, retries and error mapping are written once and no
interaction can forget them.
"""

from __future__ import annotations

import json
import logging
import time
from typing import Any, Callable, Iterator, Mapping, Sequence
from urllib.parse import urlencode, urlsplit

import requests

from fhir_mbt.client._errors import (
    FhirError,
    MalformedResponse,
    PageLimitExceeded,
    Timeout,
    TransportError,
    error_for_entry,
    error_for_response,
)
from fhir_mbt.client._result import WriteResult
from fhir_mbt.client._retry import RETRY_STATUSES, RetryPolicy
from fhir_mbt.client._urls import check_id, check_type, join, operation_name, same_origin

__all__ = ["FhirClient", "DEFAULT_TIMEOUT", "FHIR_JSON"]

log = logging.getLogger("fhir_mbt.client")

DEFAULT_TIMEOUT: tuple[float, float] = (5.0, 30.0)
FHIR_JSON = "application/fhir+json"

Params = Mapping[str, Any] | Sequence[tuple[str, Any]] | None


def _path(url: str) -> str:
    """The path of a URL, for log lines: never the query, which may name a patient."""
    return urlsplit(url).path or "/"


class FhirClient:
    """A FHIR R4 REST client over ``requests``.

    ``auth`` signs every request (see :class:`fhir_mbt.client.BearerAuth`).
    ``timeout`` is passed to every call, as (connect, read) seconds. Reads are
    retried up to ``max_retries`` times, waiting at most ``max_retry_wait``
    seconds in all (or as ``retry`` says); ``sleep`` is what waits, so tests
    need not. A search follows at most ``page_limit`` pages.

    ``budget`` (seconds, from the client's creation, read on ``clock``) bounds
    all calls of the client together: each request waits at most what is left,
    retries stop when it is spent, and a call made after it raises
    :class:`Timeout` at once. An app makes one client per page it serves.
    """

    def __init__(
        self,
        base_url: str,
        auth: Any = None,
        session: requests.Session | None = None,
        timeout: float | tuple[float, float] = DEFAULT_TIMEOUT,
        max_retries: int = 2,
        page_limit: int = 20,
        *,
        max_retry_wait: float = 30.0,
        retry: RetryPolicy | None = None,
        sleep: Callable[[float], None] = time.sleep,
        budget: float | None = None,
        clock: Callable[[], float] = time.monotonic,
    ):
        parts = urlsplit(base_url)
        if parts.scheme not in {"http", "https"} or not parts.netloc:
            raise ValueError(f"not an absolute http(s) URL: {base_url!r}")
        if page_limit < 1:
            raise ValueError("page_limit must be at least 1")
        if timeout is None:
            raise ValueError("a timeout is required: a FHIR call must not hang a request handler")
        if max_retries < 0:
            raise ValueError("max_retries must not be negative")
        self.base_url = base_url.rstrip("/")
        self.auth = auth
        self.timeout = timeout
        self.page_limit = page_limit
        self.retry = retry or RetryPolicy(max_retries=max_retries, max_total_wait=max_retry_wait)
        self._session = session if session is not None else requests.Session()
        self._sleep = sleep
        self._clock = clock
        self._deadline = None if budget is None else clock() + budget

    def _left(self) -> float | None:
        return None if self._deadline is None else self._deadline - self._clock()

    def _timeout(self, method: str, url: str) -> float | tuple[float, float]:
        """The request's timeout, cut to what is left of the budget."""
        left = self._left()
        if left is None:
            return self.timeout
        if left <= 0.05:
            raise Timeout(f"{method} {_path(url)} not sent: the time budget for this page is spent")
        if isinstance(self.timeout, tuple):
            return tuple(min(t, left) for t in self.timeout)
        return min(self.timeout, left)

    def _retry_delay(self, attempt: int, waited: float, response=None) -> float | None:
        delay = self.retry.wait(attempt, waited, response)
        left = self._left()
        if delay is not None and left is not None and delay >= left - 0.5:
            return None
        return delay

    def __repr__(self) -> str:
        return f"FhirClient({self.base_url!r})"

    # -- reads ---------------------------------------------------------------

    def capabilities(self) -> dict[str, Any]:
        """The server's CapabilityStatement (``GET [base]/metadata``)."""
        return self._resource(self._send("GET", join(self.base_url, "metadata")), "CapabilityStatement")

    def read(self, resource_type: str, id: str) -> dict[str, Any]:
        url = join(self.base_url, check_type(resource_type), check_id(id))
        return self._resource(self._send("GET", url), resource_type)

    def vread(self, resource_type: str, id: str, version_id: str) -> dict[str, Any]:
        url = join(self.base_url, check_type(resource_type), check_id(id), "_history",
                   check_id(version_id, "version id"))
        return self._resource(self._send("GET", url), resource_type)

    def history(self, resource_type: str, id: str, params: Params = None) -> dict[str, Any]:
        """The first page of one resource's versions (``GET [type]/[id]/_history``), newest first.

        One page only: ``params`` (``_count``) bound it, and its ``next`` link
        (or ``total``) says whether older versions were left.
        """
        url = join(self.base_url, check_type(resource_type), check_id(id), "_history")
        bundle = self._resource(self._send("GET", url, params=params), "Bundle")
        if bundle.get("type") != "history":
            raise MalformedResponse(f"expected a history Bundle, got {bundle.get('type')!r}")
        return bundle

    def pages(self, resource_type: str | None = None, params: Params = None) -> Iterator[dict[str, Any]]:
        """The searchset Bundles of a search, following ``next`` links.

        Raises :class:`PageLimitExceeded` instead of fetching a page beyond
        ``page_limit``: silently stopping would show a clinician part of a
        history as if it were all of it.
        """
        url = join(self.base_url, check_type(resource_type)) if resource_type else self.base_url
        seen: set[str] = set()
        count = 0
        while True:
            response = self._send("GET", url, params=params)
            bundle = self._resource(response, "Bundle")
            count += 1
            yield bundle
            next_url = _next_link(bundle, response)
            if next_url is None:
                return
            if not same_origin(next_url, self.base_url):
                raise MalformedResponse(
                    f"next link leaves the server's origin: {_path(next_url)}", response=response
                )
            if next_url in seen:
                raise MalformedResponse("next link points back to a page already read", response=response)
            if count >= self.page_limit:
                raise PageLimitExceeded(
                    f"search has more than {self.page_limit} pages", response=response
                )
            seen.add(next_url)
            url, params = next_url, None

    def search(
        self, resource_type: str | None = None, params: Params = None, *, limit: int | None = None
    ) -> Iterator[dict[str, Any]]:
        """The resources of every entry of every page (matches and includes).

        ``limit`` stops after that many resources without reading further pages.
        """
        if limit is not None and limit <= 0:
            return
        given = 0
        for bundle in self.pages(resource_type, params):
            for entry in bundle.get("entry") or []:
                resource = entry.get("resource") if isinstance(entry, dict) else None
                if isinstance(resource, dict):
                    yield resource
                    given += 1
                    if limit is not None and given >= limit:
                        return

    # -- writes --------------------------------------------------------------

    def create(
        self, resource: Mapping[str, Any], *, if_none_exist: str | Params = None
    ) -> WriteResult:
        """``POST [base]/[type]``; with ``if_none_exist``, a conditional create.

        ``if_none_exist`` is a query (``"identifier=sys|val"``) or its
        parameters; a server that finds a match answers 200 with it instead of
        creating a second one (``WriteResult.created`` is then False).
        """
        resource_type = _resource_type(resource)
        headers = {"Prefer": "return=representation"}
        if if_none_exist:
            headers["If-None-Exist"] = (
                if_none_exist if isinstance(if_none_exist, str) else urlencode(if_none_exist, doseq=True)
            )
        response = self._send("POST", join(self.base_url, resource_type), body=resource, headers=headers)
        return self._write_result(response)

    def update(self, resource: Mapping[str, Any], *, if_match: str | int | None = None) -> WriteResult:
        """``PUT [base]/[type]/[id]``; with ``if_match`` (a version id), only over that version."""
        resource_type = _resource_type(resource)
        id = check_id(resource.get("id", ""))
        headers = {"Prefer": "return=representation"}
        if if_match is not None:
            headers["If-Match"] = _etag(if_match)
        response = self._send("PUT", join(self.base_url, resource_type, id), body=resource, headers=headers)
        return self._write_result(response)

    def conditional_update(self, resource: Mapping[str, Any], query: str, *,
                           if_match: str | int | None = None) -> WriteResult:
        """``PUT [base]/[type]?query``: update the one match, or create when there is none."""
        resource_type = _resource_type(resource)
        headers = {"Prefer": "return=representation"}
        if if_match is not None:
            headers["If-Match"] = _etag(if_match)
        url = join(self.base_url, resource_type) + "?" + query
        response = self._send("PUT", url, body={k: v for k, v in resource.items() if k != "id"}, headers=headers)
        return self._write_result(response)

    def delete(self, resource_type: str, id: str, *, if_match: str | int | None = None) -> WriteResult:
        """``DELETE [base]/[type]/[id]``; with ``if_match`` (a version id), only that version. Never retried."""
        headers = {"If-Match": _etag(if_match)} if if_match is not None else None
        response = self._send("DELETE", join(self.base_url, check_type(resource_type), check_id(id)), headers=headers)
        return self._write_result(response)

    def batch(self, bundle: Mapping[str, Any]) -> dict[str, Any]:
        """Send a batch Bundle; entries succeed or fail one by one (read the response)."""
        return self._bundle_interaction(bundle, "batch")

    def read_many(self, urls: Sequence[str]) -> list[dict[str, Any] | FhirError]:
        """Several reads (relative URLs: ``Type/id``, ``Type/id/_history``, ``Type?query``) in one
        batch Bundle, one round trip: for each, in order, the resource answered or the error
        its entry stands for. A server that refuses the batch itself raises, as any call does."""
        bundle = {"resourceType": "Bundle", "type": "batch",
                  "entry": [{"request": {"method": "GET", "url": url}} for url in urls]}
        answer = self.batch(bundle)
        entries = answer.get("entry") or []
        if not isinstance(entries, list) or len(entries) != len(urls):
            raise MalformedResponse(f"a batch of {len(urls)} reads was answered with {len(entries)} entries")
        out: list[dict[str, Any] | FhirError] = []
        for url, entry in zip(urls, entries):
            where = "GET " + url.split("?", 1)[0]
            error = error_for_entry(entry, where)
            resource = entry.get("resource") if isinstance(entry, dict) else None
            if error is None and not (isinstance(resource, dict) and isinstance(resource.get("resourceType"), str)):
                error = MalformedResponse(f"{where}: the batch answer carries no resource for this entry")
            out.append(error if error is not None else resource)
        return out

    def transaction(self, bundle: Mapping[str, Any]) -> dict[str, Any]:
        """Send a transaction Bundle: all entries apply, or none. Never retried."""
        return self._bundle_interaction(bundle, "transaction")

    def operation(
        self,
        name: str,
        *,
        resource_type: str | None = None,
        id: str | None = None,
        params: Params = None,
        body: Mapping[str, Any] | None = None,
        method: str | None = None,
    ) -> dict[str, Any] | None:
        """Invoke ``$name`` at system, type or instance level.

        Without a ``body`` the call is a GET with ``params`` (and may be
        retried); with one it is a POST of a Parameters (or other) resource.
        Returns the resource answered, or ``None`` for an empty body.
        """
        parts = []
        if resource_type is not None:
            parts.append(check_type(resource_type))
            if id is not None:
                parts.append(check_id(id))
        elif id is not None:
            raise ValueError("an instance operation needs the resource type")
        parts.append(operation_name(name))
        verb = (method or ("POST" if body is not None else "GET")).upper()
        response = self._send(verb, join(self.base_url, *parts), params=params, body=body)
        return self._json(response) if response.content else None

    # -- the one request path ------------------------------------------------

    def _bundle_interaction(self, bundle: Mapping[str, Any], kind: str) -> dict[str, Any]:
        if bundle.get("resourceType") != "Bundle" or bundle.get("type") != kind:
            raise ValueError(f"expected a Bundle of type {kind!r}")
        response = self._send("POST", self.base_url, body=bundle)
        answer = self._resource(response, "Bundle")
        if answer.get("type") != f"{kind}-response":
            raise MalformedResponse(
                f"expected a {kind}-response Bundle, got {answer.get('type')!r}", response=response
            )
        return answer

    def _send(
        self,
        method: str,
        url: str,
        *,
        params: Params = None,
        body: Mapping[str, Any] | None = None,
        headers: Mapping[str, str] | None = None,
    ) -> requests.Response:
        all_headers = {"Accept": FHIR_JSON, **(headers or {})}
        data = None
        if body is not None:
            data = json.dumps(body, ensure_ascii=False, separators=(",", ":")).encode("utf-8")
            all_headers["Content-Type"] = f"{FHIR_JSON}; charset=utf-8"
        attempt = 0
        waited = 0.0
        refreshed = False
        while True:
            started = time.monotonic()
            timeout = self._timeout(method, url)
            try:
                response = self._session.request(
                    method, url, params=params, data=data, headers=all_headers,
                    timeout=timeout, auth=self.auth,
                )
            except requests.Timeout as exc:
                failure: FhirError = Timeout(f"{method} {_path(url)} timed out: {type(exc).__name__}")
                failure.__cause__ = exc
            except requests.RequestException as exc:
                failure = TransportError(f"{method} {_path(url)} failed: {type(exc).__name__}")
                failure.__cause__ = exc
            else:
                status = response.status_code
                log.debug("%s %s -> %s in %.0f ms", method, _path(url), status,
                          (time.monotonic() - started) * 1000)
                if status == 401 and not refreshed and callable(getattr(self.auth, "refresh", None)):
                    refreshed = True
                    if self.auth.refresh():
                        response.close()
                        log.info("%s %s: 401, sending once more with refreshed credentials",
                                 method, _path(url))
                        continue
                retryable = status in RETRY_STATUSES or (status == 500 and attempt == 0)
                if retryable and self.retry.may_retry(method, attempt):
                    delay = self._retry_delay(attempt, waited, response)
                    if delay is not None:
                        response.close()
                        log.info("%s %s: %s, retrying in %.1f s", method, _path(url), status, delay)
                        self._sleep(delay)
                        waited += delay
                        attempt += 1
                        continue
                error = error_for_response(response)
                if error is not None:
                    raise error
                return response
            if self.retry.may_retry(method, attempt):
                delay = self._retry_delay(attempt, waited)
                if delay is not None:
                    log.info("%s %s: %s, retrying in %.1f s", method, _path(url),
                             type(failure).__name__, delay)
                    self._sleep(delay)
                    waited += delay
                    attempt += 1
                    continue
            raise failure

    @staticmethod
    def _json(response: requests.Response) -> dict[str, Any]:
        try:
            body = response.json()
        except ValueError as exc:
            raise MalformedResponse(
                f"{response.request.method} {_path(response.url)}: body is not JSON",
                response=response,
            ) from exc
        if not isinstance(body, dict) or not isinstance(body.get("resourceType"), str):
            raise MalformedResponse(
                f"{response.request.method} {_path(response.url)}: body is not a FHIR resource",
                response=response,
            )
        return body

    def _resource(self, response: requests.Response, resource_type: str) -> dict[str, Any]:
        body = self._json(response)
        if body["resourceType"] != resource_type:
            raise MalformedResponse(
                f"expected {resource_type}, got {body['resourceType']}", response=response
            )
        return body

    def _write_result(self, response: requests.Response) -> WriteResult:
        resource = self._json(response) if response.content else None
        return WriteResult(
            status=response.status_code,
            resource=resource,
            location=response.headers.get("Location") or response.headers.get("Content-Location"),
            etag=response.headers.get("ETag"),
        )


def _resource_type(resource: Mapping[str, Any]) -> str:
    if not isinstance(resource, Mapping):
        raise TypeError("a resource is a mapping (parsed FHIR JSON)")
    return check_type(resource.get("resourceType", ""))


def _etag(version: str | int) -> str:
    text = str(version).strip()
    if text.startswith('W/"') or text.startswith('"'):
        return text
    return f'W/"{check_id(text, "version id")}"'


def _next_link(bundle: dict[str, Any], response: requests.Response) -> str | None:
    links = bundle.get("link") or []
    if not isinstance(links, list):
        raise MalformedResponse("Bundle.link is not a list", response=response)
    for link in links:
        if isinstance(link, dict) and link.get("relation") == "next":
            url = link.get("url")
            if not isinstance(url, str) or not url:
                raise MalformedResponse("next link without a url", response=response)
            return url
    return None
