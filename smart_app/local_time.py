"""Dates and times as the service's clinicians read them: in its time zone (``MBT_TIMEZONE``).

FHIR keeps instants with their offset (``authored``, ``meta.lastUpdated``); a page shows them
as the local date and time, with the zone's abbreviation so a reader elsewhere is not misled.
A date without a time (``2026-03-02``) is shown as it is: it names a day, not an instant.
"""

from __future__ import annotations

import datetime as _dt
import zoneinfo

from flask import current_app

__all__ = ["zone", "today", "parse_instant", "local_datetime", "local_date"]


def zone() -> zoneinfo.ZoneInfo:
    return zoneinfo.ZoneInfo(current_app.config.get("MBT_TIMEZONE") or "UTC")


def today() -> _dt.date:
    """Today's date where the service is: a new record's default date."""
    return _dt.datetime.now(zone()).date()


def parse_instant(value: object) -> _dt.datetime | None:
    """A FHIR dateTime with a time and offset, as an aware datetime; None for anything else."""
    if not isinstance(value, str) or "T" not in value:
        return None
    text = value.strip().replace("Z", "+00:00")
    try:
        moment = _dt.datetime.fromisoformat(text)
    except ValueError:
        return None
    return moment if moment.tzinfo else None


def local_datetime(value: object) -> str:
    """``2026-03-02T09:05:00Z`` → ``2 Mar 2026, 09:05 GMT`` in the service's zone; a bare date
    stays a date; anything unreadable is shown as given (never hidden)."""
    moment = parse_instant(value)
    if moment is None:
        return local_date(value)
    here = moment.astimezone(zone())
    return f"{here.day} {here:%b %Y, %H:%M} {here.tzname()}"


def local_date(value: object) -> str:
    """The day a FHIR date or dateTime names, in the service's zone, as ``2 Mar 2026``."""
    moment = parse_instant(value)
    if moment is not None:
        day = moment.astimezone(zone()).date()
    else:
        try:
            day = _dt.date.fromisoformat(str(value)[:10])
        except ValueError:
            return str(value or "")
    return f"{day.day} {day:%b %Y}"
