"""When a failed call may be sent again, and how long to wait first.

Only reads (GET, HEAD) are retried: a create or a transaction that timed out
or met a 503 may already have been applied, and sending it again could write
twice. Reads are retried after a transport error or a 429/502/503/504 (and once
after a 500, which is often a passing fault of one server node), waiting
what ``Retry-After`` asks (seconds or an HTTP date) or else an exponential
backoff, within a bounded number of attempts and a bounded total wait. A
``Retry-After`` longer than the remaining budget ends the retries at once.
"""

from __future__ import annotations

import email.utils
import time
from dataclasses import dataclass

import requests

__all__ = ["RetryPolicy", "SAFE_METHODS", "RETRY_STATUSES", "retry_after_seconds"]

SAFE_METHODS = frozenset({"GET", "HEAD"})
RETRY_STATUSES = frozenset({429, 502, 503, 504})


def retry_after_seconds(response: requests.Response, now: float | None = None) -> float | None:
    """Seconds asked for by ``Retry-After``, or ``None`` when absent or unreadable."""
    value = response.headers.get("Retry-After")
    if value is None:
        return None
    value = value.strip()
    if value.isdigit():
        return float(value)
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    if when is None or when.tzinfo is None:
        return None
    return max(0.0, when.timestamp() - (time.time() if now is None else now))


@dataclass(frozen=True)
class RetryPolicy:
    """Bounds on retrying safe requests.

    ``max_retries`` counts the extra attempts; ``max_total_wait`` bounds the sum
    of all waits of one call, in seconds.
    """

    max_retries: int = 2
    max_total_wait: float = 30.0
    backoff: float = 0.5
    max_backoff: float = 8.0

    def may_retry(self, method: str, attempt: int) -> bool:
        return method.upper() in SAFE_METHODS and attempt < self.max_retries

    def wait(
        self, attempt: int, waited: float, response: requests.Response | None = None
    ) -> float | None:
        """How long to sleep before attempt ``attempt + 1``; ``None``: give up."""
        asked = retry_after_seconds(response) if response is not None else None
        delay = asked if asked is not None else min(self.backoff * 2**attempt, self.max_backoff)
        if waited + delay > self.max_total_wait:
            return None
        return delay
