"""ALARMDESK_SHIFTS and "My shift": from the last shift boundary to now."""

from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from django.core.exceptions import ImproperlyConfigured

from alarmdesk.history.shifts import shift_start
from alarmdesk.settings import env_times_of_day

PARIS = ZoneInfo("Europe/Paris")
DAY_AND_NIGHT = ((7, 0), (19, 0))


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("07:00,19:00", ((7, 0), (19, 0))),
        (" 19:00 , 07:00 ", ((7, 0), (19, 0))),
        ("06:30", ((6, 30),)),
        ("00:00,08:00,16:00", ((0, 0), (8, 0), (16, 0))),
    ],
)
def test_shift_boundaries_are_read_as_times_of_day_in_order(monkeypatch, value, expected):
    monkeypatch.setenv("ALARMDESK_SHIFTS", value)
    assert env_times_of_day("ALARMDESK_SHIFTS") == expected


def test_no_shift_boundaries_configured_is_none(monkeypatch):
    monkeypatch.delenv("ALARMDESK_SHIFTS", raising=False)
    assert env_times_of_day("ALARMDESK_SHIFTS") == ()


@pytest.mark.parametrize(
    "value",
    [
        "7am",
        "7:00",
        "24:00",
        "07:60",
        "07:00;19:00",
        "07:00,",
        "07:00,07:00",
        "\u0660\u0667:\u0660\u0660",
    ],
)
def test_malformed_shift_boundaries_are_refused_at_start_up(monkeypatch, value):
    monkeypatch.setenv("ALARMDESK_SHIFTS", value)
    with pytest.raises(ImproperlyConfigured, match="ALARMDESK_SHIFTS"):
        env_times_of_day("ALARMDESK_SHIFTS")


@pytest.mark.parametrize(
    ("local_now", "started"),
    [
        (datetime(2026, 3, 10, 8, 15), datetime(2026, 3, 10, 7, 0)),
        (datetime(2026, 3, 10, 19, 0), datetime(2026, 3, 10, 19, 0)),
        (datetime(2026, 3, 10, 23, 59), datetime(2026, 3, 10, 19, 0)),
        (datetime(2026, 3, 11, 3, 0), datetime(2026, 3, 10, 19, 0)),  # the night shift
    ],
)
def test_my_shift_starts_at_the_last_boundary_in_the_configured_time_zone(local_now, started):
    now = local_now.replace(tzinfo=PARIS).astimezone(UTC)
    assert shift_start(now, DAY_AND_NIGHT, PARIS) == started.replace(tzinfo=PARIS)


def test_one_boundary_makes_a_day_long_shift():
    now = datetime(2026, 3, 10, 6, 0, tzinfo=PARIS)
    assert shift_start(now, ((7, 0),), PARIS) == datetime(2026, 3, 9, 7, 0, tzinfo=PARIS)


def test_without_boundaries_my_shift_is_the_last_12_hours():
    now = datetime(2026, 3, 10, 6, 0, tzinfo=UTC)
    assert shift_start(now, (), PARIS) == now - timedelta(hours=12)
