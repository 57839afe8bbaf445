"""What "today" is when the engine checks a date: the latest date anywhere on Earth.

A bound such as ``maxValue = today()`` ("a session date cannot be in the
future") needs an answer to "today where?". The server's own date would
refuse a clinician in Auckland who records this morning's session while it
is still yesterday in UTC, and the clinician's zone is not in the response.
So the engine takes the calendar date in UTC+14 (Kiribati's Line Islands,
the first zone to start each day): a date counts as "in the future" only
when that day has begun nowhere yet. The price is a little slack in the
west: a date one day ahead of the clinician's own calendar gets through
(two days, late in the evening, in UTC-11 and UTC-12 only). That is far
from the typos that matter (2062 for 2026, 9999-12-31), and the dashboard
counts its risk window back from today whatever a record's date says.

Callers that need a fixed day (tests, replays of old responses) pass
``today=`` to the engine's entry points instead.
"""

from __future__ import annotations

import datetime as _dt

__all__ = ["LATEST_ZONE", "latest_today"]

#: UTC+14: where each calendar day begins first.
LATEST_ZONE = _dt.timezone(_dt.timedelta(hours=14), "UTC+14")


def latest_today(now: _dt.datetime | None = None) -> _dt.date:
    """The date in UTC+14 at ``now`` (a timezone-aware datetime; default: the system clock)."""
    now = now if now is not None else _dt.datetime.now(_dt.timezone.utc)
    if now.tzinfo is None:
        raise ValueError("latest_today needs a timezone-aware datetime")
    return now.astimezone(LATEST_ZONE).date()
