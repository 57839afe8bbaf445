"""FHIR Bulk Data ``$export``: kick off, poll, download NDJSON; resume where it stopped.

    kick-off  GET [base]/$export | Patient/$export | Group/[id]/$export
              Prefer: respond-async, _type, _since    → 202 + Content-Location
    poll      GET status URL → 202 (Retry-After, X-Progress) ... → 200 + manifest
    download  GET each output URL → <Type>.<n>.ndjson (through a .part file)

The job's state (status URL, request, manifest, files done) is kept in
``<out>/.export-state.json`` after every step, so an interrupted export run
again with the same request picks up the same job: polling again, or
downloading only the files it lacks. Errors: a server without ``$export``
(:class:`ExportNotSupported`), a job that failed (:class:`ExportFailed`, with
the OperationOutcome), a job or file that is gone (:class:`ExportExpired`),
too long a wait (:class:`ExportTimedOut`).
"""

from __future__ import annotations

import email.utils
import json
import os
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

import requests

from fhir_mbt.analytics.backend_auth import NoAuth
from fhir_mbt.analytics.errors import (
    ExportError,
    ExportExpired,
    ExportFailed,
    ExportNotSupported,
    ExportTimedOut,
)

__all__ = ["ExportRequest", "ExportResult", "BulkExporter", "STATE_FILE"]

STATE_FILE = ".export-state.json"
_TIMEOUT = (10.0, 120.0)
_NOT_SUPPORTED = {404, 405, 501}


@dataclass(frozen=True)
class ExportRequest:
    """What to export: ``level`` is ``system``, ``patient`` or ``group`` (with ``group_id``)."""

    level: str = "system"
    types: tuple[str, ...] = ()
    since: str | None = None
    group_id: str | None = None

    def __post_init__(self):
        if self.level not in ("system", "patient", "group"):
            raise ValueError("level must be system, patient or group")
        if self.level == "group" and not self.group_id:
            raise ValueError("a group-level export needs the group's id")

    def path(self) -> str:
        if self.level == "patient":
            return "Patient/$export"
        if self.level == "group":
            return f"Group/{self.group_id}/$export"
        return "$export"

    def params(self) -> dict[str, str]:
        params = {"_outputFormat": "application/fhir+ndjson"}
        if self.types:
            params["_type"] = ",".join(self.types)
        if self.since:
            params["_since"] = self.since
        return params

    def key(self) -> dict:
        return {"level": self.level, "types": list(self.types), "since": self.since, "group": self.group_id}


@dataclass
class ExportResult:
    """The finished export: the files written, resources per type, the server's transaction time."""

    files: list[Path] = field(default_factory=list)
    counts: dict[str, int] = field(default_factory=dict)
    transaction_time: str | None = None
    resumed: bool = False


def _retry_after(value: str | None, default: float) -> float:
    if not value:
        return default
    try:
        return max(0.0, float(value))
    except ValueError:
        parsed = email.utils.parsedate_to_datetime(value)
        return max(0.0, parsed.timestamp() - time.time()) if parsed else default


def _body(answer: requests.Response) -> Any:
    try:
        return answer.json()
    except ValueError:
        return answer.text[:500]


def _diagnostics(body: Any) -> str:
    if isinstance(body, dict) and body.get("resourceType") == "OperationOutcome":
        texts = [i.get("diagnostics") or (i.get("details") or {}).get("text") or i.get("code", "")
                 for i in body.get("issue", [])]
        return "; ".join(t for t in texts if t) or "OperationOutcome without text"
    return str(body)[:300]


class BulkExporter:
    """Runs one export against ``base_url`` into ``out_dir``.

    ``auth`` gives the request headers (:class:`~fhir_mbt.analytics.backend_auth.NoAuth` for a
    local server); ``progress`` receives one line per step; ``sleep`` waits (tests pass a fake).
    """

    def __init__(self, base_url: str, out_dir: str | Path, auth: Any = None, *,
                 session: requests.Session | None = None, progress: Callable[[str], None] | None = None,
                 sleep: Callable[[float], None] = time.sleep, max_wait: float = 3600.0,
                 default_poll: float = 2.0, max_poll: float = 60.0):
        self.base = base_url.rstrip("/")
        self.out = Path(out_dir)
        self.auth = auth or NoAuth()
        self.session = session or requests.Session()
        self.progress = progress or (lambda line: None)
        self.sleep = sleep
        self.max_wait = max_wait
        self.default_poll = default_poll
        self.max_poll = max_poll

    # ----------------------------------------------------------------- HTTP
    def _get(self, url: str, *, params=None, headers=None, stream=False) -> requests.Response:
        for attempt in (1, 2):
            merged = {**(headers or {}), **self.auth.headers()}
            try:
                answer = self.session.get(url, params=params, headers=merged, timeout=_TIMEOUT, stream=stream)
            except requests.RequestException as exc:
                raise ExportError(f"GET {url} failed: {exc}") from None
            if answer.status_code == 401 and attempt == 1:
                self.auth.invalidate()
                continue
            return answer
        return answer

    # ---------------------------------------------------------------- state
    def _state_path(self) -> Path:
        return self.out / STATE_FILE

    def _load_state(self, request: ExportRequest) -> dict | None:
        path = self._state_path()
        if not path.exists():
            return None
        state = json.loads(path.read_text(encoding="utf-8"))
        if state.get("server") != self.base or state.get("request") != request.key() or state.get("complete"):
            return None
        return state

    def _save(self, state: dict) -> None:
        tmp = self._state_path().with_suffix(".tmp")
        tmp.write_text(json.dumps(state, indent=1), encoding="utf-8")
        os.replace(tmp, self._state_path())

    # ---------------------------------------------------------------- steps
    def kick_off(self, request: ExportRequest) -> str:
        """Start the job; its status URL."""
        url = f"{self.base}/{request.path()}"
        answer = self._get(url, params=request.params(),
                           headers={"Accept": "application/fhir+json", "Prefer": "respond-async"})
        if answer.status_code == 202:
            location = answer.headers.get("Content-Location")
            if not location:
                raise ExportError("the server accepted the export but gave no Content-Location", 202)
            return location
        body = _body(answer)
        text = _diagnostics(body)
        if answer.status_code in _NOT_SUPPORTED or (
                answer.status_code == 400 and ("$export" in text or "operation" in text.lower())):
            raise ExportNotSupported(
                f"{self.base} does not offer {request.path()} (HTTP {answer.status_code}: {text}); "
                "is Bulk Data export enabled on this server?", answer.status_code, body)
        if answer.status_code in (401, 403):
            raise ExportError(f"not allowed to export (HTTP {answer.status_code}): {text}", answer.status_code, body)
        raise ExportFailed(f"export kick-off refused (HTTP {answer.status_code}): {text}", answer.status_code, body)

    def poll(self, status_url: str) -> dict:
        """Wait for the job; its manifest. ``max_wait`` bounds the total time spent waiting."""
        waited = 0.0
        while True:
            answer = self._get(status_url, headers={"Accept": "application/json"})
            status = answer.status_code
            if status == 200:
                manifest = _body(answer)
                if not isinstance(manifest, dict) or not isinstance(manifest.get("output"), list):
                    raise ExportError("the completed job's manifest has no output list", 200, manifest)
                return manifest
            if status in (202, 429):
                wait = min(self.max_poll, _retry_after(answer.headers.get("Retry-After"), self.default_poll))
                progress = answer.headers.get("X-Progress")
                self.progress(f"export in progress{': ' + progress if progress else ''}; "
                              f"next check in {wait:g} s")
                if waited + wait > self.max_wait:
                    raise ExportTimedOut(f"the export did not finish within {self.max_wait:g} s", status)
                self.sleep(wait)
                waited += max(wait, 0.1)
                continue
            body = _body(answer)
            if status in (404, 410):
                raise ExportExpired(f"the export job is gone (HTTP {status}): {_diagnostics(body)}", status, body)
            raise ExportFailed(f"the export job failed (HTTP {status}): {_diagnostics(body)}", status, body)

    def download(self, manifest: dict, state: dict) -> ExportResult:
        """Fetch every output file not yet on disk."""
        result = ExportResult(transaction_time=manifest.get("transactionTime"))
        done: dict[str, str] = state.setdefault("done", {})
        outputs = [o for o in manifest["output"] if isinstance(o, dict) and o.get("url")]
        for n, item in enumerate(outputs, 1):
            rtype = str(item.get("type") or "Resource")
            name = f"{rtype}.{n:03d}.ndjson"
            target = self.out / name
            if done.get(item["url"]) == name and target.exists():
                result.resumed = True
            else:
                self.progress(f"downloading {n}/{len(outputs)}: {rtype}")
                self._fetch_file(item["url"], target, manifest.get("requiresAccessToken", True))
                done[item["url"]] = name
                self._save(state)
            result.files.append(target)
            with target.open("rb") as fh:
                lines = sum(1 for line in fh if line.strip())
            result.counts[rtype] = result.counts.get(rtype, 0) + lines
        for item in manifest.get("error") or []:
            if isinstance(item, dict) and item.get("url"):
                self.progress(f"the server reported errors for part of the export: {item['url']}")
        return result

    def _fetch_file(self, url: str, target: Path, with_token: bool) -> None:
        headers = {"Accept": "application/fhir+ndjson"}
        if with_token:
            answer = self._get(url, headers=headers, stream=True)
        else:
            try:
                answer = self.session.get(url, headers=headers, timeout=_TIMEOUT, stream=True)
            except requests.RequestException as exc:
                raise ExportError(f"GET {url} failed: {exc}") from None
        if answer.status_code in (404, 410):
            raise ExportExpired(f"an export file is gone (HTTP {answer.status_code}): {url}", answer.status_code)
        if answer.status_code != 200:
            raise ExportError(f"downloading {url} failed (HTTP {answer.status_code})", answer.status_code,
                              _body(answer))
        part = target.with_suffix(".part")
        with part.open("wb") as fh:
            for chunk in answer.iter_content(1 << 16):
                fh.write(chunk)
        os.replace(part, target)

    # ----------------------------------------------------------------- whole
    def run(self, request: ExportRequest, *, restart: bool = False) -> ExportResult:
        """Kick off (or resume) the export, wait for it, download what is missing."""
        self.out.mkdir(parents=True, exist_ok=True)
        state = None if restart else self._load_state(request)
        resumed = state is not None
        if state is None:
            status_url = self.kick_off(request)
            state = {"server": self.base, "request": request.key(), "status_url": status_url}
            self._save(state)
            self.progress(f"export started: {request.path()}")
        else:
            self.progress("resuming the export started earlier")
        if state.get("manifest") is None:
            state["manifest"] = self.poll(state["status_url"])
            self._save(state)
        result = self.download(state["manifest"], state)
        result.resumed = result.resumed or resumed
        state["complete"] = True
        self._save(state)
        total = sum(result.counts.values())
        self.progress(f"export done: {total} resources in {len(result.files)} file(s)")
        return result
