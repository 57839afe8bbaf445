"""Dates and times shown in the service's time zone."""

import datetime as dt

import pytest

from smart_app import config, create_app, local_time


def _app(tz: str):
    return create_app({"TESTING": True, "SECRET_KEY": "x", "MBT_TIMEZONE": tz})


def test_instant_shown_in_the_service_zone_with_its_abbreviation():
    with _app("Europe/London").app_context():
        assert local_time.local_datetime("2026-07-02T23:30:00Z") == "3 Jul 2026, 00:30 BST"
        assert local_time.local_datetime("2026-01-02T23:30:00+00:00") == "2 Jan 2026, 23:30 GMT"
    with _app("America/New_York").app_context():
        assert local_time.local_datetime("2026-07-02T23:30:00Z") == "2 Jul 2026, 19:30 EDT"
        assert local_time.local_date("2026-07-03T01:30:00Z") == "2 Jul 2026"


def test_a_bare_date_stays_that_day_and_garbage_is_shown_not_hidden():
    with _app("Pacific/Kiritimati").app_context():
        assert local_time.local_datetime("2026-03-02") == "2 Mar 2026"
        assert local_time.local_date("2026-03-02") == "2 Mar 2026"
        assert local_time.local_datetime("not a date") == "not a date"
        assert local_time.local_datetime(None) == ""


def test_today_is_the_date_in_the_service_zone():
    with _app("Pacific/Kiritimati").app_context():
        assert local_time.today() == dt.datetime.now(dt.timezone(dt.timedelta(hours=14))).date()


def test_an_unknown_zone_stops_the_app_at_start():
    with pytest.raises(ValueError, match="MBT_TIMEZONE"):
        config.from_environment({"MBT_TIMEZONE": "Europe/Londn"})
    assert config.from_environment({})["MBT_TIMEZONE"] == "UTC"
    assert config.from_environment({})["MBT_SERVICE_NAME"] == "MBT service"
